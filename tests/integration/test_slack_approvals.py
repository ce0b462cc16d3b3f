"""Slack approvals end to end: a signed interactivity POST to the function decides a playbook waiting for approval.

The stack is deployed in approve mode with ``SlackSigningSecretArn`` (the signing secret in the emulator's
Secrets Manager) and ``SlackApprovers``. contain-access-key's real definition runs in moto and waits in
``AwaitApproval`` on a task token; the function's own handler gets the request Slack would send to its
function URL, finds the token in the execution's history and answers it. The AWS state is read back after.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.playbook import finding_for, incident, key_status, new_user, reject, start_awaiting
from warden_local.stack import LocalStack

SIGNING_SECRET = uuid.uuid4().hex
APPROVER = "U0APPROVER"


@pytest.fixture(scope="module")
def slack_stack(deploy: Callable[..., LocalStack], emulator: Any) -> LocalStack:
    arn = emulator.client("secretsmanager").create_secret(
        Name=f"warden/slack-signing-{uuid.uuid4().hex[:8]}", SecretString=SIGNING_SECRET
    )["ARN"]
    return deploy(ResponseMode="approve", SlackSigningSecretArn=arn, SlackApprovers=f"{APPROVER},W0LEAD")


def click(incident_id: str, *, approve: bool, user: str = APPROVER, secret: str = SIGNING_SECRET) -> dict[str, Any]:
    """The function-URL event of a button click, signed as Slack signs it, timestamped now."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "dana.ops"},
        "team": {"id": "T0001"},
        "actions": [
            {"action_id": "warden_approve" if approve else "warden_reject", "value": incident_id, "type": "button"}
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={digest}"}
    return {"headers": headers, "body": body, "isBase64Encoded": False, "requestContext": {"http": {"method": "POST"}}}


def post(stack: LocalStack, event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = stack.invoke_sync(stack.functions["SlackApprovalsFunction"], event)
    return answer


def test_an_approve_click_lets_the_waiting_playbook_contain(slack_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(slack_stack)
    finding = finding_for(arn, key)
    execution, _ = start_awaiting(slack_stack, finding)
    assert key_status(slack_stack, user, key) == "Active"

    answer = post(slack_stack, click(finding["id"], approve=True))
    slack_stack.settle()

    assert answer["statusCode"] == 200
    assert execution.status == "SUCCEEDED" and "AwaitApproval" in execution.states
    assert key_status(slack_stack, user, key) == "Inactive"
    record = incident(slack_stack, finding["id"])["FINDING"]
    assert record["status"] == "CONTAINED"
    decided = [entry for entry in record["history"] if entry["status"] == "APPROVED"]
    assert len(decided) == 1 and decided[0]["by"] == f"slack:T0001/{APPROVER} (dana.ops)"


def test_a_reject_click_leaves_everything_as_it_was(slack_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(slack_stack)
    finding = finding_for(arn, key)
    execution, _ = start_awaiting(slack_stack, finding)

    answer = post(slack_stack, click(finding["id"], approve=False, user="W0LEAD"))
    slack_stack.settle()

    assert answer["statusCode"] == 200
    assert execution.status == "SUCCEEDED"
    assert key_status(slack_stack, user, key) == "Active"
    assert incident(slack_stack, finding["id"])["FINDING"]["status"] == "REJECTED"


def test_an_unlisted_user_or_a_forged_request_decides_nothing(slack_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(slack_stack)
    finding = finding_for(arn, key)
    execution, token = start_awaiting(slack_stack, finding)

    outsider = post(slack_stack, click(finding["id"], approve=True, user="U0OUTSIDER"))
    forged = post(slack_stack, click(finding["id"], approve=True, secret="guessed-" + SIGNING_SECRET))

    assert outsider["statusCode"] == 200 and forged["statusCode"] == 401
    record = incident(slack_stack, finding["id"])["FINDING"]
    assert record["status"] == "AWAITING_APPROVAL" and "decided_by" not in record
    assert slack_stack.client("stepfunctions").describe_execution(executionArn=execution.arn)["status"] == "RUNNING"
    reject(slack_stack, token)  # end the wait, so that nothing is left running
    slack_stack.settle()
    assert key_status(slack_stack, user, key) == "Active"


def test_a_replayed_click_is_refused(slack_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(slack_stack)
    finding = finding_for(arn, key)
    start_awaiting(slack_stack, finding)
    event = click(finding["id"], approve=True)

    first, replay = post(slack_stack, event), post(slack_stack, event)
    slack_stack.settle()

    assert (first["statusCode"], replay["statusCode"]) == (200, 401)
    history = incident(slack_stack, finding["id"])["FINDING"]["history"]
    assert [entry["status"] for entry in history].count("APPROVED") == 1
    assert key_status(slack_stack, user, key) == "Inactive"
