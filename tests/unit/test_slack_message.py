"""The Slack message: what the playbooks publish, read into named fields and built within Block Kit's limits."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import load_json
from warden.notify import Notification, build_message, limit_violations, parse_notification
from warden.notify.slack import (
    APPROVE_ACTION_ID,
    ELLIPSIS,
    MAX_FIELD_TEXT,
    MAX_HEADER,
    MAX_SECTION_TEXT,
    REJECT_ACTION_ID,
    console_links,
    cut,
    cut_escaped,
    units,
)

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:it-abc-contain-access-key:4c1f0a8e"
PRINCIPAL = "arn:aws:iam::123456789012:user/ml-batch-svc"


def playbook_message(outcome: str, summary: str, *, key: str = "AKIAEXAMPLEBATCHSVC1") -> str:
    """The text of contain-access-key's Notify state (statemachines/contain_access_key.asl.json), filled in."""
    return (
        f"LLMjacking: {PRINCIPAL} prepared Bedrock access, then invoked anthropic.claude-3-opus-20240229-v1:0\n\n"
        f"Outcome: {outcome}\n{summary}\n\n"
        "Finding: 4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90\n"
        "Detector: llmjacking-sequence (bedrock-usage, severity HIGH)\n"
        f"Principal: {PRINCIPAL}\n"
        f"Access key: {key}\n"
        "Account / region: 123456789012 / eu-west-1\n"
        "First seen: 2026-11-20T14:02:11Z\n"
        "Last seen: 2026-11-20T14:03:55Z\n"
        "Evidence: 2 event(s)\n"
        "Recommended playbook: contain-access-key\n"
        f"Playbook execution: {EXECUTION}"
    )


ATTRIBUTES = {
    "outcome": {"Type": "String", "Value": "CONTAINED"},
    "severity": {"Type": "String", "Value": "HIGH"},
    "family": {"Type": "String", "Value": "bedrock-usage"},
    "account": {"Type": "String", "Value": "123456789012"},
    "playbook": {"Type": "String", "Value": "contain-access-key"},
}
SUBJECT = "[Bedrock Warden] HIGH bedrock-usage finding: CONTAINED"
CONTAINED = (
    f"Access key AKIAEXAMPLEBATCHSVC1 of {PRINCIPAL} was deactivated (Active -> Inactive). "
    "Undo: aws iam update-access-key --user-name ml-batch-svc --access-key-id AKIAEXAMPLEBATCHSVC1 --status Active"
)
DRY_RUN = (
    "Response mode dry-run: nothing was changed. To contain now: aws iam update-access-key --user-name ml-batch-svc "
    "--access-key-id AKIAEXAMPLEBATCHSVC1 --status Inactive"
)


def message_of(note: Notification) -> dict[str, Any]:
    message = build_message(note)
    assert limit_violations(message) == []
    return message


def everything(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def blocks_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block for block in message["blocks"] if block["type"] == kind]


# ------------------------------------------------------------------------------------------ reading


def test_reads_every_named_field_of_the_playbook_text() -> None:
    note = parse_notification(playbook_message("CONTAINED", CONTAINED), subject=SUBJECT, attributes=ATTRIBUTES)

    assert note.title is not None and note.title.startswith("LLMjacking:")
    assert note.status == "CONTAINED"
    assert note.summary == CONTAINED
    assert note.finding_id == note.incident_id == "4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90"
    assert (note.detector, note.family, note.severity) == ("llmjacking-sequence", "bedrock-usage", "HIGH")
    assert (note.principal, note.access_key_id) == (PRINCIPAL, "AKIAEXAMPLEBATCHSVC1")
    assert (note.account, note.region) == ("123456789012", "eu-west-1")
    assert (note.first_seen, note.last_seen, note.evidence_count) == ("2026-11-20T14:02:11Z", "2026-11-20T14:03:55Z", 2)
    assert note.recommended_playbook == note.playbook == "contain-access-key"
    assert note.execution_arn == EXECUTION
    assert note.actions_taken == (
        f"Access key AKIAEXAMPLEBATCHSVC1 of {PRINCIPAL} was deactivated (Active -> Inactive).",
    )
    assert note.undo == (
        "aws iam update-access-key --user-name ml-batch-svc --access-key-id AKIAEXAMPLEBATCHSVC1 --status Active",
    )
    assert not note.approval_pending


