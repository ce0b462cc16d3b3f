"""The invocation functions' input, read and bounded before a detector sees it (warden/adapters/invocation_feeds.py,
warden/adapters/s3_invocation_logs.py): SQS batches, invocation-log objects, CloudWatch Logs subscription payloads."""

from __future__ import annotations

import base64
import gzip
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import load_json
from tests.fakes import MemoryDeadLetters, service
from warden.adapters.invocation_feeds import is_queue_batch, process_log_subscription, process_queue_batch
from warden.adapters.s3_invocation_logs import Line, S3InvocationLogReader, is_log_object, read_lines

RECORD = load_json("invocation_logs/model_invocation__converse.json")
ARRIVAL = datetime(2026, 11, 20, 14, 10, tzinfo=UTC)
BUCKET = "bedrock-logs"
KEY = "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/11/20/14/20261120T141000Z_ab12.json.gz"


def lines_of(data: bytes, **bounds: int) -> list[Line]:
    return list(read_lines(io.BytesIO(data), **bounds))


def jsonl(*values: Any) -> bytes:
    return "".join(json.dumps(v) + "\n" for v in values).encode()


def test_lines_are_read_from_gzip_or_plain_text_whatever_the_key_says() -> None:
    data = jsonl(RECORD, {**RECORD, "requestId": "second"})

    for raw in (data, gzip.compress(data)):
        read = lines_of(raw)
        assert [(line.number, line.value["requestId"], line.problem) for line in read] == [
            (1, RECORD["requestId"], None),
            (2, "second", None),
        ]


def test_a_line_that_is_no_json_object_is_handed_on_as_its_text_with_the_reason() -> None:
    data = b'\n{"half": \n[1, 2]\n\xff\xfe\n' + jsonl(RECORD)

    read = lines_of(data)

    assert [(line.number, line.problem) for line in read] == [
        (2, "line is not JSON"),
        (3, "line is a JSON list, not an object"),
        (4, "line is not UTF-8"),
        (5, None),
    ], "blank lines are skipped, numbering is the file's"
    assert not any(line.fatal for line in read)


def test_an_over_long_line_is_skipped_without_being_parsed_and_reading_goes_on() -> None:
    data = b'{"x": "' + b"a" * 5000 + b'"}\n' + jsonl(RECORD)

    first, second = lines_of(data, max_line_bytes=1000)

    assert (first.number, first.problem, first.value) == (1, "line longer than 1000 bytes", "<5010 bytes>")
    assert (second.number, second.value) == (2, RECORD)


def test_a_gzip_bomb_stops_at_the_object_bound() -> None:
    bomb = gzip.compress(b"{}\n" * 2_000_000)  # 6 MB of lines, a few KB compressed

    read = lines_of(bomb, max_object_bytes=300_000)

    assert len(read) == 100_001 and read[-1].fatal
    assert read[-1].problem == "the object is larger than 300000 bytes; lines from 100001 on were not read"


