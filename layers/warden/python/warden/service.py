"""The detection service: one record in, findings out.

A record is a CloudTrail event or a GuardDuty finding (each arriving as an EventBridge event,
:meth:`DetectionService.handle`) or a model-invocation log record (read from S3 or CloudWatch Logs,
:meth:`DetectionService.handle_invocation_log`). The service bounds the input's shape before anything
copies it (:mod:`warden.guard`), validates it, refuses records dated far from their arrival, drops
Warden's own calls (so that containment never re-triggers detection), runs every detector that reads
the record with the detector's stored state and the deployer's settings, merges repeated findings,
and publishes what is left. Everything AWS-shaped is behind the ports in :mod:`warden.ports`.

Every input ends processed, ignored, or rejected and kept in the dead-letter sink with the reason.
Only a failing port (DynamoDB, EventBridge, SQS) raises, so that Lambda retries what can succeed later.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast

import orjson
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel, Field, ValidationError

from warden.detectors.registry import ANY_EVENT, Detector, shifted
from warden.errors import StateConflictError
from warden.guard import MAX_PROBLEMS, keepable, label, refusal, validation_problems
from warden.models import (
    CloudTrailEvent,
    Finding,
    FindingUpdate,
    GuardDutyEvent,
    ModelInvocationLog,
    Record,
    Severity,
)
from warden.models.guardduty import GUARDDUTY_DETAIL_TYPE
from warden.models.wire import truncated
from warden.observability import logger, metrics
from warden.ports import DeadLetterSink, FindingPublisher, StateStore, StoredState
from warden.routing import Route, playbook_for
from warden.settings import DEFAULT_SETTINGS, Settings

STATE_ATTEMPTS = 3
STATE_RETENTION = timedelta(hours=24)
"""How long after its newest event a detector's state is kept (the table's TTL)."""
STATE_BUDGET_BYTES = 100_000
"""Most bytes of one stored state (serialized as the store writes it): a quarter of DynamoDB's 400 KB
item limit. A state over it is shrunk by its detector's hook, else reset, so a key can never wedge."""
SHRINK_ATTEMPTS = 4
MAX_KEY_CHARS = 512
"""State keys (principal ARNs) longer than this are cut with a digest: DynamoDB keys stop at 2 KB."""
MAX_EVENT_AGE = timedelta(hours=6)
MAX_CLOCK_SKEW = timedelta(minutes=15)
MERGE_WINDOW = timedelta(hours=1)
"""A finding repeating one already published (same detector, principal, key and playbook) within this
long after it is merged into it: counted, not published again."""
MERGE_NAMESPACE = "merge"
JSON_EXPANSION = 8
"""How many times longer than orjson's output the store's ASCII JSON of a value can be, at most: a float
(3 characters at least in orjson, 24 at most in Python's repr), a non-ASCII character (2 to 4 UTF-8 bytes,
6 or 12 characters escaped) or DEL (1 byte, 6 characters escaped); everything else is written alike."""

T = TypeVar("T")


class StateEnvelope(BaseModel):
    """What is stored per detector and key: the detector's state, its unpublished findings, and time."""

    state: dict[str, Any] = Field(default_factory=dict)  # a factory: pydantic deep-copies a literal default each time
    pending: list[Finding] = Field(default_factory=list)
    newest: datetime | None = None
    """The newest event time seen: the item expires STATE_RETENTION after it, never earlier."""


class MergeRecord(BaseModel):
    """The newest published finding of one merge key, and the repeats merged into it since."""

    finding_id: str
    until: datetime
    severity: Severity = Severity.CRITICAL
    repeats: int = 0
    newest_evidence: list[str] = Field(default_factory=list)
    last_seen: datetime | None = None


class DetectionResult(BaseModel):
    status: Literal["processed", "ignored", "rejected"]
    event_id: str | None = None
    findings: list[str] = Field(default_factory=list)
    reason: str | None = None