def test_a_dry_run_proposes_the_command_and_takes_nothing() -> None:
    note = parse_notification(playbook_message("DRY_RUN", DRY_RUN), subject=SUBJECT, attributes={})

    assert note.actions_taken == ()
    assert note.actions_proposed == (
        "aws iam update-access-key --user-name ml-batch-svc --access-key-id AKIAEXAMPLEBATCHSVC1 --status Inactive",
    )
    text = everything(message_of(note))
    assert "Actions proposed" in text and "Dry run: nothing changed" in text


def test_a_first_evidence_line_links_the_cloudtrail_event() -> None:
    text = playbook_message("CONTAINED", CONTAINED) + "\nFirst evidence: 5b0c8d0e-6a53-5f0e-9c27-3f1f1f0f8a11"

    note = parse_notification(text, subject=SUBJECT)

    assert note.first_evidence == "5b0c8d0e-6a53-5f0e-9c27-3f1f1f0f8a11"
    assert "EventId=5b0c8d0e-6a53-5f0e-9c27-3f1f1f0f8a11|CloudTrail event>" in everything(message_of(note))


def test_a_missing_key_reads_as_none_not_as_the_word_null() -> None:
    note = parse_notification(playbook_message("NOT_APPLICABLE", "Nothing to do.", key="null"), subject=SUBJECT)

    assert note.access_key_id is None
    assert "Access key" not in everything(message_of(note))


def test_refused_input_and_failure_recorder_messages_keep_their_summary() -> None:
    refused = parse_notification(
        "contain-access-key refused its input: id does not match the content.\n\nPlaybook execution: " + EXECUTION,
        subject="[Bedrock Warden] contain-access-key: input refused",
        attributes={"outcome": {"Type": "String", "Value": "INVALID_INPUT"}},
    )
    recorder = parse_notification(
        f"[Bedrock Warden] playbook execution {EXECUTION} ended TIMED_OUT. Containment may not have happened.",
        subject="[Bedrock Warden] playbook execution did not finish",
        attributes={"outcome": {"Type": "String", "Value": "EXECUTION_FAILED"}},
    )

    assert refused.title == "contain-access-key: input refused"
    assert refused.summary == "contain-access-key refused its input: id does not match the content."
    assert (refused.status, refused.execution_arn) == ("INVALID_INPUT", EXECUTION)
    assert recorder.title == "playbook execution did not finish"
    assert recorder.summary is not None and "TIMED_OUT" in recorder.summary
    for note in (refused, recorder):
        message_of(note)


def test_reads_the_amazon_q_custom_notification_format() -> None:
    document = {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": "HIGH llmjacking-sequence: key contained",
            "description": CONTAINED,
            "nextSteps": ["Rotate the key's secret", "Review CloudTrail for the key"],
        },
        "metadata": {
            "summary": "contained",
            "additionalContext": {
                "finding_id": "f" * 32,
                "status": "CONTAINED",
                "severity": "HIGH",
                "principal": PRINCIPAL,
                "access_key_id": "AKIAEXAMPLEBATCHSVC1",
                "account": "123456789012",
                "region": "us-east-1",
                "first_evidence": "5b0c8d0e-6a53-5f0e-9c27-3f1f1f0f8a11",
                "execution_arn": EXECUTION,
            },
        },
    }

    note = parse_notification(json.dumps(document), subject=None, attributes={})

    assert note.title == "HIGH llmjacking-sequence: key contained"
    assert note.summary == "contained"
    assert note.actions_proposed == ("Rotate the key's secret", "Review CloudTrail for the key")
    assert note.first_evidence == "5b0c8d0e-6a53-5f0e-9c27-3f1f1f0f8a11"
    assert note.execution_arn == EXECUTION
    message_of(note)


def test_reads_a_warden_json_notification_with_its_finding() -> None:
    finding = load_json("findings/contain_access_key__llmjacking.json")
    document = {
        "status": "PENDING_APPROVAL",
        "summary": "Approve to deactivate the key.",
        "playbook": "contain-access-key",
        "mode": "approve",
        "finding": finding,
        "actions": [{"action": "deactivate-access-key", "target": PRINCIPAL, "state": "PLANNED"}],
        "reasons": ["model access enablement: PutFoundationModelEntitlement"],
    }

    note = parse_notification(json.dumps(document))

    assert note.finding_id == note.incident_id == finding["id"]
    assert note.recommended_playbook == "contain-access-key" and note.playbook == "contain-access-key"
    assert note.first_evidence == finding["evidence"][0] and note.evidence_count == len(finding["evidence"])
    assert note.actions_taken == (f"deactivate-access-key on {PRINCIPAL} (PLANNED)",)
    assert note.approval_pending and note.mode == "approve"


