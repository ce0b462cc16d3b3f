"""The revert-policy-change playbook: its real definition, executed by moto, for each kind of change, and IAM after.

Each test gives IAM the state the finding reports (the policy attached, the inline policy put, the trust policy
opened, the key created), runs the playbook on a finding the detectors' sample names, sealed again for fresh
victims, and reads IAM back.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest

from tests.conftest import load_json
from tests.integration.playbook import deliver_from_bus, incident, new_role, new_user, run_playbook, sealed
from warden.adapters.approvals import BotoUndoCaller, DynamoDBIncidentStore, StepFunctionsWorkflow
from warden.approvals import UndoReport, decide, undo
from warden_local.emulator import ACCOUNT_ID, Emulator
from warden_local.faults import FaultPlan
from warden_local.stack import Execution, LocalStack

PLAYBOOK = "revert-policy-change"
PROTECTED_ROLE = "breakglass-ops"
APPROVER = "arn:aws:iam::123456789012:user/security-oncall"
ADMIN_DOCUMENT: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
READ_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
TRUST_BEFORE: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
TRUST_BACKDOOR: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        *TRUST_BEFORE["Statement"],
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole"},
    ],
}


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    protected = f"arn:aws:iam::{ACCOUNT_ID}:role/{PROTECTED_ROLE},arn:aws:iam::*:role/BreakGlass*"
    return deploy(ResponseMode="auto", ProtectedPrincipals=protected)


def compact(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def revert_finding(branch: str, principal: str, **details: Any) -> dict[str, Any]:
    """The branch's sample finding naming ``principal`` (details follow), with fresh evidence, sealed."""
    finding = load_json(f"findings/revert_policy_change__{branch}.json")
    finding["details"].update(details)
    for key in ("target", "role"):
        if key in finding["details"]:
            finding["details"][key] = principal
    finding.update(principal=principal, evidence=[str(uuid.uuid4())])
    return sealed(finding)


def admin_policy(stack: LocalStack) -> str:
    """A fresh customer managed policy allowing everything: its ARN."""
    name = f"admin-{uuid.uuid4().hex[:6]}"
    return str(
        stack.client("iam").create_policy(PolicyName=name, PolicyDocument=compact(ADMIN_DOCUMENT))["Policy"]["Arn"]
    )


def attached(stack: LocalStack, kind: str, name: str) -> set[str]:
    iam = stack.client("iam")
    call = {"user": iam.list_attached_user_policies, "role": iam.list_attached_role_policies}.get(
        kind, iam.list_attached_group_policies
    )
    answer = call(**{f"{kind.capitalize()}Name": name})
    return {p["PolicyArn"] for p in answer["AttachedPolicies"]}


def trust_of(stack: LocalStack, role: str) -> dict[str, Any]:
    document = stack.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return document if isinstance(document, dict) else json.loads(unquote(document))


def backdoored_role(stack: LocalStack, name: str | None = None, **tags: str) -> tuple[str, str]:
    """A role whose trust policy an attacker opened to another account: (name, arn)."""
    iam = stack.client("iam")
    name = name or f"victim-role-{uuid.uuid4().hex[:6]}"
    tagged = [{"Key": k, "Value": v} for k, v in tags.items()]
    try:
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=compact(TRUST_BEFORE), Tags=tagged)["Role"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=name)["Role"]
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=compact(TRUST_BACKDOOR))
    return name, str(role["Arn"])


def trust_finding(arn: str) -> dict[str, Any]:
    return revert_finding(
        "restore_trust_policy", arn, previous_document=compact(TRUST_BEFORE), document=compact(TRUST_BACKDOOR)
    )


def outcome(stack: LocalStack) -> str:
    """The outcome of the last notification since the inbox was last read (after an approval request, if any)."""
    return str(stack.notifications()[-1]["attributes"]["outcome"])


