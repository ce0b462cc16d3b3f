"""The response gates every playbook shares (scripts/asl_gates.py), executed by moto in the real definitions.

approve mode posts the plan and waits on a task token; a person approves (the playbook acts), rejects
(nothing changes) or nobody answers (the configured default). auto mode is held to an hourly rate limit,
beyond which containments wait for a person. A person starting a playbook by hand may ask for a mode.
These run on contain-access-key; the gate is the same generated states in every playbook
(tests/unit/test_asl_gates.py holds every definition to the script).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.playbook import (
    approve,
    finding_for,
    incident,
    key_status,
    new_user,
    reject,
    run_playbook,
    start_awaiting,
)
from warden_local.stack import LocalStack


@pytest.fixture(scope="module")
def approve_stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy(ResponseMode="approve")


def test_approve_mode_waits_and_acts_once_a_person_approves(approve_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(approve_stack)
    finding = finding_for(arn, key)

    execution, token = start_awaiting(approve_stack, finding)

    assert key_status(approve_stack, user, key) == "Active", "nothing changes before the approval"
    waiting = incident(approve_stack, finding["id"])["FINDING"]
    assert waiting["status"] == "AWAITING_APPROVAL"
    assert f"Disable access key {key}" in waiting["summary"]
    (request,) = approve_stack.notifications()
    assert request["attributes"]["outcome"] == "AWAITING_APPROVAL"
    assert request["attributes"]["incident"] == finding["id"]
    assert f"warden playbook approve {finding['id']}" in request["message"]
    assert "APPROVAL NEEDED" in request["subject"]

    approve(approve_stack, token)
    approve_stack.settle()

    assert execution.status == "SUCCEEDED"
    assert key_status(approve_stack, user, key) == "Inactive"
    items = incident(approve_stack, finding["id"])
    assert items["FINDING"]["status"] == "CONTAINED"
    assert [entry["status"] for entry in items["FINDING"]["history"]] == ["AWAITING_APPROVAL", "CONTAINED"]
    assert items["ACTION"]["state"] == "DONE"
    (done,) = approve_stack.notifications()
    assert done["attributes"]["outcome"] == "CONTAINED"


def test_a_rejected_plan_changes_nothing_and_says_who_rejected(approve_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(approve_stack)
    finding = finding_for(arn, key)
    execution, token = start_awaiting(approve_stack, finding)

    reject(approve_stack, token, "Rejected by alice: the load test of team X")
    approve_stack.settle()

    assert execution.status == "SUCCEEDED"
    assert "DeactivateKey" not in execution.states
    assert key_status(approve_stack, user, key) == "Active"
    items = incident(approve_stack, finding["id"])
    assert items["FINDING"]["status"] == "REJECTED"
    assert "Rejected by alice" in items["FINDING"]["summary"]
    assert "ACTION" not in items
    notes = approve_stack.notifications()
    assert [n["attributes"]["outcome"] for n in notes] == ["AWAITING_APPROVAL", "REJECTED"]


def test_a_duplicate_delivery_while_waiting_starts_nothing(approve_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(approve_stack)
    finding = finding_for(arn, key)
    _, token = start_awaiting(approve_stack, finding)

    duplicate = approve_stack.start_playbook("contain-access-key", finding)
    approve_stack.settle(only=[duplicate])  # the first one is still waiting

    assert duplicate.status == "SUCCEEDED"
    assert duplicate.states[-1] == "AlreadyHandled"
    approve(approve_stack, token)
    approve_stack.settle()
    assert key_status(approve_stack, user, key) == "Inactive"


@pytest.mark.parametrize(("default", "status", "key_after"), [("reject", "APPROVAL_TIMED_OUT", "Active"),
                                                              ("approve", "CONTAINED", "Inactive")])  # fmt: skip
def test_an_unanswered_approval_follows_the_configured_default(
    deploy: Callable[..., LocalStack], default: str, status: str, key_after: str
) -> None:
    stack = deploy(ResponseMode="approve", ApprovalTimeoutSeconds="1", ApprovalDefault=default)
    user, arn, (key,) = new_user(stack)
    finding = finding_for(arn, key)
    execution, _ = start_awaiting(stack, finding)

    stack.settle()

    assert execution.status == "SUCCEEDED"
    assert key_status(stack, user, key) == key_after
    assert incident(stack, finding["id"])["FINDING"]["status"] == status


def test_a_person_may_ask_for_approve_mode_on_an_auto_stack(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)
    finding = finding_for(arn, key)

    execution, token = start_awaiting(auto_stack, {"finding": finding, "mode": "approve"})
    assert key_status(auto_stack, user, key) == "Active"
    approve(auto_stack, token)
    auto_stack.settle()

    assert execution.status == "SUCCEEDED"
    assert key_status(auto_stack, user, key) == "Inactive"


def test_a_person_may_ask_for_a_dry_run_and_nothing_else(auto_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(auto_stack)
    finding = finding_for(arn, key)

    planned = run_playbook(auto_stack, {"finding": finding, "mode": "dry-run"})
    assert planned.status == "SUCCEEDED"
    assert key_status(auto_stack, user, key) == "Active"
    assert incident(auto_stack, finding["id"])["FINDING"]["status"] == "DRY_RUN"

    other = finding_for(arn, key)
    refused = run_playbook(auto_stack, {"finding": other, "mode": "yolo"})
    assert refused.status == "FAILED", "a mode that does not exist is refused input, never a default"
    assert key_status(auto_stack, user, key) == "Active"


def test_beyond_the_hourly_rate_limit_containment_waits_for_a_person(deploy: Callable[..., LocalStack]) -> None:
    stack = deploy(ResponseMode="auto", ContainmentRateLimit="2")
    contained = []
    for _ in range(2):
        user, arn, (key,) = new_user(stack)
        run_playbook(stack, finding_for(arn, key))
        contained.append(key_status(stack, user, key))
    assert contained == ["Inactive", "Inactive"]

    user, arn, (key,) = new_user(stack)
    finding = finding_for(arn, key)
    execution, token = start_awaiting(stack, finding)

    assert key_status(stack, user, key) == "Active", "the third in the hour is not contained automatically"
    waiting = incident(stack, finding["id"])["FINDING"]
    assert waiting["status"] == "AWAITING_APPROVAL"
    assert "Rate limit reached: 3 automatic containments" in waiting["summary"]
    approve(stack, token)
    stack.settle()
    assert execution.status == "SUCCEEDED"
    assert key_status(stack, user, key) == "Inactive", "a person may still approve it"


def test_a_rate_limited_containment_is_never_approved_by_default(deploy: Callable[..., LocalStack]) -> None:
    stack = deploy(ResponseMode="auto", ContainmentRateLimit="0", ApprovalTimeoutSeconds="1", ApprovalDefault="approve")
    user, arn, (key,) = new_user(stack)
    finding = finding_for(arn, key)

    execution = run_playbook(stack, finding)

    assert execution.status == "SUCCEEDED"
    assert key_status(stack, user, key) == "Active"
    assert incident(stack, finding["id"])["FINDING"]["status"] == "APPROVAL_TIMED_OUT"
