"""AWS adapters implementing :mod:`warden.ports`. The only modules of the library that use boto3."""
