"""The composed notification end to end: playbook definitions rewritten by scripts/asl_notify.py, run by moto.

The stack is deployed from a copy of the repository whose state machines were rewritten (the files in
statemachines/ are not touched): contain-access-key composes its notification through the response-policy
function, and SNS hands each subscriber its protocol's body. What arrives is read back from the emulator:
the structured body on an SQS subscription, the Amazon Q custom notification on an HTTPS subscriber on
loopback, only what a filter policy selects, and the Block Kit message the Slack notifier (subscribed with
its SAM ``SNS`` event) posts to a webhook receiver whose URL is in the emulator's Secrets Manager.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import asl_notify
from tests.conftest import ROOT
from tests.integration.playbook import finding_for, new_role, new_user, role_finding_for, run_playbook, session_of
from tests.integration.test_slack_webhook import Receiver
from warden.notify import limit_violations
from warden_local.emulator import ACCOUNT_ID, Emulator
from warden_local.stack import LocalStack


@pytest.fixture(scope="module")
def composed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout whose playbooks were rewritten by asl_notify (template, functions and layer linked)."""
    root = tmp_path_factory.mktemp("composed-root")
    for name in ("template.yaml", "functions", "layers"):
        (root / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "statemachines", root / "statemachines")
    for path in (root / "statemachines").glob("*.asl.json"):
        try:
            path.write_text(asl_notify.text_of(asl_notify.rewrite(json.loads(path.read_text()))))
        except asl_notify.NotRewritable:
            continue  # the failure recorder has no finding to compose from
    return root


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver([200]) as running:
        yield running


@pytest.fixture(scope="module")
def composed_stack(
    emulator: Emulator, composed_root: Path, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> LocalStack:
    secret = emulator.client("secretsmanager").create_secret(
        Name=f"warden/slack-{uuid.uuid4().hex[:8]}", SecretString=receiver.url
    )["ARN"]
    name = f"it-{uuid.uuid4().hex[:8]}"
    return LocalStack(
        emulator,
        composed_root,
        stack_name=name,
        parameters={"ResponseMode": "auto", "SlackWebhookSecretArn": secret},
        workdir=tmp_path_factory.mktemp(name),
    ).deploy()


def subscribed_queue(stack: LocalStack, **attributes: str) -> Callable[[], list[dict[str, Any]]]:
    """An SQS queue subscribed to the notification topic; returns a reader of the SNS envelopes it got."""
    sqs, name = stack.client("sqs"), f"composed-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    stack.client("sns").subscribe(
        TopicArn=stack.ref("NotificationTopic"),
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:{name}",
        Attributes=attributes,
    )

    def read() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return read


def test_subscribers_get_their_protocols_body_and_filterable_attributes(
    composed_stack: LocalStack, receiver: Receiver
) -> None:
    https = Receiver([200]).__enter__()
    sns = composed_stack.client("sns")
    subscription = sns.subscribe(
        TopicArn=composed_stack.ref("NotificationTopic"), Protocol="https", Endpoint=https.url
    )["SubscriptionArn"]
    try:
        critical_only = subscribed_queue(composed_stack, FilterPolicy=json.dumps({"severity": ["CRITICAL"]}))
        contained_only = subscribed_queue(composed_stack, FilterPolicy=json.dumps({"status": ["CONTAINED"]}))
        user, arn, (key,) = new_user(composed_stack)
        finding = finding_for(arn, key)
        receiver.bodies.clear()

        execution = run_playbook(composed_stack, finding)

        assert execution.status == "SUCCEEDED"
        assert {"ComposeNotification", "Notify"} <= set(execution.states) and "NotifyPlain" not in execution.states
        (envelope,) = contained_only()
        assert critical_only() == [], "a HIGH finding does not pass a CRITICAL-only filter policy"
        attributes = {name: value["Value"] for name, value in envelope["MessageAttributes"].items()}
        assert attributes == {
            "status": "CONTAINED",
            "outcome": "CONTAINED",
            "severity": "HIGH",
            "family": "bedrock-usage",
            "account": finding["account"],
            "playbook": "contain-access-key",
            "incident": finding["id"],
            "mode": "auto",
        }
        structured = json.loads(envelope["Message"])  # the sqs body: Warden's structured document
        assert structured["format"] == "warden-notification/1"
        assert (structured["status"], structured["incident_id"]) == ("CONTAINED", finding["id"])
        assert structured["undo"] and key in structured["undo"][0]
        assert "EventId=" + finding["evidence"][0] in structured["links"]["cloudtrail_event"]
        assert execution.arn in structured["links"]["execution"]
        assert structured["links"]["principal"].endswith("/iam/home#/users/details/" + user)
        assert "Outcome: CONTAINED" in structured["text"]

        amazon_q = [json.loads(body["Message"]) for body in https.bodies if body.get("Type") == "Notification"]
        assert len(amazon_q) == 1, "the https subscriber (Amazon Q) got the custom notification"
        assert (amazon_q[0]["version"], amazon_q[0]["source"]) == ("1.0", "custom")
        assert amazon_q[0]["content"]["textType"] == "client-markdown"
        assert amazon_q[0]["metadata"]["threadId"] == finding["id"]
        assert amazon_q[0]["metadata"]["additionalContext"]["status"] == "CONTAINED"
    finally:
        sns.unsubscribe(SubscriptionArn=subscription)  # moto would fail later publishes to a closed receiver
        https.__exit__()


def test_the_slack_notifier_subscribed_by_its_sns_event_posts_the_composed_message(
    composed_stack: LocalStack, receiver: Receiver
) -> None:
    _, arn, (key,) = new_user(composed_stack)
    finding = finding_for(arn, key)
    receiver.bodies.clear()

    run_playbook(composed_stack, finding)

    (posted,) = receiver.bodies
    assert limit_violations(posted) == []
    text = json.dumps(posted)
    assert finding["id"] in text and "Contained" in text
    assert "EventId=" + finding["evidence"][0] in text, "the CloudTrail event link"
    assert "states/home" in text and "iam/home#/users/details/" in text, "execution and principal links"


def test_a_composer_that_fails_falls_back_to_the_plain_message(
    composed_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: Any) -> Any:
        raise RuntimeError("composer unavailable")

    monkeypatch.setattr("warden.response.compose_notification", broken)
    _, arn, (key,) = new_user(composed_stack)
    finding = finding_for(arn, key)

    execution = run_playbook(composed_stack, finding)

    assert execution.status == "SUCCEEDED"
    assert {"ComposeNotification", "NotifyPlain"} <= set(execution.states) and "Notify" not in execution.states
    (notification,) = composed_stack.notifications()
    assert notification["message"].startswith(finding["title"]), "the plain text, not JSON"
    assert notification["attributes"]["status"] == notification["attributes"]["outcome"] == "CONTAINED"


def test_every_rewritten_playbook_composes_its_outcome(composed_stack: LocalStack) -> None:
    """revoke-role-sessions, whose warning lives in its summary: the composed bodies keep it."""
    role, arn = new_role(composed_stack)
    finding = role_finding_for(session_of(arn))

    execution = run_playbook(composed_stack, finding, "revoke-role-sessions")

    assert execution.status == "SUCCEEDED" and "ComposeNotification" in execution.states
    (notification,) = composed_stack.notifications()
    structured = notification["document"]
    assert (structured["playbook"], structured["status"]) == ("revoke-role-sessions", "CONTAINED")
    assert "every session of role" in structured["summary"] and "every session of role" in structured["text"]
    assert structured["links"]["principal"].endswith("/iam/home#/roles/details/" + role), "the session's role"
    assert notification["attributes"]["status"] == "CONTAINED"
