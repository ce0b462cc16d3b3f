"""Response policy: the decisions a playbook asks for (is this a genuine finding? may it act?), as a Task."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from warden.config import ResponseConfig
from warden.observability import logger, metrics, tracer
from warden.response import REQUESTS, evaluate


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = REQUESTS.validate_python(event)
    metrics.add_metric(name="PolicyChecks", unit=MetricUnit.Count, value=1)
    return evaluate(request, ResponseConfig.from_environ(), now=datetime.now(UTC))
