"""Helpers for playbook tests: fresh victims, findings that name them, and reading the state back."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from tests.conftest import load_json
from warden.models import Finding
from warden_local.run import incident_items
from warden_local.stack import Execution, LocalStack

PROTECTED_USER = "breakglass-admin"
PROTECTED_ROLE = "breakglass-role"
REVOCATION_POLICY = "warden-revoke-sessions"


def new_user(stack: LocalStack, prefix: str = "victim", keys: int = 1) -> tuple[str, str, list[str]]:
    """A fresh IAM user with ``keys`` active access keys: (name, arn, key ids)."""
    iam = stack.client("iam")
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    return name, arn, [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(keys)]


def named_user_with_key(stack: LocalStack, name: str) -> tuple[str, str]:
    """User ``name`` (created if other tests on this emulator have not) with exactly one new key: (arn, key id)."""
    iam = stack.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=name)
    for old in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=old["AccessKeyId"])
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    return iam.get_user(UserName=name)["User"]["Arn"], key


def finding_for(principal: str, access_key_id: str | None, **fields: Any) -> dict[str, Any]:
    """The sample finding naming ``principal`` and its key, with fresh evidence and its id sealed over the content."""
    finding = load_json("findings/contain_access_key__llmjacking.json")
    finding.update(principal=principal, access_key_id=access_key_id, evidence=[str(uuid.uuid4())], **fields)
    return sealed(finding)


def sealed(finding: dict[str, Any]) -> dict[str, Any]:
    """``finding`` with the id its content gives, as a detector would have minted it."""
    return {**finding, "id": Finding.sealed(finding).id}


def run_playbook(stack: LocalStack, finding: dict[str, Any], playbook: str = "contain-access-key") -> Execution:
    stack.notifications()  # start from an empty inbox
    execution = stack.start_playbook(playbook, finding)
    stack.settle()
    return execution


TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def new_role(stack: LocalStack, prefix: str = "victim-role", *, tags: dict[str, str] | None = None) -> tuple[str, str]:
    """A fresh IAM role (optionally tagged): (name, arn)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    tagged = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    role = stack.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST), Tags=tagged)
    return name, str(role["Role"]["Arn"])


def named_role(stack: LocalStack, name: str) -> str:
    """Role ``name`` (created if other tests on this emulator have not): its arn."""
    iam = stack.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    return str(iam.get_role(RoleName=name)["Role"]["Arn"])


def session_of(role_arn: str, session: str = "i-0a1b2c3d4e5f") -> str:
    """The assumed-role session ARN of ``role_arn`` (any path dropped, as STS writes it)."""
    account = role_arn.split(":")[4]
    return f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{session}"


def role_finding_for(principal: str, **fields: Any) -> dict[str, Any]:
    """The revoke-role-sessions sample finding naming ``principal``, with fresh evidence, sealed."""
    finding = load_json("findings/revoke_role_sessions__llmjacking_role.json")
    finding.update(principal=principal, evidence=[str(uuid.uuid4())], **fields)
    return sealed(finding)


def revocation_policy(stack: LocalStack, role: str) -> dict[str, Any] | None:
    """The role's revocation policy document as IAM holds it, or None when it has none."""
    iam = stack.client("iam")
    if REVOCATION_POLICY not in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        return None
    document = iam.get_role_policy(RoleName=role, PolicyName=REVOCATION_POLICY)["PolicyDocument"]
    return document if isinstance(document, dict) else json.loads(document)


def logging_finding_for(previous: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """The restore-invocation-logging sample finding with ``previous`` as its last known good configuration."""
    finding = load_json("findings/restore_invocation_logging__deleted.json")
    finding["details"]["previous_configuration"] = previous
    finding.update(evidence=[str(uuid.uuid4())], **fields)
    return sealed(finding)


def logging_configuration(stack: LocalStack) -> dict[str, Any] | None:
    """Bedrock's model-invocation logging configuration in the emulator, or None when there is none."""
    answer = stack.client("bedrock").get_model_invocation_logging_configuration()
    return answer.get("loggingConfig") or None


def key_status(stack: LocalStack, user: str, key: str) -> str:
    listed = stack.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in listed if k["AccessKeyId"] == key))


def incident(stack: LocalStack, finding_id: str) -> dict[str, dict[str, Any]]:
    """The incident table's items for a finding, keyed by sort key prefix (FINDING, ACTION)."""
    return {str(item["sk"]).split("#")[0]: item for item in incident_items(stack, finding_id)}


def dumped(value: Any) -> str:
    return json.dumps(value, default=str)


def approval_token(stack: LocalStack, execution: Execution, timeout: float = 30.0) -> str:
    """The task token of the execution's ``AwaitApproval`` state once its request is published, read as
    ``warden playbook approve`` reads it (:class:`StepFunctionsWorkflow`)."""
    import time

    from warden.adapters.approvals import StepFunctionsWorkflow

    sfn, deadline = stack.client("stepfunctions"), time.monotonic() + timeout
    workflow = StepFunctionsWorkflow(sfn)
    while time.monotonic() < deadline:
        events = sfn.get_execution_history(executionArn=execution.arn, maxResults=1000)["events"]
        published = bool(events) and events[-1]["type"] == "TaskSubmitted"  # the request is out
        token = workflow.approval_token(execution.arn) if published else None
        if token:
            return token
        if sfn.describe_execution(executionArn=execution.arn)["status"] != "RUNNING":
            break
        time.sleep(0.05)
    raise AssertionError(f"{execution.arn} never waited for approval")


def start_awaiting(
    stack: LocalStack, payload: dict[str, Any], playbook: str = "contain-access-key"
) -> tuple[Execution, str]:
    """Start a playbook that is expected to wait for approval: (execution, its task token)."""
    stack.notifications()
    execution = stack.start_playbook(playbook, payload)
    return execution, approval_token(stack, execution)


def approve(stack: LocalStack, token: str, by: str = "arn:aws:iam::123456789012:user/approver") -> None:
    stack.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps({"approved_by": by}))


def reject(stack: LocalStack, token: str, why: str = "Rejected by the on-call: a load test") -> None:
    stack.client("stepfunctions").send_task_failure(taskToken=token, error="Warden.Rejected", cause=why)


def deliver_from_bus(stack: LocalStack, finding: dict[str, Any], event_id: str, times: int = 3) -> list[Execution]:
    """Put ``finding`` on the findings bus as a detector does, ``times`` times (EventBridge delivers at least
    once), settle, and return the executions it started."""
    from warden_local.emulator import ACCOUNT_ID

    started = len(stack.executions)
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": "Warden Finding",
        "source": "bedrock-warden",
        "account": ACCOUNT_ID,
        "time": "2026-11-20T14:04:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": finding,
    }
    for _ in range(times):
        stack.route(stack.ref("FindingsBus"), event)
    stack.settle()
    return stack.executions[started:]
