"""The detector registry.

A detector is a pure function ``(record, state, settings) -> Outcome``: no boto3, no environment, no
clock. The record is a CloudTrail record, a model-invocation log record or a GuardDuty finding (the
detector says which). Whatever it needs to remember between events (a window of recent activity, a
baseline) is the explicit ``state`` argument, a pydantic model that the detection service loads
before the call and stores after it; a detector without state (``state=None``) gets None and judges
each record alone. ``settings`` is the deployer's configuration (:class:`warden.settings.Settings`).
Detectors register themselves by name with :func:`detector`.

``consumes`` names the ``(event_source, event_name)`` pairs a detector reads; an event name ``*``
means every event of that source. The template's rules must deliver them (a test checks it).

State has a byte budget (the service's ``STATE_BUDGET_BYTES``). A detector whose state can grow
should give a ``shrink`` hook: a pure function that returns a smaller state, keeping what matters
most. The service calls it while the serialized state is over budget, and resets the state if
shrinking does not get it under. A state model must be valid with no fields (a new key's state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from warden.models import CloudTrailRecord, Family, Finding, Record
from warden.settings import Settings

StateT = TypeVar("StateT", bound=BaseModel)
ANY_EVENT = "*"
DEFAULT_RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class Outcome(Generic[StateT]):
    """What a detector returns: findings, and the state to store (None leaves the stored state alone)."""

    findings: tuple[Finding, ...] = ()
    state: StateT | None = None


@dataclass(frozen=True)
class Detector(Generic[StateT]):
    name: str
    family: Family
    state_model: type[StateT] | None
    """None: the detector keeps no state and judges each record alone."""
    consumes: frozenset[tuple[str, str]]
    """(eventSource, eventName) pairs the detector looks at; the template's rules must deliver them."""
    state_key: Callable[[Any], str | None]
    evaluate: Callable[[Any, Any, Settings], Outcome[StateT]]
    """``(record, state, settings) -> Outcome``; ``state`` is None for a stateless detector."""
    record: type[Any] = CloudTrailRecord
    """The kind of record the detector reads."""
    retention: timedelta = DEFAULT_RETENTION
    """How long after a key's newest record its state is kept (a learned baseline keeps it for weeks)."""
    doc: str = field(repr=False, default="")
    shrink: Callable[[StateT], StateT] | None = None
    """Returns a smaller state (about half) when the stored one is over the byte budget."""

    def applies_to(self, record: Record) -> bool:
        if not isinstance(record, self.record):
            return False
        source = record.event_source
        return (source, record.event_name) in self.consumes or (source, ANY_EVENT) in self.consumes


@dataclass
class Registry:
    _detectors: dict[str, Detector[BaseModel]] = field(default_factory=dict)

    def add(self, item: Detector[StateT]) -> None:
        if item.name in self._detectors:
            raise ValueError(f"detector {item.name!r} is registered twice")
        self._detectors[item.name] = item  # type: ignore[assignment]

    def __iter__(self) -> Iterator[Detector[BaseModel]]:
        return iter(self._detectors.values())

    def __getitem__(self, name: str) -> Detector[BaseModel]:
        return self._detectors[name]

    def names(self) -> list[str]:
        return sorted(self._detectors)

    def for_family(self, family: Family) -> list[Detector[BaseModel]]:
        return [d for d in self if d.family is family]

    def select(self, *, family: Family | None = None, record: type[Any] | None = None) -> list[Detector[BaseModel]]:
        """The detectors of ``family`` (all if None) that read ``record`` (any if None)."""
        return [d for d in self if (family is None or d.family is family) and (record is None or d.record is record)]


REGISTRY = Registry()


F = TypeVar("F", bound=Callable[..., Any])


def detector(
    *,
    name: str,
    family: Family,
    state: type[StateT] | None,
    consumes: frozenset[tuple[str, str]],
    key: Callable[[Any], str | None] = lambda record: None,
    record: type[Any] = CloudTrailRecord,
    retention: timedelta = DEFAULT_RETENTION,
    shrink: Callable[[StateT], StateT] | None = None,
) -> Callable[[F], F]:
    """Register a pure detector function ``(record, state, settings) -> Outcome`` under ``name``.

    ``key`` gives the state key of a record (None skips the record); a stateless detector needs none.
    """
    if any(source == ANY_EVENT for source, _ in consumes):
        raise ValueError(f"detector {name!r}: an event source cannot be {ANY_EVENT!r}")

    def register(fn: F) -> F:
        REGISTRY.add(
            Detector(
                name=name,
                family=family,
                state_model=state,
                consumes=consumes,
                state_key=key,
                evaluate=fn,
                record=record,
                retention=retention,
                doc=fn.__doc__ or "",
                shrink=shrink,
            )
        )
        return fn

    return register


def event_finding(record: Record, **fields: Any) -> Finding:
    """A finding about one record: its evidence, account, region and times are the record's."""
    where = {"account": record.account, "region": record.region}
    moment = {"first_seen": record.event_time, "last_seen": record.event_time}
    return Finding.build(evidence=[record.event_id], **{**where, **fields, **moment})


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, saturating at the ends of the calendar instead of raising OverflowError."""
    try:
        return moment + delta
    except OverflowError:
        return _LATEST if delta > timedelta(0) else _EARLIEST