def test_only_named_fields_reach_slack_never_prompt_completion_or_details() -> None:
    canary = "PROMPT-CANARY-7f3a"
    document = {
        "title": "t",
        "status": "CONTAINED",
        "prompt": canary,
        "completion": canary,
        "inputBodyJson": {"messages": [canary]},
        "finding": {"id": "a" * 32, "principal": PRINCIPAL, "details": {"prompt": canary, "reasons": [canary]}},
        "metadata": {"additionalContext": {"prompt_text": canary, "principal": PRINCIPAL}},
        "webhook_url": f"https://hooks.slack.com/services/{canary}",
    }

    note = parse_notification(json.dumps(document), subject="s", attributes={"prompt": {"Value": canary}})

    assert canary not in note.model_dump_json()
    assert canary not in everything(message_of(note))


# ------------------------------------------------------------------------------------------ building


def test_the_message_says_what_who_where_and_links_to_the_console() -> None:
    note = parse_notification(playbook_message("CONTAINED", CONTAINED), subject=SUBJECT, attributes=ATTRIBUTES)
    note = note.model_copy(update={"first_evidence": "5b0c8d0e-6a53-5f0e-9c27-3f1f1f0f8a11"})

    message = message_of(note)

    (header,) = blocks_of(message, "header")
    assert header["text"]["text"].startswith(":large_orange_circle: HIGH: LLMjacking")
    text = everything(message)
    for expected in (
        PRINCIPAL,
        "AKIAEXAMPLEBATCHSVC1",
        "123456789012",
        "eu-west-1",
        "llmjacking-sequence",
        "Contained",
    ):
        assert expected in text
    assert "Actions taken" in text and "Undo" in text
    links = dict(console_links(note))
    assert links["CloudTrail event"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1"
        "#/events?EventId=5b0c8d0e-6a53-5f0e-9c27-3f1f1f0f8a11"
    )
    assert links["Playbook execution"].endswith(f"#/v2/executions/details/{EXECUTION}")
    assert links["Playbook execution"].startswith("https://us-east-1.console.aws.amazon.com/states/")
    assert links["IAM principal"] == "https://console.aws.amazon.com/iam/home#/users/details/ml-batch-svc"
    assert all(f"<{url}|" in text for url in links.values())
    assert message["text"].startswith("Bedrock Warden HIGH LLMjacking")
    assert not blocks_of(message, "actions"), "no approval buttons unless approval is pending"


def test_an_assumed_role_session_links_to_its_role_and_partitions_get_their_console() -> None:
    session = Notification(principal="arn:aws-cn:sts::123456789012:assumed-role/app-role/i-0abc", region="cn-north-1")

    links = dict(console_links(session))

    assert links["IAM principal"] == "https://console.amazonaws.cn/iam/home#/roles/details/app-role"


def test_approval_pending_adds_approve_and_reject_buttons_with_the_incident_id() -> None:
    note = Notification(title="t", status="PENDING_APPROVAL", approval_pending=True, incident_id="i" * 32)

    message = message_of(note)

    (actions,) = blocks_of(message, "actions")
    approve, reject = actions["elements"]
    assert (approve["action_id"], reject["action_id"]) == (APPROVE_ACTION_ID, REJECT_ACTION_ID)
    assert approve["value"] == reject["value"] == "i" * 32
    assert (approve["style"], reject["style"]) == ("primary", "danger")
    assert not blocks_of(message_of(note.model_copy(update={"approval_pending": False})), "actions")
    assert not blocks_of(message_of(note.model_copy(update={"incident_id": None})), "actions")


def test_values_cannot_mention_a_channel_or_open_a_link() -> None:
    note = Notification(
        title="<!channel> look",
        summary="<!here> <https://evil.example|click> & more",
        principal="arn:aws:sts::123456789012:assumed-role/r/<!channel>",
        reasons=("<@U123> was here",),
    )

    text = everything(message_of(note))

    assert "<!channel>" not in text and "<!here>" not in text and "<@U123>" not in text
    assert "<https://evil.example" not in text
    assert "&lt;!here&gt;" in text and "&amp; more" in text


def test_many_reasons_are_cut_and_counted() -> None:
    note = Notification(title="t", reasons=tuple(f"reason number {n} " + "x" * 200 for n in range(400)))

    message = message_of(note)

    why = next(b for b in blocks_of(message, "section") if b.get("text", {}).get("text", "").startswith("*Why*"))
    assert units(why["text"]["text"]) <= MAX_SECTION_TEXT
    assert "more" in why["text"]["text"].rsplit("\n", 1)[-1]


