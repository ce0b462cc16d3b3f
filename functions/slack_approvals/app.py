"""Slack approvals: the Request URL of Slack's Approve / Reject buttons (a Lambda function URL).

Verifies each request with the Slack app's signing secret (Secrets Manager), then approves or rejects the
playbook waiting on the clicked incident (:mod:`warden.notify.slack_approvals`).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from warden.notify.slack_approvals import ApprovalsConfig, approvals
from warden.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return approvals(ApprovalsConfig.from_environ()).handle(event)
