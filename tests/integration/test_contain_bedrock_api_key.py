"""The contain-bedrock-api-key playbook: its real definition, executed by moto, and the IAM state after.

Long-term keys are IAM service-specific credentials; moto has none, so the emulator adds them
(``warden_local/iam_service_credentials.py``, tested in ``test_iam_service_credentials.py``). moto stores an
inline policy but does not evaluate it on a bearer-token call: the deny's content is asserted here, and what it
denies in the response-policy unit tests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import load_json
from tests.integration.playbook import (
    PROTECTED_USER,
    approve,
    deliver_from_bus,
    dumped,
    finding_for,
    incident,
    new_role,
    reject,
    run_playbook,
    sealed,
    session_of,
    start_awaiting,
)
from warden.approvals import Verdict, plan_undo
from warden_local.emulator import ACCOUNT_ID, Emulator
from warden_local.faults import FaultPlan
from warden_local.run import CONTAINED_WHEN
from warden_local.stack import LocalStack

PLAYBOOK = "contain-bedrock-api-key"
DENY = "warden-deny-bedrock-bearer"
BEDROCK = "bedrock.amazonaws.com"
BEARER = {"bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"}
PATTERN = f"arn:aws:iam::{ACCOUNT_ID}:user/BreakGlass*"
ACTIONS = {"DeactivateCredential", "DenyUserBearerTokens", "DenyRoleBearerTokens"}


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    protected = f"arn:aws:iam::{ACCOUNT_ID}:user/{PROTECTED_USER},{PATTERN}"
    return deploy(ResponseMode="auto", ProtectedPrincipals=protected)


# ------------------------------------------------------------------------------------------------ helpers


def key_user(
    stack: LocalStack, prefix: str = "BedrockAPIKey", *, keys: int = 1, tags: dict[str, str] | None = None
) -> tuple[str, str, list[str]]:
    """A fresh IAM user holding ``keys`` Bedrock long-term API keys: (name, arn, credential ids)."""
    iam = stack.client("iam")
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    tagged = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    arn = iam.create_user(UserName=name, Tags=tagged)["User"]["Arn"]
    made = [
        iam.create_service_specific_credential(UserName=name, ServiceName=BEDROCK)["ServiceSpecificCredential"]
        for _ in range(keys)
    ]
    return name, str(arn), [str(c["ServiceSpecificCredentialId"]) for c in made]


def key_finding(principal: str, credential_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """The long-term sample finding naming ``principal`` (and the credential, when given), fresh and sealed."""
    finding = load_json("findings/contain_bedrock_api_key__long_term_key.json")
    finding.update(principal=principal, access_key_id=credential_id, evidence=[str(uuid.uuid4())], **fields)
    return sealed(finding)


def short_finding(principal: str, **fields: Any) -> dict[str, Any]:
    """The short-term sample finding naming ``principal``, fresh and sealed."""
    finding = load_json("findings/contain_bedrock_api_key__short_term_key.json")
    finding.update(principal=principal, evidence=[str(uuid.uuid4())], **fields)
    return sealed(finding)


def statuses(stack: LocalStack, user: str) -> dict[str, str]:
    """The user's Bedrock credentials and their status, as IAM lists them."""
    listed = stack.client("iam").list_service_specific_credentials(UserName=user, ServiceName=BEDROCK)
    return {c["ServiceSpecificCredentialId"]: c["Status"] for c in listed["ServiceSpecificCredentials"]}


def deny_policy(stack: LocalStack, kind: str, name: str) -> dict[str, Any] | None:
    """The principal's ``warden-deny-bedrock-bearer`` document as IAM holds it, or None."""
    iam = stack.client("iam")
    key = {f"{kind.title()}Name": name}
    names = getattr(iam, f"list_{kind}_policies")(**key)["PolicyNames"]
    if DENY not in names:
        return None
    document = getattr(iam, f"get_{kind}_policy")(**key, PolicyName=DENY)["PolicyDocument"]
    return document if isinstance(document, dict) else json.loads(document)


def assert_bearer_deny(document: dict[str, Any] | None) -> None:
    assert document is not None
    (statement,) = document["Statement"]
    assert (statement["Effect"], set(statement["Action"]), statement["Resource"]) == ("Deny", BEARER, "*")
    assert "Condition" not in statement, "every key the principal minted, whenever"


