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


def run_playbook(stack: LocalStack, finding: dict[str, Any]) -> Execution:
    stack.notifications()  # start from an empty inbox
    execution = stack.start_playbook("contain-access-key", finding)
    stack.settle()
    return execution


def key_status(stack: LocalStack, user: str, key: str) -> str:
    listed = stack.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in listed if k["AccessKeyId"] == key))


def incident(stack: LocalStack, finding_id: str) -> dict[str, dict[str, Any]]:
    """The incident table's items for a finding, keyed by sort key prefix (FINDING, ACTION)."""
    return {str(item["sk"]).split("#")[0]: item for item in incident_items(stack, finding_id)}


def dumped(value: Any) -> str:
    return json.dumps(value, default=str)
