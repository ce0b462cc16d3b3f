"""Fuzz: every function the template declares, on garbage and on damaged CloudTrail events.

Fast: the real handler with in-memory ports (held to DynamoDB's and EventBridge's limits) wherever the
handler builds its ports through ``warden.runtime``. Slower: every handler as Lambda runs it on the local
stack, where it may fail only into its on-failure destination.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from tests.fuzz.harness import (
    budget,
    check_in_memory,
    check_not_blinded,
    check_on_stack,
    declared,
    has_in_memory_ports,
    settle,
)
from tests.fuzz.strategies import blinding_attempts, event_sequences, handler_events
from warden_local.stack import LocalStack

pytestmark = pytest.mark.fuzz
FUNCTIONS = declared("AWS::Serverless::Function")


@pytest.mark.parametrize("logical", FUNCTIONS)
@given(events=event_sequences())
@budget(slice_cases=60, fuzz_cases=2_000)
def test_handler_on_in_memory_ports_keeps_or_processes_every_event(
    fuzz_stack: LocalStack, logical: str, events: list[Any]
) -> None:
    fn = fuzz_stack.functions[logical]
    if not has_in_memory_ports(fuzz_stack, fn):
        pytest.skip(f"{logical} does not build its ports through warden.runtime; it is fuzzed on the stack only")
    settle(f"{logical} (in-memory ports)", check_in_memory(fuzz_stack, fn, events), events)


@pytest.mark.parametrize("logical", FUNCTIONS)
@given(event=handler_events)
@budget(slice_cases=20, fuzz_cases=max(50, 400 // len(FUNCTIONS)))
def test_handler_on_the_local_stack_fails_only_into_its_destination(
    fuzz_stack: LocalStack, logical: str, event: Any
) -> None:
    settle(f"{logical} (local stack)", [check_on_stack(fuzz_stack, fuzz_stack.functions[logical], event)], event)


@pytest.mark.parametrize("logical", FUNCTIONS)
@given(attempt=blinding_attempts())
@budget(slice_cases=10, fuzz_cases=300)
def test_an_attack_is_still_detected_after_the_attackers_own_damaging_events(
    fuzz_stack: LocalStack, logical: str, attempt: tuple[list[Any], list[Any]]
) -> None:
    fn = fuzz_stack.functions[logical]
    if not has_in_memory_ports(fuzz_stack, fn):
        pytest.skip(f"{logical} does not build its ports through warden.runtime; it has no detectors to blind")
    prefix, attack = attempt
    settle(f"{logical} (blinding)", [check_not_blinded(fuzz_stack, fn, prefix, attack)], attempt)