@pytest.mark.parametrize("kind", ["role", "user", "group"])
def test_detaches_the_policy_attached_and_nothing_else(stack: LocalStack, kind: str) -> None:
    iam = stack.client("iam")
    name = f"victim-{kind}-{uuid.uuid4().hex[:6]}"
    create = {"role": iam.create_role, "user": iam.create_user, "group": iam.create_group}[kind]
    extra = {"AssumeRolePolicyDocument": compact(TRUST_BEFORE)} if kind == "role" else {}
    arn = create(**{f"{kind.capitalize()}Name": name}, **extra)[kind.capitalize()]["Arn"]
    granted, kept = admin_policy(stack), admin_policy(stack)
    attach = {"role": iam.attach_role_policy, "user": iam.attach_user_policy, "group": iam.attach_group_policy}[kind]
    for policy in (granted, kept):
        attach(**{f"{kind.capitalize()}Name": name}, PolicyArn=policy)
    finding = revert_finding("detach_managed_policy", arn, policy_arn=granted, target_type=kind)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert f"Detach{kind.capitalize()}Policy" in execution.states
    assert attached(stack, kind, name) == {kept}, "only the policy the finding reports was detached"
    items = incident(stack, finding["id"])
    assert items["FINDING"]["status"] == "REVERTED"
    action = items["ACTION"]
    assert (action["state"], action["change"], action["target_arn"]) == (
        "DONE",
        f"Detach{kind.capitalize()}Policy",
        arn,
    )
    assert action["undo"] == {
        "api": f"iam:Attach{kind.capitalize()}Policy",
        f"{kind.capitalize()}Name": name,
        "PolicyArn": granted,
    }
    assert outcome(stack) == "REVERTED"


def test_the_recorded_undo_attaches_the_policy_again(stack: LocalStack) -> None:
    iam = stack.client("iam")
    role, arn = new_role(stack)
    policy = admin_policy(stack)
    iam.attach_role_policy(RoleName=role, PolicyArn=policy)
    finding = revert_finding("detach_managed_policy", arn, policy_arn=policy)
    run_playbook(stack, finding, PLAYBOOK)
    assert attached(stack, "role", role) == set()

    report = undo_incident(stack, finding)

    assert report.outcome == "UNDONE"
    assert attached(stack, "role", role) == {policy}
    assert incident(stack, finding["id"])["ACTION"]["state"] == "UNDONE"


@pytest.mark.parametrize("kind", ["user", "role"])
def test_deletes_the_inline_policy_put_and_its_undo_puts_it_back(stack: LocalStack, kind: str) -> None:
    iam = stack.client("iam")
    if kind == "user":
        name, arn, _ = new_user(stack, keys=0)
        put, get, delete = iam.put_user_policy, iam.get_user_policy, iam.list_user_policies
    else:
        name, arn = new_role(stack)
        put, get, delete = iam.put_role_policy, iam.get_role_policy, iam.list_role_policies
    key = f"{kind.capitalize()}Name"
    put(**{key: name}, PolicyName="ops-maintenance", PolicyDocument=json.dumps(ADMIN_DOCUMENT, indent=2))
    put(**{key: name}, PolicyName="reads", PolicyDocument=compact(READ_ONLY))
    finding = revert_finding("delete_inline_policy", arn, policy_document=compact(ADMIN_DOCUMENT), target_type=kind)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert f"Delete{kind.capitalize()}Policy" in execution.states
    assert delete(**{key: name})["PolicyNames"] == ["reads"]
    undo = incident(stack, finding["id"])["ACTION"]["undo"]
    assert (undo["api"], undo[key], undo["PolicyName"]) == (
        f"iam:Put{kind.capitalize()}Policy",
        name,
        "ops-maintenance",
    )
    assert outcome(stack) == "REVERTED"

    assert undo_incident(stack, finding).outcome == "UNDONE"

    document = get(**{key: name}, PolicyName="ops-maintenance")["PolicyDocument"]
    assert (document if isinstance(document, dict) else json.loads(unquote(document))) == ADMIN_DOCUMENT


def test_an_inline_policy_changed_since_the_finding_is_left_alone(stack: LocalStack) -> None:
    iam = stack.client("iam")
    name, arn, _ = new_user(stack, keys=0)
    iam.put_user_policy(UserName=name, PolicyName="ops-maintenance", PolicyDocument=compact(READ_ONLY))
    finding = revert_finding("delete_inline_policy", arn, policy_document=compact(ADMIN_DOCUMENT))

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "DeleteUserPolicy" not in execution.states
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["ops-maintenance"]
    assert outcome(stack) == "REFUSED_MISMATCH"


def test_an_inline_policy_already_gone_is_no_action(stack: LocalStack) -> None:
    _, arn, _ = new_user(stack, keys=0)
    finding = revert_finding("delete_inline_policy", arn, policy_document=compact(ADMIN_DOCUMENT))

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "NoUserInlinePolicy" in execution.states
    assert outcome(stack) == "NO_ACTION"


