"""Invocation detector: Bedrock invocations in volume, in, findings out (the bedrock-usage family).

``lambda_handler`` takes SQS batches from InvocationQueue: CloudTrail invocation events, and S3's
Object Created events for invocation-log objects (read from S3 line by line). ``subscription_handler``
takes the CloudWatch Logs subscription of the invocation-log group. See warden/adapters/invocation_feeds.py.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from warden import clock
from warden.adapters.invocation_feeds import is_queue_batch, process_log_subscription, process_queue_batch
from warden.config import DetectorConfig
from warden.models import Family
from warden.observability import logger, metrics, tracer
from warden.runtime import detection_service, invocation_log_reader


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    config = DetectorConfig.from_environ()
    service = detection_service(config, Family.BEDROCK_USAGE)
    if not is_queue_batch(event):  # invoked directly: one EventBridge event
        return service.handle(event, context, now=clock.now()).model_dump(mode="json")
    reader = invocation_log_reader(config)
    bucket = config.invocation_log_bucket or None
    return process_queue_batch(event, context, service, reader, bucket=bucket, now=clock.now())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def subscription_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    service = detection_service(DetectorConfig.from_environ(), Family.BEDROCK_USAGE)
    return process_log_subscription(event, service, now=clock.now())