def acted(execution: Any) -> set[str]:
    return ACTIONS & set(execution.states)


def undo(stack: LocalStack, action: dict[str, Any]) -> None:
    """Make the call an action item's ``undo`` names, as ``warden playbook undo`` plans it (its allow-list)."""
    (step,) = plan_undo([action])
    assert step.verdict is Verdict.UNDO, step.reason
    assert step.api is not None
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in step.api.split(":", 1)[1]).lstrip("_")
    getattr(stack.client("iam"), snake)(**step.parameters)


# ------------------------------------------------------------------------------------------------ long-term keys


def test_deactivates_the_long_term_key_the_finding_names_and_records_the_undo(stack: LocalStack) -> None:
    user, arn, (target, other) = key_user(stack, keys=2)
    finding = key_finding(arn, target)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert acted(execution) == {"DeactivateCredential"}
    assert statuses(stack, user) == {target: "Inactive", other: "Active"}, "only the named key"
    assert deny_policy(stack, "user", user) is None
    items = incident(stack, finding["id"])
    assert items["FINDING"]["status"] == "CONTAINED"
    action = items["ACTION"]
    assert action["state"] == "DONE", "the intent recorded before acting was completed"
    assert (action["action"], action["measure"]) == (PLAYBOOK, "deactivate-credential")
    assert (action["target_arn"], action["user_name"], action["credential_id"]) == (arn, user, target)
    assert action["undo"] == {
        "api": "iam:UpdateServiceSpecificCredential",
        "UserName": user,
        "ServiceSpecificCredentialId": target,
        "Status": "Active",
    }
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "CONTAINED"
    assert notification["attributes"]["playbook"] == PLAYBOOK
    assert target in notification["message"] and "not deleted" in notification["message"]


def test_the_key_a_stolen_key_use_came_from_is_found_in_iam(stack: LocalStack) -> None:
    user, arn, (only,) = key_user(stack)
    finding = key_finding(arn)  # CloudTrail does not tie a bearer call to a credential id
    assert not CONTAINED_WHEN[PLAYBOOK](stack, finding, []), "what a replay reads back, before"

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert acted(execution) == {"DeactivateCredential"}
    assert statuses(stack, user) == {only: "Inactive"}
    assert incident(stack, finding["id"])["ACTION"]["credential_id"] == only
    assert CONTAINED_WHEN[PLAYBOOK](stack, finding, []), "and after"


def test_the_recorded_undo_returns_the_key_to_what_it_was(stack: LocalStack) -> None:
    user, arn, (credential,) = key_user(stack)
    finding = key_finding(arn, credential)
    run_playbook(stack, finding, PLAYBOOK)
    assert statuses(stack, user) == {credential: "Inactive"}

    undo(stack, incident(stack, finding["id"])["ACTION"])

    assert statuses(stack, user) == {credential: "Active"}


def test_a_key_that_is_already_inactive_is_left_alone(stack: LocalStack) -> None:
    user, arn, (credential,) = key_user(stack)
    stack.client("iam").update_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=credential, Status="Inactive"
    )
    finding = key_finding(arn, credential)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert acted(execution) == set()
    assert "ACTION" not in incident(stack, finding["id"])
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "NO_ACTION"


