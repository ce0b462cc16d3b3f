"""The detection service: malformed input kept, own calls ignored, state races retried, never blinded."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from tests import fakes
from tests.conftest import load_json
from tests.fakes import MemoryDeadLetters, MemoryPublisher, MemoryStateStore
from warden.adapters.sqs import SqsDeadLetterSink
from warden.detectors.registry import Detector, Outcome
from warden.errors import PublishError, StateConflictError
from warden.models import CloudTrailRecord, Family, Finding
from warden.observability import metrics
from warden.service import MERGE_NAMESPACE, STATE_BUDGET_BYTES, DetectionService
from warden.settings import Settings

OWN_ROLE = "arn:aws:iam::123456789012:role/warden-local-ContainAccessKeyStateMachineRole"


def service(self_principals: frozenset[str] = frozenset(), **options: Any) -> DetectionService:
    """A service running llmjacking-sequence alone: what these tests measure (writes, outbox) is its own."""
    return fakes.service(self_principals, detectors=options.pop("detectors", ["llmjacking-sequence"]), **options)


def run(events: list[dict[str, Any]], svc: DetectionService | None = None) -> list[Finding]:
    return fakes.run(events, svc or service())


def _metric_names() -> set[str]:
    return set(metrics.metric_set)


def test_malformed_event_is_kept_with_its_reason_and_counted() -> None:
    svc = service()
    event = load_json("malformed/cloudtrail__detail_without_identity.json")

    result = svc.handle(event)

    assert result.status == "rejected"
    assert result.event_id == event["id"]
    assert "userIdentity" in (result.reason or "")
    assert isinstance(svc.dead_letters, MemoryDeadLetters)
    (kept,) = svc.dead_letters.kept
    assert kept["payload"] == event
    assert kept["reason"] == "malformed-event"
    assert "MalformedEvents" in _metric_names()


@pytest.mark.parametrize("event", [None, [], "text", {"detail-type": "AWS API Call via CloudTrail"}])
def test_any_shape_of_garbage_is_rejected_not_raised(event: object) -> None:
    svc = service()
    assert svc.handle(event).status == "rejected"
    assert len(svc.dead_letters.kept) == 1  # type: ignore[attr-defined]


def test_malformed_event_does_not_stop_the_rest_of_a_batch() -> None:
    events = load_json("sequences/llmjacking__positive__enable_then_invoke.json")
    events.insert(3, load_json("malformed/cloudtrail__detail_without_identity.json"))

    assert len(run(events)) == 1


def test_wardens_own_calls_are_ignored_before_any_detector_runs() -> None:
    svc = service(self_principals=frozenset({OWN_ROLE}))
    events = load_json("sequences/llmjacking__negative__warden_own_role.json")

    results = [svc.handle(e) for e in events]

    assert {r.status for r in results} == {"ignored"}
    assert isinstance(svc.state, MemoryStateStore)
    assert svc.state.items == {}
    assert "SelfEventsIgnored" in _metric_names()


def test_the_same_calls_by_anyone_else_are_detected() -> None:
    """Control for the test above: the own-role sequence is a real positive when not ours."""
    events = json.loads(
        json.dumps(load_json("sequences/llmjacking__negative__warden_own_role.json")).replace(
            "warden-local-ContainAccessKeyStateMachineRole", "some-app-role"
        )
    )
    assert len(run(events)) == 1


def test_a_concurrent_state_change_is_retried_on_fresh_state() -> None:
    svc = service()
    assert isinstance(svc.state, MemoryStateStore)
    svc.state.conflicts_to_raise = 2

    run(load_json("sequences/llmjacking__positive__enable_then_invoke.json")[:1], svc)

    assert svc.state.saves == 1
    assert "StateConflicts" in _metric_names()


def test_a_state_that_keeps_changing_fails_the_invocation_so_lambda_retries() -> None:
    svc = service()
    assert isinstance(svc.state, MemoryStateStore)
    svc.state.conflicts_to_raise = 10

    with pytest.raises(StateConflictError):
        svc.handle(load_json("cloudtrail/sts__GetCallerIdentity__stolen_key.json"))


def test_state_expires_a_day_after_the_event() -> None:
    svc = service()
    run([load_json("cloudtrail/sts__GetCallerIdentity__stolen_key.json")], svc)
    assert isinstance(svc.state, MemoryStateStore)
    (expires,) = svc.state.expiry.values()
    assert expires.isoformat() == "2026-11-21T14:02:11+00:00"


def test_irrelevant_events_write_no_state() -> None:
    svc = service()
    event = load_json("cloudtrail/sts__GetCallerIdentity__stolen_key.json")
    event["detail"]["eventName"] = "AssumeRole"

    result = svc.handle(event)

    assert result.status == "processed"
    assert svc.state.items == {}  # type: ignore[attr-defined]


def test_a_finding_whose_publication_failed_is_published_when_the_event_is_retried() -> None:
    class FlakyPublisher(MemoryPublisher):
        failures = 1

        def publish(self, findings: Sequence[Finding]) -> None:
            if self.failures:
                self.failures -= 1
                raise PublishError("throttled")
            super().publish(findings)

    svc = service()
    svc.publisher = FlakyPublisher()
    events = load_json("sequences/llmjacking__positive__enable_then_invoke.json")
    *preparation, trigger, _, _ = events
    run(preparation, svc)

    with pytest.raises(PublishError):
        svc.handle(trigger)
    svc.handle(trigger)  # Lambda's retry of the same event

    (finding,) = svc.publisher.published
    assert trigger["detail"]["eventID"] in finding.evidence


def test_racing_invocations_mint_one_finding_for_one_attack() -> None:
    """Two invocations of the same key are evaluated at once on the same stored state."""
    events = load_json("sequences/llmjacking__positive__enable_then_invoke.json")
    *preparation, first_invoke, second_invoke, _ = events
    store = MemoryStateStore()
    competitor = service()
    competitor.state = store

    class RacingStore(MemoryStateStore):
        raced = False

        def save(self, namespace: str, key: str, value: Any, **kwargs: Any) -> None:
            if not self.raced:  # another invocation commits between our load and our save
                self.raced = True
                competitor.handle(second_invoke)
            store.save(namespace, key, value, **kwargs)

        def load(self, namespace: str, key: str) -> Any:
            return store.load(namespace, key)

    racer = service()
    run(preparation, competitor)
    racer.state = RacingStore()

    racer.handle(first_invoke)

    published = {f.id for f in competitor.publisher.published + racer.publisher.published}  # type: ignore[attr-defined]
    assert len(published) == 1


def test_findings_wait_in_the_outbox_until_published() -> None:
    svc = service()
    events = load_json("sequences/llmjacking__positive__enable_then_invoke.json")

    run(events, svc)

    assert isinstance(svc.state, MemoryStateStore)
    (stored,) = [svc.state.load(*key) for key in svc.state.items if key[0] != MERGE_NAMESPACE]
    assert stored is not None and stored.value["pending"] == []


# ---------------------------------------------------------------------------------------------- event times

ATTACK = "sequences/llmjacking__positive__enable_then_invoke.json"
NOW = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
"""Arrival time of the attack's events (the last one happened at 14:03:55)."""