def test_the_limit_checker_finds_what_breaks_block_kit() -> None:
    bad = {
        "text": "",
        "blocks": [
            {"type": "header", "text": {"type": "mrkdwn", "text": "x" * 151}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}]},
            {"type": "image"},
        ]
        + [{"type": "divider"}] * 50,
    }

    problems = limit_violations(bad)

    for expected in (
        "text fallback",
        "more than 50",
        "header",
        "section text",
        "10 fields",
        "button text",
        "action_id",
    ):
        assert any(expected in problem for problem in problems), expected
    assert any("unexpected block type" in problem for problem in problems)


# ------------------------------------------------------------------------------------------ limits, generated

KEYS = [
    *Notification.model_fields,
    "outcome", "finding", "metadata", "additionalContext", "content", "evidence", "actions", "approval", "id",
]  # fmt: skip
TEXT = st.text(st.characters(codec="utf-8"), max_size=5000)
LONG = st.one_of(TEXT, st.text(alphabet="<>&`*_~é😀\u200b", min_size=0, max_size=4000), st.just("x" * 9000))


@st.composite
def notifications(draw: st.DrawFn) -> Notification:
    maybe = st.one_of(st.none(), LONG)
    many = st.lists(LONG, max_size=120).map(tuple)
    return Notification(
        subject=draw(maybe),
        title=draw(maybe),
        status=draw(st.one_of(st.none(), st.sampled_from(["CONTAINED", "DRY_RUN", "PENDING_APPROVAL"]), LONG)),
        summary=draw(maybe),
        finding_id=draw(maybe),
        incident_id=draw(maybe),
        detector=draw(maybe),
        family=draw(maybe),
        severity=draw(st.one_of(st.none(), st.sampled_from(["HIGH", "LOW"]), LONG)),
        principal=draw(maybe),
        access_key_id=draw(maybe),
        account=draw(maybe),
        region=draw(maybe),
        first_seen=draw(maybe),
        last_seen=draw(maybe),
        evidence_count=draw(st.one_of(st.none(), st.integers(0, 10**9))),
        first_evidence=draw(maybe),
        recommended_playbook=draw(maybe),
        playbook=draw(maybe),
        mode=draw(maybe),
        execution_arn=draw(st.one_of(maybe, LONG.map(lambda s: "arn:aws:states:" + s))),
        actions_taken=draw(many),
        actions_proposed=draw(many),
        undo=draw(many),
        reasons=draw(many),
        notes=draw(many),
        approval_pending=draw(st.booleans()),
    )


@settings(max_examples=150, deadline=None)
@given(notifications())
def test_every_message_is_within_block_kit_limits(note: Notification) -> None:
    message = build_message(note)

    assert limit_violations(message) == []
    json.dumps(message)  # serialisable as the webhook sends it


@settings(max_examples=200, deadline=None)
@given(LONG, LONG, st.dictionaries(st.sampled_from(["outcome", "severity", "playbook", "x"]), LONG, max_size=4))
def test_any_sns_message_reads_and_builds_within_limits(message: str, subject: str, attributes: dict[str, str]) -> None:
    for text in (message, json.dumps({"title": message, "summary": subject, "reasons": [message] * 60})):
        note = parse_notification(text, subject=subject, attributes=attributes)
        assert limit_violations(build_message(note)) == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | LONG,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=12))
def test_any_json_notification_reads_and_builds_within_limits(document: dict[str, Any]) -> None:
    note = parse_notification(json.dumps(document))

    assert limit_violations(build_message(note)) == []


def test_json_nested_too_deep_is_read_as_text() -> None:
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"

    assert limit_violations(build_message(parse_notification(deep, subject="s"))) == []


@given(LONG, st.integers(min_value=2, max_value=3000))
def test_cut_fits_the_limit_and_marks_the_cut(text: str, limit: int) -> None:
    short = cut(text, limit)
    assert units(short) <= limit
    assert short == text if units(text) <= limit else short.endswith(ELLIPSIS)

    escaped = cut_escaped(text, limit)
    assert units(escaped) <= limit
    assert "&" not in escaped or ";" in escaped.rsplit("&", 1)[1], "never half an entity"


