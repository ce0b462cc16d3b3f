"""Bedrock-usage detector: CloudTrail events of Bedrock (and identity recon) in, findings out."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from warden.config import DetectorConfig
from warden.models import Family
from warden.observability import logger, metrics, tracer
from warden.runtime import detection_service


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    service = detection_service(DetectorConfig.from_environ(), Family.BEDROCK_USAGE)
    return service.handle(event, context).model_dump(mode="json")
