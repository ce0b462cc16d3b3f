"""The detector registry.

A detector is a pure function ``(record, state) -> Outcome``: no boto3, no environment, no clock.
Whatever it needs to remember between events (a window of recent activity, a baseline) is the
explicit ``state`` argument, a pydantic model that the detection service loads before the call
and stores after it. Detectors register themselves by name with :func:`detector`.

State has a byte budget (the service's ``STATE_BUDGET_BYTES``). A detector whose state can grow
should give a ``shrink`` hook: a pure function that returns a smaller state, keeping what matters
most. The service calls it while the serialized state is over budget, and resets the state if
shrinking does not get it under. A state model must be valid with no fields (a new key's state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from pydantic import BaseModel

from warden.models import CloudTrailRecord, Family, Finding

StateT = TypeVar("StateT", bound=BaseModel)


@dataclass(frozen=True)
class Outcome(Generic[StateT]):
    """What a detector returns: findings, and the state to store (None leaves the stored state alone)."""

    findings: tuple[Finding, ...] = ()
    state: StateT | None = None


@dataclass(frozen=True)
class Detector(Generic[StateT]):
    name: str
    family: Family
    state_model: type[StateT]
    consumes: frozenset[tuple[str, str]]
    """(eventSource, eventName) pairs the detector looks at; the template's rules must deliver them."""
    state_key: Callable[[CloudTrailRecord], str | None]
    evaluate: Callable[[CloudTrailRecord, StateT], Outcome[StateT]]
    doc: str = field(repr=False, default="")
    shrink: Callable[[StateT], StateT] | None = None
    """Returns a smaller state (about half) when the stored one is over the byte budget."""

    def applies_to(self, record: CloudTrailRecord) -> bool:
        return (record.event_source, record.event_name) in self.consumes


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


REGISTRY = Registry()


def detector(
    *,
    name: str,
    family: Family,
    state: type[StateT],
    consumes: frozenset[tuple[str, str]],
    key: Callable[[CloudTrailRecord], str | None],
    shrink: Callable[[StateT], StateT] | None = None,
) -> Callable[
    [Callable[[CloudTrailRecord, StateT], Outcome[StateT]]], Callable[[CloudTrailRecord, StateT], Outcome[StateT]]
]:
    """Register a pure detector function under ``name``."""

    def register(
        fn: Callable[[CloudTrailRecord, StateT], Outcome[StateT]],
    ) -> Callable[[CloudTrailRecord, StateT], Outcome[StateT]]:
        REGISTRY.add(
            Detector(
                name=name,
                family=family,
                state_model=state,
                consumes=consumes,
                state_key=key,
                evaluate=fn,
                doc=fn.__doc__ or "",
                shrink=shrink,
            )
        )
        return fn

    return register


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, saturating at the ends of the calendar instead of raising OverflowError."""
    try:
        return moment + delta
    except OverflowError:
        return _LATEST if delta > timedelta(0) else _EARLIEST
