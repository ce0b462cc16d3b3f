"""The detection service: malformed input kept, own calls ignored, state races retried."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from tests.conftest import load_json
from tests.fakes import MemoryDeadLetters, MemoryPublisher, MemoryStateStore, run, service
from warden.errors import PublishError, StateConflictError
from warden.models import Finding
from warden.observability import metrics

OWN_ROLE = "arn:aws:iam::123456789012:role/warden-local-ContainAccessKeyStateMachineRole"


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
    assert svc.handle(event).status == "rejected"  # type: ignore[arg-type]
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
    (stored,) = [svc.state.load(*key) for key in svc.state.items]
    assert stored is not None and stored.value["pending"] == []
