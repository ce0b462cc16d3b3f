"""Slack notifier: the notification topic's messages, posted as Block Kit to the webhook kept in Secrets Manager."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from warden.notify.delivery import SlackConfig, slack_notifier
from warden.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    return dict(slack_notifier(SlackConfig.from_environ()).handle(event))
