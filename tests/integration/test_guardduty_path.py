"""GuardDuty's AI findings reach the bedrock-usage detector through the template's rule, as Warden findings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import load_json
from warden_local.stack import LocalStack


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy()


def test_a_guardduty_ai_finding_becomes_a_warden_finding_with_its_playbook(stack: LocalStack) -> None:
    event = load_json("guardduty/Impact-IAMUser-CostHarvesting.json")

    assert stack.send([event]) == 0, "a rule of the template takes GuardDuty's AI findings"
    stack.settle()

    (finding,) = [f for f in stack.findings if f["detector"] == "guardduty-ai-finding"]
    assert finding["family"] == "bedrock-usage"
    assert finding["access_key_id"] == "ASIAEXAMPLERAGAPI001"
    assert finding["playbook"] == "revoke-role-sessions"
    assert finding["details"]["guardduty_type"] == "Impact:IAMUser/CostHarvesting"
    assert finding["severity"] == "MEDIUM", "GuardDuty severity 5.0"


def test_other_guardduty_findings_are_not_delivered(stack: LocalStack) -> None:
    before = len(stack.findings)

    assert stack.send([load_json("guardduty/UnauthorizedAccess-EC2-SSHBruteForce.json")]) == 1
    stack.settle()

    assert len(stack.findings) == before
