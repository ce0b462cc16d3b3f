"""Policy-change detector: CloudTrail events that change who may do what (and Warden's own wiring) in, findings out."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from warden import clock
from warden.config import DetectorConfig
from warden.models import Family
from warden.observability import logger, metrics, tracer
from warden.runtime import detection_service


# No correlation_id_path: the service sets the correlation id from the event id once it is safe to log.
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    service = detection_service(DetectorConfig.from_environ(), Family.POLICY_CHANGE)
    return service.handle(event, context, now=clock.now()).model_dump(mode="json")
