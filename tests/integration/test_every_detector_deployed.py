"""Every detector runs in the deployed stack: its positive sample, sent as CloudTrail delivers it, reaches it
through the template's own rules and queues and comes out as a finding on the stack's bus.

The unit tests prove each detector's logic; this proves the wiring (rule patterns and states, the queue,
the family's function, its environment). Samples that only fire under settings a deployer must choose
(expected VPC endpoints, Warden's own resource names) are proven by their unit tests instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS
from warden.detectors import REGISTRY
from warden.models import ModelInvocationLog
from warden_local.stack import LocalStack

NEEDS_SETTINGS = {"bedrock-outside-vpc-endpoint", "warden-tampering"}
"""Silent under the defaults by design: they need ExpectedVpcEndpoints, or Warden's resource names in the sample.
Invocation-log detectors are proven through both log paths in test_invocation_paths.py and the scenarios."""


def _first_positive(name: str) -> Path:
    prefix = "llmjacking" if name == "llmjacking-sequence" else name
    candidates = sorted((EVENTS / "sequences").glob(f"{prefix}__positive__*.json"))
    candidates += sorted((EVENTS / "sequences").glob(f"drift-{prefix}__positive__*.json"))
    return min(candidates, key=lambda path: (path.stat().st_size, path.name))  # the shortest story proves the wiring


DETECTORS = sorted(d.name for d in REGISTRY if d.record is not ModelInvocationLog and d.name not in NEEDS_SETTINGS)


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy()


@pytest.mark.parametrize("name", DETECTORS)
def test_the_detectors_positive_sample_gives_its_finding_through_the_deployed_wiring(
    stack: LocalStack, name: str
) -> None:
    events: list[dict[str, Any]] = json.loads(_first_positive(name).read_text())
    ids = {e["detail"].get("eventID") or e["detail"]["id"] for e in events}
    before = len(stack.findings)

    assert stack.send(events) < len(events), "the template routes the sample's events"
    stack.settle()

    raised = [f for f in stack.findings[before:] if f["detector"] == name]
    assert raised, f"{name}: no finding from {_first_positive(name).name}"
    assert any({evidence.split("@")[0] for evidence in f["evidence"]} & ids for f in raised), "its own evidence"
