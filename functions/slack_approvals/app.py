"""Slack approvals: the Request URL of Slack's Approve / Reject buttons (a Lambda function URL).

Verifies each request with the Slack app's signing secret (Secrets Manager), then approves or rejects the
playbook waiting on the clicked incident through :func:`warden.approvals.decide`.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from slack_sdk.webhook import WebhookClient

from warden.adapters.approvals import DynamoDBIncidentStore, StepFunctionsWorkflow
from warden.adapters.secrets import SecretsManagerSecrets
from warden.approvals import decide
from warden.notify.slack_approvals import ApprovalsConfig, SlackApprovals
from warden.observability import logger, metrics, tracer

# Slack waits three seconds for the answer: short timeouts, few retries.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2)


_SDK_LOGGER = logging.getLogger("warden.slack_approvals.slack_sdk")
"""Given to the Slack SDK instead of its own: silent, because its debug and error lines carry the URL (a
``response_url`` lets anyone post to the channel for a while)."""
_SDK_LOGGER.setLevel(logging.CRITICAL + 1)
_SDK_LOGGER.propagate = False
_SDK_LOGGER.addHandler(logging.NullHandler())


def _reply(response_url: str, text: str) -> None:
    """A reply in the channel under the message (visible to everyone), through the SDK's webhook client."""
    client = WebhookClient(response_url, timeout=1, logger=_SDK_LOGGER)
    client.send(text=text, response_type="in_channel", replace_original=False)


@lru_cache(maxsize=2)
def approvals(config: ApprovalsConfig) -> SlackApprovals:
    """The handler's collaborators, cached so that a warm function reuses its clients and cached secret."""
    session = boto3.session.Session(region_name=config.region)

    endpoint, settings = config.endpoint_url, _CLIENT_CONFIG
    secrets = SecretsManagerSecrets(
        session.client("secretsmanager", endpoint_url=endpoint, config=settings),
        max_age_seconds=config.secret_max_age_seconds,
    )
    store = DynamoDBIncidentStore(
        session.client("dynamodb", endpoint_url=endpoint, config=settings), config.incident_table
    )
    workflow = StepFunctionsWorkflow(session.client("stepfunctions", endpoint_url=endpoint, config=settings))

    def decide_incident(incident: str, *, approve: bool, by: str, reason: str | None) -> str:
        return decide(store, workflow, incident, approve=approve, by=by, reason=reason).summary

    return SlackApprovals(
        signing_secret=lambda: secrets.get(config.signing_secret_arn).strip(),
        approvers=config.approvers,
        decide=decide_incident,
        reply=_reply,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return approvals(ApprovalsConfig.from_environ()).handle(event)