def _with(event: dict[str, Any], *, at: str | None = None, event_id: str | None = None, **detail: Any) -> Any:
    changed = copy.deepcopy(event)
    if at is not None:
        changed["detail"]["eventTime"] = changed["time"] = at
    if event_id is not None:
        changed["detail"]["eventID"] = event_id
        changed["id"] = f"eb-{event_id}"
    changed["detail"].update(detail)
    return changed


def test_an_event_dated_2099_arriving_first_does_not_blind_the_principal() -> None:
    svc = service()
    attack = load_json(ATTACK)
    future = _with(attack[0], at="2099-01-01T00:00:00Z", event_id="from-the-future")

    first, *rest = [svc.handle(event, now=NOW) for event in [future, *attack]]

    assert first.status == "rejected"
    assert {r.status for r in rest} == {"processed"}
    assert len(svc.publisher.published) == 1  # type: ignore[attr-defined]
    (kept,) = svc.dead_letters.kept  # type: ignore[attr-defined]
    assert kept["reason"] == "event-time-out-of-range"
    assert kept["payload"] == future
    assert "EventTimeOutOfRange" in _metric_names()


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (timedelta(hours=-6, seconds=-1), "rejected"),
        (timedelta(hours=-5, minutes=-59), "processed"),
        (timedelta(minutes=14), "processed"),
        (timedelta(minutes=16), "rejected"),
    ],
)
def test_events_far_from_their_arrival_are_refused(offset: timedelta, status: str) -> None:
    moment = (NOW + offset).isoformat().replace("+00:00", "Z")
    event = _with(load_json("cloudtrail/sts__GetCallerIdentity__stolen_key.json"), at=moment)

    assert service().handle(event, now=NOW).status == status


