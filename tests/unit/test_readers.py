"""Every input shape is read, in time order, and every unreadable part is named."""

from __future__ import annotations

import copy
import gzip
import json
import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS, ROOT, load_json
from warden_local.readers import EVENT, INVOCATION_LOG, ReadItem, ReadLimits, read_events, to_eventbridge
from warden_local.run import (
    LOCAL_INVOCATION_LOG_BUCKET,
    ExpectedFinding,
    LogObject,
    deliveries,
    deploy_parameters,
    judge,
    users_in_events,
)

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


# ---------------------------------------------------------------------------------------------------------------
# Malformed input: refused with a reason that names the file and the position, never raised, never dropped
# ---------------------------------------------------------------------------------------------------------------
MALFORMED = EVENTS / "malformed"


@pytest.mark.parametrize(
    ("sample", "reasons"),
    [
        ("cloudtrail__corrupt_deflate.json.gz", [": corrupt gzip data"]),
        ("cloudtrail__nested_2000_deep.json", [": nested deeper than 64 levels"]),
        ("cloudtrail__integer_5000_digits.json", [" Records[0]: an integer has 5000 digits (at most 20 accepted)"]),
        ("cloudtrail__get_caller_identity_without_identity.json", [" Records[0]: userIdentity is missing"]),
        (
            "cloudtrail__identity_fields_not_strings.json",
            [
                " Records[0]: userIdentity must be an object",
                " Records[1]: userIdentity.userName must be a string",
                " Records[2]: userIdentity.accessKeyId must be a string",
            ],
        ),
        (
            "cloudtrail__control_character_in_user_name.json",
            [" Records[0]: userIdentity.userName is not a name IAM allows (1-64 of A-Z a-z 0-9 _+=,.@-)"],
        ),
        ("cloudtrail__lone_surrogate_in_arn.json", [" Records[0]: a string is not valid Unicode (lone surrogate)"]),
        ("cloudtrail__detail_without_identity.json", [": detail.userIdentity is missing"]),
    ],
)
def test_each_malformed_sample_is_refused_with_its_position_and_reason(sample: str, reasons: list[str]) -> None:
    path = MALFORMED / sample

    result = read_events([path])

    expected = [f"{path}{reason}" for reason in reasons]
    assert result.events == []
    assert len(result.errors) == len(expected), result.errors
    assert [error[: len(start)] for error, start in zip(result.errors, expected, strict=True)] == expected


def test_a_record_larger_than_an_eventbridge_event_is_refused_and_its_neighbours_kept(tmp_path: Path) -> None:
    huge = {**RECORDS[1], "userAgent": "x" * (4 * 1024 * 1024)}
    path = tmp_path / "trail.json"
    path.write_text(json.dumps({"Records": [RECORDS[0], huge, RECORDS[2]]}))

    result = read_events([path])

    assert [e["detail"]["eventID"] for e in result.events] == [RECORDS[0]["eventID"], RECORDS[2]["eventID"]]
    (error,) = result.errors
    assert error.startswith(f"{path} Records[1]: event of 419")
    assert error.endswith("bytes, more than the 262144 bytes EventBridge accepts")


def test_a_gzip_bomb_is_refused_without_decompressing_it_whole(tmp_path: Path) -> None:
    limits = ReadLimits(file_bytes=1024 * 1024)
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]"))
    plain = tmp_path / "big.json"
    plain.write_bytes(b"[" + b" " * (2 * 1024 * 1024) + b"]")

    tracemalloc.start()
    result = read_events([bomb, plain], limits=limits)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert result.errors == [
        f"{bomb}: more than 1048576 bytes once decompressed",
        f"{plain}: more than 1048576 bytes",
    ]
    assert peak < 4 * limits.file_bytes, f"peak {peak} bytes while reading"


def test_non_finite_numbers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.jsonl"
    nan = json.dumps({**RECORDS[0], "requestParameters": {"x": float("nan")}})
    inf = json.dumps(RECORDS[1])[:-1] + ', "bytes": 1e999}'
    path.write_text(f"{nan}\n{inf}\n{json.dumps(RECORDS[2])}\n")

    result = read_events([path])

    assert len(result.events) == 1
    assert result.errors == [
        f"{path}:1: a number is not finite (NaN or Infinity)",
        f"{path}:2: a number is not finite (NaN or Infinity)",
    ]


