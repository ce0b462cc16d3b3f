"""The one Logger, Metrics and Tracer of every Warden function, configured by POWERTOOLS_* variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
