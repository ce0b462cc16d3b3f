"""Issue 5, defects 1-3: the responder cannot be turned against its owners, nor fail unheard.

Each test runs the real contain-access-key definition on moto and reads the AWS state back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from tests.integration.playbook import finding_for, incident, key_status, new_user, run_playbook
from warden.models.finding import FINDING_DETAIL_TYPE, FINDING_SOURCE
from warden_local.emulator import ACCOUNT_ID
from warden_local.run import incident_items
from warden_local.stack import LocalStack


def _on_the_findings_bus(finding: dict[str, Any]) -> dict[str, Any]:
    """The event EventBridge delivers for a finding the detector put on the findings bus."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": FINDING_DETAIL_TYPE,
        "source": FINDING_SOURCE,
        "account": ACCOUNT_ID,
        "time": "2026-11-20T14:04:00Z",
        "region": "us-east-1",
        "resources": [finding["principal"]],
        "detail": finding,
    }


def _outcome(stack: LocalStack) -> tuple[str, str]:
    (notification,) = stack.notifications()
    return notification["attributes"]["outcome"], notification["message"]


def test_a_finding_naming_one_user_with_anothers_key_changes_nothing(auto_stack: LocalStack) -> None:
    _, alice, _ = new_user(auto_stack, "alice")
    bob, _, (bobs_key,) = new_user(auto_stack, "bob")

    execution = run_playbook(auto_stack, finding_for(alice, bobs_key))

    assert execution.status == "SUCCEEDED" and "DeactivateKey" not in execution.states
    assert key_status(auto_stack, bob, bobs_key) == "Active"
    outcome, message = _outcome(auto_stack)
    assert outcome == "REFUSED_MISMATCH" and "not to the finding's principal" in message


def test_a_finding_from_another_account_changes_nothing(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)
    foreign = arn.replace(ACCOUNT_ID, "999999999999")

    execution = run_playbook(auto_stack, finding_for(foreign, key, account="999999999999"))

    assert "DeactivateKey" not in execution.states
    assert key_status(auto_stack, user, key) == "Active"
    assert _outcome(auto_stack)[0] == "REFUSED_MISMATCH"


def test_a_finding_naming_wardens_own_playbook_role_changes_nothing(auto_stack: LocalStack) -> None:
    user, _, (key,) = new_user(auto_stack)
    role = auto_stack.resolver.attributes["ContainAccessKeyStateMachineRole"]["Arn"]
    session = role.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/execution"

    run_playbook(auto_stack, finding_for(session, key))

    assert key_status(auto_stack, user, key) == "Active"
    assert _outcome(auto_stack)[0] == "REFUSED_PROTECTED"


def test_a_low_severity_finding_is_only_planned_even_in_auto_mode(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)

    execution = run_playbook(auto_stack, finding_for(arn, key, severity="LOW"))

    assert "DeactivateKey" not in execution.states
    assert key_status(auto_stack, user, key) == "Active"
    outcome, message = _outcome(auto_stack)
    assert outcome == "DRY_RUN" and "below HIGH" in message and "update-access-key" in message


def test_a_forged_finding_with_a_real_id_cannot_pre_empt_the_real_one(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)
    real = finding_for(arn, key)
    forged = {**real, "access_key_id": "AKIAEXAMPLEOTHERKEY1", "severity": "LOW"}

    first = run_playbook(auto_stack, forged)
    assert (first.status, first.error) == ("FAILED", "InvalidInput")
    assert _outcome(auto_stack)[0] == "INVALID_INPUT"
    assert not incident_items(auto_stack, real["id"]), "the forged finding opened no incident under the real id"

    second = run_playbook(auto_stack, real)

    assert second.status == "SUCCEEDED"
    assert key_status(auto_stack, user, key) == "Inactive"
    assert incident(auto_stack, real["id"])["FINDING"]["status"] == "CONTAINED"


def test_a_protected_user_is_refused_whatever_its_path_and_letter_case(deploy: Callable[..., LocalStack]) -> None:
    stack = deploy(ResponseMode="auto", ProtectedPrincipals=f"arn:aws:iam::{ACCOUNT_ID}:user/BreakGlass-Ops")
    iam = stack.client("iam")
    arn = iam.create_user(UserName="breakglass-ops", Path="/admins/")["User"]["Arn"]
    key = iam.create_access_key(UserName="breakglass-ops")["AccessKey"]["AccessKeyId"]

    run_playbook(stack, finding_for(arn, key))

    assert key_status(stack, "breakglass-ops", key) == "Active"
    assert _outcome(stack)[0] == "REFUSED_PROTECTED"