def _dated(record: dict[str, Any], when: str, event_id: str) -> dict[str, Any]:
    return {**record, "eventTime": when, "eventID": event_id}


def test_an_event_far_from_the_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trail.json"
    records = [*RECORDS, _dated(RECORDS[0], "2099-11-21T03:10:00Z", "future")]
    path.write_text(json.dumps({"Records": records}))

    result = read_events([path])

    assert [e["detail"]["eventID"] for e in result.events] == [r["eventID"] for r in RECORDS]
    (error,) = result.errors
    assert error.startswith(f"{path} Records[3]: eventTime 2099-11-21T03:10:00Z is 26662 days from")
    assert error.endswith(f"the run's median event time {RECORDS[1]['eventTime']} (at most 30 accepted)")


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z", "2004-06-01T00:00:00Z"])
def test_an_event_dated_outside_any_cloudtrail_year_is_refused(tmp_path: Path, when: str) -> None:
    path = tmp_path / "alone.json"
    path.write_text(json.dumps([_dated(RECORDS[0], when, "odd")]))

    result = read_events([path])

    assert result.events == []
    (error,) = result.errors
    assert error.startswith(f"{path}[0]: eventTime must be from "), "the model's own range"


def test_events_sort_by_instant_whatever_their_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "zones.json"
    late = _dated(RECORDS[0], "2026-11-21T03:20:00Z", "late")
    early = _dated(RECORDS[1], "2026-11-21T05:10:00+02:00", "early")  # 03:10Z
    path.write_text(json.dumps([late, early]))

    assert [e["detail"]["eventID"] for e in read_events([path]).events] == ["early", "late"]


def test_eventbridge_events_of_other_kinds_are_read_when_their_envelope_is_valid(tmp_path: Path) -> None:
    other = {**to_eventbridge(RECORDS[0]), "detail-type": "Object Created", "source": "aws.s3", "detail": {"a": 1}}
    naive = {**other, "id": "naive", "time": "2026-11-21T03:10:00"}
    no_account = {k: v for k, v in other.items() if k != "account"}
    naive_cloudtrail = {**to_eventbridge(RECORDS[1]), "time": "2026-11-21T03:10:04"}
    path = tmp_path / "others.json"
    path.write_text(json.dumps([other, naive, no_account, naive_cloudtrail]))

    result = read_events([path])

    assert [e["id"] for e in result.events] == [other["id"]]
    assert result.errors == [
        f"{path}[1]: time has no time zone",
        f"{path}[2]: account is missing",
        f"{path}[3]: time has no time zone",
    ]


def test_seeding_takes_only_users_and_keys_iam_could_have_issued() -> None:
    identity = RECORDS[0]["userIdentity"]
    odd: list[dict[str, Any]] = [
        {"detail": {"userIdentity": "arn:aws:iam::123456789012:user/x"}},
        {"detail": {"userIdentity": {**identity, "userName": ["ml-batch-svc"]}}},
        {"detail": {"userIdentity": {**identity, "accessKeyId": 1234}}},
        {"detail": {"userIdentity": {**identity, "userName": "bad\u0007name"}}},
        {"detail": {"userIdentity": {**identity, "accessKeyId": "AKIA"}}},
        {"detail": "not an object"},
        {"detail": {"userIdentity": identity}},
    ]

    assert users_in_events(odd) == [
        {
            "name": "ml-batch-svc",
            "access_keys": ["AKIAEXAMPLEBATCHSVC1"],
            "named_in": "event 6",
            "keys_named_in": {"AKIAEXAMPLEBATCHSVC1": "event 6"},
        }
    ]


# ---------------------------------------------------------------------------------------------------------------
# Property: whatever the bytes, read_events returns, and every item read ends as an event or as a named error
# ---------------------------------------------------------------------------------------------------------------
def _mutated_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            -1,
            10**25,
            1.5,
            "",
            "\ud800",
            "x" * rng.randint(0, 300_000),
            [],
            {},
            [[[]]],
            json.loads("[" * 70 + "]" * 70),
            {"nested": {"deeper": [1, {"k": "v"}]}},
        ]
    )


_FIELDS = ["userIdentity", "eventTime", "eventName", "eventSource", "awsRegion", "eventID", "requestParameters"]
_IDENTITY_FIELDS = ["userName", "accessKeyId", "arn", "type", "sessionContext"]


