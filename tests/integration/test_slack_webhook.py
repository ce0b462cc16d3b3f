"""End to end: a real playbook notification, the webhook URL in the emulator's Secrets Manager, a receiver on loopback.

The notification is the one contain-access-key really published (moto executed its definition and the message
was read back from the topic's inbox); the handler is the function's own file; the receiver is a plain HTTP
server in a thread, so the Slack SDK's client, its retries and the payload on the wire are all real.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.integration.playbook import finding_for, new_user, run_playbook
from warden.notify import limit_violations
from warden.notify.delivery import DeliveryError
from warden_local.emulator import Emulator
from warden_local.stack import LocalContext, LocalStack


class Receiver:
    """A webhook on 127.0.0.1 that answers each POST with the next scripted status (the last one repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses[min(len(receiver.bodies), len(receiver.statuses)) - 1]
                payload = b"ok" if status == 200 else b"internal_error"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the base class prints to stderr
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/{uuid.uuid4().hex}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def contained_notification(auto_stack: LocalStack) -> dict[str, Any]:
    """What contain-access-key published for a real containment, as read back from the topic's inbox."""
    _, arn, (key,) = new_user(auto_stack)
    finding = finding_for(arn, key)
    execution = run_playbook(auto_stack, finding)
    assert execution.status == "SUCCEEDED"
    # this finding's: other modules' executions on the shared stack may have ended in the same settle
    (notification,) = [n for n in auto_stack.notifications() if n["attributes"].get("incident") == finding["id"]]
    assert notification["attributes"]["outcome"] == "CONTAINED"
    return {**notification, "principal": arn, "access_key_id": key}


def sns_event(notification: dict[str, Any]) -> dict[str, Any]:
    """The event Lambda gives a function subscribed to the topic, for this notification."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{notification['topic']}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": notification["topic"],
                    "Subject": notification["subject"],
                    "Message": notification["message"],
                    "Timestamp": "2026-11-20T14:04:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {
                        name: {"Type": "String", "Value": value} for name, value in notification["attributes"].items()
                    },
                },
            }
        ]
    }


@pytest.fixture
def notifier(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Runs the function's handler with its environment pointing at a secret that holds ``url``."""
    spec = importlib.util.spec_from_file_location("slack_notifier_it", ROOT / "functions/slack_notifier/app.py")
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    secrets = emulator.client("secretsmanager")

    def run(url: str, event: dict[str, Any]) -> Any:
        arn = secrets.create_secret(Name=f"warden/slack-{uuid.uuid4().hex[:8]}", SecretString=url)["ARN"]
        monkeypatch.setenv("WARDEN_SLACK_WEBHOOK_SECRET_ARN", arn)
        monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
        monkeypatch.setenv("AWS_REGION", emulator.region)
        monkeypatch.setenv("WARDEN_SLACK_MAX_RETRIES", "2")
        monkeypatch.setenv("WARDEN_SLACK_RETRY_BACKOFF_SECONDS", "0.05")
        context = LocalContext(
            function_name="slack-notifier",
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:slack-notifier",
            memory_limit_in_mb=256,
            aws_request_id=str(uuid.uuid4()),
            log_group_name="/aws/lambda/slack-notifier",
            log_stream_name="local",
            deadline=time.monotonic() + 60,
        )
        return module.lambda_handler(event, context)

    yield run


def test_the_playbook_notification_arrives_as_block_kit(notifier: Any, contained_notification: dict[str, Any]) -> None:
    with Receiver([200]) as receiver:
        result = notifier(receiver.url, sns_event(contained_notification))

    assert result == {"delivered": 1}
    (body,) = receiver.bodies
    assert limit_violations(body) == []
    assert body["blocks"][0]["type"] == "header" and body["text"]
    sent = json.dumps(body)
    for expected in (contained_notification["principal"], contained_notification["access_key_id"], "Contained"):
        assert expected in sent
    assert "Undo" in sent, "the undo command the playbook recorded is shown"
    assert "/states/home?region=" in sent, "the execution is linked"


def test_a_server_error_is_retried_then_delivered(notifier: Any, contained_notification: dict[str, Any]) -> None:
    with Receiver([500, 200]) as receiver:
        result = notifier(receiver.url, sns_event(contained_notification))

    assert result == {"delivered": 1}
    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]


def test_a_webhook_that_keeps_failing_makes_the_invocation_fail(
    notifier: Any, contained_notification: dict[str, Any]
) -> None:
    with Receiver([500]) as receiver, pytest.raises(DeliveryError) as raised:
        notifier(receiver.url, sns_event(contained_notification))

    assert len(receiver.bodies) == 3, "one attempt and the two configured retries"
    assert receiver.url not in str(raised.value)


def test_an_unreachable_webhook_makes_the_invocation_fail(
    notifier: Any, contained_notification: dict[str, Any]
) -> None:
    receiver = Receiver([200])  # bound, then closed without serving: nothing listens on its port
    receiver.server.server_close()

    with pytest.raises(DeliveryError, match="could not be reached"):
        notifier(receiver.url, sns_event(contained_notification))