class _DetectorFailed(Exception):
    """A detector's own code raised: a bug this input found. Detectors are pure, so a retry would too."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.detector = name


def _guarded(item: Detector[BaseModel], fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except Exception as exc:
        raise _DetectorFailed(item.name) from exc


class _Dispatch:
    """The detectors that consume each ``(event_source, event_name)``, in their order: built once per list.

    Asking every detector whether it applies to a record costs as much as some detectors do; the answer
    for a pair is the same every time. Only pairs some detector names are kept (event names arrive from
    outside, so nothing here grows with what arrives). ``applies_to`` still has the last word.
    """

    def __init__(self, detectors: Sequence[Detector[BaseModel]]) -> None:
        self.detectors = tuple(detectors)
        by_pair: dict[tuple[str, str], list[int]] = {}
        by_source: dict[str, list[int]] = {}
        for position, item in enumerate(self.detectors):
            for source, name in item.consumes:
                if name == ANY_EVENT:
                    by_source.setdefault(source, []).append(position)
                else:
                    by_pair.setdefault((source, name), []).append(position)
        self._sources = {source: self._ordered(found) for source, found in by_source.items()}
        self._pairs = {pair: self._ordered(found + by_source.get(pair[0], [])) for pair, found in by_pair.items()}

    def _ordered(self, positions: list[int]) -> tuple[Detector[BaseModel], ...]:
        return tuple(self.detectors[position] for position in sorted(set(positions)))

    def candidates(self, record: Record) -> tuple[Detector[BaseModel], ...]:
        source = record.event_source
        return self._pairs.get((source, record.event_name)) or self._sources.get(source, ())


@dataclass
class DetectionService:
    detectors: list[Detector[BaseModel]]
    state: StateStore
    publisher: FindingPublisher
    dead_letters: DeadLetterSink
    self_principals: frozenset[str] = frozenset()
    once: Callable[[Callable[..., dict[str, Any]], Any], Callable[..., dict[str, Any]]] | None = None
    """Optional wrapper ``(fn, lambda_context) -> fn`` making processing idempotent per event id."""
    max_event_age: timedelta = MAX_EVENT_AGE
    max_clock_skew: timedelta = MAX_CLOCK_SKEW
    state_budget: int = STATE_BUDGET_BYTES
    settings: Settings = DEFAULT_SETTINGS
    merge_window: timedelta = MERGE_WINDOW
    routes: tuple[Route, ...] = ()
    """The stack's routing table: an entry naming a playbook replaces the one a detector recommends."""
    _dispatch: _Dispatch = field(default_factory=lambda: _Dispatch(()), init=False, repr=False, compare=False)

    def handle(self, event: object, context: Any = None, *, now: datetime | None = None) -> DetectionResult:
        """Process one EventBridge event of any shape (CloudTrail or GuardDuty); raise only when a port fails.

        ``now`` is the event's arrival time (the wall clock, read at the handler edge): events dated
        more than ``max_clock_skew`` after it or ``max_event_age`` before it are refused (a naive
        ``now`` is taken as UTC). None (offline hunting, replay of history) accepts any plausible time.
        """
        logger.remove_keys(["event_id", "event_name", "principal"])  # the previous event's, in a warm container
        now = now.replace(tzinfo=UTC) if now is not None and now.tzinfo is None else now
        logger.set_correlation_id(label(event.get("id")) if isinstance(event, dict) else None)
        if not isinstance(event, dict):
            return self._reject(event, [f"expected a JSON object, got {type(event).__name__}"], payload=keepable(event))
        if unsafe := refusal(event):
            return self._reject(event, [unsafe], payload=keepable(event))
        envelope = GuardDutyEvent if event.get("detail-type") == GUARDDUTY_DETAIL_TYPE else CloudTrailEvent
        try:
            record: Record = envelope.model_validate(event).detail
        except ValidationError as exc:
            return self._reject(event, validation_problems(exc))
        if now is not None and (late := self._time_problem(record.event_time, now)):
            return self._reject(
                event,
                [late],
                reason="event-time-out-of-range",
                metric="EventTimeOutOfRange",
                event_time=record.event_time.isoformat(),
                arrival=now.isoformat(),
            )
        if self.once is None:
            return self._outcome(event=dict(event), record=record, now=now)
        process = self.once(self._process, context)
        return DetectionResult.model_validate(process(event=dict(event), record=record, now=now))

    def handle_invocation_log(self, raw: object, *, origin: str, now: datetime | None = None) -> DetectionResult:
        """Process one model-invocation log record (a line of a log file or a CloudWatch log event).

        ``origin`` says where it was read (``s3://bucket/key:LINE``). A refused record is kept in the
        dead-letter sink as its origin and the problems, never its content: it holds prompts and
        completions, which must not leave the detector (the log file itself stays where it is).
        """
        logger.remove_keys(["event_id", "event_name", "principal"])
        now = now.replace(tzinfo=UTC) if now is not None and now.tzinfo is None else now
        reference = {"origin": origin, "kind": "model-invocation-log"}
        if not isinstance(raw, dict):
            return self._reject(reference, [f"expected a JSON object, got {type(raw).__name__}"], payload=reference)
        if unsafe := refusal(raw):
            return self._reject(reference, [unsafe], payload=reference)
        try:
            record = ModelInvocationLog.model_validate(raw)
        except ValidationError as exc:
            return self._reject(reference, validation_problems(exc), payload=reference)
        if now is not None and (late := self._time_problem(record.event_time, now)):
            return self._reject(
                reference,
                [late],
                payload=reference,
                reason="event-time-out-of-range",
                metric="EventTimeOutOfRange",
                event_time=record.event_time.isoformat(),
                arrival=now.isoformat(),
            )
        return self._outcome(event=reference, record=record, now=now)

    def _time_problem(self, event_time: datetime, now: datetime) -> str | None:
        ahead = event_time - now
        if ahead > self.max_clock_skew:
            return f"eventTime is {ahead} after its arrival (at most {self.max_clock_skew} allowed)"
        if -ahead > self.max_event_age:
            return f"eventTime is {-ahead} before its arrival (at most {self.max_event_age} allowed)"
        return None

    def _process(self, *, event: dict[str, Any], record: Record, now: datetime | None) -> dict[str, Any]:
        """The outcome as a dict: what the idempotency wrapper stores and hands back on a repeat."""
        return self._outcome(event=event, record=record, now=now).model_dump()

    def _outcome(self, *, event: dict[str, Any], record: Record, now: datetime | None) -> DetectionResult:
        logger.append_keys(event_id=record.event_id, event_name=record.event_name, principal=_principal(record))
        if record.actor_arns & self.self_principals:
            logger.info("ignored Warden's own API call")
            metrics.add_metric(name="SelfEventsIgnored", unit=MetricUnit.Count, value=1)
            return DetectionResult(status="ignored", event_id=record.event_id, reason="warden-principal")
        findings, failed = self._detect(event, record, now)
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
                with single_metric(name="Findings", unit=MetricUnit.Count, value=1) as by_kind:  # the dashboard's view
                    by_kind.add_dimension(name="family", value=finding.family.value)
                    by_kind.add_dimension(name="severity", value=finding.severity.value)
        metrics.add_metric(name="EventsProcessed", unit=MetricUnit.Count, value=1)
        return DetectionResult(
            status="rejected" if failed else "processed",
            event_id=record.event_id,
            findings=[f.id for f in findings],
            reason=f"detector-error: {', '.join(failed)}" if failed else None,
        )

    def _detect(self, event: dict[str, Any], record: Record, now: datetime | None) -> tuple[list[Finding], list[str]]:
        """Run every detector that applies to the record; each run publishes what it finds.

        A detector that raises is a bug this input found: the other detectors still run, and the
        event is kept in the dead-letter sink for that detector (a retry would fail the same way).
        """
        findings: list[Finding] = []
        failed: list[str] = []
        for item in self._candidates(record):
            try:
                if _guarded(item, item.applies_to, record):
                    findings.extend(self._run(item, record, now))
            except _DetectorFailed as failure:
                cause = failure.__cause__
                logger.exception("detector failed on an event; kept in the dead-letter queue", detector=item.name)
                metrics.add_metric(name="DetectorErrors", unit=MetricUnit.Count, value=1)
                self.dead_letters.keep(event, reason="detector-error", error=f"{item.name}: {type(cause).__name__}")
                failed.append(item.name)
        return findings, failed

    def _candidates(self, record: Record) -> tuple[Detector[BaseModel], ...]:
        if self._dispatch.detectors != tuple(self.detectors):  # built anew when the list is replaced or changed
            self._dispatch = _Dispatch(self.detectors)
        return self._dispatch.candidates(record)

    def _run(self, item: Detector[BaseModel], record: Record, now: datetime | None) -> tuple[Finding, ...]:
        """Evaluate one detector with its stored state; store the outcome, then publish it (an outbox).

        The findings are stored with the state that produced them, in one conditional write, so that
        exactly one evaluation mints them even when invocations race. They are published after that
        write and cleared after publishing; if publishing fails, whoever next loads the state (the
        retried event, or the next event of the principal) publishes them again, with the same ids.
        """
        if item.state_model is None:
            outcome = _guarded(item, item.evaluate, record, None, self.settings)
            return self._publish(outcome.findings)
        key = _guarded(item, item.state_key, record)
        if key is None:
            return ()
        key = truncated(key, MAX_KEY_CHARS)
        for attempt in range(1, STATE_ATTEMPTS + 1):
            stored = self.state.load(item.name, key)
            envelope, state = self._restore(item, key, stored, now)
            outcome = _guarded(item, item.evaluate, record, state, self.settings)
            pending = [*envelope.pending, *outcome.findings]
            if outcome.state is None and not pending:
                return ()
            newest = max(envelope.newest or record.event_time, record.event_time)
            updated, value = self._within_budget(
                item, key, StateEnvelope(pending=pending, newest=newest), outcome.state or state
            )
            version = stored.version if stored else None
            try:
                if outcome.state is not None or outcome.findings:  # else only an old outbox is left to publish
                    version = self._save(item, key, updated, value, version)
            except StateConflictError:
                logger.info("detector state changed concurrently; re-evaluating", detector=item.name, attempt=attempt)
                metrics.add_metric(name="StateConflicts", unit=MetricUnit.Count, value=1)
                continue
            published = self._publish(pending)
            if pending:
                self._clear_outbox(item, key, updated, value, version)
            return published
        raise StateConflictError(f"state of {item.name} for {key} kept changing; giving up after {STATE_ATTEMPTS}")

    def _publish(self, findings: tuple[Finding, ...] | list[Finding]) -> tuple[Finding, ...]:
        """Publish the findings that are not repeats of one published within the merge window."""
        routed = (self._routed(finding) for finding in findings)
        fresh = [merged for finding in routed if (merged := self._merged(finding)) is not None]
        if fresh:
            self.publisher.publish(fresh)
        return tuple(fresh)

    def _routed(self, finding: Finding) -> Finding:
        """``finding`` sent to the playbook the routing table names for its family and severity, if any.

        Re-sealed, so that its id covers the playbook that answers it; the same on every retry.
        """
        playbook = playbook_for(self.routes, finding.family, finding.severity, finding.playbook)
        if playbook == finding.playbook:
            return finding
        details = {**finding.details, "recommended_playbook": finding.playbook}
        return Finding.sealed({**finding.model_dump(mode="json"), "playbook": playbook, "details": details})

    def _merged(self, finding: Finding) -> Finding | None:
        """``finding`` to publish (with the count of repeats merged since the last one), or None for a repeat.

        Findings that would start different actions (another key, another playbook) are never merged, nor
        is a finding more severe than the one published (an escalation is news).
        The window runs on event times. A republished finding (an outbox retry) is published again.
        """
        parts = [finding.detector, finding.principal, finding.access_key_id or "-", finding.playbook or "-"]
        key = truncated("#".join(parts), MAX_KEY_CHARS)
        for _ in range(STATE_ATTEMPTS):
            stored = self.state.load(MERGE_NAMESPACE, key)
            merge = _merge_record(stored)
            version = stored.version if stored else None
            repeat = merge and merge.finding_id != finding.id and finding.first_seen <= merge.until
            if merge and repeat and _rank(finding.severity) <= _rank(merge.severity):
                newest = max(finding.last_seen, merge.last_seen or finding.last_seen)
                repeats, evidence = merge.repeats + 1, list(finding.evidence[-10:])
                update = merge.model_copy(update={"repeats": repeats, "newest_evidence": evidence, "last_seen": newest})
                try:
                    self._save_merge(key, update, version)
                except StateConflictError:
                    continue
                logger.info("finding merged into one already published", finding_id=finding.id, into=merge.finding_id)
                metrics.add_metric(name="FindingsMerged", unit=MetricUnit.Count, value=1)
                self._announce(finding, update)
                return None
            if merge and merge.finding_id == finding.id:
                return finding
            published = finding
            if merge and merge.repeats:
                merged = {"repeats": merge.repeats, "previous_finding": merge.finding_id}
                details = {**finding.details, "merged": merged}
                published = finding.model_copy(update={"details": details})
            until = shifted(finding.last_seen, self.merge_window)
            record = MergeRecord(finding_id=finding.id, until=until, severity=finding.severity)
            try:
                self._save_merge(key, record, version)
            except StateConflictError:
                continue
            return published
        return finding  # contention: publishing twice is better than losing a finding

    def _announce(self, repeat: Finding, merge: MergeRecord) -> None:
        """Publish the count and newest evidence of a merge: best effort, as the merge is already counted."""
        update = FindingUpdate(
            finding_id=merge.finding_id,
            repeat_id=repeat.id,
            repeats=merge.repeats,
            last_seen=merge.last_seen or repeat.last_seen,
            newest_evidence=tuple(merge.newest_evidence) or repeat.evidence,
            **repeat.model_dump(include=_UPDATE_FIELDS),
        )
        try:
            self.publisher.publish_update(update)
        except Exception:  # informational: the finding stands and the next one carries the count
            logger.exception("finding update not published", finding_id=merge.finding_id)
            metrics.add_metric(name="FindingUpdatesFailed", unit=MetricUnit.Count, value=1)

    def _save_merge(self, key: str, record: MergeRecord, version: int | None) -> None:
        expires = shifted(record.until, STATE_RETENTION)
        value = record.model_dump(mode="json")
        self.state.save(MERGE_NAMESPACE, key, value, expected_version=version, expires_at=expires)

    def _restore(
        self, item: Detector[BaseModel], key: str, stored: StoredState | None, now: datetime | None
    ) -> tuple[StateEnvelope, BaseModel]:
        """The stored envelope and state; a fresh state if it is unreadable or dated after ``now``."""
        model = cast(type[BaseModel], item.state_model)  # stateless detectors never get here
        fresh = _guarded(item, model.model_validate, {})
        if stored is None:
            return StateEnvelope(), fresh
        try:
            envelope = StateEnvelope.model_validate(stored.value)
            state = model.model_validate(envelope.state)
        except ValidationError as exc:
            self._reset(item, key, "stored state unreadable", problems=validation_problems(exc))
            return StateEnvelope(), fresh
        if now is not None and envelope.newest and envelope.newest - now > self.max_clock_skew:
            self._reset(item, key, "stored state dated after the arrival of this event", newest=envelope.newest)
            return StateEnvelope(pending=envelope.pending), fresh
        return envelope, state

    def _within_budget(
        self, item: Detector[BaseModel], key: str, envelope: StateEnvelope, state: BaseModel
    ) -> tuple[StateEnvelope, dict[str, Any]]:
        """``envelope`` holding ``state``, shrunk by the detector's hook or reset to fit the byte budget.

        Returned with its stored form (``model_dump(mode="json")``), dumped once here for the size and the save.
        """
        candidate = envelope.model_copy(update={"state": state.model_dump(mode="json")})
        value = candidate.model_dump(mode="json")
        if _surely_within(value, self.state_budget):
            return candidate, value
        size = _stored_bytes(value)
        if size <= self.state_budget:
            return candidate, value
        metrics.add_metric(name="StateOverBudget", unit=MetricUnit.Count, value=1)
        for _ in range(SHRINK_ATTEMPTS if item.shrink else 0):
            state = _guarded(item, item.shrink, state)  # type: ignore[arg-type]
            smaller = envelope.model_copy(update={"state": state.model_dump(mode="json")})
            smaller_value = smaller.model_dump(mode="json")
            smaller_size = _stored_bytes(smaller_value)
            if smaller_size >= size:
                break
            candidate, value, size = smaller, smaller_value, smaller_size
            if size <= self.state_budget:
                logger.warning("detector state over budget; shrunk", detector=item.name, key=key, size=size)
                return candidate, value
        self._reset(item, key, "detector state over budget", size=size, budget=self.state_budget)
        emptied = envelope.model_copy(update={"state": {}})
        return emptied, emptied.model_dump(mode="json")

    def _reset(self, item: Detector[BaseModel], key: str, why: str, **context: Any) -> None:
        logger.error("detector state reset", detector=item.name, key=key, why=why, **context)
        metrics.add_metric(name="StateReset", unit=MetricUnit.Count, value=1)

    def _save(
        self, item: Detector[BaseModel], key: str, envelope: StateEnvelope, value: dict[str, Any], version: int | None
    ) -> int:
        """Store ``envelope`` as ``value`` (its ``model_dump(mode="json")``) if nobody changed it since ``version``."""
        newest = envelope.newest or datetime.min.replace(tzinfo=UTC)
        self.state.save(item.name, key, value, expected_version=version, expires_at=shifted(newest, item.retention))
        return (version or 0) + 1

    def _clear_outbox(
        self, item: Detector[BaseModel], key: str, envelope: StateEnvelope, value: dict[str, Any], version: int | None
    ) -> None:
        try:
            self._save(item, key, envelope.model_copy(update={"pending": []}), {**value, "pending": []}, version)
        except StateConflictError:
            # Someone loaded the outbox meanwhile and will publish it too: same ids, so harmless.
            logger.info("outbox cleared concurrently", detector=item.name)

    def _reject(
        self,
        event: object,
        problems: list[str],
        *,
        reason: str = "malformed-event",
        metric: str = "MalformedEvents",
        payload: Any = None,
        **context: Any,
    ) -> DetectionResult:
        """Log (ids and problems, never values), count, and keep the event with the reason."""
        envelope: dict[Any, Any] = event if isinstance(event, dict) else {}
        event_id = label(envelope.get("id"))
        logger.error(
            "malformed event kept in the dead-letter queue"
            if reason == "malformed-event"
            else "event refused and kept in the dead-letter queue",
            reason=reason,
            event_id=event_id,
            source=label(envelope.get("source")),
            detail_type=label(envelope.get("detail-type")),
            problems=problems[:MAX_PROBLEMS],
            **context,
        )
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        self.dead_letters.keep(event if payload is None else payload, reason=reason, error="; ".join(problems))
        return DetectionResult(status="rejected", event_id=event_id, reason=problems[0])