def test_a_key_of_another_user_is_refused(stack: LocalStack) -> None:
    _, named_arn, _ = key_user(stack)
    owner, _, (theirs,) = key_user(stack)

    execution = run_playbook(stack, key_finding(named_arn, theirs), PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert acted(execution) == set()
    assert statuses(stack, owner) == {theirs: "Active"}
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "REFUSED_MISMATCH"
    assert "IAM lists no Bedrock API key" in notification["message"]


def test_several_keys_and_no_id_deny_every_key_of_the_user(stack: LocalStack) -> None:
    user, arn, credentials = key_user(stack, keys=2)
    finding = key_finding(arn)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert acted(execution) == {"DenyUserBearerTokens"}
    assert statuses(stack, user) == dict.fromkeys(credentials, "Active"), "Warden cannot tell which key was used"
    assert_bearer_deny(deny_policy(stack, "user", user))
    assert "2 active Bedrock API keys" in stack.notifications()[0]["message"]


# ------------------------------------------------------------------------------------------------ short-term keys


def test_a_roles_short_term_keys_are_denied_and_the_undo_removes_the_deny(stack: LocalStack) -> None:
    role, arn = new_role(stack)
    finding = short_finding(session_of(arn))

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert acted(execution) == {"DenyRoleBearerTokens"}
    assert_bearer_deny(deny_policy(stack, "role", role))
    assert CONTAINED_WHEN[PLAYBOOK](stack, finding, []), "what a replay reads back"
    action = incident(stack, finding["id"])["ACTION"]
    assert (action["measure"], action["role_name"], action["had_previous_policy"]) == ("deny-bearer-role", role, False)
    assert action["undo"] == {"api": "iam:DeleteRolePolicy", "RoleName": role, "PolicyName": DENY}
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "CONTAINED"
    assert "legitimate ones included" in notification["message"]

    undo(stack, action)

    assert deny_policy(stack, "role", role) is None


def test_a_previous_deny_document_is_what_undo_puts_back(stack: LocalStack) -> None:
    role, arn = new_role(stack)
    earlier = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    stack.client("iam").put_role_policy(RoleName=role, PolicyName=DENY, PolicyDocument=dumped(earlier))
    finding = short_finding(session_of(arn))

    run_playbook(stack, finding, PLAYBOOK)

    assert_bearer_deny(deny_policy(stack, "role", role))
    action = incident(stack, finding["id"])["ACTION"]
    assert action["had_previous_policy"] is True
    assert action["undo"]["api"] == "iam:PutRolePolicy"
    undo(stack, action)
    assert deny_policy(stack, "role", role) == earlier


def test_a_user_without_long_term_keys_minted_a_short_term_one_and_is_denied(stack: LocalStack) -> None:
    user, arn, _ = key_user(stack, prefix="data-scientist", keys=0)
    finding = key_finding(arn)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert acted(execution) == {"DenyUserBearerTokens"}
    assert_bearer_deny(deny_policy(stack, "user", user))
    assert CONTAINED_WHEN[PLAYBOOK](stack, finding, [])
    assert incident(stack, finding["id"])["ACTION"]["undo"] == {
        "api": "iam:DeleteUserPolicy",
        "UserName": user,
        "PolicyName": DENY,
    }


# ------------------------------------------------------------------------------------------------ refusals


def test_dry_run_changes_nothing_and_says_what_it_would_do(deploy: Callable[..., LocalStack]) -> None:
    dry = deploy()  # the template's default: dry-run
    user, arn, (credential,) = key_user(dry)
    role, role_arn = new_role(dry)

    for finding in (key_finding(arn, credential), short_finding(session_of(role_arn))):
        execution = run_playbook(dry, finding, PLAYBOOK)

        assert execution.status == "SUCCEEDED"
        assert acted(execution) == set()
        items = incident(dry, finding["id"])
        assert items["FINDING"]["status"] == "DRY_RUN"
        assert "ACTION" not in items
        (notification,) = dry.notifications()
        assert notification["attributes"]["outcome"] == "DRY_RUN"
        assert "aws iam " in notification["message"]
    assert statuses(dry, user) == {credential: "Active"}
    assert deny_policy(dry, "role", role) is None


@pytest.mark.parametrize("by", ["arn", "pattern", "tag"])
def test_refuses_a_protected_user_and_says_so(stack: LocalStack, by: str) -> None:
    iam = stack.client("iam")
    if by == "arn":
        user = PROTECTED_USER
        if user not in {u["UserName"] for u in iam.list_users()["Users"]}:
            iam.create_user(UserName=user)
        arn = iam.get_user(UserName=user)["User"]["Arn"]
        for old in iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]:
            iam.delete_service_specific_credential(
                UserName=user, ServiceSpecificCredentialId=old["ServiceSpecificCredentialId"]
            )
        credential = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)[
            "ServiceSpecificCredential"
        ]["ServiceSpecificCredentialId"]
    elif by == "pattern":
        user, arn, (credential,) = key_user(stack, prefix="BreakGlassOps")
    else:
        user, arn, (credential,) = key_user(stack, tags={"warden:protected": "true"})

    execution = run_playbook(stack, key_finding(arn, credential), PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert acted(execution) == set()
    assert statuses(stack, user)[credential] == "Active"
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "REFUSED_PROTECTED"
    assert "protected principal" in notification["message"]


def test_the_stacks_own_roles_are_never_denied(stack: LocalStack) -> None:
    own = stack.resolver.attributes["ContainBedrockApiKeyStateMachineRole"]["Arn"]

    execution = run_playbook(stack, short_finding(session_of(own)), PLAYBOOK)

    assert acted(execution) == set()
    assert deny_policy(stack, "role", own.rsplit("/", 1)[-1]) is None
    assert stack.notifications()[0]["attributes"]["outcome"] == "REFUSED_PROTECTED"


def test_a_finding_about_something_else_is_not_this_playbooks_job(stack: LocalStack) -> None:
    finding = finding_for(f"arn:aws:iam::{ACCOUNT_ID}:user/someone", "AKIAEXAMPLESOMEONE01")

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "DescribeUser" not in execution.states
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "NOT_APPLICABLE"
    assert "Recommended playbook: contain-access-key" in notification["message"]


def test_a_key_of_another_account_is_refused_without_asking_iam(stack: LocalStack) -> None:
    finding = key_finding("arn:aws:iam::494659789341:user/BedrockAPIKey-x1y2", "ACCAEXAMPLE123EXAMPLE")

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert "DescribeUser" not in execution.states
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "REFUSED_MISMATCH"
    assert "acts only in its own account" in notification["message"]


# ------------------------------------------------------------------------------------------------ failures


def test_a_user_iam_does_not_know_ends_failed_and_notified(stack: LocalStack) -> None:
    finding = key_finding(f"arn:aws:iam::{ACCOUNT_ID}:user/BedrockAPIKey-gone", "ACCAEXAMPLE123EXAMPLE")

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert (execution.status, execution.error) == ("FAILED", "ContainmentFailed")
    assert incident(stack, finding["id"])["FINDING"]["status"] == "FAILED"
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "FAILED"
    assert "may NOT be contained" in notification["message"]


def test_an_iam_call_that_keeps_failing_ends_failed_and_notified(stack: LocalStack, emulator: Emulator) -> None:
    user, arn, (credential,) = key_user(stack)  # set-up and read-back use the runner's clients: never faulted
    finding = key_finding(arn, credential)

    with emulator.faults.injecting(FaultPlan(rate=1.0, services=frozenset({"iam"}), kinds=("server-error",))):
        execution = run_playbook(stack, finding, PLAYBOOK)

    assert (execution.status, execution.error) == ("FAILED", "ContainmentFailed")
    assert statuses(stack, user) == {credential: "Active"}
    assert incident(stack, finding["id"])["FINDING"]["status"] == "FAILED"
    notifications = stack.notifications()
    assert [n["attributes"]["outcome"] for n in notifications] == ["FAILED"], "one finding, one alert"
    assert "ServiceFailure" in notifications[0]["message"]
    recorder = [e for e in stack.executions if e.playbook == "record-playbook-failure"]
    assert recorder and recorder[-1].status == "SUCCEEDED", "the failure recorder still ran on the FAILED execution"

    again = run_playbook(stack, finding, PLAYBOOK)  # a FAILED incident may be run again

    assert acted(again) == {"DeactivateCredential"}
    assert statuses(stack, user) == {credential: "Inactive"}


def test_a_redelivered_finding_is_handled_once(stack: LocalStack) -> None:
    user, arn, (credential,) = key_user(stack)
    finding = key_finding(arn, credential)
    run_playbook(stack, finding, PLAYBOOK)
    stack.client("iam").update_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=credential, Status="Active"
    )

    second = run_playbook(stack, finding, PLAYBOOK)

    assert second.status == "SUCCEEDED"
    assert second.states[-1] == "AlreadyHandled"
    assert statuses(stack, user) == {credential: "Active"}, "the duplicate did not act again"
    assert stack.notifications() == []


