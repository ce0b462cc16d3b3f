"""The approval and rate-limit gates, and undo, on the playbooks whose own tests predate them.

contain-access-key's gates are in test_approval.py, contain-bedrock-api-key's and revert-policy-change's in
their own modules; here revoke-role-sessions and restore-invocation-logging run the same branches through
their real definitions: approved (then undone, back to the state before), rejected, unanswered, and held
back by the rate limit. The AWS state is read back each time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.playbook import (
    approve,
    incident,
    logging_configuration,
    logging_finding_for,
    new_role,
    reject,
    revocation_policy,
    role_finding_for,
    session_of,
    start_awaiting,
)
from warden.adapters.approvals import BotoUndoCaller, DynamoDBIncidentStore, StepFunctionsWorkflow
from warden.approvals import undo
from warden_local.emulator import ACCOUNT_ID
from warden_local.stack import LocalStack

KNOWN_GOOD = {
    "s3Config": {"bucketName": "bedrock-invocation-logs-123456789012", "keyPrefix": "gates"},
    "textDataDeliveryEnabled": True,
    "imageDataDeliveryEnabled": False,
    "embeddingDataDeliveryEnabled": False,
}


@dataclass(frozen=True)
class Case:
    """A playbook, how to make the situation it answers, and how to read whether it acted."""

    playbook: str
    arrange: Callable[[LocalStack], tuple[dict[str, Any], Callable[[], Any]]]
    """Makes the victim; returns the finding and a reader of the state the playbook changes."""
    untouched: Any
    """What the reader gives before the playbook acts (and after an undo)."""


def _role_case(stack: LocalStack) -> tuple[dict[str, Any], Callable[[], Any]]:
    role, arn = new_role(stack)
    return role_finding_for(session_of(arn)), lambda: revocation_policy(stack, role) is not None


def _logging_case(stack: LocalStack) -> tuple[dict[str, Any], Callable[[], Any]]:
    bedrock = stack.client("bedrock")
    with contextlib.suppress(Exception):  # the attacker's DeleteModelInvocationLoggingConfiguration
        bedrock.delete_model_invocation_logging_configuration()
    return logging_finding_for(KNOWN_GOOD), lambda: logging_configuration(stack)


CASES = [
    Case("revoke-role-sessions", _role_case, untouched=False),
    Case("restore-invocation-logging", _logging_case, untouched=None),
]
IDS = [case.playbook for case in CASES]
EVERY_SEVERITY = {"AutoContainMinSeverity": "LOW"}


@pytest.fixture(scope="module")
def approve_stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy(ResponseMode="approve", **EVERY_SEVERITY)


def _undo(stack: LocalStack, finding_id: str) -> Any:
    store = DynamoDBIncidentStore(stack.client("dynamodb"), stack.ref("IncidentTable"))
    workflow = StepFunctionsWorkflow(stack.client("stepfunctions"))
    by = f"arn:aws:iam::{ACCOUNT_ID}:user/responder"
    return undo(store, workflow, BotoUndoCaller(stack.client), finding_id, by=by)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_approved_it_acts_and_undo_puts_back_the_state_before(approve_stack: LocalStack, case: Case) -> None:
    finding, state = case.arrange(approve_stack)
    execution, token = start_awaiting(approve_stack, finding, case.playbook)
    assert state() == case.untouched, "nothing changes before a person approves"
    assert incident(approve_stack, finding["id"])["FINDING"]["status"] == "AWAITING_APPROVAL"

    approve(approve_stack, token)
    approve_stack.settle()

    assert execution.status == "SUCCEEDED"
    assert state() not in (case.untouched, False)
    done = incident(approve_stack, finding["id"])["FINDING"]
    assert done["status"] in {"CONTAINED", "RESTORED"}

    report = _undo(approve_stack, finding["id"])

    assert state() == case.untouched, f"undo returns the state to what it was before: {report}"
    undone = incident(approve_stack, finding["id"])
    assert undone["FINDING"]["status"] == "UNDONE"
    assert undone["ACTION"]["state"] == "UNDONE"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rejected_it_changes_nothing(approve_stack: LocalStack, case: Case) -> None:
    finding, state = case.arrange(approve_stack)
    execution, token = start_awaiting(approve_stack, finding, case.playbook)

    reject(approve_stack, token, "Rejected by the on-call: a planned change")
    approve_stack.settle()

    assert execution.status == "SUCCEEDED"
    assert state() == case.untouched
    outcome = incident(approve_stack, finding["id"])["FINDING"]
    assert outcome["status"] == "REJECTED"
    assert "a planned change" in outcome["summary"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_unanswered_it_changes_nothing(deploy: Callable[..., LocalStack], case: Case) -> None:
    stack = deploy(ResponseMode="approve", ApprovalTimeoutSeconds="1", **EVERY_SEVERITY)
    finding, state = case.arrange(stack)
    execution, _ = start_awaiting(stack, finding, case.playbook)

    stack.settle()

    assert execution.status == "SUCCEEDED"
    assert state() == case.untouched
    assert incident(stack, finding["id"])["FINDING"]["status"] == "APPROVAL_TIMED_OUT"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_over_the_rate_limit_it_waits_for_a_person(deploy: Callable[..., LocalStack], case: Case) -> None:
    stack = deploy(ResponseMode="auto", ContainmentRateLimit="0", **EVERY_SEVERITY)
    finding, state = case.arrange(stack)

    execution, token = start_awaiting(stack, finding, case.playbook)

    assert state() == case.untouched, "no automatic action beyond the limit"
    assert "Rate limit reached" in incident(stack, finding["id"])["FINDING"]["summary"]
    reject(stack, token)
    stack.settle()
    assert execution.status == "SUCCEEDED"
    assert state() == case.untouched


def test_a_role_matching_a_protected_pattern_keeps_its_sessions(deploy: Callable[..., LocalStack]) -> None:
    stack = deploy(ResponseMode="auto", ProtectedPrincipals="arn:aws:iam::*:role/breakglass-*", **EVERY_SEVERITY)
    role, arn = new_role(stack, prefix="breakglass-ops")
    finding = role_finding_for(session_of(arn))

    execution = stack.start_playbook("revoke-role-sessions", finding)
    stack.settle()

    assert execution.status == "SUCCEEDED"
    assert revocation_policy(stack, role) is None
    outcome = incident(stack, finding["id"])["FINDING"]
    assert outcome["status"] == "REFUSED_PROTECTED"
    assert "arn:aws:iam::*:role/breakglass-*" in outcome["summary"]