def test_puts_back_the_previous_trust_policy_and_undo_returns_the_one_replaced(stack: LocalStack) -> None:
    role, arn = backdoored_role(stack)
    finding = trust_finding(arn)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert "RestoreTrustPolicy" in execution.states
    assert trust_of(stack, role) == TRUST_BEFORE
    undo = incident(stack, finding["id"])["ACTION"]["undo"]
    assert (undo["api"], undo["RoleName"]) == ("iam:UpdateAssumeRolePolicy", role)
    assert json.loads(undo["PolicyDocument"]) == TRUST_BACKDOOR
    assert outcome(stack) == "REVERTED"

    assert undo_incident(stack, finding).outcome == "UNDONE"

    assert trust_of(stack, role) == TRUST_BACKDOOR


def test_a_trust_policy_changed_again_since_the_finding_is_left_alone(stack: LocalStack) -> None:
    role, arn = backdoored_role(stack)
    ecs = {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    later = {"Version": "2012-10-17", "Statement": [ecs]}
    stack.client("iam").update_assume_role_policy(RoleName=role, PolicyDocument=compact(later))

    execution = run_playbook(stack, trust_finding(arn), PLAYBOOK)

    assert "RestoreTrustPolicy" not in execution.states
    assert trust_of(stack, role) == later
    assert outcome(stack) == "REFUSED_MISMATCH"


def test_without_the_previous_trust_policy_nothing_is_touched(stack: LocalStack) -> None:
    role, arn = backdoored_role(stack)
    finding = revert_finding("restore_trust_policy", arn, previous_document=None, document=compact(TRUST_BACKDOOR))

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert "DescribeRole" not in execution.states
    assert trust_of(stack, role) == TRUST_BACKDOOR
    assert outcome(stack) == "NOTHING_TO_RESTORE"


def planted_key(stack: LocalStack) -> tuple[str, str, str, dict[str, Any]]:
    """A user holding its own key and one an attacker created for it, and the finding about the latter:
    (user, own key, planted key, finding)."""
    name, arn, (own, planted) = new_user(stack, keys=2)
    finding = revert_finding("delete_access_key", arn, created_credential_id=planted)
    return name, own, planted, sealed({**finding, "access_key_id": planted})


def key_ids(stack: LocalStack, user: str) -> list[str]:
    return [k["AccessKeyId"] for k in stack.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]]


def awaiting_approval(stack: LocalStack, finding: dict[str, Any]) -> Execution:
    """Start the playbook and return once it waits for a person (its task token is in its history)."""
    stack.notifications()
    execution = stack.start_playbook(PLAYBOOK, finding)
    workflow = StepFunctionsWorkflow(stack.client("stepfunctions"))
    deadline = time.monotonic() + 30
    while workflow.approval_token(execution.arn) is None:
        assert time.monotonic() < deadline, "the playbook never asked for approval"
        time.sleep(0.05)
    return execution


def undo_incident(stack: LocalStack, finding: dict[str, Any]) -> UndoReport:
    """`warden playbook undo INCIDENT`: the recorded undo calls, made with the runner's (unfaulted) clients."""
    store = DynamoDBIncidentStore(stack.client("dynamodb"), stack.ref("IncidentTable"))
    workflow = StepFunctionsWorkflow(stack.client("stepfunctions"))
    return undo(store, workflow, BotoUndoCaller(stack.client), finding["id"], by=APPROVER)


def answer(stack: LocalStack, finding: dict[str, Any], *, approve: bool) -> None:
    """A person approves or rejects, as `warden playbook approve|reject` does; then the playbook ends."""
    store = DynamoDBIncidentStore(stack.client("dynamodb"), stack.ref("IncidentTable"))
    workflow = StepFunctionsWorkflow(stack.client("stepfunctions"))
    decide(store, workflow, finding["id"], approve=approve, by=APPROVER, reason=None if approve else "a test")
    stack.settle()


def test_in_auto_mode_a_planted_key_waits_for_a_person_then_is_deleted(stack: LocalStack) -> None:
    user, own, planted, finding = planted_key(stack)

    execution = awaiting_approval(stack, finding)

    assert key_ids(stack, user) == [own, planted], "nothing deleted before a person approves"
    assert incident(stack, finding["id"])["FINDING"]["status"] == "AWAITING_APPROVAL"
    (asked,) = stack.notifications()
    assert "deleting a credential cannot be undone" in asked["message"]

    answer(stack, finding, approve=True)

    assert execution.status == "SUCCEEDED"
    assert "DeleteAccessKey" in execution.states
    assert key_ids(stack, user) == [own], "only the planted key was deleted"
    items = incident(stack, finding["id"])
    assert items["FINDING"]["status"] == "REVERTED"
    assert (items["ACTION"]["undo"]["api"], items["ACTION"]["undo"]["AccessKeyId"]) == ("none", planted)
    assert outcome(stack) == "REVERTED"
    assert undo_incident(stack, finding).outcome == "UNDO_REFUSED", "a deleted key cannot be brought back"


