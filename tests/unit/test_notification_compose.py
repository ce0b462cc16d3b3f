"""The composed notification (warden.notify.compose) and the response policy's ``notification`` check.

One SNS publish with ``MessageStructure=json`` carries a body per protocol: e-mail text, the Amazon Q
Developer custom notification (https and default), and Warden's structured document (lambda, sqs). These
tests read each back and check what a subscriber relies on, and that nothing but named fields goes out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.conftest import load_json
from warden.config import ResponseConfig
from warden.models import Finding
from warden.notify.compose import MAX_SUBJECT, Composed, Outcome, compose
from warden.notify.notification import parse_notification
from warden.response import REQUESTS, evaluate

EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:warden-contain-access-key:4c1f0a8e-1"
SUMMARY = (
    "Access key AKIAEXAMPLEBATCHSVC1 was deactivated (Active -> Inactive). "
    "Undo: aws iam update-access-key --user-name ml-batch-svc --access-key-id AKIAEXAMPLEBATCHSVC1 --status Active"
)
CANARY = "PROMPT-CANARY-5e1d"


def sample(**changes: Any) -> Finding:
    document = load_json("findings/contain_access_key__llmjacking.json")
    document.update(changes)
    return Finding.sealed(document)


def composed(finding: Finding | None = None, status: str = "CONTAINED", summary: str = SUMMARY, **kw: Any) -> Composed:
    return compose(finding or sample(), Outcome(status=status, summary=summary), playbook="contain-access-key", **kw)


def bodies(result: Composed) -> dict[str, str]:
    document = json.loads(result.message)
    assert all(isinstance(value, str) for value in document.values()), "SNS takes a string per protocol"
    return dict(document)


def test_every_protocol_gets_its_body() -> None:
    found = bodies(composed(execution=EXECUTION, mode="auto"))

    assert set(found) >= {"default", "https", "email", "lambda", "sqs"}
    assert found["default"] == found["https"], "Amazon Q subscribes over https; default covers the rest"
    assert found["lambda"] == found["sqs"]
    assert json.loads(found["email-json"])["format"] == "warden-notification/1"
    assert not found["email"].lstrip().startswith("{"), "e-mail is plain text"


def test_the_email_reads_as_the_playbooks_text_with_console_links() -> None:
    finding = sample()
    email = bodies(composed(finding, execution=EXECUTION))["email"]

    assert email.startswith(finding.title + "\n\nOutcome: CONTAINED\n" + SUMMARY)
    for line in (
        f"Finding: {finding.id}",
        "Detector: llmjacking-sequence (bedrock-usage, severity HIGH)",
        f"Principal: {finding.principal}",
        "Access key: AKIAEXAMPLEBATCHSVC1",
        f"First evidence: {finding.evidence[0]}",
        f"Playbook execution: {EXECUTION}",
    ):
        assert line in email.splitlines()
    assert f"#/events?EventId={finding.evidence[0]}" in email
    assert "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/" in email
    assert "https://console.aws.amazon.com/iam/home#/users/details/ml-batch-svc" in email


def test_the_amazon_q_body_is_a_custom_notification_threaded_by_incident() -> None:
    finding = sample()
    document = json.loads(bodies(composed(finding, execution=EXECUTION, mode="auto"))["https"])

    assert (document["version"], document["source"]) == ("1.0", "custom")
    content, metadata = document["content"], document["metadata"]
    assert content["textType"] == "client-markdown"
    assert "HIGH" in content["title"] and "contained" in content["title"]
    assert SUMMARY.replace(">", "&gt;") in content["description"], "escaped for chat markdown"
    assert any("|CloudTrail event>" in step for step in content["nextSteps"])
    assert content["keywords"] == ["HIGH", "bedrock-usage", "CONTAINED", "contain-access-key"]
    assert metadata["threadId"] == finding.id, "every update of an incident lands in one thread"
    assert metadata["relatedResources"] == [finding.principal, EXECUTION]
    context = metadata["additionalContext"]
    assert all(isinstance(value, str) for value in context.values())
    assert (context["status"], context["mode"], context["finding_id"]) == ("CONTAINED", "auto", finding.id)


def test_the_message_attributes_serve_subscription_filter_policies() -> None:
    finding = sample()

    attributes = composed(finding, execution=EXECUTION, mode="approve").attributes
    without_mode = composed(finding, execution=EXECUTION).attributes

    assert {name: value["StringValue"] for name, value in attributes.items()} == {
        "status": "CONTAINED",
        "outcome": "CONTAINED",
        "severity": "HIGH",
        "family": "bedrock-usage",
        "account": finding.account,
        "playbook": "contain-access-key",
        "incident": finding.id,
        "mode": "approve",
    }
    assert all(value["DataType"] == "String" for value in attributes.values())
    assert "mode" not in without_mode


def test_a_dry_run_proposes_and_undoes_nothing() -> None:
    summary = "Response mode dry-run: nothing was changed. To contain now: aws iam update-access-key --status Inactive"

    structured = json.loads(bodies(composed(status="DRY_RUN", summary=summary))["lambda"])

    assert structured["actions_proposed"] == ["aws iam update-access-key --status Inactive"]
    assert structured["undo"] == []


def test_an_assumed_role_links_its_role_and_china_gets_its_console() -> None:
    finding = sample(principal="arn:aws-cn:sts::123456789012:assumed-role/app-role/i-0abc", region="cn-north-1")

    links = json.loads(bodies(composed(finding))["lambda"])["links"]

    assert links["principal"] == "https://console.amazonaws.cn/iam/home#/roles/details/app-role"
    assert links["cloudtrail_event"].startswith("https://cn-north-1.console.amazonaws.cn/cloudtrailv2/")
    assert "execution" not in links, "no execution, no link"


def test_details_prompts_and_completions_never_go_out() -> None:
    finding = sample(details={"prompt": CANARY, "completion": CANARY, "reasons": [CANARY]})

    result = composed(finding, execution=EXECUTION)

    assert CANARY not in result.model_dump_json()


def test_values_cannot_mention_a_channel_or_open_a_link_in_chat() -> None:
    finding = sample(title="<!channel> <https://evil.example|click here>")

    description = json.loads(bodies(composed(finding))["https"])["content"]["description"]

    assert "<!channel>" not in description and "<https://evil.example" not in description
    assert "&lt;!channel&gt;" in description


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=6000), st.text(min_size=1, max_size=64))
def test_any_outcome_composes_within_sns_limits(summary: str, status: str) -> None:
    result = composed(status=status, summary=summary, execution=EXECUTION)

    assert len(result.subject) <= MAX_SUBJECT and result.subject.isascii() and "\n" not in result.subject
    assert len(result.message.encode()) < 256 * 1024
    assert all(0 < len(value["StringValue"]) <= 256 for value in result.attributes.values())
    note = parse_notification(bodies(result)["lambda"], subject=result.subject)
    assert note.finding_id == sample().id


# ------------------------------------------------------------------------------------------ the response policy


def request(**changes: Any) -> dict[str, Any]:
    document = {
        "check": "notification",
        "playbook": "contain-access-key",
        "finding": load_json("findings/contain_access_key__llmjacking.json"),
        "outcome": {"status": "CONTAINED", "summary": SUMMARY},
        "execution": EXECUTION,
        "state": {"decision": {"mode": "auto", "act": True}, "finding": {"details": {"prompt": CANARY}}},
    }
    document.update(changes)
    return document


def evaluated(document: dict[str, Any]) -> dict[str, Any]:
    config = ResponseConfig(account_id="123456789012")
    return evaluate(REQUESTS.validate_python(document), config, datetime(2026, 11, 20, 15, tzinfo=UTC))


def test_the_notification_check_answers_what_the_notify_state_publishes() -> None:
    answer = evaluated(request())

    assert set(answer) == {"subject", "message", "attributes"}
    assert answer["subject"] == "[Bedrock Warden] HIGH bedrock-usage finding: CONTAINED"
    assert answer["attributes"]["mode"] == {"DataType": "String", "StringValue": "auto"}, "read from $.decision"
    assert CANARY not in json.dumps(answer), "only decision.mode is read from the state"


def test_a_run_that_never_decided_has_no_mode() -> None:
    answer = evaluated(request(state={"finding": {}}))

    assert "mode" not in answer["attributes"]


@pytest.mark.parametrize(
    "changes",
    [
        {"finding": {"id": "not a finding"}},
        {"outcome": {"summary": "no status"}},
        {"playbook": ""},
    ],
    ids=["bad-finding", "no-status", "no-playbook"],
)
def test_a_malformed_request_is_refused_so_the_plain_message_goes_out(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        evaluated(request(**changes))
