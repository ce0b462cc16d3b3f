"""Slack's Approve / Reject clicks: the signature check, the approver allow-list and the payload reading."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from warden.approvals import WorkflowError
from warden.errors import WardenError
from warden.notify.slack import APPROVE_ACTION_ID, REJECT_ACTION_ID
from warden.notify.slack_approvals import (
    ApprovalsConfig,
    RequestRefused,
    SlackApprovals,
    parse_click,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # noqa: S105  a test signing secret
OTHER_SECRET = "another-apps-signing-secret"  # noqa: S105
NOW = 1_764_000_000.0
INCIDENT = "4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90"
RESPONSE_URL = "https://hooks.slack.com/actions/T0001/1234/abcd"


def payload(action_id: str = APPROVE_ACTION_ID, value: str = INCIDENT, user: str = "U0APPROVER", **extra: Any) -> str:
    document = {
        "type": "block_actions",
        "user": {"id": user, "username": "dana.ops", "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "example"},
        "response_url": RESPONSE_URL,
        "actions": [{"action_id": action_id, "block_id": "warden_approval", "value": value, "type": "button"}],
        **extra,
    }
    return urlencode({"payload": json.dumps(document)})


def signed(body: str, *, at: float = NOW, secret: str = SECRET, base64_body: bool = False) -> dict[str, Any]:
    """A function-URL event for ``body``, signed as Slack signs: v0=HMAC-SHA256(secret, 'v0:ts:body')."""
    timestamp = str(int(at))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": f"v0={digest}",
        },
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


class Recorder:
    """A decider and a reply channel that record what they were asked."""

    def __init__(self, refuse: str | WardenError | None = None) -> None:
        self.decisions: list[dict[str, Any]] = []
        self.replies: list[tuple[str, str]] = []
        self.refuse = refuse

    def decide(self, incident: str, *, approve: bool, by: str, reason: str | None) -> str:
        if isinstance(self.refuse, WardenError):
            raise self.refuse
        if self.refuse:
            raise WardenError(self.refuse)
        self.decisions.append({"incident": incident, "approve": approve, "by": by, "reason": reason})
        return f"{'Approved' if approve else 'Rejected'} by {by}."

    def reply(self, url: str, text: str) -> None:
        self.replies.append((url, text))


def handler(recorder: Recorder, *, approvers: tuple[str, ...] = (), now: float = NOW) -> SlackApprovals:
    return SlackApprovals(
        signing_secret=lambda: SECRET,
        approvers=approvers,
        decide=recorder.decide,
        reply=recorder.reply,
        clock=lambda: now,
    )


# ------------------------------------------------------------------------------------------ signature


def test_a_signed_approve_click_approves_the_incident_and_replies() -> None:
    recorder = Recorder()

    answer = handler(recorder).handle(signed(payload()))

    assert answer["statusCode"] == 200
    assert recorder.decisions == [
        {"incident": INCIDENT, "approve": True, "by": "slack:T0001/U0APPROVER (dana.ops)", "reason": None}
    ]
    ((url, text),) = recorder.replies
    assert url == RESPONSE_URL and "<@U0APPROVER>" in text and "Approved" in text


def test_a_base64_encoded_body_is_verified_as_sent() -> None:
    recorder = Recorder()

    assert handler(recorder).handle(signed(payload(), base64_body=True))["statusCode"] == 200
    assert len(recorder.decisions) == 1


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (signed(payload(), secret=OTHER_SECRET), "bad signature"),
        ({**signed(payload()), "body": payload(value="f" * 32)}, "bad signature"),  # body changed after signing
        (signed(payload(), at=NOW - 301), "stale"),
        (signed(payload(), at=NOW + 301), "stale"),
        ({"headers": {}, "body": payload()}, "missing"),
        (
            {**signed(payload()), "headers": {**signed(payload())["headers"], "x-slack-request-timestamp": "1e9"}},
            "missing",
        ),
    ],
    ids=["wrong-secret", "tampered-body", "stale", "future", "unsigned", "malformed-timestamp"],
)
def test_unverified_requests_are_refused_and_decide_nothing(event: dict[str, Any], reason: str) -> None:
    recorder = Recorder()

    answer = handler(recorder).handle(event)

    assert answer["statusCode"] == 401 and reason in answer["body"]
    assert recorder.decisions == [] and recorder.replies == []


def test_a_request_at_the_edge_of_the_window_is_accepted() -> None:
    recorder = Recorder()

    assert handler(recorder).handle(signed(payload(), at=NOW - 300))["statusCode"] == 200


def test_a_replayed_request_is_refused_within_the_window_and_stale_after_it() -> None:
    recorder = Recorder()
    event = signed(payload())
    approvals = handler(recorder)

    first, replay = approvals.handle(event), approvals.handle(event)
    later = handler(recorder, now=NOW + 301).handle(event)  # another instance, after the window

    assert first["statusCode"] == 200
    assert (replay["statusCode"], replay["body"]) == (401, "replayed request")
    assert later["statusCode"] == 401 and "stale" in later["body"]
    assert len(recorder.decisions) == 1


# ------------------------------------------------------------------------------------------ approvers


def test_only_listed_approvers_decide_when_a_list_is_set() -> None:
    recorder = Recorder()
    approvals = handler(recorder, approvers=("U0APPROVER", "W0LEAD"))

    outsider = approvals.handle(signed(payload(user="U0OUTSIDER")))
    listed = approvals.handle(signed(payload(user="W0LEAD", action_id=REJECT_ACTION_ID), at=NOW - 1))

    assert outsider["statusCode"] == listed["statusCode"] == 200
    assert [d["approve"] for d in recorder.decisions] == [False], "only the listed user's rejection was decided"
    assert recorder.decisions[0]["reason"] == "rejected in Slack"
    assert "not on Warden's approver list" in recorder.replies[0][1]


def test_an_empty_list_lets_anyone_in_the_channel_decide() -> None:
    recorder = Recorder()

    handler(recorder, approvers=()).handle(signed(payload(user="U0ANYONE")))

    assert recorder.decisions[0]["by"].startswith("slack:T0001/U0ANYONE")


def test_a_refused_decision_is_told_in_the_channel_not_as_an_http_error() -> None:
    recorder = Recorder(refuse="incident is CONTAINED, not AWAITING_APPROVAL: there is nothing to decide")

    answer = handler(recorder).handle(signed(payload()))

    assert answer["statusCode"] == 200
    assert "nothing to decide" in recorder.replies[0][1]


def test_a_step_functions_refusal_is_told_by_its_code_never_quoting_the_token() -> None:
    token = "AQCEAAAAKgAAAAMAAAAAAAAAA-token-canary"  # noqa: S105  a fake task token
    recorder = Recorder(refuse=WorkflowError("TaskTimedOut", f"Task Timed Out: '{token}'"))

    handler(recorder).handle(signed(payload()))

    ((_, text),) = recorder.replies
    assert "TaskTimedOut" in text and token not in text


def test_the_approver_list_is_validated_from_the_environment() -> None:
    environ = {
        "WARDEN_SLACK_SIGNING_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf",
        "WARDEN_INCIDENT_TABLE": "incidents",
        "AWS_REGION": "us-east-1",
    }

    assert ApprovalsConfig.from_environ(environ).approvers == ()
    assert ApprovalsConfig.from_environ({**environ, "WARDEN_SLACK_APPROVERS": " U01, W02 ,"}).approvers == (
        "U01",
        "W02",
    )
    with pytest.raises(WardenError):
        ApprovalsConfig.from_environ({**environ, "WARDEN_SLACK_APPROVERS": "dana@example.com"})


# ------------------------------------------------------------------------------------------ payload


def test_reads_the_click_and_keeps_only_a_slack_response_url() -> None:
    click = parse_click(payload(action_id=REJECT_ACTION_ID))
    elsewhere = parse_click(payload(response_url="https://attacker.example/collect"))

    assert (click.approve, click.incident, click.user_id, click.team_id) == (False, INCIDENT, "U0APPROVER", "T0001")
    assert click.response_url == RESPONSE_URL
    assert elsewhere.response_url is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "no payload"),
        (urlencode({"payload": "{not json"}), "not JSON"),
        (urlencode({"payload": json.dumps({"type": "view_submission"})}), "block_actions"),
        (payload(action_id="someone_elses_button"), "approval button"),
        (payload(value="AQoDYXdzEJr...token"), "incident id"),
        (payload(value=INCIDENT.upper()), "incident id"),
        (payload(user="<!channel>"), "user id"),
    ],
    ids=["empty", "not-json", "other-type", "other-action", "token-as-value", "upper-case-id", "bad-user"],
)
def test_anything_but_a_warden_button_click_is_refused(body: str, reason: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        parse_click(body)

    assert refused.value.status == 400 and reason in str(refused.value)


def test_a_signed_but_malformed_payload_answers_400_and_decides_nothing() -> None:
    recorder = Recorder()

    answer = handler(recorder).handle(signed(payload(value="not-an-incident")))

    assert answer["statusCode"] == 400 and recorder.decisions == []