def test_a_finding_from_the_bus_starts_this_playbook_once_and_no_other(stack: LocalStack) -> None:
    user, arn, (credential,) = key_user(stack)
    finding = key_finding(arn, credential)
    runs = deliver_from_bus(stack, finding, "finding-event-api-key")
    assert {e.playbook for e in runs} == {PLAYBOOK}, "notify-only does not answer it as well"
    assert [e.states[-1] for e in runs].count("Done") == 1
    assert statuses(stack, user) == {credential: "Inactive"}


# ------------------------------------------------------------------------------------------------ the shared gates


@pytest.fixture(scope="module")
def approve_stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy(ResponseMode="approve")


def test_approve_mode_waits_and_deactivates_once_a_person_approves(approve_stack: LocalStack) -> None:
    user, arn, (credential,) = key_user(approve_stack)
    finding = key_finding(arn, credential)

    execution, token = start_awaiting(approve_stack, finding, PLAYBOOK)

    assert statuses(approve_stack, user) == {credential: "Active"}, "nothing changes before the approval"
    assert incident(approve_stack, finding["id"])["FINDING"]["status"] == "AWAITING_APPROVAL"
    (request,) = approve_stack.notifications()
    assert request["attributes"]["outcome"] == "AWAITING_APPROVAL"
    assert f"warden playbook approve {finding['id']}" in request["message"]

    approve(approve_stack, token)
    approve_stack.settle()

    assert execution.status == "SUCCEEDED"
    assert statuses(approve_stack, user) == {credential: "Inactive"}
    items = incident(approve_stack, finding["id"])
    assert [entry["status"] for entry in items["FINDING"]["history"]] == ["AWAITING_APPROVAL", "CONTAINED"]
    assert items["ACTION"]["state"] == "DONE"


