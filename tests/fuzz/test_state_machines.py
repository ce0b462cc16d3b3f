"""Fuzz: every state machine the template declares, started with damaged findings, status events and any JSON.

Every execution must end; one that fails must be heard of (a notification, or the input in a dead-letter queue).
"""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.fuzz.harness import budget, check_state_machine, declared, settle
from tests.fuzz.strategies import StateMachineInput, state_machine_inputs
from warden_local.stack import LocalStack

pytestmark = pytest.mark.fuzz
MACHINES = declared("AWS::Serverless::StateMachine")


@pytest.mark.parametrize("logical", MACHINES)
@given(case=state_machine_inputs)
@budget(slice_cases=10, fuzz_cases=max(50, 300 // len(MACHINES)))
def test_every_execution_ends_and_a_failed_one_is_heard_of(
    fuzz_stack: LocalStack, logical: str, case: StateMachineInput
) -> None:
    arn = fuzz_stack.ref(logical)
    settle(f"{logical}", [check_state_machine(fuzz_stack, arn, case)], case)
