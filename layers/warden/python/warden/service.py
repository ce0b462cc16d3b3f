"""The detection service: one CloudTrail event in, findings out.

It validates the event, drops Warden's own calls (so that containment never re-triggers
detection), runs every registered detector of its family with the detector's stored state, and
publishes what they find. Everything AWS-shaped is behind the ports in :mod:`warden.ports`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ValidationError

from warden.detectors.registry import Detector
from warden.errors import StateConflictError
from warden.models import CloudTrailEvent, CloudTrailRecord, Finding
from warden.observability import logger, metrics
from warden.ports import DeadLetterSink, FindingPublisher, StateStore

STATE_ATTEMPTS = 3
STATE_RETENTION = timedelta(hours=24)
"""How long after its newest event a detector's state is kept (the table's TTL)."""


class StateEnvelope(BaseModel):
    """What is stored per detector and key: the detector's state, its unpublished findings, and time."""

    state: dict[str, Any] = {}
    pending: list[Finding] = []
    newest: datetime | None = None
    """The newest event time seen: the item expires STATE_RETENTION after it, never earlier."""


class DetectionResult(BaseModel):
    status: Literal["processed", "ignored", "rejected"]
    event_id: str | None = None
    findings: list[str] = []
    reason: str | None = None


@dataclass
class DetectionService:
    detectors: list[Detector[BaseModel]]
    state: StateStore
    publisher: FindingPublisher
    dead_letters: DeadLetterSink
    self_principals: frozenset[str] = frozenset()
    once: Callable[[Callable[..., dict[str, Any]], Any], Callable[..., dict[str, Any]]] | None = None
    """Optional wrapper ``(fn, lambda_context) -> fn`` making processing idempotent per event id."""

    def handle(self, event: Mapping[str, Any], context: Any = None) -> DetectionResult:
        """Process one EventBridge event; malformed events are kept in the dead-letter sink, not raised."""
        try:
            parsed = CloudTrailEvent.model_validate(event)
        except ValidationError as exc:
            return self._reject(event, exc)
        process = self.once(self._process, context) if self.once else self._process
        return DetectionResult.model_validate(process(event=dict(event), record=parsed.detail))

    def _process(self, *, event: dict[str, Any], record: CloudTrailRecord) -> dict[str, Any]:
        logger.append_keys(event_id=record.event_id, event_name=record.event_name, principal=record.user_identity.arn)
        if record.actor_arns & self.self_principals:
            logger.info("ignored Warden's own API call")
            metrics.add_metric(name="SelfEventsIgnored", unit=MetricUnit.Count, value=1)
            return DetectionResult(status="ignored", event_id=record.event_id, reason="warden-principal").model_dump()
        findings = list(self._detect(record))
        if findings:
            metrics.add_metric(name="FindingsPublished", unit=MetricUnit.Count, value=len(findings))
            for finding in findings:
                logger.warning(
                    "finding published",
                    finding_id=finding.id,
                    detector=finding.detector,
                    severity=finding.severity,
                    playbook=finding.playbook,
                )
        metrics.add_metric(name="EventsProcessed", unit=MetricUnit.Count, value=1)
        return DetectionResult(
            status="processed", event_id=record.event_id, findings=[f.id for f in findings]
        ).model_dump()

    def _detect(self, record: CloudTrailRecord) -> Iterable[Finding]:
        """Run every detector that applies to the record; each run publishes what it finds."""
        for item in self.detectors:
            if item.applies_to(record):
                yield from self._run(item, record)

    def _run(self, item: Detector[BaseModel], record: CloudTrailRecord) -> tuple[Finding, ...]:
        """Evaluate one detector with its stored state; store the outcome, then publish it (an outbox).

        The findings are stored with the state that produced them, in one conditional write, so that
        exactly one evaluation mints them even when invocations race. They are published after that
        write and cleared after publishing; if publishing fails, whoever next loads the state (the
        retried event, or the next event of the principal) publishes them again, with the same ids.
        """
        key = item.state_key(record)
        if key is None:
            return ()
        for attempt in range(1, STATE_ATTEMPTS + 1):
            stored = self.state.load(item.name, key)
            envelope = StateEnvelope.model_validate(stored.value) if stored else StateEnvelope()
            state = item.state_model.model_validate(envelope.state)
            outcome = item.evaluate(record, state)
            pending = [*envelope.pending, *outcome.findings]
            if outcome.state is None and not pending:
                return ()
            updated = StateEnvelope(
                state=(outcome.state or state).model_dump(mode="json"),
                pending=pending,
                newest=max(envelope.newest or record.event_time, record.event_time),
            )
            version = stored.version if stored else None
            try:
                if outcome.state is not None or outcome.findings:  # else only an old outbox is left to publish
                    version = self._save(item.name, key, updated, version)
            except StateConflictError:
                logger.info("detector state changed concurrently; re-evaluating", detector=item.name, attempt=attempt)
                metrics.add_metric(name="StateConflicts", unit=MetricUnit.Count, value=1)
                continue
            if pending:
                self.publisher.publish(pending)
                self._clear_outbox(item.name, key, updated, version)
            return tuple(pending)
        raise StateConflictError(f"state of {item.name} for {key} kept changing; giving up after {STATE_ATTEMPTS}")

    def _save(self, name: str, key: str, envelope: StateEnvelope, version: int | None) -> int:
        newest = envelope.newest or datetime.min.replace(tzinfo=UTC)
        value = envelope.model_dump(mode="json")
        self.state.save(name, key, value, expected_version=version, expires_at=newest + STATE_RETENTION)
        return (version or 0) + 1

    def _clear_outbox(self, name: str, key: str, envelope: StateEnvelope, version: int | None) -> None:
        try:
            self._save(name, key, envelope.model_copy(update={"pending": []}), version)
        except StateConflictError:
            # Someone loaded the outbox meanwhile and will publish it too: same ids, so harmless.
            logger.info("outbox cleared concurrently", detector=name)

    def _reject(self, event: Mapping[str, Any], exc: ValidationError) -> DetectionResult:
        problems = [
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False)
        ]
        envelope: Mapping[str, Any] = event if isinstance(event, Mapping) else {}
        event_id = envelope.get("id")
        logger.error(
            "malformed event kept in the dead-letter queue",
            event_id=event_id,
            source=envelope.get("source"),
            detail_type=envelope.get("detail-type"),
            problems=problems[:10],
        )
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        self.dead_letters.keep(event, reason="malformed-event", error="; ".join(problems[:10]))
        return DetectionResult(status="rejected", event_id=str(event_id) if event_id else None, reason=problems[0])