def test_a_rejected_deletion_changes_nothing(stack: LocalStack) -> None:
    user, own, planted, finding = planted_key(stack)
    execution = awaiting_approval(stack, finding)

    answer(stack, finding, approve=False)

    assert "DeleteAccessKey" not in execution.states
    assert key_ids(stack, user) == [own, planted]
    assert incident(stack, finding["id"])["FINDING"]["status"] == "REJECTED"
    assert outcome(stack) == "REJECTED"


def test_an_unanswered_deletion_is_never_carried_out_even_if_the_default_is_approve(
    deploy: Callable[..., LocalStack],
) -> None:
    hasty = deploy(ResponseMode="auto", ApprovalTimeoutSeconds="1", ApprovalDefault="approve")
    user, own, planted, finding = planted_key(hasty)

    execution = run_playbook(hasty, finding, PLAYBOOK)

    assert "AwaitApproval" in execution.states
    assert "DeleteAccessKey" not in execution.states
    assert key_ids(hasty, user) == [own, planted]
    assert incident(hasty, finding["id"])["FINDING"]["status"] == "APPROVAL_TIMED_OUT"
    assert [n["attributes"]["outcome"] for n in hasty.notifications()][-1] == "APPROVAL_TIMED_OUT"


def test_an_unanswered_reversible_revert_follows_the_default(deploy: Callable[..., LocalStack]) -> None:
    hasty = deploy(ResponseMode="approve", ApprovalTimeoutSeconds="1", ApprovalDefault="approve")
    role, arn = backdoored_role(hasty)

    execution = run_playbook(hasty, trust_finding(arn), PLAYBOOK)

    assert "AwaitApproval" in execution.states and "RestoreTrustPolicy" in execution.states
    assert trust_of(hasty, role) == TRUST_BEFORE


def test_a_console_password_is_deleted_once_approved(stack: LocalStack) -> None:
    iam = stack.client("iam")
    name, arn, _ = new_user(stack, keys=0)
    iam.create_login_profile(UserName=name, Password="Placeholder-Pa55word!")  # noqa: S106  moto only
    finding = sealed({**revert_finding("delete_login_profile", arn), "severity": "HIGH"})
    execution = awaiting_approval(stack, finding)
    iam.get_login_profile(UserName=name)  # still there while it waits

    answer(stack, finding, approve=True)

    assert "DeleteLoginProfile" in execution.states
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName=name)


def test_over_the_rate_limit_a_revert_waits_for_a_person(deploy: Callable[..., LocalStack]) -> None:
    limited = deploy(ResponseMode="auto", ContainmentRateLimit="0")
    role, arn = backdoored_role(limited)
    finding = trust_finding(arn)

    execution = awaiting_approval(limited, finding)

    assert "CheckRate" in _entered(limited, execution)
    assert trust_of(limited, role) == TRUST_BACKDOOR, "held back, not reverted"

    answer(limited, finding, approve=False)

    assert "DescribeRateLimited" in execution.states
    assert trust_of(limited, role) == TRUST_BACKDOOR
    assert incident(limited, finding["id"])["FINDING"]["status"] == "REJECTED"