def test_a_corrupt_gzip_stream_ends_the_object_with_a_fatal_line() -> None:
    compressed = gzip.compress(jsonl(*[{**RECORD, "requestId": str(n)} for n in range(200)]))
    damaged = compressed[: len(compressed) // 2] + b"\x00" * 64

    read = lines_of(damaged)

    assert read[-1].fatal and "cannot be decompressed" in str(read[-1].problem)
    assert all(line.value["schemaType"] == "ModelInvocationLog" for line in read[:-1]), "what came before is read"


@pytest.mark.parametrize(
    ("key", "log"),
    [
        (KEY, True),
        ("team-a/" + KEY, True),
        ("AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/11/20/14/data/input-1.json.gz", False),
        ("AWSLogs/123456789012/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check", False),
        ("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20/trail.json.gz", False),
    ],
)
def test_only_log_files_are_log_objects(key: str, log: bool) -> None:
    assert is_log_object(key) is log


class Objects:
    """An S3 client holding objects in memory (get_object only, as the function's role allows)."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self.objects:
            raise KeyError(f"NoSuchKey: {Key}")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def sqs_batch(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{n}",
                "receiptHandle": f"r{n}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(int(ARRIVAL.timestamp() * 1000)),
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": str(int(ARRIVAL.timestamp() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:InvocationQueue",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


def object_created(key: str = KEY, bucket: str = BUCKET) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"s3-{key[-12:]}",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-20T14:10:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 10, "etag": "e"},
            "request-id": "R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def test_a_batch_feeds_cloudtrail_events_and_log_objects_and_names_only_the_failed_message() -> None:
    svc = service()
    reader = S3InvocationLogReader(Objects({(BUCKET, KEY): gzip.compress(jsonl(RECORD, "not an object"))}))  # type: ignore[arg-type]
    missing = object_created(KEY.replace("ab12", "gone"))
    batch = sqs_batch(load_json("cloudtrail/bedrock__Converse__app_role.json"), object_created(), missing, "{broken")

    response = process_queue_batch(batch, None, svc, reader, bucket=BUCKET, now=ARRIVAL)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}]}, "S3 refused m2: it is retried"
    kept = svc.dead_letters.kept  # type: ignore[attr-defined]
    origins = [k["payload"].get("origin") for k in kept if isinstance(k["payload"], dict)]
    assert f"s3://{BUCKET}/{KEY}:2" in origins, "the bad line is kept as where it was"
    assert any(k["reason"] == "malformed-event" and k["payload"] == "{broken" for k in kept), "a body that is no JSON"
    assert "SECRET-PROMPT-CANARY" not in json.dumps([k["payload"] for k in kept], default=str)


def test_an_object_of_another_bucket_or_no_log_file_is_not_read() -> None:
    svc = service()
    reader = S3InvocationLogReader(Objects({}))  # type: ignore[arg-type]
    permission_check = KEY.rsplit("/", 5)[0] + "/amazon-bedrock-logs-permission-check"

    response = process_queue_batch(
        sqs_batch(object_created(bucket="someone-elses"), object_created(permission_check)),
        None,
        svc,
        reader,
        bucket=BUCKET,
        now=ARRIVAL,
    )

    assert response == {"batchItemFailures": []}
    (kept,) = svc.dead_letters.kept  # type: ignore[attr-defined]
    assert kept["reason"] == "unexpected-bucket" and kept["payload"]["origin"].startswith("s3://someone-elses/")


def test_arrival_is_when_the_message_reached_the_queue_not_when_it_is_processed() -> None:
    svc = service()
    event = load_json("cloudtrail/bedrock__Converse__app_role.json")
    late = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # a day of backlog after the message was queued

    process_queue_batch(sqs_batch(event), None, svc, S3InvocationLogReader(Objects({})), bucket=None, now=late)  # type: ignore[arg-type]

    assert svc.dead_letters.kept == [], "not refused as 19 hours old: it arrived at SentTimestamp"  # type: ignore[attr-defined]


def test_anything_but_a_queue_batch_is_one_eventbridge_event() -> None:
    assert is_queue_batch(sqs_batch({}))
    others: list[Any] = [{}, {"Records": []}, {"Records": [{"eventSource": "aws:s3"}]}, [], "Records", None]
    for other in others:
        assert not is_queue_batch(other)


def awslogs(events: list[Any], *, message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
    payload = {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": "/bedrock/invocations",
        "logStream": "aws/bedrock/modelinvocations",
        "subscriptionFilters": ["warden"],
        "logEvents": [
            {"id": f"3{n:055d}", "timestamp": 1763647800000 + n, "message": m if isinstance(m, str) else json.dumps(m)}
            for n, m in enumerate(events)
        ],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


def test_a_subscription_payload_feeds_each_log_event_with_its_origin() -> None:
    svc = service()

    result = process_log_subscription(awslogs([RECORD, "plain text line"]), svc, now=ARRIVAL)

    assert result == {"status": "processed", "records": {"processed": 1, "rejected": 1}}
    (kept,) = svc.dead_letters.kept  # type: ignore[attr-defined]
    assert kept["payload"] == {
        "origin": f"logs:///bedrock/invocations/aws/bedrock/modelinvocations:3{1:055d}",
        "kind": "model-invocation-log",
    }


def test_a_control_message_is_ignored_and_a_payload_that_is_not_one_is_kept_by_reference() -> None:
    svc = service()

    assert (
        process_log_subscription(awslogs([], message_type="CONTROL_MESSAGE"), svc, now=ARRIVAL)["status"] == "ignored"
    )
    for garbage in ({"awslogs": {"data": "bm90IGd6aXA="}}, {"SECRET-PROMPT-CANARY": 1}, None):
        assert process_log_subscription(garbage, svc, now=ARRIVAL)["status"] == "rejected"
    assert [k["payload"] for k in svc.dead_letters.kept] == [{"origin": "logs://", "kind": "model-invocation-log"}] * 3  # type: ignore[attr-defined]


def test_a_port_failure_keeps_the_log_events_origin_and_goes_on() -> None:
    svc = service()

    class Failing:
        def load(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("DynamoDB unreachable")

        save = load

    svc.state = Failing()
    result = process_log_subscription(awslogs([RECORD, {**RECORD, "requestId": "other"}]), svc, now=ARRIVAL)

    assert result == {"status": "processed", "records": {"failed": 2}}
    assert isinstance(svc.dead_letters, MemoryDeadLetters)
    kept = svc.dead_letters.kept
    assert [k["reason"] for k in kept] == ["processing-failed"] * 2
    assert [k["payload"]["origin"][-3:] for k in kept] == [f"{0:03d}", f"{1:03d}"], "each log event, by its id"
    assert all(set(k["payload"]) == {"origin", "kind"} and k["error"] == "ConnectionError" for k in kept)
