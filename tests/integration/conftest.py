"""Integration fixtures: one embedded moto server per test module, stacks deployed from template.yaml.

Per module, not per session: moto keeps its backends in the process, and anything else that starts an
emulator or an in-process mock in this process (an end-to-end test, a unit test's ``mock_aws``) resets them.
A module's tests run together (one worker of ``pytest -n --dist loadscope``), so its stacks stay intact.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import ROOT
from tests.integration.playbook import PROTECTED_USER
from warden_local.emulator import ACCOUNT_ID, Emulator, running_emulator
from warden_local.stack import LocalStack


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running_emulator() as running:
        yield running


@pytest.fixture(scope="module")
def deploy(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., LocalStack]:
    def make(**parameters: str) -> LocalStack:
        """Deploy with ``parameters``; the hourly containment rate limit is lifted unless a test sets it (a
        session's many containments on one stack would otherwise turn into approvals nobody answers)."""
        parameters.setdefault("ContainmentRateLimit", "1000")
        name = f"it-{uuid.uuid4().hex[:8]}"
        return LocalStack(
            emulator, ROOT, stack_name=name, parameters=parameters, workdir=tmp_path_factory.mktemp(name)
        ).deploy()

    return make


@pytest.fixture(scope="module")
def auto_stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy(ResponseMode="auto", ProtectedPrincipals=f"arn:aws:iam::{ACCOUNT_ID}:user/{PROTECTED_USER}")