def test_refused_input_is_recorded_and_notified_without_its_values(auto_stack: LocalStack) -> None:
    secret = "do-not-repeat-" + uuid.uuid4().hex

    execution = run_playbook(auto_stack, {"id": 1, "title": secret, "principal": [secret] * 1000})

    assert (execution.status, execution.error) == ("FAILED", "InvalidInput")
    outcome, message = _outcome(auto_stack)
    assert outcome == "INVALID_INPUT" and secret not in message and len(message) < 2000
    kept = auto_stack.client("dynamodb").get_item(
        TableName=auto_stack.ref("IncidentTable"),
        Key={"pk": {"S": f"REFUSED#{execution.arn.rsplit(':', 1)[-1]}"}, "sk": {"S": "INPUT"}},
    )["Item"]
    assert kept["status"]["S"] == "INVALID_INPUT" and secret not in json.dumps(kept)


def test_refused_input_with_sns_down_still_leaves_a_record_and_a_failed_execution(
    deploy: Callable[..., LocalStack],
) -> None:
    stack = deploy(ResponseMode="auto")
    stack.client("sns").delete_topic(TopicArn=stack.ref("NotificationTopic"))

    execution = run_playbook(stack, {"not": "a finding"})

    assert (execution.status, execution.error) == ("FAILED", "NotificationFailed")
    items = stack.client("dynamodb").scan(TableName=stack.ref("IncidentTable"))["Items"]
    assert [item["status"]["S"] for item in items] == ["INVALID_INPUT"]
    recorder = [e for e in stack.executions if e.playbook == "record-playbook-failure"]
    assert recorder and recorder[-1].status == "FAILED", "the recorder tried, and its failure is visible too"


def test_an_incident_stuck_open_is_taken_over_after_the_lease(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)
    finding = finding_for(arn, key)
    auto_stack.client("dynamodb").put_item(
        TableName=auto_stack.ref("IncidentTable"),
        Item={
            "pk": {"S": f"INCIDENT#{finding['id']}"},
            "sk": {"S": "FINDING"},
            "status": {"S": "OPEN"},
            "opened_at": {"S": "2026-01-01T00:00:00Z"},
            "execution": {"S": "arn:aws:states:us-east-1:123456789012:execution:died-and-its-status-event-was-lost"},
        },
    )

    execution = run_playbook(auto_stack, finding)

    assert "DeactivateKey" in execution.states
    assert key_status(auto_stack, user, key) == "Inactive"
    assert incident(auto_stack, finding["id"])["FINDING"]["status"] == "CONTAINED"


def test_an_incident_opened_moments_ago_is_left_to_its_owner(auto_stack: LocalStack) -> None:
    _, arn, (key,) = new_user(auto_stack)
    finding = finding_for(arn, key)
    run_playbook(auto_stack, finding)
    table, pk = auto_stack.ref("IncidentTable"), {"S": f"INCIDENT#{finding['id']}"}
    auto_stack.client("dynamodb").update_item(
        TableName=table,
        Key={"pk": pk, "sk": {"S": "FINDING"}},
        UpdateExpression="SET #s = :open",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":open": {"S": "OPEN"}},
    )

    again = run_playbook(auto_stack, finding)

    assert again.states[-1] == "AlreadyHandled" and not auto_stack.notifications()


def test_one_finding_delivered_25_times_gives_one_execution_that_acts_and_one_alert(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)
    event = _on_the_findings_bus(finding_for(arn, key))
    auto_stack.notifications()
    before = len(auto_stack.executions)

    for _ in range(25):
        auto_stack.route(auto_stack.ref("FindingsBus"), event)
    auto_stack.settle()

    runs = auto_stack.executions[before:]
    assert len(runs) == 25 and all(run.status == "SUCCEEDED" for run in runs)
    assert sum("DeactivateKey" in run.states for run in runs) == 1
    (alert,) = auto_stack.notifications()
    assert alert["attributes"]["outcome"] == "CONTAINED"
    assert key_status(auto_stack, user, key) == "Inactive"


def test_a_finding_no_deployed_playbook_answers_is_notified_once(auto_stack: LocalStack) -> None:
    finding = finding_for(
        "arn:aws:sts::123456789012:assumed-role/app/s", "ASIAEXAMPLERAGAPI001", playbook="investigate-by-hand"
    )
    event = _on_the_findings_bus(finding)
    auto_stack.notifications()

    for _ in range(3):
        auto_stack.route(auto_stack.ref("FindingsBus"), event)
    auto_stack.settle()

    (alert,) = auto_stack.notifications()
    assert alert["attributes"]["outcome"] == "NOTIFIED" and alert["attributes"]["playbook"] == "notify-only"
    assert incident(auto_stack, finding["id"])["FINDING"]["status"] == "NOTIFIED"