def test_without_an_arrival_time_history_is_processed_as_it_happened() -> None:
    """Offline hunting and replay pass no clock: a year-old attack still raises its finding."""
    attack = [_with(e, at=e["detail"]["eventTime"].replace("2026", "2025")) for e in load_json(ATTACK)]
    svc = service()

    assert [svc.handle(e, now=NOW).status for e in attack[:1]] == ["rejected"]
    assert len(run(attack)) == 1


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
@pytest.mark.parametrize("now", [NOW, None])
def test_the_ends_of_the_calendar_are_malformed_events_not_overflows(moment: str, now: datetime | None) -> None:
    svc = service()
    event = _with(load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json"), at=moment)

    result = svc.handle(event, now=now)

    assert result.status == "rejected"
    assert svc.dead_letters.kept[0]["reason"] == "malformed-event"  # type: ignore[attr-defined]


def test_a_state_poisoned_from_the_future_before_the_window_existed_is_discarded() -> None:
    svc = service()
    attack = load_json(ATTACK)
    svc.handle(_with(attack[0], at="2099-01-01T00:00:00Z", event_id="from-the-future"))  # stored without a clock

    results = [svc.handle(event, now=NOW) for event in attack]

    assert {r.status for r in results} == {"processed"}
    assert len(svc.publisher.published) == 1  # type: ignore[attr-defined]
    assert "StateReset" in _metric_names()
    assert max(svc.state.expiry.values()) < datetime(2027, 1, 1, tzinfo=UTC)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- state budget

DYNAMODB_ITEM_LIMIT = 400 * 1024


class DynamoSizedStore(MemoryStateStore):
    """Refuses items over DynamoDB's item size limit, as DynamoDB does (a ValidationException)."""

    def save(self, namespace: str, key: str, value: Mapping[str, Any], **kwargs: Any) -> None:
        if len(json.dumps(value, separators=(",", ":")).encode()) > DYNAMODB_ITEM_LIMIT:
            raise RuntimeError("ValidationException: Item size has exceeded the maximum allowed size")
        super().save(namespace, key, value, **kwargs)


def _stored_sizes(store: MemoryStateStore) -> list[int]:
    return [len(text.encode()) for text, _ in store.items.values()]


PREPARATION = ["ListFoundationModels", "GetFoundationModel", "ListInferenceProfiles", "GetFoundationModelAvailability"]


@pytest.mark.parametrize("letter", ["x", "\u00e9", "\U0001f600"], ids=["ascii", "latin", "emoji"])
def test_sixty_preparation_calls_with_7kb_user_agents_still_raise_the_finding(letter: str) -> None:
    svc = service()
    svc.state = DynamoSizedStore()
    base = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    preparation = [
        _with(
            base,
            at=f"2026-11-20T13:{n // 3:02d}:{(n % 3) * 20:02d}Z",
            event_id=f"prep-{n}",
            eventName=PREPARATION[n % 4],
            userAgent=letter * 7000 + str(n),
        )
        for n in range(60)
    ]
    invocation = _with(base, at="2026-11-20T13:30:00Z", event_id="the-invocation", userAgent=letter * 7000)

    results = [svc.handle(event, now=NOW) for event in [*preparation, invocation]]

    assert {r.status for r in results} == {"processed"}
    (finding,) = svc.publisher.published  # type: ignore[attr-defined]
    assert "the-invocation" in finding.evidence
    assert max(_stored_sizes(svc.state)) <= STATE_BUDGET_BYTES < DYNAMODB_ITEM_LIMIT
    assert svc.dead_letters.kept == []  # type: ignore[attr-defined]
    if letter != "x":  # escaped in JSON, so over budget even truncated: shrunk, never reset
        assert "StateOverBudget" in _metric_names()
        assert "StateReset" not in _metric_names()


class Notes(BaseModel):
    notes: list[str] = []


def _note_taker(shrink: Callable[[Notes], Notes] | None) -> Detector[Notes]:
    """A detector that remembers 30 KB per event, more than any budget allows after a few events."""

    def evaluate(record: CloudTrailRecord, state: Notes, settings: Settings) -> Outcome[Notes]:
        return Outcome(state=Notes(notes=[*state.notes, record.event_id * 30_000]))

    return Detector(
        name="note-taker",
        family=Family.BEDROCK_USAGE,
        state_model=Notes,
        consumes=frozenset({("bedrock.amazonaws.com", "InvokeModel")}),
        state_key=lambda record: record.user_identity.arn,
        evaluate=evaluate,
        shrink=shrink,
    )


@pytest.mark.parametrize(
    "shrink", [None, lambda state: state], ids=["without-a-shrink-hook", "with-a-hook-that-cannot-shrink"]
)
def test_a_state_still_over_budget_is_reset_and_the_principal_keeps_being_processed(
    shrink: Callable[[Notes], Notes] | None,
) -> None:
    svc = service()
    svc.detectors = [_note_taker(shrink)]  # type: ignore[list-item]
    base = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")

    results = [svc.handle(_with(base, event_id=f"n{n}")) for n in range(10)]

    assert {r.status for r in results} == {"processed"}
    assert max(_stored_sizes(svc.state)) <= STATE_BUDGET_BYTES  # type: ignore[arg-type]
    assert {"StateOverBudget", "StateReset"} <= _metric_names()


def test_a_shrink_hook_that_halves_the_state_is_used_before_any_reset() -> None:
    svc = service()
    svc.detectors = [_note_taker(lambda state: Notes(notes=state.notes[len(state.notes) // 2 :]))]  # type: ignore[list-item]
    base = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")

    for n in range(10):
        svc.handle(_with(base, event_id=f"n{n}"))

    assert isinstance(svc.state, MemoryStateStore)
    (stored,) = [svc.state.load(*key) for key in svc.state.items if key[0] != MERGE_NAMESPACE]
    assert stored is not None
    assert stored.value["state"]["notes"][-1].startswith("n9"), "the newest note survived"
    assert "StateReset" not in _metric_names()


def test_an_unreadable_stored_state_is_reset_not_wedged() -> None:
    svc = service()
    attack = load_json(ATTACK)
    run(attack[:1], svc)
    assert isinstance(svc.state, MemoryStateStore)
    ((key, (_, version)),) = svc.state.items.items()
    svc.state.items[key] = (json.dumps({"state": {"activity": "garbage"}, "pending": 5}), version)

    results = [svc.handle(event, now=NOW) for event in attack]

    assert {r.status for r in results} == {"processed"}
    assert len(svc.publisher.published) == 1  # type: ignore[attr-defined]
    assert "StateReset" in _metric_names()


def test_a_principal_with_an_absurdly_long_arn_gets_a_bounded_state_key() -> None:
    svc = service()
    event = load_json("cloudtrail/sts__GetCallerIdentity__stolen_key.json")
    event["detail"]["userIdentity"]["arn"] = "arn:aws:iam::123456789012:user/" + "u" * 2000

    assert svc.handle(event).status == "processed"

    assert isinstance(svc.state, MemoryStateStore)
    ((_, key),) = svc.state.items
    assert len(key) <= 512


# ---------------------------------------------------------------------------------------------- input shape


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def _copying(fn: Callable[..., dict[str, Any]], context: Any) -> Callable[..., dict[str, Any]]:
    """What Powertools Idempotency does first with the event: a deep copy of it."""

    def wrapped(*, event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return fn(event=copy.deepcopy(event), **kwargs)

    return wrapped


class RecordingSqs:
    """The one SQS call the dead-letter adapter makes, recorded."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send_message(self, *, QueueUrl: str, MessageBody: str, **kwargs: Any) -> None:
        MessageBody.encode()  # boto3 sends UTF-8: a lone surrogate would fail here
        self.bodies.append(MessageBody)


def _sqs_service() -> tuple[DetectionService, RecordingSqs]:
    svc = service()
    sqs = RecordingSqs()
    svc.dead_letters = SqsDeadLetterSink(sqs, "https://sqs/dlq")  # type: ignore[arg-type]
    svc.once = _copying
    return svc, sqs


def _cyclic() -> dict[str, Any]:
    event: dict[str, Any] = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    event["detail"]["requestParameters"]["self"] = event
    return event


def _with_parameters(value: Any) -> dict[str, Any]:
    event: dict[str, Any] = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    event["detail"]["requestParameters"] = {"modelId": "m", "value": value}
    return event


UNSAFE = {
    "nested-500-in-requestParameters": _with_parameters(_nested(500)),
    "nested-100000": _nested(100_000),
    "nested-id": {**load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json"), "id": _nested(3000)},
    "a-lone-surrogate": _with_parameters("\ud800"),
    "a-1mb-string": _with_parameters("x" * 1_000_000),
    "a-million-items": _with_parameters([0] * 1_000_000),
    "bytes": _with_parameters(b"\x00\xff"),
    "a-set": _with_parameters({1, 2}),
    "a-non-string-key": _with_parameters({1: "one"}),
    "an-integer-of-5000-digits": _with_parameters(10**5000 - 1),
    "not-a-number": _with_parameters(float("nan")),
    "a-cycle": _cyclic(),
}


@pytest.mark.parametrize("event", UNSAFE.values(), ids=UNSAFE.keys())
def test_an_event_that_cannot_be_copied_safely_is_refused_and_kept_before_any_copy(event: Any) -> None:
    svc, sqs = _sqs_service()

    result = svc.handle(event, now=NOW)

    assert result.status == "rejected"
    (body,) = sqs.bodies
    kept = json.loads(body)
    assert kept["reason"] == "malformed-event"
    assert len(body.encode()) <= 256 * 1024
    assert "MalformedEvents" in _metric_names()


def test_a_refused_event_keeps_a_readable_copy_of_what_it_could() -> None:
    svc, sqs = _sqs_service()
    event = _with_parameters(_nested(500))

    svc.handle(event, now=NOW)

    (body,) = sqs.bodies
    kept = json.loads(body)["event"]
    assert kept["id"] == event["id"]
    assert kept["detail"]["eventName"] == "InvokeModel"
    assert "nested deeper than" in json.loads(body)["error"]


def test_nesting_within_bounds_is_processed() -> None:
    svc, _ = _sqs_service()
    assert svc.handle(_with_parameters(_nested(20)), now=NOW).status == "processed"


def test_a_detector_that_fails_on_an_input_does_not_fail_the_others_and_the_event_is_kept() -> None:
    def failing(record: CloudTrailRecord, state: Notes, settings: Settings) -> Outcome[Notes]:
        raise ZeroDivisionError("a bug this input found")

    svc = service()
    broken = Detector(
        name="broken",
        family=Family.BEDROCK_USAGE,
        state_model=Notes,
        consumes=frozenset({("bedrock.amazonaws.com", "InvokeModel")}),
        state_key=lambda record: record.user_identity.arn,
        evaluate=failing,
    )
    svc.detectors = [broken, *svc.detectors]  # type: ignore[list-item]
    attack = load_json(ATTACK)

    results = [svc.handle(event, now=NOW) for event in attack]

    assert len(svc.publisher.published) == 1  # type: ignore[attr-defined]
    invocations = [r for r, e in zip(results, attack, strict=True) if e["detail"]["eventName"] == "InvokeModel"]
    assert {r.status for r in invocations} == {"rejected"}
    assert {k["reason"] for k in svc.dead_letters.kept} == {"detector-error"}  # type: ignore[attr-defined]
    assert "DetectorErrors" in _metric_names()


# ---------------------------------------------------------------------------------------------- randomized

SAMPLES = [
    load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json"),
    load_json("cloudtrail/sts__GetCallerIdentity__stolen_key.json"),
    load_json("cloudtrail/bedrock__Converse__app_role.json"),
    *load_json(ATTACK),
]
ODD_VALUES: list[Callable[[random.Random], Any]] = [
    lambda r: None,
    lambda r: r.choice([True, False, 0, -1, 2**63, 10**30, 1.5, float("inf"), float("nan")]),
    lambda r: "",
    lambda r: r.choice(["\ud800", "a\udfffb", "\x00", "\u202e", "é" * 10, "2099-01-01T00:00:00Z", "1-1-1"]),
    lambda r: "x" * r.choice([1, 300, 70_000, 300_000]),
    lambda r: [r.random() for _ in range(r.randint(0, 50))],
    lambda r: {},
    lambda r: _nested(r.randint(1, 800)),
    lambda r: r.choice([b"bytes", {1, 2}, (1, 2), object(), {1: 2}]),
    lambda r: f"{r.randint(1, 9999):04d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T00:00:00Z",
    lambda r: [copy.deepcopy(r.choice(SAMPLES))],
]


def _slots(event: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) of an event, found iteratively."""
    found, todo = [], [event]
    while todo:
        node = todo.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            found.append((node, key))
            todo.append(value)
    return found


def _random_event(rng: random.Random) -> Any:
    event = copy.deepcopy(rng.choice(SAMPLES))
    choice = rng.random()
    if choice < 0.05:
        return rng.choice(ODD_VALUES)(rng)
    for _ in range(rng.randint(1, 3)):
        container, key = rng.choice(_slots(event))
        if rng.random() < 0.3:
            del container[key]
        else:
            container[key] = rng.choice(ODD_VALUES)(rng)
    return event


def test_three_hundred_random_inputs_each_end_processed_ignored_or_kept() -> None:
    rng = random.Random(20261120)
    svc, sqs = _sqs_service()
    outcomes = {"processed": 0, "ignored": 0, "rejected": 0}

    for case in range(300):
        event = _random_event(rng)
        kept_before = len(sqs.bodies)
        result = svc.handle(event, now=NOW)  # raising fails the test: "crashed"
        outcomes[result.status] += 1
        if result.status == "rejected":
            assert len(sqs.bodies) == kept_before + 1, f"case {case} was refused but not kept (lost)"
            assert json.loads(sqs.bodies[-1])["reason"]

    assert outcomes["processed"] > 20
    assert outcomes["rejected"] > 100


def test_each_finding_is_counted_by_family_and_severity_for_the_dashboard(capsys: pytest.CaptureFixture[str]) -> None:
    events = load_json("sequences/llmjacking__positive__enable_then_invoke.json")

    published = run(events)

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"Findings"' in line]
    assert len(emitted) == len(published) == 1
    (schema,) = emitted[0]["_aws"]["CloudWatchMetrics"]
    assert schema["Namespace"] == "BedrockWarden" and ["family", "severity", "service"] in schema["Dimensions"]
    assert (emitted[0]["family"], emitted[0]["severity"], emitted[0]["Findings"]) == ("bedrock-usage", "HIGH", [1.0])


@pytest.mark.parametrize(
    "payload",
    [_cyclic(), _with_parameters("\udc80 lone surrogate"), {(1, 2): "tuple key"}, _with_parameters([[[[]]]] * 3)],
    ids=["cyclic", "lone-surrogate", "tuple-key", "nested"],
)
def test_the_dead_letter_adapter_keeps_anything_it_is_handed(payload: Any) -> None:
    sqs = RecordingSqs()

    SqsDeadLetterSink(sqs, "https://sqs/dlq").keep(payload, reason="malformed-event", error="e")  # type: ignore[arg-type]

    (body,) = sqs.bodies
    kept = json.loads(body)
    assert kept["reason"] == "malformed-event" and kept["event"]
