"""The hunting engine: ONE detection service, every selected detector, in-memory ports, never a playbook.

Live, each family's Lambda runs :class:`warden.service.DetectionService` against DynamoDB and
EventBridge. Hunting runs the same service, with the same detectors, state models and merging, against
ports kept in this process: state in memory (evicted as DynamoDB's TTL would evict it, so that it stays
bounded over months of history), findings streamed out as they are published (never accumulated), and
refused records turned into problems naming where they were read (never their content). Findings go
nowhere else: no bus, no playbook. Hunting reports; it does not act.

Other engines feed it: :meth:`Hunter.feed_records` takes ``(origin, CloudTrail record dict)`` pairs in
event-time order (the Athena engine's rows), :meth:`Hunter.feed` the items of :mod:`.sources`.
Each returns the findings the input produced, as they are produced.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from warden.detectors.registry import Detector
from warden.errors import StateConflictError
from warden.models import Finding, FindingUpdate
from warden.ports import StoredState
from warden.routing import Route
from warden.service import DetectionService
from warden.settings import DEFAULT_SETTINGS, Settings
from warden_local.hunt.sources import EVENT, INVOCATION_LOG, RECORD, Item, Problem, Wants, event_time
from warden_local.readers import to_eventbridge

HUNT_METRICS_NAMESPACE = "warden-hunt"
METRICS_NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"
SWEEP_EVERY = timedelta(hours=1)
"""How far event time advances between two sweeps of expired state: at most this much late, as with TTL."""


class EvictingStateStore:
    """The StateStore contract (optimistic locking on versions, as the DynamoDB adapter), plus eviction.

    Items that expired before the hunt's event-time watermark are dropped.

    DynamoDB's TTL deletes an item some time after its ``expires_at``; a hunt over months would otherwise
    keep every principal's state it ever saw. :meth:`advance` moves the watermark (the newest event time
    fed so far) and, once per :data:`SWEEP_EVERY` of event time, drops what expired before it: the store
    holds what the last retention period (a day for most detectors, up to 90 for learned baselines) saved.
    """

    def __init__(self, sweep_every: timedelta = SWEEP_EVERY) -> None:
        self.items: dict[tuple[str, str], tuple[Mapping[str, Any], int]] = {}
        self.expiry: dict[tuple[str, str], datetime] = {}
        self.saves = 0
        self.sweep_every = sweep_every
        self.watermark: datetime | None = None
        self.evicted = 0
        self._swept: datetime | None = None

    def load(self, namespace: str, key: str) -> StoredState | None:
        stored = self.items.get((namespace, key))
        return StoredState(value=stored[0], version=stored[1]) if stored else None

    def save(
        self, namespace: str, key: str, value: Mapping[str, Any], *, expected_version: int | None, expires_at: datetime
    ) -> None:
        """MemoryStateStore's optimistic lock, keeping ``value`` itself rather than its JSON text.

        The service hands over a fresh ``model_dump(mode="json")`` on every save and validates what it loads
        into new models, so the value is already what JSON would give back; a hunt does not pay for encoding
        and decoding every state on every record.
        """
        current = self.items.get((namespace, key))
        if (current[1] if current else None) != expected_version:
            raise StateConflictError(f"{namespace}#{key} changed since version {expected_version}")
        self.items[(namespace, key)] = (value, (expected_version or 0) + 1)
        self.expiry[(namespace, key)] = expires_at
        self.saves += 1

    def advance(self, moment: datetime) -> None:
        if self.watermark is not None and moment <= self.watermark:
            return
        self.watermark = moment
        if self._swept is None:
            self._swept = moment
        elif moment - self._swept >= self.sweep_every:
            self.sweep()

    def sweep(self) -> None:
        """Drop every item whose ``expires_at`` is before the watermark."""
        if self.watermark is None:
            return
        watermark = self.watermark
        expired = [key for key, expires_at in self.expiry.items() if expires_at < watermark]
        for key in expired:
            del self.items[key]
            del self.expiry[key]
        self.evicted += len(expired)
        self._swept = watermark


class StreamingPublisher:
    """A FindingPublisher that hands each published finding to the hunt as it is published.

    Only the findings of the record being processed wait here (a handful), never the hunt's.
    Merged repeats (``FindingUpdate``) are counted: hunting reports each finding once.
    """

    def __init__(self) -> None:
        self.waiting: deque[Finding] = deque()
        self.published = 0
        self.updates = 0

    def publish(self, findings: Sequence[Finding]) -> None:
        self.waiting.extend(findings)
        self.published += len(findings)

    def publish_update(self, update: FindingUpdate) -> None:
        self.updates += 1


class OriginDeadLetters:
    """A DeadLetterSink that turns what the service refuses into a Problem naming where the record was read.

    The service keeps the reason and its problems (field names and types, never values); the payload, which
    for an invocation log holds prompts, is dropped here.
    """

    def __init__(self) -> None:
        self.origin = ""
        self.waiting: deque[Problem] = deque()

    def keep(self, payload: Any, *, reason: str, error: str) -> None:
        self.waiting.append(Problem(self.origin, f"{reason}: {error}" if error else reason))


@dataclass
class HuntCounts:
    """What the engine processed: fed to the service, findings published, records refused."""

    processed: int = 0
    findings: int = 0
    refused: int = 0


class Hunter:
    """Runs items through one DetectionService with in-memory ports; yields findings and problems as they come.

    ``selection`` says which records are worth the service's time (:class:`warden.query.Selection`);
    ``detectors`` are the selected detectors (every family's); ``settings``, ``self_principals`` and
    ``routes`` are the deployment's, as its functions read them (:mod:`warden_local.hunt.config`). ``now``
    is None: history is judged by its own event times. Items must come in event-time order (state
    windows run on event time).
    """

    def __init__(
        self,
        selection: Wants,
        detectors: Sequence[Detector[BaseModel]],
        *,
        settings: Settings = DEFAULT_SETTINGS,
        self_principals: frozenset[str] = frozenset(),
        routes: tuple[Route, ...] = (),
    ) -> None:
        self.selection = selection
        _name_the_metrics()
        self.state = EvictingStateStore()
        self.publisher = StreamingPublisher()
        self.dead_letters = OriginDeadLetters()
        self.counts = HuntCounts()
        self.service = DetectionService(
            detectors=list(detectors),
            state=self.state,
            publisher=self.publisher,
            dead_letters=self.dead_letters,
            self_principals=self_principals,
            settings=settings,
            routes=routes,
        )

    def feed(self, items: Iterable[Item]) -> Iterator[Finding | Problem]:
        """Process wanted items (from :mod:`.sources`, in event-time order); yield what each one produced."""
        for item in items:
            self._process(item)
            yield from self._drain()

    def feed_records(self, records: Iterable[tuple[str, Mapping[str, Any]]]) -> Iterator[Finding | Problem]:
        """Process ``(origin, CloudTrail record)`` pairs in event-time order: the entry point of other engines.

        A record the selection does not want is passed over (an engine's query may be broader than the
        detectors' conditions); the others are wrapped as CloudTrail delivers them to EventBridge.
        """
        for origin, record in records:
            if not self.selection.wants(record):
                continue
            yield from self.feed([Item(RECORD, origin, dict(record), event_time(record.get("eventTime")))])

    def _process(self, item: Item) -> None:
        self.state.advance(item.time)
        self.dead_letters.origin = item.origin
        self.counts.processed += 1
        if item.kind == INVOCATION_LOG:
            result = self.service.handle_invocation_log(item.value, origin=item.origin)
        elif item.kind == EVENT:
            result = self.service.handle(item.value)
        else:
            result = self.service.handle(to_eventbridge(item.value))
        if result.status == "rejected":
            self.counts.refused += 1

    def _drain(self) -> Iterator[Finding | Problem]:
        while self.dead_letters.waiting:
            yield self.dead_letters.waiting.popleft()
        while self.publisher.waiting:
            self.counts.findings += 1
            yield self.publisher.waiting.popleft()


def _name_the_metrics() -> None:
    """Give Powertools Metrics a namespace when the environment gave none (outside Lambda), else every finding's
    metric raises. Where metrics go is the caller's business: ``warden hunt`` keeps them off stdout
    (:func:`warden_local.hunt.report.quiet_powertools`); so should any program that writes findings to stdout."""
    from warden.observability import metrics

    os.environ.setdefault(METRICS_NAMESPACE_VARIABLE, HUNT_METRICS_NAMESPACE)  # read by each single_metric
    if not metrics.namespace:
        metrics.namespace = os.environ[METRICS_NAMESPACE_VARIABLE]


__all__ = ["EVENT", "INVOCATION_LOG", "RECORD", "EvictingStateStore", "HuntCounts", "Hunter", "StreamingPublisher"]
