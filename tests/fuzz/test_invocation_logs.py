"""Fuzz: invocation-log lines validate or are refused with a reason; prompt and completion never leave the model."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.fuzz.harness import budget, check_invocation_log, settle
from tests.fuzz.strategies import invocation_log_lines

pytestmark = pytest.mark.fuzz


@given(line=invocation_log_lines())
@budget(slice_cases=100, fuzz_cases=2_500)
def test_an_invocation_log_line_is_read_or_refused_without_leaking_bodies(line: str) -> None:
    settle("invocation-log lines", [check_invocation_log(line)], line)