def _entered(stack: LocalStack, execution: Execution) -> list[str]:
    history = stack.client("stepfunctions").get_execution_history(executionArn=execution.arn)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def test_dry_run_changes_nothing_and_gives_the_command(deploy: Callable[..., LocalStack]) -> None:
    dry = deploy()  # the template's default: dry-run
    role, arn = backdoored_role(dry)
    finding = trust_finding(arn)

    execution = run_playbook(dry, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "RestoreTrustPolicy" not in execution.states
    assert trust_of(dry, role) == TRUST_BACKDOOR
    items = incident(dry, finding["id"])
    assert items["FINDING"]["status"] == "DRY_RUN"
    assert "ACTION" not in items
    (notification,) = dry.notifications()
    assert notification["attributes"]["outcome"] == "DRY_RUN"
    assert f"aws iam update-assume-role-policy --role-name {role} --policy-document" in notification["message"]


@pytest.mark.parametrize("by", ["arn", "pattern", "tag"])
def test_a_protected_target_is_refused_and_said_so(stack: LocalStack, by: str) -> None:
    if by == "arn":
        role, arn = backdoored_role(stack, PROTECTED_ROLE)
    elif by == "pattern":
        role, arn = backdoored_role(stack, f"BreakGlass-{uuid.uuid4().hex[:6]}")
    else:
        role, arn = backdoored_role(stack, **{"warden:protected": "true"})

    execution = run_playbook(stack, trust_finding(arn), PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "RestoreTrustPolicy" not in execution.states
    assert trust_of(stack, role) == TRUST_BACKDOOR
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "REFUSED_PROTECTED"
    assert "protected principal" in notification["message"]


def test_a_change_made_by_a_protected_principal_is_left_to_a_person(stack: LocalStack) -> None:
    role, arn = backdoored_role(stack)
    finding = trust_finding(arn)
    finding["details"]["actor"] = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/BreakGlassAdmin/alice"

    execution = run_playbook(stack, sealed(finding), PLAYBOOK)

    assert "RestoreTrustPolicy" not in execution.states
    assert trust_of(stack, role) == TRUST_BACKDOOR
    assert outcome(stack) == "REFUSED_PROTECTED"


def test_the_stacks_own_roles_are_never_reverted(stack: LocalStack) -> None:
    own = stack.resolver.attributes["ContainAccessKeyStateMachineRole"]["Arn"]
    finding = revert_finding("detach_managed_policy", own, policy_arn=admin_policy(stack))

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert "DetachRolePolicy" not in execution.states
    assert outcome(stack) == "REFUSED_PROTECTED"


def test_another_accounts_role_is_refused_without_asking_iam(stack: LocalStack) -> None:
    finding = trust_finding("arn:aws:iam::444455556666:role/elsewhere")

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert "DescribeRole" not in execution.states
    assert outcome(stack) == "REFUSED_MISMATCH"


def test_an_iam_call_that_keeps_failing_ends_failed_and_notified(stack: LocalStack, emulator: Emulator) -> None:
    role, arn = backdoored_role(stack)  # set-up and read-back use the runner's clients: never faulted
    finding = trust_finding(arn)

    with emulator.faults.injecting(FaultPlan(rate=1.0, services=frozenset({"iam"}), kinds=("server-error",))):
        execution = run_playbook(stack, finding, PLAYBOOK)

    assert (execution.status, execution.error) == ("FAILED", "ContainmentFailed")
    assert trust_of(stack, role) == TRUST_BACKDOOR
    assert incident(stack, finding["id"])["FINDING"]["status"] == "FAILED"
    notifications = stack.notifications()
    assert [n["attributes"]["outcome"] for n in notifications] == ["FAILED"], "one finding, one alert"
    assert "may NOT be contained" in notifications[0]["message"]
    recorder = [e for e in stack.executions if e.playbook == "record-playbook-failure"]
    assert recorder and recorder[-1].status == "SUCCEEDED", "the failure recorder still ran on the FAILED execution"

    again = run_playbook(stack, finding, PLAYBOOK)  # a FAILED incident may be run again

    assert "RestoreTrustPolicy" in again.states
    assert trust_of(stack, role) == TRUST_BEFORE


def test_a_redelivered_finding_is_handled_once(stack: LocalStack) -> None:
    role, arn = backdoored_role(stack)
    finding = trust_finding(arn)
    run_playbook(stack, finding, PLAYBOOK)
    stack.client("iam").update_assume_role_policy(RoleName=role, PolicyDocument=compact(TRUST_BACKDOOR))

    second = run_playbook(stack, finding, PLAYBOOK)

    assert second.status == "SUCCEEDED"
    assert second.states[-1] == "AlreadyHandled"
    assert trust_of(stack, role) == TRUST_BACKDOOR, "the duplicate did not act again"
    assert stack.notifications() == []


def test_a_finding_from_the_bus_starts_this_playbook_and_no_other(stack: LocalStack) -> None:
    role, arn = backdoored_role(stack)
    finding = trust_finding(arn)
    runs = deliver_from_bus(stack, finding, "finding-event-revert-1")
    assert {e.playbook for e in runs} == {PLAYBOOK}, "notify-only does not answer it as well"
    assert [e.states[-1] for e in runs].count("Done") == 1
    assert trust_of(stack, role) == TRUST_BEFORE


def test_a_key_already_deleted_is_no_action_without_asking_anyone(stack: LocalStack) -> None:
    _, arn, _ = new_user(stack, keys=0)
    finding = sealed({**revert_finding("delete_access_key", arn), "access_key_id": "AKIAEXAMPLEBACKDOOR1"})

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "AwaitApproval" not in execution.states
    assert outcome(stack) == "NO_ACTION"
