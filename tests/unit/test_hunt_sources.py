"""`warden hunt` over files and folders: every format, gzip, order across files, time range, bad input, output.

The reference for what a hunt must find is the detection service itself fed the same events in time
order (tests.fakes.run with every family's detectors): whatever shape the records are stored in, the
hunt must give the same findings.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import EVENTS, load_json
from tests.fakes import run, run_invocation_logs, service
from warden.models import Finding
from warden.query import Selection
from warden_local.cli import main
from warden_local.hunt import Hunt, Problem, detectors_named
from warden_local.hunt.engine import SWEEP_EVERY, Hunter
from warden_local.hunt.order import Reorder
from warden_local.hunt.sources import Counts, Input, Item, read

LLMJACKING = load_json("sequences/llmjacking__positive__enable_then_invoke.json")
"""EventBridge events of one attack: eleven calls, a HIGH llmjacking-sequence finding at the end."""
SECRET_LOGS = EVENTS / "invocation_logs" / "bedrock-secret-in-text__positive__aws_credentials_in_prompt.jsonl"
GUARDDUTY = load_json("guardduty/Impact-IAMUser-AnomalousModelInvocation.json")


def _records() -> list[dict[str, Any]]:
    return [event["detail"] for event in LLMJACKING]


def _expected(events: list[dict[str, Any]]) -> set[str]:
    return {f.id for f in run(events, service(family=None))}


def _hunt(*paths: Path, **options: Any) -> tuple[list[Finding], list[Problem], Hunt]:
    search = Hunt([str(p) for p in paths], **options)
    findings: list[Finding] = []
    problems: list[Problem] = []
    for entry in search.run():
        if isinstance(entry, Problem):
            problems.append(entry)
        else:
            findings.append(entry)
    return findings, problems, search


def _write(path: Path, data: bytes, *, gzipped: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def _lines(values: Iterable[Any]) -> bytes:
    return b"".join(json.dumps(v).encode() + b"\n" for v in values)


FORMATS = {
    "cloudtrail-log-file": lambda: json.dumps({"Records": _records()}).encode(),
    "records-array": lambda: json.dumps(_records(), indent=2).encode(),
    "records-json-lines": lambda: _lines(_records()),
    "eventbridge-array": lambda: json.dumps(LLMJACKING, indent=2).encode(),
    "eventbridge-json-lines": lambda: _lines(LLMJACKING),
}


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("shape", sorted(FORMATS))
def test_every_cloudtrail_shape_gives_the_findings_of_the_service(tmp_path: Path, shape: str, gzipped: bool) -> None:
    path = _write(tmp_path / "no-telling-name.bin", FORMATS[shape](), gzipped=gzipped)

    findings, problems, search = _hunt(path)

    assert problems == []
    assert {f.id for f in findings} == _expected(LLMJACKING)
    assert any(f.detector == "llmjacking-sequence" and f.severity.value == "HIGH" for f in findings)
    assert (search.counts.files, search.counts.records) == (1, len(LLMJACKING))


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_invocation_logs_and_guardduty_findings_go_through_their_own_entry_points(
    tmp_path: Path, gzipped: bool
) -> None:
    logs = _write(tmp_path / "logs" / "x.json.gz", SECRET_LOGS.read_bytes(), gzipped=gzipped)
    _write(tmp_path / "logs" / "amazon-bedrock-logs-permission-check", b"not a log file")
    guardduty = _write(tmp_path / "guardduty.json", json.dumps(GUARDDUTY).encode())
    records = [json.loads(line) for line in SECRET_LOGS.read_text().splitlines() if line.strip()]

    findings, problems, _ = _hunt(logs.parent, guardduty)

    assert problems == [], "the permission-check object is passed over, as replay does"
    expected_logs = {f.id for f in run_invocation_logs(records, service(family=None))}
    assert expected_logs and expected_logs <= {f.id for f in findings}
    assert {f.detector for f in findings} >= {"bedrock-secret-in-text", "guardduty-ai-finding"}
    assert {f.id for f in findings} == expected_logs | _expected([GUARDDUTY])


def test_folders_are_read_recursively_and_merged_in_event_time_order(tmp_path: Path) -> None:
    # Path order puts the attack's end first: only a merge by event time finds the sequence.
    _write(tmp_path / "a" / "late.json", json.dumps({"Records": _records()[6:]}).encode())
    _write(tmp_path / "b" / "c" / "early.json.gz", _lines(_records()[:6]), gzipped=True)

    findings, problems, search = _hunt(tmp_path)

    assert problems == []
    assert {f.id for f in findings} == _expected(LLMJACKING)
    assert search.counts.files == 2
    assert search.reorder.late == 0


def test_the_reorder_buffer_sorts_within_its_bound_and_counts_what_came_too_late() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    times = [start + timedelta(minutes=m) for m in (5, 3, 4, 1, 2, 9, 0)]
    items = [Item("record", str(n), {}, t) for n, t in enumerate(times)]

    exact = [i.time for i in Reorder(capacity=len(items))(items) if isinstance(i, Item)]
    bounded = Reorder(capacity=2)
    released = [i.time for i in bounded(items) if isinstance(i, Item)]

    assert exact == sorted(times)
    assert sorted(released) == sorted(times), "nothing is lost beyond the bound: it is processed late"
    assert bounded.late == sum(1 for n, t in enumerate(released) if t < max(released[:n], default=t))
    assert bounded.late > 0


def test_since_and_until_drop_records_outside_the_range_before_detection(tmp_path: Path) -> None:
    path = _write(tmp_path / "trail.json", json.dumps({"Records": _records()}).encode())
    times = sorted(datetime.fromisoformat(r["eventTime"]) for r in _records())

    inside, _, _ = _hunt(path, since=times[0], until=times[-1])
    before_the_end, _, search = _hunt(path, until=times[-4])  # the invocations are the last three calls

    assert {f.id for f in inside} == _expected(LLMJACKING)
    assert not any(f.detector == "llmjacking-sequence" for f in before_the_end)
    assert search.out_of_range == 3


def test_a_malformed_record_is_named_with_file_and_position_and_the_rest_is_hunted(tmp_path: Path) -> None:
    records = _records()
    broken = {**records[1], "userIdentity": "not an object"}
    lines = _lines(records[:1]) + b'{"eventName": \n' + _lines([broken, *records[2:]])
    path = _write(tmp_path / "trail.jsonl", lines)

    findings, problems, _ = _hunt(path)

    reasons = {p.origin: p.reason for p in problems}
    assert set(reasons) == {f"{path}:2", f"{path}:3"}
    assert reasons[f"{path}:2"].startswith("not JSON")
    assert "userIdentity" in reasons[f"{path}:3"]
    assert "not an object" not in " ".join(reasons.values()), "a problem never quotes the content"
    assert any(f.detector == "llmjacking-sequence" for f in findings), "the other records still make the attack"


def test_an_unreadable_file_is_named_and_the_exit_status_is_2(tmp_path: Path) -> None:
    good = _write(tmp_path / "trail.json", json.dumps({"Records": _records()}).encode())
    corrupt = _write(tmp_path / "corrupt.json.gz", gzip.compress(b'{"Records": []}')[:-12] + b"\x00" * 12)
    missing = tmp_path / "missing.json"

    result = CliRunner(mix_stderr=False).invoke(
        main, ["hunt", str(good), str(corrupt), str(missing), "--format", "json"]
    )

    assert result.exit_code == 2
    skipped = [line for line in result.stderr.splitlines() if line.startswith("warden hunt: skipped")]
    assert len(skipped) == 2
    assert any(str(corrupt) in line for line in skipped) and any(str(missing) in line for line in skipped)
    assert {json.loads(line)["id"] for line in result.stdout.splitlines()} == _expected(LLMJACKING)


def test_json_format_writes_nothing_but_findings_on_stdout(tmp_path: Path) -> None:
    path = _write(tmp_path / "trail.json", json.dumps({"Records": _records()}).encode())
    logs = _write(tmp_path / "logs.jsonl", SECRET_LOGS.read_bytes())
    invocation = next(r for r in _records() if r["eventName"] == "InvokeModel")  # wanted whoever made it
    bad = _write(tmp_path / "bad.jsonl", _lines([{**invocation, "userIdentity": 7}, _records()[1]]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}  # as in a user's shell

    done = subprocess.run(  # noqa: S603  this interpreter, this project's command
        [sys.executable, "-m", "warden_local.cli", "hunt", str(path), str(logs), str(bad), "--format", "json"],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )

    lines = done.stdout.decode().splitlines()
    assert done.returncode == 2, done.stderr.decode()
    assert len(lines) > 2
    parsed = [Finding.model_validate(json.loads(line)) for line in lines]  # every line is a finding, nothing else
    assert len({f.id for f in parsed}) == len(parsed)
    assert "warden hunt: skipped" in done.stderr.decode()
    assert done.stderr.decode().splitlines()[-1].startswith("warden hunt: 3 files")


def test_table_format_shows_each_finding_for_people(tmp_path: Path) -> None:
    path = _write(tmp_path / "trail.json", json.dumps({"Records": _records()}).encode())
    expected = run(LLMJACKING, service(family=None))

    result = CliRunner(mix_stderr=False).invoke(main, ["hunt", str(path)])

    assert result.exit_code == 0, result.stderr
    assert f"Findings ({len(expected)})" in result.stdout
    for finding in expected:
        assert finding.detector in result.stdout
    assert "HIGH" in result.stdout and "ml-batch-svc" in result.stdout
    assert "1 files, 11 records read" in result.stderr


def test_usage_errors_name_the_known_detectors_and_the_time_format(tmp_path: Path) -> None:
    unknown = CliRunner(mix_stderr=False).invoke(main, ["hunt", str(tmp_path), "--detector", "no-such-detector"])
    bad_time = CliRunner(mix_stderr=False).invoke(main, ["hunt", str(tmp_path), "--since", "yesterday"])

    assert unknown.exit_code == 2 and "llmjacking-sequence" in unknown.stderr
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.stderr


def test_a_detector_chosen_by_name_runs_alone(tmp_path: Path) -> None:
    path = _write(tmp_path / "trail.json", json.dumps({"Records": _records()}).encode())

    findings, _, search = _hunt(path, detectors=detectors_named(["bedrock-long-term-key-use"]))

    assert {f.detector for f in findings} == {"bedrock-long-term-key-use"}
    assert search.counts.wanted < search.counts.records, "records no chosen detector reads are never wanted"


def test_state_stays_bounded_over_a_long_stream_as_ttl_would_keep_it() -> None:
    """Four months of calls by a new principal every hour: the store keeps only what has not expired."""
    template = next(r for r in _records() if r["eventName"] == "InvokeModel")
    start, hours = datetime(2026, 1, 1, tzinfo=UTC), 24 * 120
    chosen = detectors_named(["bedrock-first-use", "llmjacking-sequence"])
    selection = Selection.of(chosen)
    hunter = Hunter(selection, chosen)

    def records() -> Iterable[tuple[str, dict[str, Any]]]:
        for hour in range(hours):
            user = f"app-{hour}"
            identity = {**template["userIdentity"], "arn": f"arn:aws:iam::123456789012:user/{user}", "userName": user}
            moment = (start + timedelta(hours=hour)).isoformat().replace("+00:00", "Z")
            yield f"synthetic:{hour}", {**template, "userIdentity": identity, "eventTime": moment, "eventID": user}

    list(hunter.feed_records(records()))

    store = hunter.state
    assert selection.wants(template)
    assert hunter.counts.processed == hours
    assert store.evicted > 0
    assert 0 < len(store.items) < hours / 2
    assert store.watermark is not None
    assert all(expires >= store.watermark - SWEEP_EVERY for expires in store.expiry.values())


def test_json_lines_are_read_as_they_come_not_whole(tmp_path: Path) -> None:
    """The first wanted record of a large JSON-lines file is handed over after reading little of the file."""
    path = _write(tmp_path / "big.jsonl", _lines(_records() * 2000))
    raw = io.FileIO(path)
    source = Input(str(path), lambda: io.BufferedReader(raw))

    stream = read(source, Selection.of(detectors_named()), Counts())
    first = next(stream)

    assert isinstance(first, Item) and first.origin == f"{path}:1"
    assert raw.tell() < path.stat().st_size / 100
    assert sum(1 for _ in stream) == len(_records()) * 2000 - 1
