"""The detection path's shortcuts answer exactly what the full computations answer, never more leniently.

Each shortcut decides only the common case and hands anything else to the exact code it stands in front of:
the guard's quick pass (``refusal``), the service's state-size bound (``_surely_within``), the detectors
asked per record (``_Dispatch``). These tests hold each one to the exact answer, on every sample event and on
random and adversarial inputs; and the tracer stand-in, used wherever X-Ray cannot record.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, load_json
from tests.unit.test_service import SAMPLES, UNSAFE, _nested, _random_event
from warden.detectors import REGISTRY
from warden.guard import _first_problem, _plainly_within, refusal
from warden.models import CloudTrailEvent
from warden.observability import Untraced, tracing_enabled
from warden.service import JSON_EXPANSION, _Dispatch, _stored_bytes, _surely_within

EVENTS = sorted((ROOT / "events" / "cloudtrail").glob("*.json"))


class Text(str):
    """A subclass of a JSON type: left to the exact walk."""


ODD = [
    {"k\u00e9": 1},
    {"k": "\u00e9\U0001f600" * 10},
    {"x": [True, None, 1.5, -(2**64) + 1, 2**64 - 1]},
    {"x": 2**64},
    {1.5: 2},
    {"a": ("tuple",)},
    {"a": "x" * 262_000},
    {"a": ["y"] * 70_000},
    {"s": Text("abc")},
    {Text("k"): 1},
    {"a": _nested(30)},
    {"a": _nested(31)},
    {"a": _nested(32)},
    {"a": "\udc00"},
    {"\ud800": 1},
    {"n": float("-inf")},
]


def _cases() -> list[Any]:
    rng = random.Random(20261126)
    return [*UNSAFE.values(), *ODD, *SAMPLES, *(_random_event(rng) for _ in range(1500))]


def test_the_quick_pass_of_the_guard_never_lets_through_what_the_exact_walk_refuses() -> None:
    passed = refused = 0
    for case in _cases():
        if not isinstance(case, dict):
            continue
        problem = _first_problem(case)
        if _plainly_within(case):
            assert problem is None, f"passed by the quick pass, refused by the walk: {problem}"
            passed += 1
        refused += problem is not None
        assert refusal(case) == problem
    assert passed > 100 and refused > 100, "both answers were exercised"


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.name)
def test_every_sample_event_takes_the_quick_pass(path: Path) -> None:
    event = json.loads(path.read_text())
    assert _plainly_within(event) is (_first_problem(event) is None)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([0.1, 1e-7, 1e16, 5e-324, -2.2250738585072014e-308, 1e300, 123456.789, float("nan")])
    if kind == 1:
        return rng.choice(["plain", '\x7f\x01\n"\\', "\u00e9t\u00e9", "\U0001f600" * 3, "\u2028", ""])
    if kind == 2:
        return rng.choice([0, -1, 2**63, -(2**63) - 1, 2**64 - 1, 2**70])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind in (4, 5):
        return "".join(rng.choice("ab\u00e9\x7f\U0001f600") for _ in range(rng.randrange(40)))
    if kind in (6, 7):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    return {f"k{n}\u00e9" * rng.randrange(2): _random_value(rng, depth + 1) for n in range(rng.randrange(6))}


def test_the_state_size_bound_never_says_a_value_fits_when_it_does_not() -> None:
    rng = random.Random(7)
    decided = 0
    for _ in range(3000):
        value = {"state": _random_value(rng), "pending": [], "newest": None}
        exact = _stored_bytes(value)
        for budget in (exact - 1, exact, JSON_EXPANSION * exact, 100_000):
            if _surely_within(value, budget):
                decided += 1
                assert exact <= budget, f"{exact} bytes said to fit {budget}"
    assert decided > 1000, "the bound decides the common case"


def test_the_state_size_bound_leaves_what_orjson_cannot_write_to_the_exact_measure() -> None:
    assert not _surely_within({"state": {"wide": 2**70}}, 100_000)
    assert not _surely_within({"state": {1: "a key that is no string"}}, 100_000)


def _records() -> list[Any]:
    events = [json.loads(path.read_text()) for path in EVENTS]
    events += load_json("sequences/llmjacking__positive__enable_then_invoke.json")
    records = []
    for event in events:
        if isinstance(event, dict) and event.get("detail-type") == "AWS API Call via CloudTrail":
            records.append(CloudTrailEvent.model_validate(event).detail)
    return records


def test_the_detectors_asked_about_a_record_are_exactly_those_that_apply_to_it_in_registry_order() -> None:
    detectors = list(REGISTRY)
    dispatch = _Dispatch(detectors)
    records = _records()
    for record in records:
        applicable = [item for item in detectors if item.applies_to(record)]
        assert [item for item in dispatch.candidates(record) if item.applies_to(record)] == applicable
    assert any(dispatch.candidates(record) for record in records)


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"POWERTOOLS_TRACE_DISABLED": "false"}, False),
    ],
)
def test_x_ray_records_only_in_lambda_as_powertools_decides(environ: dict[str, str], enabled: bool) -> None:
    assert tracing_enabled(environ) is enabled


def test_the_tracer_stand_in_returns_the_handler_unchanged() -> None:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"event": event}

    assert Untraced().capture_lambda_handler(capture_response=False)(handler) is handler
