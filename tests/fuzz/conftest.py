"""Fuzz fixtures: an embedded moto server for the session and a freshly deployed stack per test module.

A replay (tests/fuzz/test_replay.py) starts its own emulator, which resets moto's in-process backends;
so stacks are deployed per module, never shared across modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from warden_local.emulator import ACCOUNT_ID, Emulator, running_emulator
from warden_local.stack import LocalStack


@pytest.fixture(scope="module")
def fuzz_emulator() -> Iterator[Emulator]:
    with running_emulator() as running:
        yield running


@pytest.fixture(scope="module")
def fuzz_stack(fuzz_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    """The template deployed in auto mode, so that playbooks act on what the inputs name, with every optional
    function on (Slack: a secret that does not exist, so every delivery fails into the function's destination
    and every click is refused; Security Hub export on)."""
    name = f"fz-{uuid.uuid4().hex[:6]}"
    workdir: Path = tmp_path_factory.mktemp(name)
    secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:secret:fuzz-AbCdEf"
    # The hourly rate limit would turn later containments into approvals that nobody answers: it has its own tests.
    parameters = {
        "ResponseMode": "auto",
        "SlackWebhookSecretArn": secret,
        "SlackSigningSecretArn": secret,
        "SecurityHubExport": "true",
        "ContainmentRateLimit": "1000",
    }
    return LocalStack(fuzz_emulator, ROOT, stack_name=name, parameters=parameters, workdir=workdir).deploy()