def _mutated_item(rng: random.Random, n: int) -> Any:
    record = copy.deepcopy(RECORDS[n % len(RECORDS)])
    record["eventID"] = f"generated-{n}"
    for _ in range(rng.randint(0, 3)):
        roll = rng.random()
        if roll < 0.35:
            record[rng.choice(_FIELDS)] = _mutated_value(rng)
        elif roll < 0.6 and isinstance(record.get("userIdentity"), dict):
            record["userIdentity"][rng.choice(_IDENTITY_FIELDS)] = _mutated_value(rng)
        elif roll < 0.75:
            record.pop(rng.choice(_FIELDS), None)
        elif roll < 0.85:
            record["eventTime"] = rng.choice(["2099-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "yesterday", 17e8])
        elif roll < 0.95:
            return rng.choice([None, 10**25, "a string", {}, {"a": 1}, to_eventbridge(record)])
    return record


def _serialise(rng: random.Random, items: list[Any]) -> tuple[str, bytes]:
    shape = rng.choice(["array", "records", "lines"])
    if shape == "lines":
        text = "\n".join(json.dumps(i) for i in items) + "\n"
        return shape, text.encode()
    text = json.dumps(items if shape == "array" else {"Records": items})
    return shape, text.encode()


def _damaged(rng: random.Random, data: bytes) -> bytes:
    roll = rng.random()
    if roll < 0.25:
        return data[: rng.randint(0, len(data))]
    if roll < 0.5:
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        return bytes(flipped)
    if roll < 0.65:
        return rng.randbytes(rng.randint(0, 2048))
    zipped = bytearray(gzip.compress(data))
    if roll < 0.85 and len(zipped) > 20:
        zipped[rng.randrange(10, len(zipped))] ^= 0xFF
    return bytes(zipped)


def test_generated_malformed_inputs_never_raise_and_lose_nothing(tmp_path: Path) -> None:
    rng, itemised = random.Random(20261126), 0
    for case in range(300):
        items = [_mutated_item(rng, n) for n in range(rng.randint(1, 6))]
        shape, data = _serialise(rng, items)
        damaged = rng.random() < 0.4
        path = tmp_path / f"case-{case}.json"
        path.write_bytes(_damaged(rng, data) if damaged else data)

        result = read_events([path])

        where = [*result.origins, *(e.split(": ", 1)[0] for e in result.errors)]
        assert len(result.origins) == len(result.events), case
        assert all(w.startswith(str(path)) for w in where), (case, where)
        if damaged:
            assert where, f"case {case}: a damaged file gave neither events nor errors"
        elif sorted(where) == sorted(_item_locations(path, shape, items)):
            itemised += 1
        else:  # refused whole (nested too deep, say): one error naming the file
            assert (result.events, where) == ([], [str(path)]), (case, result.errors)
    assert itemised > 150, "most undamaged files are read item by item"


def _item_locations(path: Path, shape: str, items: list[Any]) -> list[str]:
    if shape == "records":
        return [f"{path} Records[{i}]" for i in range(len(items))]
    if shape == "array":
        return [f"{path}[{i}]" for i in range(len(items))]
    lines = [str(path)] if len(items) == 1 else [f"{path}:{i + 1}" for i in range(len(items))]
    return [str(line) for line in lines]


@pytest.mark.parametrize(("levels", "refused"), [(64, False), (65, True)])
def test_a_file_nested_deeper_than_64_levels_is_refused_before_parsing(
    tmp_path: Path, levels: int, refused: bool
) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * levels + "]" * levels)

    (error,) = read_events([path]).errors

    assert error == (
        f"{path}: nested deeper than 64 levels" if refused else f"{path}[0]: expected a JSON object, got array"
    )


def test_an_event_nested_deeper_than_the_detector_accepts_is_refused_and_its_neighbours_kept(tmp_path: Path) -> None:
    path = tmp_path / "trail.json"
    deep = {**RECORDS[1], "requestParameters": {"n": "NEST"}}
    path.write_text(json.dumps({"Records": [RECORDS[0], deep]}).replace('"NEST"', "[" * 40 + "]" * 40))

    result = read_events([path])

    assert [e["detail"]["eventID"] for e in result.events] == [RECORDS[0]["eventID"]]
    assert result.errors == [f"{path} Records[1]: nested deeper than 32 levels"]


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path: Path) -> None:
    path = tmp_path / "trail.json"
    path.write_text(json.dumps([{**RECORDS[0], "userAgent": '[{"\\\\' * 1000}]))

    result = read_events([path])

    assert (len(result.events), result.errors) == (1, [])


