"""The detector function with its real adapters on moto: state, idempotency, findings, dead letters."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import load_json
from warden import clock
from warden.adapters.dynamodb_state import DynamoDBStateStore
from warden.adapters.eventbridge import EventBridgeFindingPublisher
from warden.errors import PublishError, StateConflictError
from warden_local.stack import LocalStack

DETECTOR = "BedrockUsageDetectorFunction"


def _arrival(event: dict[str, Any]) -> datetime:
    """When EventBridge received a sample event (its envelope time): the clock a replay runs at."""
    return datetime.fromisoformat(event["time"])


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy(ResponseMode="auto")


def test_a_malformed_event_is_kept_in_the_dead_letter_queue(stack: LocalStack) -> None:
    event = load_json("malformed/cloudtrail__detail_without_identity.json")

    result = stack.invoke(stack.functions[DETECTOR], event)

    assert result["status"] == "rejected"
    kept = [m["body"] for m in stack.queue_messages("DetectorDLQ")]
    assert any(k["reason"] == "malformed-event" and k["event"] == event for k in kept)
    log = [json.loads(line) for line in (stack.workdir / "logs" / f"{DETECTOR}.log").read_text().splitlines()]
    (logged,) = [line for line in log if line.get("message") == "malformed event kept in the dead-letter queue"]
    assert logged["level"] == "ERROR"
    assert logged["event_id"] == event["id"]
    assert any("userIdentity" in problem for problem in logged["problems"])
    assert any("MalformedEvents" in line for line in log), "counted in an EMF metric"


def test_a_broken_configuration_fails_the_invocation_into_its_destination(stack: LocalStack) -> None:
    spec = stack.functions[DETECTOR]
    broken = dataclasses.replace(
        spec, environment={k: v for k, v in spec.environment.items() if k != "WARDEN_STATE_TABLE"}
    )
    event = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")

    assert stack.invoke(broken, event) is None

    kept = [m["body"] for m in stack.queue_messages("DetectorDLQ")]
    failure = next(k for k in kept if k.get("requestContext", {}).get("condition") == "RetriesExhausted")
    assert failure["requestContext"]["approximateInvokeCount"] == 3, "two retries, as EventInvokeConfig says"
    attempts = [s for s in stack.timeline if s.kind == "error" and failure["requestContext"]["requestId"] in s.text]
    assert len(attempts) == 3
    assert "WARDEN_STATE_TABLE" in failure["responsePayload"]["errorMessage"]
    assert failure["requestPayload"] == event


def test_a_redelivered_event_is_processed_once(stack: LocalStack) -> None:
    event = load_json("cloudtrail/bedrock__Converse__app_role.json")
    function = stack.functions[DETECTOR]
    table = stack.ref("IdempotencyTable")

    def records() -> int:
        return len(stack.client("dynamodb").scan(TableName=table)["Items"])

    before = records()
    with clock.frozen(_arrival(event)):
        first = stack.invoke(function, event)
        after_first = records()
        second = stack.invoke(function, event)

    assert first["status"] == "processed"
    assert second == first
    assert after_first == before + 1
    assert records() == after_first, "the redelivery was answered from the idempotency record"


def test_the_attack_sequence_publishes_one_finding_to_the_stacks_bus(stack: LocalStack) -> None:
    for event in load_json("sequences/llmjacking__positive__logging_check_long_term_key.json"):
        with clock.frozen(_arrival(event)):
            stack.route("default", event)
    stack.settle()

    (finding,) = [f for f in stack.findings if f["detector"] == "llmjacking-sequence"]
    assert finding["details"]["preparation_calls"] == ["GetCallerIdentity", "GetModelInvocationLoggingConfiguration"]
    assert finding["severity"] == "HIGH"
    assert finding["playbook"] == "contain-access-key"


def test_state_store_refuses_a_stale_write(stack: LocalStack) -> None:
    store = DynamoDBStateStore(stack.client("dynamodb"), stack.ref("DetectorStateTable"))
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    store.save("d", "k", {"n": 1}, expected_version=None, expires_at=expires)
    loaded = store.load("d", "k")
    assert loaded is not None and loaded.version == 1

    store.save("d", "k", {"n": 2}, expected_version=1, expires_at=expires)

    with pytest.raises(StateConflictError):
        store.save("d", "k", {"n": 3}, expected_version=1, expires_at=expires)
    with pytest.raises(StateConflictError):
        store.save("d", "k", {"n": 3}, expected_version=None, expires_at=expires)
    assert store.load("d", "k") == dataclasses.replace(loaded, value={"n": 2}, version=2)


def test_publisher_fails_loudly_when_eventbridge_refuses(stack: LocalStack) -> None:
    class Refusing:
        def put_events(self, Entries: list[dict[str, str]]) -> dict[str, object]:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}

    from tests.fakes import run, service

    events = load_json("sequences/llmjacking__positive__logging_check_long_term_key.json")
    (finding,) = run(events, service(detectors=["llmjacking-sequence"]))
    with pytest.raises(PublishError, match="InternalFailure"):
        EventBridgeFindingPublisher(Refusing(), "bus").publish([finding])  # type: ignore[arg-type]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def _sample(**detail: Any) -> dict[str, Any]:
    event: dict[str, Any] = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    event["detail"].update(detail)
    return event


SHAPES = {
    "none": None,
    "a-list": [load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")],
    "a-string": "AWS API Call via CloudTrail",
    "nested-500-in-requestParameters": _sample(requestParameters={"modelId": "m", "x": _nested(500)}),
    "a-deeply-nested-id": {**load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json"), "id": _nested(2000)},
    "a-lone-surrogate-in-the-id": {**load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json"), "id": "\ud800"},
    "a-300kb-user-agent": _sample(userAgent="x" * 300_000),
}


@pytest.mark.parametrize("event", SHAPES.values(), ids=SHAPES.keys())
def test_the_handler_keeps_any_shape_of_input_without_failing(stack: LocalStack, event: Any) -> None:
    before = len(stack.queue_messages("DetectorDLQ"))

    result = stack.invoke(stack.functions[DETECTOR], event)

    assert result is not None, "the invocation failed: Lambda would retry input that can never succeed"
    assert result["status"] == "rejected"
    kept = [m["body"] for m in stack.queue_messages("DetectorDLQ")][before:]
    assert [k["reason"] for k in kept] == ["malformed-event"]
    log = [json.loads(line) for line in (stack.workdir / "logs" / f"{DETECTOR}.log").read_text().splitlines()]
    last = [line for line in log if "message" in line][-1]
    assert last["message"] == "malformed event kept in the dead-letter queue", "logged, not lost"
    assert last["problems"]


def test_an_event_dated_2099_is_refused_by_the_real_clock_and_kept(stack: LocalStack) -> None:
    event = _sample(eventTime="2099-01-01T00:00:00Z", eventID="from-the-future")

    result = stack.invoke(stack.functions[DETECTOR], event)

    assert result["status"] == "rejected"
    kept = [m["body"] for m in stack.queue_messages("DetectorDLQ")]
    assert any(k.get("reason") == "event-time-out-of-range" and k["event"] == event for k in kept)


def test_sixty_7kb_user_agents_cannot_push_the_state_past_dynamodbs_item_limit(stack: LocalStack) -> None:
    """Against moto's DynamoDB, which refuses items over 400 KB as DynamoDB does."""
    names = ["ListFoundationModels", "GetFoundationModel", "ListInferenceProfiles", "GetFoundationModelAvailability"]
    base = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    base["detail"]["userIdentity"]["arn"] = "arn:aws:iam::123456789012:user/user-agent-flood"
    events = []
    for n in range(61):
        event = copy.deepcopy(base)
        event["id"] = f"eb-flood-{n}"
        event["detail"].update(
            eventID=f"flood-{n}",
            eventName=names[n % 4] if n < 60 else "InvokeModel",
            eventTime=f"2026-11-20T13:{n // 3:02d}:{(n % 3) * 20:02d}Z",
            userAgent="\u00e9" * 7000 + str(n),
        )
        events.append(event)
    function = stack.functions[DETECTOR]

    with clock.frozen(datetime(2026, 11, 20, 13, 30, tzinfo=UTC)):
        results = [stack.invoke(function, event) for event in events]

    assert [r["status"] for r in results if r is not None] == ["processed"] * 61
    assert len(results[-1]["findings"]) >= 1, "the invocation raised the finding"
    item = stack.client("dynamodb").get_item(
        TableName=stack.ref("DetectorStateTable"),
        Key={"pk": {"S": "llmjacking-sequence#arn:aws:iam::123456789012:user/user-agent-flood"}},
    )["Item"]
    assert len(item["state"]["S"]) <= 100_000
