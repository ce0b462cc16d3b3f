"""The revoke-role-sessions playbook: its real definition, executed by moto, and the IAM state after.

moto stores an inline policy but cannot evaluate ``aws:TokenIssueTime`` (offline-aws.md §3c): these tests
assert the policy's content, and the response-policy unit tests its cutoff.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.playbook import (
    PROTECTED_ROLE,
    PROTECTED_USER,
    REVOCATION_POLICY,
    deliver_from_bus,
    dumped,
    finding_for,
    incident,
    named_role,
    new_role,
    revocation_policy,
    role_finding_for,
    run_playbook,
    session_of,
)
from warden_local.emulator import ACCOUNT_ID, Emulator
from warden_local.faults import FaultPlan
from warden_local.stack import LocalStack

PLAYBOOK = "revoke-role-sessions"
BEDROCK = {"bedrock:InvokeModel*", "bedrock:Converse*", "bedrock:CallWithBearerToken"}


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    protected = f"arn:aws:iam::{ACCOUNT_ID}:user/{PROTECTED_USER},arn:aws:iam::{ACCOUNT_ID}:role/{PROTECTED_ROLE}"
    return deploy(ResponseMode="auto", ProtectedPrincipals=protected)


def test_revokes_older_sessions_records_the_undo_and_warns(stack: LocalStack) -> None:
    role, arn = new_role(stack)
    finding = role_finding_for(session_of(arn))
    before = datetime.now(UTC).replace(microsecond=0)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "RevokeSessions" in execution.states
    document = revocation_policy(stack, role)
    assert document is not None
    everything, bedrock = document["Statement"]
    assert (everything["Effect"], everything["Action"], everything["Resource"]) == ("Deny", "*", "*")
    assert (bedrock["Effect"], set(bedrock["Action"])) == ("Deny", BEDROCK)
    cutoff = everything["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert bedrock["Condition"] == everything["Condition"]
    assert before <= datetime.fromisoformat(cutoff) <= datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    items = incident(stack, finding["id"])
    assert items["FINDING"]["status"] == "CONTAINED"
    action = items["ACTION"]
    assert action["state"] == "DONE", "the intent recorded before acting was completed"
    assert (action["target_role"], action["target_arn"], action["policy_name"]) == (role, arn, REVOCATION_POLICY)
    assert action["had_previous_policy"] is False
    assert action["undo"] == {"api": "iam:DeleteRolePolicy", "RoleName": role, "PolicyName": REVOCATION_POLICY}
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "CONTAINED"
    assert notification["attributes"]["playbook"] == PLAYBOOK
    assert "every session of role" in notification["message"] and "legitimate ones included" in notification["message"]


def test_the_recorded_undo_returns_the_role_to_what_it_was(stack: LocalStack) -> None:
    iam = stack.client("iam")
    fresh, fresh_arn = new_role(stack)
    replaced, replaced_arn = new_role(stack)
    earlier = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=replaced, PolicyName=REVOCATION_POLICY, PolicyDocument=dumped(earlier))

    for arn in (fresh_arn, replaced_arn):
        finding = role_finding_for(session_of(arn))
        run_playbook(stack, finding, PLAYBOOK)
        undo = incident(stack, finding["id"])["ACTION"]["undo"]
        if undo["api"] == "iam:DeleteRolePolicy":
            iam.delete_role_policy(RoleName=undo["RoleName"], PolicyName=undo["PolicyName"])
        else:
            iam.put_role_policy(
                RoleName=undo["RoleName"], PolicyName=undo["PolicyName"], PolicyDocument=undo["PolicyDocument"]
            )

    assert revocation_policy(stack, fresh) is None
    assert revocation_policy(stack, replaced) == earlier


def test_a_role_arn_finding_is_revoked_too(stack: LocalStack) -> None:
    role, arn = new_role(stack)

    execution = run_playbook(stack, role_finding_for(arn), PLAYBOOK)

    assert "RevokeSessions" in execution.states
    assert revocation_policy(stack, role) is not None


def test_dry_run_changes_nothing_and_says_what_it_would_do(deploy: Callable[..., LocalStack]) -> None:
    dry = deploy()  # the template's default: dry-run
    role, arn = new_role(dry)
    finding = role_finding_for(session_of(arn))

    execution = run_playbook(dry, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "RevokeSessions" not in execution.states
    assert revocation_policy(dry, role) is None
    items = incident(dry, finding["id"])
    assert items["FINDING"]["status"] == "DRY_RUN"
    assert "ACTION" not in items
    (notification,) = dry.notifications()
    assert notification["attributes"]["outcome"] == "DRY_RUN"
    assert f"aws iam put-role-policy --role-name {role} --policy-name {REVOCATION_POLICY}" in notification["message"]
    assert "EVERY session of the role" in notification["message"]


@pytest.mark.parametrize("by", ["arn", "tag"])
def test_refuses_a_protected_role_and_says_so(stack: LocalStack, by: str) -> None:
    if by == "arn":
        role, arn = PROTECTED_ROLE, named_role(stack, PROTECTED_ROLE)
    else:
        role, arn = new_role(stack, tags={"warden:protected": "true"})

    execution = run_playbook(stack, role_finding_for(session_of(arn)), PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "RevokeSessions" not in execution.states
    assert revocation_policy(stack, role) is None
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "REFUSED_PROTECTED"
    assert "protected principal" in notification["message"]


def test_the_stacks_own_roles_are_never_revoked(stack: LocalStack) -> None:
    own = stack.resolver.attributes["ContainAccessKeyStateMachineRole"]["Arn"]

    execution = run_playbook(stack, role_finding_for(session_of(own)), PLAYBOOK)

    assert "RevokeSessions" not in execution.states
    assert revocation_policy(stack, own.rsplit("/", 1)[-1]) is None
    assert stack.notifications()[0]["attributes"]["outcome"] == "REFUSED_PROTECTED"


def test_a_user_is_not_this_playbooks_job(stack: LocalStack) -> None:
    finding = finding_for(f"arn:aws:iam::{ACCOUNT_ID}:user/someone", "AKIAEXAMPLESOMEONE01", playbook=PLAYBOOK)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "DescribeRole" not in execution.states
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "NOT_APPLICABLE"


def test_a_session_of_another_account_is_refused_without_asking_iam(stack: LocalStack) -> None:
    execution = run_playbook(stack, role_finding_for("arn:aws:sts::494659789341:assumed-role/test-role/cli"), PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "DescribeRole" not in execution.states
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "REFUSED_MISMATCH"
    assert "acts only in its own account" in notification["message"]


def test_a_role_iam_does_not_know_ends_failed_and_notified(stack: LocalStack) -> None:
    finding = role_finding_for(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/no-such-role/s")

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert (execution.status, execution.error) == ("FAILED", "ContainmentFailed")
    assert incident(stack, finding["id"])["FINDING"]["status"] == "FAILED"
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "FAILED"
    assert "may NOT be contained" in notification["message"]


def test_an_iam_call_that_keeps_failing_ends_failed_and_notified(stack: LocalStack, emulator: Emulator) -> None:
    role, arn = new_role(stack)  # set-up and read-back use the runner's clients: never faulted
    finding = role_finding_for(session_of(arn))

    with emulator.faults.injecting(FaultPlan(rate=1.0, services=frozenset({"iam"}), kinds=("server-error",))):
        execution = run_playbook(stack, finding, PLAYBOOK)

    assert (execution.status, execution.error) == ("FAILED", "ContainmentFailed")
    assert revocation_policy(stack, role) is None
    assert incident(stack, finding["id"])["FINDING"]["status"] == "FAILED"
    notifications = stack.notifications()
    assert [n["attributes"]["outcome"] for n in notifications] == ["FAILED"], "one finding, one alert"
    assert "ServiceFailure" in notifications[0]["message"]
    recorder = [e for e in stack.executions if e.playbook == "record-playbook-failure"]
    assert recorder and recorder[-1].status == "SUCCEEDED", "the failure recorder still ran on the FAILED execution"

    again = run_playbook(stack, finding, PLAYBOOK)  # a FAILED incident may be run again

    assert "RevokeSessions" in again.states
    assert revocation_policy(stack, role) is not None


def test_a_redelivered_finding_is_handled_once(stack: LocalStack) -> None:
    role, arn = new_role(stack)
    finding = role_finding_for(session_of(arn))
    run_playbook(stack, finding, PLAYBOOK)
    stack.client("iam").delete_role_policy(RoleName=role, PolicyName=REVOCATION_POLICY)

    second = run_playbook(stack, finding, PLAYBOOK)

    assert second.status == "SUCCEEDED"
    assert second.states[-1] == "AlreadyHandled"
    assert revocation_policy(stack, role) is None, "the duplicate did not act again"
    assert stack.notifications() == []


def test_a_finding_from_the_bus_starts_this_playbook_and_no_other(stack: LocalStack) -> None:
    role, arn = new_role(stack)
    finding = role_finding_for(session_of(arn))
    runs = deliver_from_bus(stack, finding, "finding-event-1")
    assert {e.playbook for e in runs} == {PLAYBOOK}, "notify-only does not answer it as well"
    assert [e.states[-1] for e in runs].count("Done") == 1
    assert revocation_policy(stack, role) is not None