# ---------------------------------------------------------------------------------------------------------------
# Model-invocation log files: recognised by content, read as Bedrock writes them, merged in time with the events
# ---------------------------------------------------------------------------------------------------------------
CANARY = "SECRET-PROMPT-CANARY"
LOG_RECORD = load_json("invocation_logs/model_invocation__converse.json")


def _log(when: str, request_id: str, **changes: Any) -> dict[str, Any]:
    """The sample invocation-log record at ``when``, with its prompt carrying the canary."""
    return {**copy.deepcopy(LOG_RECORD), "timestamp": when, "requestId": request_id, **changes}


def _bedrock_object(folder: Path, records: list[Any], name: str = "20261121T031200Z_0a1b2c3d.json.gz") -> Path:
    """A gzipped JSON-lines object at the key Bedrock gives it under its S3 prefix."""
    hour = folder / "AWSLogs" / "123456789012" / "BedrockModelInvocationLogs" / "us-east-1" / "2026/11/21/03"
    hour.mkdir(parents=True, exist_ok=True)
    path = hour / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_a_bedrock_log_folder_is_read_recursively_and_merged_in_time_with_cloudtrail(tmp_path: Path) -> None:
    first, second = _log("2026-11-21T03:10:02Z", "log-1"), _log("2026-11-21T03:12:30Z", "log-2")
    obj = _bedrock_object(tmp_path / "bucket", [second, first])
    (obj.parents[5] / "amazon-bedrock-logs-permission-check").write_text("")  # written when logging is set up
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": RECORDS}))  # 03:10:00, 03:10:04, 03:11:30 (the llmjacking sample)

    result = read_events([tmp_path / "bucket", trail])

    assert result.errors == []
    assert [e["detail"]["eventID"] for e in result.events] == [r["eventID"] for r in RECORDS], "events as before"
    assert result.origins == [f"{trail} Records[{i}]" for i in range(3)]
    assert [r["requestId"] for r in result.invocation_logs] == ["log-1", "log-2"]
    assert result.invocation_log_origins == [f"{obj}:2", f"{obj}:1"]
    assert [(i.kind, i.time.isoformat()) for i in result.items] == [
        ("event", "2026-11-21T03:10:00+00:00"),
        ("invocation-log", "2026-11-21T03:10:02+00:00"),
        ("event", "2026-11-21T03:10:04+00:00"),
        ("event", "2026-11-21T03:11:30+00:00"),
        ("invocation-log", "2026-11-21T03:12:30+00:00"),
    ]
    assert result.items[1].value == first, "kept as written, prompt included: the runner stores it as Bedrock did"


@pytest.mark.parametrize("name", ["object.json.gz", "object.json", "object", "object.txt"])
def test_invocation_log_files_are_recognised_by_content_not_name(tmp_path: Path, name: str) -> None:
    records = [_log("2026-11-21T03:10:02Z", "log-1"), _log("2026-11-21T03:10:03Z", "log-2")]
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    single = tmp_path / f"single-{name}"
    single.write_text(json.dumps(records[0]))

    result = read_events([path, single])

    assert result.errors == [] and result.events == []
    assert result.invocation_log_origins == [f"{path}:1", str(single), f"{path}:2"]


