"""Fuzz: `warden replay` on damaged files gives a report, names or keeps every refused item, and exits 2 then.

Each case deploys a fresh local stack (about two seconds), so the budget here is small.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given

from tests.fuzz.harness import budget, check_replay, settle
from tests.fuzz.strategies import EventFile, replay_files

pytestmark = pytest.mark.fuzz


@given(file=replay_files())
@budget(slice_cases=2, fuzz_cases=20)
def test_replay_reports_every_input_it_refuses(file: EventFile) -> None:
    with tempfile.TemporaryDirectory() as directory:
        outcome = check_replay(file, Path(directory))
    settle("warden replay", [outcome], file)
