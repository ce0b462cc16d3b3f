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

``where`` narrows a consumed pair by the record's content: per pair, a condition
(:mod:`warden.detectors._conditions`) that every record the detector can act on satisfies, so that a
record failing it gives no finding and no state whatever the state holds. It is declared, not
computed, so that a hunt can drop the rest of a trail before building models and an Athena query can
leave them unread (:mod:`warden.query`); a test runs each detector over every sample record to hold
the declaration to the code. A pair without a condition takes every record of it.

State has a byte budget (the service's ``STATE_BUDGET_BYTES``). A detector whose state can grow
should give a ``shrink`` hook: a pure function that returns a smaller state, keeping what matters
most. The service calls it while the serialized state is over budget, and resets the state if
shrinking does not get it under. A state model must be valid with no fields (a new key's state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from warden.detectors._conditions import AllOf, AnyOf, Condition, Differs, Equals, IsTrue, Prefix
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
    where: Mapping[tuple[str, str], Condition] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """Per consumed pair, a condition every record the detector can act on satisfies (none: every record)."""

    def applies_to(self, record: Record) -> bool:
        if not isinstance(record, self.record):
            return False
        source = record.event_source
        return (source, record.event_name) in self.consumes or (source, ANY_EVENT) in self.consumes


Loader = Callable[[Family | None], None]
"""Imports the modules that register the detectors of a family (None: of every family)."""


def _no_loading(family: Family | None) -> None:
    """A registry filled by hand: everything it holds is already added."""


@dataclass
class Registry:
    """The detectors by name, in the order their modules register them (module name, then declaration).

    ``load`` imports detector modules on demand: :meth:`for_family` asks for one family's, so that a
    function imports only the detectors it runs; iterating, indexing, :meth:`names` and :meth:`select`
    ask for every family's. The order is the same whichever families were loaded first.
    """

    load: Loader = _no_loading
    _detectors: dict[str, Detector[BaseModel]] = field(default_factory=dict)
    _positions: dict[str, tuple[str, int]] = field(default_factory=dict)

    def add(self, item: Detector[StateT]) -> None:
        if item.name in self._detectors:
            raise ValueError(f"detector {item.name!r} is registered twice")
        module = item.evaluate.__module__
        self._positions[item.name] = (module, sum(place[0] == module for place in self._positions.values()))
        self._detectors[item.name] = item  # type: ignore[assignment]
        self._detectors = dict(sorted(self._detectors.items(), key=lambda entry: self._positions[entry[0]]))

    def __iter__(self) -> Iterator[Detector[BaseModel]]:
        self.load(None)
        return iter(self._detectors.values())

    def __getitem__(self, name: str) -> Detector[BaseModel]:
        self.load(None)
        return self._detectors[name]

    def names(self) -> list[str]:
        self.load(None)
        return sorted(self._detectors)

    def for_family(self, family: Family) -> list[Detector[BaseModel]]:
        self.load(family)
        return [d for d in self._detectors.values() if d.family is family]

    def select(self, *, family: Family | None = None, record: type[Any] | None = None) -> list[Detector[BaseModel]]:
        """The detectors of ``family`` (all if None) that read ``record`` (any if None)."""
        return [d for d in self if (family is None or d.family is family) and (record is None or d.record is record)]


def _load_detector_modules(family: Family | None) -> None:
    from warden.detectors import load  # the package imports this module: its loader is looked up when called

    load(family)


REGISTRY = Registry(load=_load_detector_modules)

__all__ = [
    "ANY_EVENT",
    "REGISTRY",
    "AllOf",
    "AnyOf",
    "Condition",
    "Detector",
    "Differs",
    "Equals",
    "IsTrue",
    "Outcome",
    "Prefix",
    "Registry",
    "detector",
    "event_finding",
    "shifted",
]


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
    where: Mapping[tuple[str, str], Condition] | None = None,
) -> Callable[[F], F]:
    """Register a pure detector function ``(record, state, settings) -> Outcome`` under ``name``.

    ``key`` gives the state key of a record (None skips the record); a stateless detector needs none.
    ``where`` gives conditions on raw CloudTrail fields per consumed pair (see the module's docstring).
    """
    if any(source == ANY_EVENT for source, _ in consumes):
        raise ValueError(f"detector {name!r}: an event source cannot be {ANY_EVENT!r}")
    conditions = dict(where or {})
    if not conditions.keys() <= consumes:
        raise ValueError(
            f"detector {name!r}: where names pairs it does not consume: {sorted(conditions.keys() - consumes)}"
        )
    if conditions and record is not CloudTrailRecord:
        raise ValueError(f"detector {name!r}: where reads CloudTrail fields, and the detector reads {record.__name__}")

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
                where=MappingProxyType(conditions),
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