def test_header_and_field_limits_hold_for_a_single_huge_value() -> None:
    huge = "😀" * 5000
    message = message_of(Notification(title=huge, principal=huge, summary=huge))

    (header,) = blocks_of(message, "header")
    assert units(header["text"]["text"]) <= MAX_HEADER and header["text"]["text"].endswith(ELLIPSIS)
    fields = next(b for b in blocks_of(message, "section") if "fields" in b)["fields"]
    assert all(units(field["text"]) <= MAX_FIELD_TEXT for field in fields)


# ------------------------------------------------------------------------------------------ approve mode and composed


def approval_message(finding_id: str = "4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90") -> str:
    """The text of the AwaitApproval state (scripts/asl_gates.py), filled in."""
    return (
        f"LLMjacking: {PRINCIPAL} prepared Bedrock access\n\n"
        "APPROVAL NEEDED. Warden will deactivate access key AKIAEXAMPLEBATCHSVC1 of ml-batch-svc.\n\n"
        f"Approve: warden playbook approve {finding_id} --stack <stack>\n"
        f"Reject:  warden playbook reject {finding_id} --stack <stack> --reason <why>\n"
        "Unanswered after 3600 seconds: reject.\n\n"
        f"Finding: {finding_id}\n"
        "Detector: llmjacking-sequence (bedrock-usage, severity HIGH)\n"
        f"Principal: {PRINCIPAL}\n"
        "Account / region: 123456789012 / eu-west-1\n"
        "Playbook: contain-access-key\n"
        f"Playbook execution: {EXECUTION}"
    )


TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAZ-task-token-canary"  # noqa: S105  a fake task token


def test_an_approval_request_shows_the_plan_and_both_buttons_behind_confirm_dialogs_never_the_token() -> None:
    attributes = {
        "outcome": {"Type": "String", "Value": "AWAITING_APPROVAL"},
        "incident": {"Type": "String", "Value": "4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90"},
        "approval_token": {"Type": "String", "Value": TOKEN},
    }

    note = parse_notification(approval_message(), subject="[Bedrock Warden] APPROVAL NEEDED", attributes=attributes)
    message = message_of(note)

    assert note.approval_pending and note.incident_id == "4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90"
    text = everything(message)
    assert TOKEN not in text and TOKEN not in note.model_dump_json()
    assert "Waiting for approval" in text and "Warden will deactivate access key" in text, "the plan is shown"
    (actions,) = blocks_of(message, "actions")
    approve, reject = actions["elements"]
    assert approve["value"] == reject["value"] == "4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90"
    assert approve["confirm"]["confirm"]["text"] == "Approve" and reject["confirm"]["confirm"]["text"] == "Reject"
    assert "Playbook execution" in text and "IAM principal" in text, "console links"


def test_reads_the_composed_structured_body_with_every_console_link() -> None:
    from warden.models import Finding
    from warden.notify.compose import Outcome, compose

    finding = Finding.model_validate(load_json("findings/contain_access_key__llmjacking.json"))
    composed = compose(finding, Outcome(status="CONTAINED", summary=CONTAINED), playbook="contain-access-key",
                       execution=EXECUTION, mode="auto")  # fmt: skip
    bodies = json.loads(composed.message)
    attributes = {name: {"Type": "String", "Value": v["StringValue"]} for name, v in composed.attributes.items()}

    note = parse_notification(bodies["lambda"], subject=composed.subject, attributes=attributes)
    message = message_of(note)

    assert (note.status, note.finding_id, note.playbook, note.mode) == (
        "CONTAINED",
        finding.id,
        "contain-access-key",
        "auto",
    )
    assert note.first_evidence == finding.evidence[0] and note.evidence_count == len(finding.evidence)
    assert note.undo == (
        "aws iam update-access-key --user-name ml-batch-svc --access-key-id AKIAEXAMPLEBATCHSVC1 --status Active",
    )
    labels = [label for label, _ in console_links(note)]
    assert labels == ["CloudTrail event", "Playbook execution", "IAM principal"]
    assert f"EventId={finding.evidence[0]}|CloudTrail event>" in everything(message)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.text(max_size=5000))
def test_an_approval_message_with_any_summary_and_principal_stays_within_limits(principal: str, summary: str) -> None:
    note = Notification(
        title="t", status="AWAITING_APPROVAL", approval_pending=True, incident_id="a" * 32,
        principal=principal, summary=summary,
    )  # fmt: skip

    message = message_of(note)

    (actions,) = blocks_of(message, "actions")
    assert len(actions["elements"]) == 2 and len(message["blocks"]) <= 50