def test_invalid_invocation_log_records_are_named_by_line_and_never_quoted(tmp_path: Path) -> None:
    records = [
        _log("2026-11-21T03:10:02Z", "good"),
        _log("2026-11-21T03:10:03Z", "x", schemaType=f"Other {CANARY}"),
        {k: v for k, v in _log("2026-11-21T03:10:04Z", "x").items() if k != "identity"},
        _log("2026-11-21T03:10:05", "x"),
        _log("2026-11-21T03:10:06Z", "x", input={"inputBodyJson": CANARY, "inputTokenCount": CANARY}),
        _log("2026-11-21T03:10:07Z", "x", output={"outputBodyJson": CANARY * 30_000}),
        _log("2026-11-21T03:10:08Z", "x", input={"inputBodyJson": {"n": "NEST"}, "inputTokenCount": 1}),
        _log("2026-11-21T03:10:09Z", "x", modelId=["a", CANARY]),
        _log("2026-11-21T03:10:10Z", "x", inputTokenCount="WIDE"),
        _log("2099-11-21T03:10:10Z", "x"),
    ]
    lines = [json.dumps(r) for r in records]
    lines[6] = lines[6].replace('"NEST"', "[" * 40 + "]" * 40)
    lines[8] = lines[8].replace('"WIDE"', "9" * 25)
    obj = _bedrock_object(tmp_path, [*lines, f'{{"schemaType": "{CANARY}", "input": '])

    result = read_events([obj])

    assert [r["requestId"] for r in result.invocation_logs] == ["good"]
    assert result.errors == [
        f"{obj}:2: invocation-log record: schemaType: String should match pattern '^ModelInvocationLog$'",
        f"{obj}:3: invocation-log record: identity is missing",
        f"{obj}:4: invocation-log record: timestamp: Input should have timezone info",
        f"{obj}:5: invocation-log record: input.inputTokenCount: Input should be a valid integer,"
        " unable to parse string as an integer",
        f"{obj}:6: invocation-log record of 600546 bytes, more than the 262144 bytes Warden reads",
        f"{obj}:7: nested deeper than 32 levels",
        f"{obj}:8: invocation-log record: modelId must be a string",
        f"{obj}:9: an integer has 25 digits (at most 20 accepted)",
        f"{obj}:11: not JSON: Expecting value: column 49",
        f"{obj}:10: timestamp 2099-11-21T03:10:10Z is 26663 days from the run's median event time"
        " 2026-11-21T03:10:02Z (at most 30 accepted)",
    ]
    assert all(CANARY not in error for error in result.errors), "no prompt or completion text in a reason"


def test_an_invocation_log_file_refused_whole_is_one_error_naming_it(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(json.dumps(_log("2026-11-21T03:10:02Z", "a")).encode() + b" " * (2 << 20)))
    garbage = _bedrock_object(tmp_path, [f"{CANARY} {n}" for n in range(3)])

    result = read_events([bomb, garbage], limits=ReadLimits(file_bytes=1 << 20))

    assert result.errors == [
        f"{bomb}: more than 1048576 bytes once decompressed",
        f"{garbage}: not JSON: Expecting value: line 1 column 1",
    ]
    assert result.items == []


def test_folders_are_read_in_name_order_and_an_empty_one_is_named(tmp_path: Path) -> None:
    bucket, empty = tmp_path / "bucket", tmp_path / "empty" / "nested"
    empty.mkdir(parents=True)
    late = _bedrock_object(bucket, [_log("2026-11-21T03:10:02Z", "same-time-b")], name="b.json.gz")
    early = _bedrock_object(bucket, [_log("2026-11-21T03:10:02Z", "same-time-a")], name="a.json.gz")
    (bucket / "notes").mkdir()
    (bucket / "notes" / "readme.txt").write_text("not a log")

    result = read_events([tmp_path / "empty", bucket])

    assert [i.origin for i in result.items] == [str(early), str(late)], "equal times keep the reading order"
    assert result.errors == [
        f"{tmp_path / 'empty'}: a folder with no file to read",
        f"{bucket / 'notes' / 'readme.txt'}: not JSON: Expecting value: line 1 column 1",
    ]


# ---------------------------------------------------------------------------------------------------------------
# Delivery plan: events one at a time, invocation-log records in S3 objects of up to five minutes, in time order
# ---------------------------------------------------------------------------------------------------------------
T0 = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def _item(kind: str, minute: float, name: str, **value: Any) -> ReadItem:
    record = {"accountId": "123456789012", "region": "us-east-1", "requestId": name, **value}
    return ReadItem(EVENT if kind == "event" else INVOCATION_LOG, name, record, T0 + timedelta(minutes=minute))


def _plan(planned: list[ReadItem | LogObject]) -> list[Any]:
    return [[r.origin for r in d.records] if isinstance(d, LogObject) else d.origin for d in planned]