def test_a_rejected_plan_leaves_the_role_without_a_deny(approve_stack: LocalStack) -> None:
    role, arn = new_role(approve_stack)
    finding = short_finding(session_of(arn))
    execution, token = start_awaiting(approve_stack, finding, PLAYBOOK)

    reject(approve_stack, token, "Rejected by alice: the indexer's own key")
    approve_stack.settle()

    assert execution.status == "SUCCEEDED"
    assert acted(execution) == set()
    assert deny_policy(approve_stack, "role", role) is None
    items = incident(approve_stack, finding["id"])
    assert items["FINDING"]["status"] == "REJECTED" and "ACTION" not in items
    assert [n["attributes"]["outcome"] for n in approve_stack.notifications()] == ["AWAITING_APPROVAL", "REJECTED"]


@pytest.mark.parametrize(("default", "status", "after"), [("reject", "APPROVAL_TIMED_OUT", "Active"),
                                                          ("approve", "CONTAINED", "Inactive")])  # fmt: skip
def test_an_unanswered_approval_follows_the_configured_default(
    deploy: Callable[..., LocalStack], default: str, status: str, after: str
) -> None:
    stack = deploy(ResponseMode="approve", ApprovalTimeoutSeconds="1", ApprovalDefault=default)
    user, arn, (credential,) = key_user(stack)
    finding = key_finding(arn, credential)
    execution, _ = start_awaiting(stack, finding, PLAYBOOK)

    stack.settle()

    assert execution.status == "SUCCEEDED"
    assert statuses(stack, user) == {credential: after}
    assert incident(stack, finding["id"])["FINDING"]["status"] == status


def test_beyond_the_hourly_rate_limit_the_key_waits_for_a_person(deploy: Callable[..., LocalStack]) -> None:
    stack = deploy(ResponseMode="auto", ContainmentRateLimit="1")
    first, first_arn, (first_key,) = key_user(stack)
    run_playbook(stack, key_finding(first_arn, first_key), PLAYBOOK)
    assert statuses(stack, first) == {first_key: "Inactive"}

    user, arn, (credential,) = key_user(stack)
    finding = key_finding(arn, credential)
    execution, token = start_awaiting(stack, finding, PLAYBOOK)

    assert statuses(stack, user) == {credential: "Active"}, "the second in the hour is not contained automatically"
    assert "Rate limit reached" in incident(stack, finding["id"])["FINDING"]["summary"]
    approve(stack, token)
    stack.settle()
    assert execution.status == "SUCCEEDED"
    assert statuses(stack, user) == {credential: "Inactive"}
