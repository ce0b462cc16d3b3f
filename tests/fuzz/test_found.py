"""What the fuzz harness found, as plain deterministic tests: each is the smallest input of a class of failure.

They use the same checks (tests/fuzz/harness.py) as the properties, so a fix that makes one pass also
removes that class from the counts of ``make fuzz``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fuzz.harness import Verdict, check_state_machine
from tests.fuzz.strategies import PLAYBOOK_ARN, StateMachineInput
from warden_local.stack import LocalStack


def _status_event(execution_input: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6f0c5d0e-0000-4000-8000-000000000001",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-20T14:05:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:fz-contain-access-key:x",
            "stateMachineArn": PLAYBOOK_ARN,
            "status": "FAILED",
            "input": execution_input,
        },
    }


@pytest.mark.parametrize("execution_input", ["6]", "not json"])
def test_a_status_event_whose_input_is_not_json_is_still_heard_of(fuzz_stack: LocalStack, execution_input: str) -> None:
    """Found by make fuzz: record-playbook-failure ends FAILED (States.Runtime, from States.StringToJson) and
    nobody is told, when the failed execution's input in the status event is not JSON text."""
    arn = fuzz_stack.ref("RecordPlaybookFailureStateMachine")

    outcome = check_state_machine(fuzz_stack, arn, StateMachineInput(_status_event(execution_input), reseal=False))

    assert outcome.verdict is not Verdict.LOST, outcome.reason


@pytest.mark.parametrize("execution_input", ["{}", "[]", "1", ""])
def test_a_status_event_with_json_input_of_any_shape_is_handled(fuzz_stack: LocalStack, execution_input: str) -> None:
    """The control for the test above: JSON input of any shape already ends in a recorded outcome."""
    arn = fuzz_stack.ref("RecordPlaybookFailureStateMachine")

    outcome = check_state_machine(fuzz_stack, arn, StateMachineInput(_status_event(execution_input), reseal=False))

    assert outcome.acceptable, outcome.reason
