"""The contain-access-key playbook: its real definition, executed by moto, and the AWS state after."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest

from tests.integration.playbook import (
    PROTECTED_USER,
    dumped,
    finding_for,
    incident,
    key_status,
    named_user_with_key,
    new_user,
    run_playbook,
)
from warden_local.stack import LocalStack


def test_contains_the_key_records_the_undo_and_notifies(auto_stack: LocalStack) -> None:
    user, arn, (stolen, other) = new_user(auto_stack, keys=2)
    finding = finding_for(arn, stolen)

    execution = run_playbook(auto_stack, finding)

    assert execution.status == "SUCCEEDED"
    assert "DeactivateKey" in execution.states
    assert key_status(auto_stack, user, stolen) == "Inactive"
    assert key_status(auto_stack, user, other) == "Active", "only the key named in the finding is touched"
    items = incident(auto_stack, finding["id"])
    assert items["FINDING"]["status"] == "CONTAINED"
    action = items["ACTION"]
    assert action["state"] == "DONE", "the intent recorded before acting was completed"
    assert action["previous_status"] == "Active"
    assert action["new_status"] == "Inactive"
    assert action["undo"] == {"api": "iam:UpdateAccessKey", "UserName": user, "AccessKeyId": stolen, "Status": "Active"}
    (notification,) = auto_stack.notifications()
    assert notification["attributes"]["outcome"] == "CONTAINED"
    assert "CONTAINED" in notification["subject"]
    assert stolen in notification["message"] and "Undo" in notification["message"]


def test_the_recorded_undo_restores_the_key(auto_stack: LocalStack) -> None:
    user, arn, (stolen,) = new_user(auto_stack)
    finding = finding_for(arn, stolen)
    run_playbook(auto_stack, finding)
    undo = incident(auto_stack, finding["id"])["ACTION"]["undo"]

    auto_stack.client("iam").update_access_key(
        UserName=undo["UserName"], AccessKeyId=undo["AccessKeyId"], Status=undo["Status"]
    )

    assert key_status(auto_stack, user, stolen) == "Active"


def test_refuses_a_protected_principal_and_says_so(auto_stack: LocalStack) -> None:
    arn, key = named_user_with_key(auto_stack, PROTECTED_USER)

    execution = run_playbook(auto_stack, finding_for(arn, key))

    assert execution.status == "SUCCEEDED"
    assert "DeactivateKey" not in execution.states
    assert key_status(auto_stack, PROTECTED_USER, key) == "Active"
    (notification,) = auto_stack.notifications()
    assert notification["attributes"]["outcome"] == "REFUSED_PROTECTED"
    assert "protected principal" in notification["message"]

    # The key's real owner decides, not the finding: a finding naming someone else is refused too.
    misattributed = run_playbook(auto_stack, finding_for("arn:aws:iam::123456789012:user/someone-else", key))
    assert "DeactivateKey" not in misattributed.states
    assert key_status(auto_stack, PROTECTED_USER, key) == "Active"


def test_dry_run_changes_nothing_and_says_what_it_would_do(deploy: Callable[..., LocalStack]) -> None:
    stack = deploy()  # the template's default: dry-run
    user, arn, (key,) = new_user(stack)
    finding = finding_for(arn, key)

    execution = run_playbook(stack, finding)

    assert execution.status == "SUCCEEDED"
    assert key_status(stack, user, key) == "Active"
    assert incident(stack, finding["id"])["FINDING"]["status"] == "DRY_RUN"
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "DRY_RUN"
    assert f"aws iam update-access-key --user-name {user} --access-key-id {key} --status Inactive" in dumped(
        notification["message"]
    )


def test_an_already_inactive_key_is_left_alone(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)
    auto_stack.client("iam").update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    finding = finding_for(arn, key)

    execution = run_playbook(auto_stack, finding)

    assert "DeactivateKey" not in execution.states
    assert incident(auto_stack, finding["id"])["FINDING"]["status"] == "NO_ACTION"
    assert "ACTION" not in incident(auto_stack, finding["id"])


def test_a_temporary_session_key_is_not_this_playbooks_job(auto_stack: LocalStack) -> None:
    finding = finding_for(
        "arn:aws:sts::123456789012:assumed-role/app/s", "ASIAEXAMPLERAGAPI001", playbook="revoke-role-sessions"
    )

    execution = run_playbook(auto_stack, finding)

    assert execution.status == "SUCCEEDED"
    assert "LookUpKeyOwner" not in execution.states
    (notification,) = auto_stack.notifications()
    assert notification["attributes"]["outcome"] == "NOT_APPLICABLE"
    assert "revoke-role-sessions" in notification["message"]


def test_a_failing_iam_call_ends_in_a_notification_not_silence(auto_stack: LocalStack) -> None:
    finding = finding_for("arn:aws:iam::123456789012:user/ghost", "AKIAEXAMPLENOSUCHKY1")

    execution = run_playbook(auto_stack, finding)

    assert execution.status == "FAILED"
    assert execution.error == "ContainmentFailed"
    assert incident(auto_stack, finding["id"])["FINDING"]["status"] == "FAILED"
    notifications = auto_stack.notifications()
    outcome = [n for n in notifications if n["attributes"].get("outcome") == "FAILED"]
    assert outcome and "may NOT be contained" in outcome[0]["message"]
    assert len(notifications) == 1, "one finding, one alert: the failure recorder does not repeat what was notified"
    recorder = [e for e in auto_stack.executions if e.playbook == "record-playbook-failure"]
    assert recorder and recorder[-1].status == "SUCCEEDED", "the failure recorder still ran on the FAILED execution"


def test_input_that_is_not_a_finding_is_refused_with_a_notification(auto_stack: LocalStack) -> None:
    execution = run_playbook(auto_stack, {"principal": "arn:aws:iam::123456789012:user/x"})

    assert execution.status == "FAILED"
    assert execution.error == "InvalidInput"
    assert any(n["attributes"].get("outcome") == "INVALID_INPUT" for n in auto_stack.notifications())


def test_a_redelivered_finding_is_handled_once(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)
    finding = finding_for(arn, key)
    run_playbook(auto_stack, finding)
    auto_stack.client("iam").update_access_key(UserName=user, AccessKeyId=key, Status="Active")

    second = run_playbook(auto_stack, finding)

    assert second.status == "SUCCEEDED"
    assert second.states[-1] == "AlreadyHandled"
    assert key_status(auto_stack, user, key) == "Active", "the duplicate did not act again"
    assert auto_stack.notifications() == []


def test_a_notification_that_cannot_be_sent_leaves_the_outcome_on_record(deploy: Callable[..., LocalStack]) -> None:
    stack = deploy(ResponseMode="auto")
    user, arn, (key,) = new_user(stack)
    finding = finding_for(arn, key)
    stack.client("sns").delete_topic(TopicArn=stack.ref("NotificationTopic"))

    execution = run_playbook(stack, finding)

    assert execution.status == "FAILED"
    assert execution.error == "NotificationFailed"
    assert key_status(stack, user, key) == "Inactive", "containment is not undone by a notification failure"
    assert incident(stack, finding["id"])["FINDING"]["status"] == "CONTAINED"
    (recorder,) = [e for e in stack.executions if e.playbook == "record-playbook-failure"]
    assert recorder.error == "NotificationFailed", "the last-resort notification was attempted too"


@pytest.mark.parametrize(
    "broken",
    [
        {"access_key_id": "drop"},
        {"playbook": "drop"},
        {"title": None},
        {"severity": 3},
        {"evidence": "not-a-list"},
        {"evidence": {}},
        {"evidence": []},
    ],
    ids=[
        "no-key-field",
        "no-playbook-field",
        "null-title",
        "numeric-severity",
        "evidence-text",
        "evidence-map",
        "no-evidence",
    ],
)
def test_a_finding_missing_or_mistyping_a_field_is_refused_not_crashed(
    auto_stack: LocalStack, broken: dict[str, object]
) -> None:
    user, arn, (key,) = new_user(auto_stack)
    finding = finding_for(arn, key)
    for field, value in broken.items():
        if value == "drop":
            del finding[field]
        else:
            finding[field] = value

    execution = run_playbook(auto_stack, finding)

    assert execution.error == "InvalidInput"
    assert key_status(auto_stack, user, key) == "Active"
    outcomes = [n["attributes"].get("outcome") for n in auto_stack.notifications()]
    assert outcomes.count("INVALID_INPUT") == 1


def test_a_failed_containment_can_be_run_again(auto_stack: LocalStack) -> None:
    finding = finding_for("arn:aws:iam::123456789012:user/ghost", "AKIAEXAMPLENOSUCHKY2")
    run_playbook(auto_stack, finding)
    assert incident(auto_stack, finding["id"])["FINDING"]["status"] == "FAILED"

    again = run_playbook(auto_stack, finding)

    assert "AlreadyHandled" not in again.states
    assert "LookUpKeyOwner" in again.states
    history = incident(auto_stack, finding["id"])["FINDING"]["history"]
    assert [attempt["status"] for attempt in history] == ["FAILED", "FAILED"], "no attempt's record is lost"


def test_an_incident_left_open_by_an_execution_that_died_is_marked_failed_and_can_be_run_again(
    auto_stack: LocalStack,
) -> None:
    user, arn, (key,) = new_user(auto_stack)
    finding = finding_for(arn, key)
    playbook = auto_stack.playbook_arn("contain-access-key")
    dead = playbook.replace(":stateMachine:", ":execution:") + ":timed-out-run"
    auto_stack.client("dynamodb").put_item(  # what OpenIncident wrote before the execution timed out
        TableName=auto_stack.ref("IncidentTable"),
        Item={
            "pk": {"S": f"INCIDENT#{finding['id']}"},
            "sk": {"S": "FINDING"},
            "status": {"S": "OPEN"},
            "execution": {"S": dead},
        },
    )
    auto_stack.notifications()

    auto_stack.route(
        "default",
        {
            "version": "0",
            "id": "status-change-1",
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": "123456789012",
            "time": "2026-11-20T14:10:00Z",
            "region": "us-east-1",
            "resources": [dead],
            "detail": {
                "executionArn": dead,
                "stateMachineArn": playbook,
                "status": "TIMED_OUT",
                "input": dumped(finding),
            },
        },
    )
    auto_stack.settle()

    record = incident(auto_stack, finding["id"])["FINDING"]
    assert record["status"] == "FAILED"
    assert record["history"][-1]["execution"] == dead
    (notification,) = auto_stack.notifications()
    assert notification["attributes"]["outcome"] == "EXECUTION_FAILED"
    assert "TIMED_OUT" in notification["message"]

    again = run_playbook(auto_stack, finding)

    assert "DeactivateKey" in again.states
    assert key_status(auto_stack, user, key) == "Inactive"


@pytest.mark.parametrize(
    ("event", "outcome_text"),
    [
        ({"detail": {}}, "not a Step Functions execution status change"),
        ({"detail": {"executionArn": "arn:x", "status": "ABORTED", "input": "{}"}}, "ended ABORTED"),
    ],
    ids=["not-a-status-event", "input-without-a-finding"],
)
def test_the_failure_recorder_notifies_whatever_it_is_given(
    auto_stack: LocalStack, event: dict[str, object], outcome_text: str
) -> None:
    auto_stack.notifications()

    auto_stack.start_playbook("record-playbook-failure", event)
    auto_stack.settle()

    (notification,) = auto_stack.notifications()
    assert outcome_text in notification["message"]


# ------------------------------------------------------------------ the options: every key, and an inline deny


@pytest.fixture(scope="module")
def thorough_stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    patterns = "arn:aws:iam::*:user/BreakGlass*"
    return deploy(ResponseMode="auto", ContainAllUserKeys="true", ContainUserDeny="true", ProtectedPrincipals=patterns)


def _items(stack: LocalStack, finding_id: str) -> list[dict[str, Any]]:
    from warden_local.run import incident_items

    return incident_items(stack, finding_id)


def test_every_active_key_and_an_inline_deny_each_recorded_with_its_undo(thorough_stack: LocalStack) -> None:
    iam = thorough_stack.client("iam")
    user, arn, (stolen, second) = new_user(thorough_stack, keys=2)
    finding = finding_for(arn, stolen)

    execution = run_playbook(thorough_stack, finding)

    assert execution.status == "SUCCEEDED"
    assert (key_status(thorough_stack, user, stolen), key_status(thorough_stack, user, second)) == ("Inactive",) * 2
    document = iam.get_user_policy(UserName=user, PolicyName="warden-deny-bedrock-and-credentials")["PolicyDocument"]
    document = json.loads(unquote(document)) if isinstance(document, str) else document
    bedrock, credentials = document["Statement"]
    assert bedrock["Effect"] == credentials["Effect"] == "Deny"
    assert {"bedrock:InvokeModel*", "bedrock:Converse*"} <= set(bedrock["Action"])
    assert {"iam:CreateAccessKey", "sts:GetSessionToken", "iam:CreateServiceSpecificCredential"} <= set(
        credentials["Action"]
    )
    actions = [item for item in _items(thorough_stack, finding["id"]) if str(item["sk"]).startswith("ACTION#")]
    undos = sorted((item["action"], item["undo"]["api"], item["undo"].get("AccessKeyId")) for item in actions)
    expected = [
        ("deactivate-access-key", "iam:UpdateAccessKey", stolen),
        ("deactivate-access-key", "iam:UpdateAccessKey", second),
        ("deny-bedrock-and-credentials", "iam:DeleteUserPolicy", None),
    ]
    assert undos == sorted(expected)
    assert all(item["state"] == "DONE" for item in actions)
    outcome = incident(thorough_stack, finding["id"])["FINDING"]
    assert outcome["status"] == "CONTAINED"
    assert "aws iam delete-user-policy" in outcome["summary"]


def test_an_inactive_named_key_is_left_alone_and_the_rest_still_contained(thorough_stack: LocalStack) -> None:
    iam = thorough_stack.client("iam")
    user, arn, (stolen, other) = new_user(thorough_stack, keys=2)
    iam.update_access_key(UserName=user, AccessKeyId=stolen, Status="Inactive")
    finding = finding_for(arn, stolen)

    run_playbook(thorough_stack, finding)

    assert key_status(thorough_stack, user, other) == "Inactive"
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["warden-deny-bedrock-and-credentials"]
    touched = {item["undo"].get("AccessKeyId") for item in _items(thorough_stack, finding["id"]) if "undo" in item}
    assert stolen not in touched, "the key that was already inactive has no undo that would wake it"


@pytest.mark.parametrize("how", ["pattern", "tag"])
def test_a_protected_owner_by_pattern_or_tag_is_never_touched(thorough_stack: LocalStack, how: str) -> None:
    iam = thorough_stack.client("iam")
    user, arn, (key,) = new_user(thorough_stack, prefix="BreakGlass" if how == "pattern" else "victim")
    if how == "tag":
        iam.tag_user(UserName=user, Tags=[{"Key": "warden:protected", "Value": "true"}])
    finding = finding_for(arn, key)

    execution = run_playbook(thorough_stack, finding)

    assert execution.status == "SUCCEEDED"
    assert key_status(thorough_stack, user, key) == "Active"
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    outcome = incident(thorough_stack, finding["id"])["FINDING"]
    assert outcome["status"] == "REFUSED_PROTECTED"
    assert ("arn:aws:iam::*:user/BreakGlass*" if how == "pattern" else "warden:protected") in outcome["summary"]
    (note,) = thorough_stack.notifications()
    assert note["attributes"]["outcome"] == "REFUSED_PROTECTED"
