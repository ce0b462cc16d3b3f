"""Every input shape is read, in time order, and every unreadable part is named."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.conftest import EVENTS, load_json
from warden_local.readers import read_events, to_eventbridge

RECORDS = [e["detail"] for e in load_json("sequences/llmjacking__positive__logging_check_long_term_key.json")]


def _ids(paths: list[Path]) -> list[str]:
    result = read_events(paths)
    assert result.errors == []
    return [e["detail"]["eventID"] for e in result.events]


def test_all_shapes_give_the_same_events_in_time_order(tmp_path: Path) -> None:
    expected = [r["eventID"] for r in RECORDS]
    shuffled = [RECORDS[2], RECORDS[0], RECORDS[1]]
    shapes = {
        "array.json": json.dumps(shuffled),
        "lines.jsonl": "\n".join(json.dumps(r) for r in shuffled) + "\n",
        "trail.json": json.dumps({"Records": shuffled}),
        "eventbridge.json": json.dumps([to_eventbridge(r) for r in shuffled]),
    }
    for name, text in shapes.items():
        plain = tmp_path / name
        plain.write_text(text)
        zipped = tmp_path / (name + ".gz")
        zipped.write_bytes(gzip.compress(text.encode()))
        assert _ids([plain]) == expected, name
        assert _ids([zipped]) == expected, name + ".gz"


def test_single_eventbridge_event_file() -> None:
    (event,) = read_events([EVENTS / "cloudtrail" / "bedrock__Converse__app_role.json"]).events
    assert event["source"] == "aws.bedrock"


def test_cloudtrail_record_gets_the_envelope_cloudtrail_delivery_gives() -> None:
    event = to_eventbridge(RECORDS[0])
    assert event["detail-type"] == "AWS API Call via CloudTrail"
    assert event["source"] == "aws.sts"
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert event["id"] == to_eventbridge(RECORDS[0])["id"], "ids are deterministic"


def test_unreadable_files_are_named_and_the_rest_is_read(tmp_path: Path) -> None:
    good = EVENTS / "sequences" / "llmjacking__positive__logging_check_long_term_key.json"
    truncated = EVENTS / "malformed" / "cloudtrail__truncated_log_file.json"
    missing = tmp_path / "missing.json"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    broken_gzip = tmp_path / "broken.json.gz"
    broken_gzip.write_bytes(b"\x1f\x8b\x08\x00garbage")
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")

    result = read_events([truncated, good, missing, binary, broken_gzip, empty])

    assert len(result.events) == 3
    assert len(result.errors) == 5
    for path in (truncated, missing, binary, broken_gzip, empty):
        assert any(str(path) in error for error in result.errors), path


def test_bad_items_inside_a_good_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n{not json\n" + json.dumps([1]) + "\n" + json.dumps({"a": 1}) + "\n")

    result = read_events([path])

    assert len(result.events) == 1
    assert f"{path}:2: not JSON" in result.errors[0]
    assert any(f"{path}:3[0]: expected a JSON object" in e for e in result.errors)
    assert any("neither an EventBridge event nor a CloudTrail record" in e for e in result.errors)
