"""Security Hub exporter: Warden findings imported into AWS Security Hub in ASFF, updated as playbooks run
(:mod:`warden.notify.security_hub`)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from warden.notify.security_hub import ExporterConfig, ExportError, SecurityHubExporter, exporter
from warden.observability import logger, metrics, tracer

__all__ = ["ExportError", "ExporterConfig", "SecurityHubExporter", "exporter", "lambda_handler"]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return exporter(ExporterConfig.from_environ()).handle(event)
