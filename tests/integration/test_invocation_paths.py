"""Bedrock invocations in volume, on the local stack: each path from AWS's delivery to a detector.

- Invocation-log objects: S3 writes the object, S3's Object Created event goes through EventBridge
  to InvocationQueue, and InvocationDetectorFunction reads the object line by line.
- The invocation-log group: a CloudWatch Logs subscription hands its records to
  InvocationLogSubscriptionFunction.
- CloudTrail invocations: InvokeModel and the like take InvocationQueue too, in batches, and still
  drive the LLMjacking sequence.
- What cannot be processed: an unreadable line is kept as where it was (never its content); a message
  that keeps failing ends in DetectorDLQ after maxReceiveCount receives, while the rest of its batch is
  processed.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import EVENTS, load_json
from warden import clock
from warden_local.emulator import ACCOUNT_ID
from warden_local.stack import LocalStack, object_created_event

LEAK = "bedrock-secret-in-text__positive__aws_credentials_in_prompt.jsonl"
PASTED = "Cx0mTsmgr/1JhCW2vMTXkvhy8Ng4NAkMV4zimGr6"  # the pasted secret access key of that sample
VIOLENCE = "bedrock-guardrail-high-confidence__positive__violence_blocked.jsonl"
SURGE = "bedrock-token-surge__positive__known_model_30x.jsonl"
DETECTOR = "InvocationDetectorFunction"


def records(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EVENTS / "invocation_logs" / name).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    tag = uuid.uuid4().hex[:8]
    return deploy(InvocationLogBucket=f"it-invocation-logs-{tag}", InvocationLogGroup=f"/it/{tag}/bedrock-invocations")


def bucket(stack: LocalStack) -> str:
    return stack.parameters["InvocationLogBucket"]


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    return [m["body"] for m in stack.queue_messages("DetectorDLQ")]


def batches(stack: LocalStack, function: str = DETECTOR) -> list[dict[str, Any]]:
    return [i for i in stack.invocations if i["function"] == function and "batch" in i]


def findings_of(stack: LocalStack, detector: str, request_id: str) -> list[dict[str, Any]]:
    return [f for f in stack.findings if f["detector"] == detector and request_id in f["evidence"]]


def test_a_log_object_reaches_the_detectors_through_s3_eventbridge_and_the_queue(stack: LocalStack) -> None:
    (record,) = records(LEAK)
    before = len(batches(stack))

    took = stack.put_invocation_log([record])

    assert took == 1, "one rule (the invocation-log objects rule) took the Object Created event"
    (batch,) = batches(stack)[before:]
    assert len(batch["batch"]) == 1 and batch["failed"] == []
    (finding,) = findings_of(stack, "bedrock-secret-in-text", record["requestId"])
    assert finding["family"] == "bedrock-usage"
    assert finding["principal"] == record["identity"]["arn"]
    (key,) = [
        o["Key"]
        for o in stack.client("s3").list_objects_v2(Bucket=bucket(stack))["Contents"]
        if o["Key"].startswith(f"AWSLogs/{ACCOUNT_ID}/BedrockModelInvocationLogs/us-east-1/2026/11/24/16/")
    ]
    body = stack.client("s3").get_object(Bucket=bucket(stack), Key=key)["Body"].read()
    assert key.endswith(".json.gz") and [json.loads(line) for line in gzip.decompress(body).splitlines()] == [record]
    log = (stack.workdir / "logs" / f"{DETECTOR}.log").read_text()
    assert f"s3://{bucket(stack)}/{key}" in log, "the object read is logged by its origin"
    for where in (json.dumps(stack.findings), log, json.dumps(dead_letters(stack))):
        assert PASTED not in where, "prompt text left the detector"


def test_a_record_of_a_log_object_reaches_a_stateful_detectors_state(stack: LocalStack) -> None:
    first = records(SURGE)[0]

    stack.put_invocation_log([first])

    items = stack.client("dynamodb").scan(TableName=stack.ref("DetectorStateTable"))["Items"]
    (state,) = [
        i for i in items if i["pk"]["S"].startswith("bedrock-token-surge#") and first["requestId"] in i["state"]["S"]
    ]
    assert json.loads(state["state"]["S"])["newest"].startswith(first["timestamp"][:16])


def test_the_cloudwatch_logs_subscription_delivers_the_groups_records(stack: LocalStack) -> None:
    (record,) = records(VIOLENCE)
    group = stack.parameters["InvocationLogGroup"]

    assert stack.put_invocation_log_events([record]) == 1

    (delivery,) = [i for i in stack.invocations if i["function"] == "InvocationLogSubscriptionFunction"][-1:]
    assert delivery["result"] == {"status": "processed", "records": {"processed": 1}}
    (finding,) = findings_of(stack, "bedrock-guardrail-high-confidence", record["requestId"])
    assert finding["family"] == "bedrock-usage"
    kept = stack.client("logs").get_log_events(logGroupName=group, logStreamName="aws/bedrock/modelinvocations")
    assert [json.loads(e["message"])["requestId"] for e in kept["events"]][-1:] == [record["requestId"]]


def test_an_unreadable_line_is_kept_as_its_origin_and_the_rest_of_the_object_is_read(stack: LocalStack) -> None:
    good = records(LEAK)[0]
    also_good = {**good, "requestId": str(uuid.uuid4())}
    lines = [json.dumps(good), '{"schemaType": "ModelInvocationLog", "prompt": "SECRET-PROMPT-CANARY', "[1, 2]"]
    lines.append(json.dumps(also_good))
    key = f"AWSLogs/{ACCOUNT_ID}/BedrockModelInvocationLogs/us-east-1/2026/11/24/16/{uuid.uuid4().hex}.json.gz"
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    put = stack.client("s3").put_object(Bucket=bucket(stack), Key=key, Body=body)
    at = datetime(2026, 11, 24, 16, 15, tzinfo=UTC)
    before = len(dead_letters(stack))

    with clock.frozen(at):
        took = stack.route(
            "default",
            object_created_event(bucket(stack), key, len(body), put, account=ACCOUNT_ID, region="us-east-1", at=at),
        )

    assert took == 1
    kept = dead_letters(stack)[before:]
    origin = f"s3://{bucket(stack)}/{key}"
    assert sorted(k["event"]["origin"] for k in kept) == [f"{origin}:2", f"{origin}:3"]
    assert {k["reason"] for k in kept} == {"malformed-event"}
    assert "SECRET-PROMPT-CANARY" not in json.dumps(kept), "the line itself is never kept"
    assert batches(stack)[-1]["failed"] == [], "the object is processed: its bad lines do not retry it"
    log = [json.loads(line) for line in (stack.workdir / "logs" / f"{DETECTOR}.log").read_text().splitlines()]
    (read,) = [line for line in log if line.get("message") == "invocation-log object read" and line["origin"] == origin]
    assert read["outcomes"] == {"processed": 2, "rejected": 2}, "lines 1 and 4 were read and processed"


def test_a_poison_message_ends_in_the_dead_letter_queue_and_its_batch_mates_are_processed(stack: LocalStack) -> None:
    sqs, queue = stack.client("sqs"), stack.queues["InvocationQueue"]
    converse = load_json("cloudtrail/bedrock__Converse__app_role.json")
    invoke = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    missing = object_created_event(
        bucket(stack),
        f"AWSLogs/{ACCOUNT_ID}/BedrockModelInvocationLogs/us-east-1/2026/11/20/14/deleted-before-it-was-read.json.gz",
        100,
        {"ETag": '"0"'},
        account=ACCOUNT_ID,
        region="us-east-1",
        at=datetime(2026, 11, 20, 14, 5, tzinfo=UTC),
    )
    sent = {
        name: sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))["MessageId"]
        for name, event in (("converse", converse), ("poison", missing), ("invoke", invoke))
    }
    before, completed_before = len(batches(stack)), completed(stack)
    redrive = stack.template["Resources"]["InvocationQueue"]["Properties"]["RedrivePolicy"]

    with clock.frozen(datetime(2026, 11, 20, 14, 10, tzinfo=UTC)):
        stack.drain()

    first, *retries = batches(stack)[before:]
    assert sorted(m["message_id"] for m in first["batch"]) == sorted(sent.values()), "one batch of three"
    assert first["failed"] == [sent["poison"]], "only the poison message is retried"
    assert len(retries) == redrive["maxReceiveCount"] - 1
    assert all([m["message_id"] for m in r["batch"]] == [sent["poison"]] == r["failed"] for r in retries)
    assert missing in dead_letters(stack), "SQS moved it to the dead-letter queue, as it arrived"
    assert stack.queue_messages("InvocationQueue") == []
    results = first["result"]
    assert results == {"batchItemFailures": [{"itemIdentifier": sent["poison"]}]}
    assert completed(stack) == completed_before + 2, "its two mates were processed, once each"


def completed(stack: LocalStack) -> int:
    """Idempotency records of processed events (one per event and function)."""
    items = stack.client("dynamodb").scan(TableName=stack.ref("IdempotencyTable"))["Items"]
    return len([i for i in items if i.get("status", {}).get("S") == "COMPLETED"])


def test_cloudtrail_invocations_take_the_queue_and_still_drive_llmjacking(stack: LocalStack) -> None:
    sequence = load_json("sequences/llmjacking__positive__logging_check_long_term_key.json")
    invocations = [e for e in sequence if e["detail"]["eventName"] in {"InvokeModel", "Converse"}]
    before = len(batches(stack))

    assert stack.send(sequence) == 0, "every event of the attack has a rule"
    stack.settle()

    queued = {m["event_id"] for b in batches(stack)[before:] for m in b["batch"]}
    assert invocations and {e["id"] for e in invocations} <= queued
    (finding,) = [
        f
        for f in stack.findings
        if f["detector"] == "llmjacking-sequence" and invocations[-1]["detail"]["eventID"] in f["evidence"]
    ]
    assert (finding["severity"], finding["playbook"]) == ("HIGH", "contain-access-key")


def test_the_log_paths_need_their_parameters(deploy: Callable[..., LocalStack]) -> None:
    plain = deploy()

    assert not [r for r in plain.routes if "Object Created" in json.dumps(r.pattern)]
    with pytest.raises(ValueError, match="InvocationLogBucket"):
        plain.put_invocation_log(records(LEAK))
    with pytest.raises(ValueError, match="InvocationLogGroup"):
        plain.put_invocation_log_events(records(LEAK))
