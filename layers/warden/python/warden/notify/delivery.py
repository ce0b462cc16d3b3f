"""Delivery of notifications to a Slack incoming webhook whose URL is kept in Secrets Manager.

The notifier reads each SNS record into a :class:`Notification`, builds the Block Kit message and posts it with
the Slack SDK's ``WebhookClient``, which retries connection errors, rate limits (honouring ``Retry-After``)
and server errors. A delivery that still fails raises :class:`DeliveryError`, so that Lambda retries the
asynchronous invocation and then hands the event to the function's on-failure destination: a notification
is never dropped silently. Logs carry keys (finding, status, HTTP status), never the URL or the message.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent
from botocore.config import Config
from pydantic import Field
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from warden.adapters.secrets import SecretsManagerSecrets, SecretUnavailableError
from warden.config import EnvironmentModel
from warden.errors import WardenError
from warden.notify.notification import Notification, parse_notification
from warden.notify.slack import build_message
from warden.observability import logger, metrics

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Plain http is accepted only for these hosts (a receiver on the same machine, as in tests)."""
REFRESH_ON_STATUS = frozenset({401, 403, 404, 410})
"""Answers meaning the webhook was revoked or rotated: the next attempt reads the secret again."""
_SLACK_ERROR = re.compile(r"^[a-z_]{1,40}$")
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)

_SDK_LOGGER = logging.getLogger("warden.notify.slack_sdk")
"""Given to the Slack SDK instead of its own: silent, because the SDK's debug and error lines carry the URL."""
_SDK_LOGGER.setLevel(logging.CRITICAL + 1)
_SDK_LOGGER.propagate = False
_SDK_LOGGER.addHandler(logging.NullHandler())


class DeliveryError(WardenError):
    """Slack did not accept a notification after the SDK's retries. Never carries the URL or the message."""


