"""Bedrock Warden runtime library: models, detectors, the detection service and AWS adapters.

This package is deployed as a Lambda layer. It depends on Powertools, pydantic and boto3 only;
development tooling (moto, the CLI) lives in ``warden_local`` and must never be imported here.
"""

__version__ = "0.1.0"
