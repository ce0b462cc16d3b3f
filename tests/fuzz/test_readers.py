"""Fuzz: the event-file readers (replay's, hunt's) name every file or item they cannot read, and never raise."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import budget, check_hunt, check_read, settle
from tests.fuzz.strategies import EventFile, event_files

pytestmark = pytest.mark.fuzz


@given(files=st.lists(event_files(), min_size=1, max_size=3))
@budget(slice_cases=150, fuzz_cases=3_500)
def test_every_item_of_every_file_is_read_or_named(files: list[EventFile]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        outcome = check_read(files, Path(directory))
    settle("readers", [outcome], files)


@given(files=st.lists(event_files(), min_size=1, max_size=3))
@budget(slice_cases=60, fuzz_cases=2_000)
def test_hunting_reads_or_names_every_file_and_never_raises(files: list[EventFile]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        outcome = check_hunt(files, Path(directory))
    settle("hunt", [outcome], files)
