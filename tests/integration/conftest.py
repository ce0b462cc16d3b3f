"""Integration fixtures: one embedded moto server per session, stacks deployed from template.yaml."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, load_json
from warden_local.emulator import ACCOUNT_ID, Emulator, running_emulator
from warden_local.stack import Execution, LocalStack

PROTECTED_USER = "breakglass-admin"


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with running_emulator() as running:
        yield running


@pytest.fixture(scope="session")
def deploy(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., LocalStack]:
    def make(**parameters: str) -> LocalStack:
        name = f"it-{uuid.uuid4().hex[:8]}"
        return LocalStack(
            emulator, ROOT, stack_name=name, parameters=parameters, workdir=tmp_path_factory.mktemp(name)
        ).deploy()

    return make


@pytest.fixture(scope="session")
def auto_stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy(ResponseMode="auto", ProtectedPrincipals=f"arn:aws:iam::{ACCOUNT_ID}:user/{PROTECTED_USER}")


def new_user(stack: LocalStack, prefix: str = "victim", keys: int = 1) -> tuple[str, str, list[str]]:
    """A fresh IAM user with ``keys`` active access keys: (name, arn, key ids)."""
    iam = stack.client("iam")
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    return name, arn, [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(keys)]


def finding_for(principal: str, access_key_id: str | None) -> dict[str, Any]:
    finding = load_json("findings/contain_access_key__llmjacking.json")
    finding.update(id=uuid.uuid4().hex, principal=principal, access_key_id=access_key_id)
    return dict(finding)


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
    from warden_local.run import _incident_items

    return {str(item["sk"]).split("#")[0]: item for item in _incident_items(stack, finding_id)}


def dumped(value: Any) -> str:
    return json.dumps(value, default=str)


__all__ = ["PROTECTED_USER", "Path", "dumped", "finding_for", "incident", "key_status", "new_user", "run_playbook"]