_SEVERITY_ORDER = list(Severity)
_UPDATE_FIELDS = {"detector", "family", "severity", "principal", "access_key_id", "account", "region"}


def _rank(severity: Severity) -> int:
    return _SEVERITY_ORDER.index(severity)


def _principal(record: Record) -> str | None:
    """The caller to log: the session or user itself, not the role behind it."""
    own = getattr(getattr(record, "user_identity", None), "arn", None)
    return own if isinstance(own, str) else min(record.actor_arns, default=None)


def _merge_record(stored: StoredState | None) -> MergeRecord | None:
    if stored is None:
        return None
    try:
        return MergeRecord.model_validate(stored.value)
    except ValidationError:
        return None


def _stored_bytes(value: Mapping[str, Any]) -> int:
    """The size of a stored value as the state store writes it (compact JSON, ASCII)."""
    return len(json.dumps(value, separators=(",", ":")))


_PLAIN_JSON = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
"""orjson refuses what ``json.dumps`` would not write alike (it raises, and the exact measure decides)."""


def _surely_within(value: Mapping[str, Any], budget: int) -> bool:
    """Whether ``value`` fits ``budget`` without measuring it exactly: a bound that is ~6x cheaper to compute.

    ``JSON_EXPANSION`` times orjson's output is never shorter than the store's ASCII JSON; False means
    "measure exactly" (also when orjson cannot write the value: an integer wider than 64 bits, a key that
    is no string), never "over budget".
    """
    try:
        return JSON_EXPANSION * len(orjson.dumps(value, option=_PLAIN_JSON)) <= budget
    except orjson.JSONEncodeError:
        return False
