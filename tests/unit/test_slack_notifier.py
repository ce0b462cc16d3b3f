"""The Slack notifier: its handler, the webhook secret and delivery failures, with fakes (the network is off)."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT
from warden.adapters.secrets import SecretsManagerSecrets, SecretUnavailableError
from warden.errors import ConfigurationError
from warden.notify import Notification, limit_violations
from warden.notify.delivery import DeliveryError, SlackConfig, SlackNotifier, webhook_client, webhook_url
from warden.observability import logger
from warden_local.stack import LocalContext

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:warden/slack-AbCdEf"  # noqa: S105  an ARN
URL = "https://hooks.slack.com/services/T000/B000/URL-CANARY-93b1"
MESSAGE = (
    "LLMjacking: arn:aws:iam::123456789012:user/ml-batch-svc invoked a model\n\n"
    "Outcome: CONTAINED\nAccess key AKIAEXAMPLEBATCHSVC1 was deactivated. Undo: aws iam update-access-key ...\n\n"
    "Finding: 4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90\n"
    "Principal: arn:aws:iam::123456789012:user/ml-batch-svc\n"
    "Access key: AKIAEXAMPLEBATCHSVC1\n"
    "Account / region: 123456789012 / us-east-1"
)


def sns_event(message: str = MESSAGE, *, subject: str = "[Bedrock Warden] HIGH bedrock-usage finding: CONTAINED"):
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:notifications:sub",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:notifications",
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": "2026-11-20T14:04:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {
                        "outcome": {"Type": "String", "Value": "CONTAINED"},
                        "severity": {"Type": "String", "Value": "HIGH"},
                        "playbook": {"Type": "String", "Value": "contain-access-key"},
                    },
                },
            }
        ]
    }


@dataclass
class Answer:
    status_code: int
    body: str = "ok"


@dataclass
class FakeWebhook:
    answers: list[Answer] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None

    def send_dict(self, body: dict[str, Any]) -> Answer:
        self.sent.append(body)
        if self.error is not None:
            raise self.error
        return self.answers.pop(0) if self.answers else Answer(200)


@dataclass
class FakeSecrets:
    value: str = URL
    reads: list[bool] = field(default_factory=list)

    def get(self, secret_arn: str, *, refresh: bool = False) -> str:
        assert secret_arn == SECRET_ARN
        self.reads.append(refresh)
        return self.value


def handler_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slack_notifier_app", ROOT / "functions/slack_notifier/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def context() -> LocalContext:
    return LocalContext(
        function_name="slack-notifier",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:slack-notifier",
        memory_limit_in_mb=256,
        aws_request_id="req-1",
        log_group_name="/aws/lambda/slack-notifier",
        log_stream_name="local",
        deadline=time.monotonic() + 30,
    )


@contextmanager
def captured_logs() -> Iterator[None]:
    """Point Powertools' handler (bound to the stdout of import time) at the stdout capsys captures now."""
    handler = logger.registered_handler
    original = handler.stream  # type: ignore[attr-defined]
    handler.setStream(sys.stdout)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        handler.setStream(original)  # type: ignore[attr-defined]


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, FakeWebhook, FakeSecrets]:
    """The real handler, with the notifier built from its validated config over a fake secret and webhook."""
    monkeypatch.setenv("WARDEN_SLACK_WEBHOOK_SECRET_ARN", SECRET_ARN)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    module, webhook, secrets = handler_module(), FakeWebhook(), FakeSecrets()
    built: dict[str, SlackNotifier] = {}

    def notifier(config: SlackConfig) -> SlackNotifier:
        assert config.webhook_secret_arn == SECRET_ARN
        return built.setdefault("one", SlackNotifier(secrets, config.webhook_secret_arn, lambda url: webhook))

    monkeypatch.setattr(module, "slack_notifier", notifier)
    return module, webhook, secrets


def test_posts_a_valid_block_kit_message_and_counts_it(
    wired: tuple[ModuleType, FakeWebhook, FakeSecrets], capsys: pytest.CaptureFixture[str]
) -> None:
    module, webhook, _ = wired

    with captured_logs():
        result = module.lambda_handler(sns_event(), context())

    assert result == {"delivered": 1}
    (body,) = webhook.sent
    assert limit_violations(body) == []
    assert "AKIAEXAMPLEBATCHSVC1" in json.dumps(body)
    out = capsys.readouterr().out
    metric = next(json.loads(line) for line in out.splitlines() if "_aws" in line)
    assert metric["SlackNotificationsDelivered"] == [1.0] or metric["SlackNotificationsDelivered"] == 1.0
    delivered = next(json.loads(line) for line in out.splitlines() if "slack notification delivered" in line)
    assert delivered["finding_id"] == "4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90" and delivered["http_status"] == 200
    assert URL not in out and "LLMjacking" not in out, "neither the URL nor the message text is logged"


@pytest.mark.parametrize(
    "failure",
    [FakeWebhook(answers=[Answer(500, "internal_error")]), FakeWebhook(error=OSError(f"cannot reach {URL}"))],
    ids=["http-500-after-retries", "unreachable"],
)
def test_a_failed_delivery_raises_so_lambda_retries_then_keeps_it(
    wired: tuple[ModuleType, FakeWebhook, FakeSecrets], failure: FakeWebhook, capsys: pytest.CaptureFixture[str]
) -> None:
    module, webhook, _ = wired
    webhook.answers, webhook.error = list(failure.answers), failure.error

    with captured_logs(), pytest.raises(DeliveryError) as raised:
        module.lambda_handler(sns_event(), context())

    assert URL not in str(raised.value)
    out = capsys.readouterr().out
    assert '"SlackNotificationsFailed"' in out
    assert URL not in out and "LLMjacking" not in out
    failed = next(json.loads(line) for line in out.splitlines() if "not delivered" in line)
    assert failed["level"] == "ERROR" and failed["status"] == "CONTAINED"
    if failure.answers:
        assert "HTTP 500: internal_error" in failed["error"]
    else:
        assert "OSError" in failed["error"]