class SlackConfig(EnvironmentModel):
    """The Slack notifier's configuration, from its environment."""

    webhook_secret_arn: str = Field(alias="WARDEN_SLACK_WEBHOOK_SECRET_ARN", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    secret_max_age_seconds: int = Field(default=300, alias="WARDEN_SLACK_SECRET_MAX_AGE_SECONDS", ge=0, le=86400)
    timeout_seconds: int = Field(default=10, alias="WARDEN_SLACK_TIMEOUT_SECONDS", gt=0, le=60)
    max_retries: int = Field(default=2, alias="WARDEN_SLACK_MAX_RETRIES", ge=0, le=5)
    retry_backoff_seconds: float = Field(default=0.5, alias="WARDEN_SLACK_RETRY_BACKOFF_SECONDS", ge=0, le=10)


class WebhookAnswer(Protocol):
    status_code: int
    body: str


class Webhook(Protocol):
    def send_dict(self, body: dict[str, Any]) -> WebhookAnswer: ...


class SecretReader(Protocol):
    def get(self, secret_arn: str, *, refresh: bool = False) -> str: ...


def webhook_url(secret_value: str) -> str:
    """The webhook URL in a secret: the whole string, or the ``url``/``webhook_url`` of a JSON object.

    Only https is accepted, except to a loopback host; errors describe the problem, never the value.
    """
    value = secret_value.strip()
    if value.startswith("{"):
        try:
            document = json.loads(value)
        except ValueError:
            raise DeliveryError("the webhook secret is neither a URL nor a JSON object") from None
        found = document.get("webhook_url", document.get("url")) if isinstance(document, dict) else None
        if not isinstance(found, str):
            raise DeliveryError("the webhook secret's JSON has no string 'webhook_url' or 'url'")
        value = found.strip()
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise DeliveryError("the webhook secret is not a valid URL") from None
    if not host or parts.scheme not in {"https", "http"} or any(c.isspace() for c in value):
        raise DeliveryError("the webhook secret is not an http(s) URL")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise DeliveryError("the webhook URL must use https")
    return value


def webhook_client(url: str, config: SlackConfig) -> WebhookClient:
    """The SDK's webhook client with its retry handlers: connection errors, 429 (Retry-After) and 500/503."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=config.retry_backoff_seconds)
    retries = config.max_retries
    return WebhookClient(
        url,
        timeout=config.timeout_seconds,
        logger=_SDK_LOGGER,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=interval),
            RateLimitErrorRetryHandler(max_retry_count=retries, interval_calculator=interval),
            ServerErrorRetryHandler(max_retry_count=retries, interval_calculator=interval),
        ],
    )


class SlackNotifier:
    """Posts each SNS notification to the webhook; raises if any could not be delivered."""

    def __init__(self, secrets: SecretReader, secret_arn: str, client_for: Callable[[str], Webhook]) -> None:
        self._secrets = secrets
        self._secret_arn = secret_arn
        self._client_for = client_for
        self._clients: dict[str, Webhook] = {}
        self._refresh = False

    def handle(self, event: SNSEvent) -> dict[str, int]:
        delivered = failed = 0
        reasons: list[str] = []
        for record in event.records:
            sns = record.sns
            attributes = {name: attribute.value for name, attribute in (sns.message_attributes or {}).items()}
            note = parse_notification(sns.message, subject=sns.subject, attributes=attributes)
            keys = _log_keys(note, sns.message_id)
            try:
                status = self.deliver(note)
            except (DeliveryError, SecretUnavailableError) as exc:
                failed += 1
                reasons.append(str(exc))
                metrics.add_metric(name="SlackNotificationsFailed", unit=MetricUnit.Count, value=1)
                logger.error("slack notification not delivered", extra={**keys, "error": str(exc)})
                continue
            delivered += 1
            metrics.add_metric(name="SlackNotificationsDelivered", unit=MetricUnit.Count, value=1)
            logger.info("slack notification delivered", extra={**keys, "http_status": status})
        if failed:
            causes = "; ".join(sorted(set(reasons)))
            raise DeliveryError(f"{failed} of {failed + delivered} notification(s) not delivered to Slack: {causes}")
        return {"delivered": delivered}

    def deliver(self, note: Notification) -> int:
        """Post one notification; the HTTP status on success, else :class:`DeliveryError`."""
        url = webhook_url(self._secrets.get(self._secret_arn, refresh=self._refresh))
        self._refresh = False
        client = self._clients.get(url)
        if client is None:
            self._clients = {url: (client := self._client_for(url))}  # one URL at a time: a rotated one replaces it
        try:
            answer = client.send_dict(build_message(note))
        except Exception as exc:  # the SDK re-raises transport errors after its retries
            raise DeliveryError(f"the webhook could not be reached ({type(exc).__name__})") from None
        if 200 <= answer.status_code < 300:
            return answer.status_code
        self._refresh = answer.status_code in REFRESH_ON_STATUS
        body = (answer.body or "").strip()
        reason = f": {body}" if _SLACK_ERROR.match(body) else ""
        raise DeliveryError(f"the webhook answered HTTP {answer.status_code}{reason}")


def _log_keys(note: Notification, message_id: str | None) -> dict[str, Any]:
    keys: Mapping[str, Any] = {
        "sns_message_id": message_id,
        "finding_id": note.finding_id,
        "status": note.status,
        "severity": note.severity,
        "playbook": note.playbook,
    }
    return {key: value for key, value in keys.items() if value is not None}


@lru_cache(maxsize=4)
def slack_notifier(config: SlackConfig) -> SlackNotifier:
    """The notifier of a configuration, cached so that a warm function reuses its clients and cached secret."""
    session = boto3.session.Session(region_name=config.region)
    client = session.client("secretsmanager", endpoint_url=config.endpoint_url, config=_CLIENT_CONFIG)
    secrets = SecretsManagerSecrets(client, max_age_seconds=config.secret_max_age_seconds)
    return SlackNotifier(secrets, config.webhook_secret_arn, lambda url: webhook_client(url, config))