def test_consecutive_log_records_share_an_object_of_at_most_five_minutes() -> None:
    items = [
        _item("log", 0, "a"),
        _item("log", 2, "b"),
        _item("log", 4.99, "c"),
        _item("log", 5, "d"),  # five minutes after the object's first record: a new object
        _item("event", 6, "E1"),
        _item("log", 6.5, "e"),  # an event in between: a new object
        _item("event", 7, "E2"),
        _item("event", 7, "E3"),
        _item("log", 8, "f"),
        _item("log", 8, "g", region="eu-west-1"),  # another region: another object (another S3 prefix)
        _item("log", 8, "h", accountId="210987654321"),
    ]

    assert _plan(deliveries(items)) == [["a", "b", "c"], ["d"], "E1", ["e"], "E2", "E3", ["f"], ["g"], ["h"]]


def test_log_objects_are_bounded_in_records_and_bytes() -> None:
    items = [_item("log", n / 10, f"r{n}", body="x" * 100) for n in range(7)]
    size = len(json.dumps(items[0].value)) + 1

    assert _plan(deliveries(items, max_records=3)) == [["r0", "r1", "r2"], ["r3", "r4", "r5"], ["r6"]]
    assert _plan(deliveries(items, max_bytes=2 * size)) == [["r0", "r1"], ["r2", "r3"], ["r4", "r5"], ["r6"]]
    assert _plan(deliveries(items[:1], max_bytes=1)) == [["r0"]], "a record larger than the bound is still sent"
    (obj,) = deliveries(items[:2])
    assert isinstance(obj, LogObject) and (obj.size, obj.where) == (2 * size, "r0 .. r1 (2 records)")


def test_a_run_deploys_with_a_local_invocation_log_bucket_unless_one_is_given(tmp_path: Path) -> None:
    assert deploy_parameters({"ResponseMode": "auto"}, ROOT) == {
        "ResponseMode": "auto",
        "InvocationLogBucket": LOCAL_INVOCATION_LOG_BUCKET,
    }
    assert deploy_parameters({"InvocationLogBucket": "mine"})["InvocationLogBucket"] == "mine"
    (tmp_path / "template.yaml").write_text("Parameters: {}\nResources: {}\n")
    assert deploy_parameters({"X": "1"}, tmp_path) == {"X": "1"}, "a template without the parameter gets none"


# ---------------------------------------------------------------------------------------------------------------
# Scenario expectations: each expected finding raised, and nothing unexpected above LOW
# ---------------------------------------------------------------------------------------------------------------
ADMIN = "arn:aws:iam::123456789012:user/ops-admin"


def _finding(detector: str, severity: str, principal: str = ADMIN, family: str = "policy-change") -> dict[str, Any]:
    return {"id": f"{detector}-{severity}", "detector": detector, "family": family, "severity": severity,
            "principal": principal, "title": "t"}  # fmt: skip


def test_expected_findings_are_matched_on_detector_family_principal_and_severity() -> None:
    expected = [
        ExpectedFinding("guardrail-deleted-or-weakened", "policy-change", ADMIN, "HIGH"),
        ExpectedFinding("broad-permissions-granted", "policy-change", ADMIN),
        ExpectedFinding("invocation-logging-disabled", "policy-change", ADMIN, "HIGH"),
    ]
    findings = [
        _finding("guardrail-deleted-or-weakened", "HIGH"),
        _finding("broad-permissions-granted", "CRITICAL"),
        _finding("invocation-logging-disabled", "MEDIUM"),  # wrong severity: not met, not unexpected either
        _finding("llmjacking-sequence", "LOW", family="bedrock-usage"),  # benign noise up to LOW is allowed
        _finding("credentials-created-for-another-user", "MEDIUM"),
        _finding("external-trust-policy", "SEVERE", family="cross-account"),  # unknown severity counts as above
    ]

    judged = judge(expected, findings)

    assert [(j["detector"], j["raised"], j["severities_seen"]) for j in judged["findings"]] == [
        ("guardrail-deleted-or-weakened", True, ["HIGH"]),
        ("broad-permissions-granted", True, ["CRITICAL"]),
        ("invocation-logging-disabled", False, ["MEDIUM"]),
    ]
    assert judged["findings"][0]["finding_ids"] == ["guardrail-deleted-or-weakened-HIGH"]
    assert [u["detector"] for u in judged["unexpected"]] == ["credentials-created-for-another-user",
                                                             "external-trust-policy"]  # fmt: skip
    assert judged["met"] is False
    assert judge(expected[:2], findings[:2] + findings[3:4])["met"] is True