def test_a_revoked_webhook_makes_the_next_attempt_read_the_secret_again() -> None:
    secrets, webhook = FakeSecrets(), FakeWebhook(answers=[Answer(404, "no_service"), Answer(200)])
    notifier = SlackNotifier(secrets, SECRET_ARN, lambda url: webhook)

    with pytest.raises(DeliveryError, match="HTTP 404: no_service"):
        notifier.deliver(Notification(title="t"))
    notifier.deliver(Notification(title="t"))

    assert secrets.reads == [False, True]


def test_a_rotated_url_gets_a_new_client() -> None:
    secrets, made = FakeSecrets(), []

    def client_for(url: str) -> FakeWebhook:
        made.append(url)
        return FakeWebhook()

    notifier = SlackNotifier(secrets, SECRET_ARN, client_for)

    notifier.deliver(Notification(title="t"))
    notifier.deliver(Notification(title="t"))
    secrets.value = URL + "-rotated"
    notifier.deliver(Notification(title="t"))

    assert made == [URL, URL + "-rotated"]


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_the_config_is_validated_at_the_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_SLACK_WEBHOOK_SECRET_ARN", raising=False)
    with pytest.raises(ConfigurationError, match="WARDEN_SLACK_WEBHOOK_SECRET_ARN"):
        handler_module().lambda_handler(sns_event(), context())
    config = SlackConfig.from_environ(
        {"WARDEN_SLACK_WEBHOOK_SECRET_ARN": SECRET_ARN, "AWS_DEFAULT_REGION": "eu-west-1"}
    )
    assert (config.region, config.max_retries, config.secret_max_age_seconds) == ("eu-west-1", 2, 300)


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (URL, URL),
        (f"  {URL}\n", URL),
        (json.dumps({"webhook_url": URL}), URL),
        (json.dumps({"url": URL, "channel": "#sec"}), URL),
        ("http://127.0.0.1:8123/hook", "http://127.0.0.1:8123/hook"),
    ],
)
def test_reads_the_url_from_the_secret(secret: str, expected: str) -> None:
    assert webhook_url(secret) == expected


@pytest.mark.parametrize(
    "secret",
    [
        "http://hooks.slack.com/services/T/B/URL-CANARY",
        "ftp://hooks.slack.com/URL-CANARY",
        "not a url URL-CANARY",
        '{"channel": "URL-CANARY"}',
        '{"url": ',
        "https:///URL-CANARY",
    ],
)
def test_refuses_a_secret_that_is_not_a_usable_url_without_repeating_it(secret: str) -> None:
    with pytest.raises(DeliveryError) as raised:
        webhook_url(secret)
    assert "URL-CANARY" not in str(raised.value)


def test_the_sdk_client_retries_connection_errors_rate_limits_and_server_errors() -> None:
    config = SlackConfig.from_environ({"WARDEN_SLACK_WEBHOOK_SECRET_ARN": SECRET_ARN, "AWS_REGION": "us-east-1"})

    client = webhook_client(URL, config)

    kinds = {type(handler).__name__ for handler in client.retry_handlers}
    assert kinds == {"ConnectionErrorRetryHandler", "RateLimitErrorRetryHandler", "ServerErrorRetryHandler"}
    assert all(handler.max_retry_count == config.max_retries for handler in client.retry_handlers)
    assert client.logger.getEffectiveLevel() > 50 and not client.logger.propagate, "the SDK's URL-bearing lines are off"


class StubSecretsClient:
    """Just the call Powertools' SecretsProvider makes."""

    def __init__(self, value: str | None = URL, error: str | None = None) -> None:
        self.calls, self.value, self.error = 0, value, error

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.error:
            raise ClientError(
                {"Error": {"Code": self.error, "Message": f"{kwargs['SecretId']} {URL}"}}, "GetSecretValue"
            )
        return {"SecretString": self.value} if self.value is not None else {"SecretBinary": b"x"}


def test_the_secret_is_cached_for_its_max_age_and_refreshed_on_demand() -> None:
    client = StubSecretsClient()
    secrets = SecretsManagerSecrets(client, max_age_seconds=300)  # type: ignore[arg-type]

    assert secrets.get(SECRET_ARN + "-cache") == URL
    assert secrets.get(SECRET_ARN + "-cache") == URL
    assert client.calls == 1
    assert secrets.get(SECRET_ARN + "-cache", refresh=True) == URL
    assert client.calls == 2


def test_an_unreadable_secret_names_the_cause_never_the_value() -> None:
    with pytest.raises(SecretUnavailableError) as raised:
        SecretsManagerSecrets(StubSecretsClient(error="AccessDeniedException")).get(SECRET_ARN + "-denied")  # type: ignore[arg-type]
    assert "AccessDeniedException" in str(raised.value) and URL not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__

    with pytest.raises(SecretUnavailableError, match="no string value"):
        SecretsManagerSecrets(StubSecretsClient(value=None)).get(SECRET_ARN + "-binary")  # type: ignore[arg-type]
