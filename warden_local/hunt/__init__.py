"""``warden hunt``: the live detectors over historical CloudTrail, GuardDuty and invocation logs.

Pipeline: :func:`sources.inputs` lists the files (local or S3) in the time order of their names,
:func:`sources.read` streams each one and keeps only the records the selection wants,
:class:`order.Reorder` merges them into event-time order within a bounded buffer,
``--since/--until`` drop what is outside the range, and :class:`engine.Hunter` runs them through one
:class:`warden.service.DetectionService`. Everything is a generator: memory holds one file's document
(or one line), the reorder buffer and the detectors' state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from warden.detectors import REGISTRY, Detector
from warden.models import Finding
from warden.query import Selection
from warden.routing import Route
from warden.settings import DEFAULT_SETTINGS, Settings
from warden_local.hunt.config import HuntConfig, hunt_config
from warden_local.hunt.engine import Hunter
from warden_local.hunt.order import DEFAULT_CAPACITY, Reorder
from warden_local.hunt.sources import Counts, Input, Item, Problem, Wants, inputs, read
from warden_local.readers import DEFAULT_LIMITS, ReadLimits

__all__ = ["Hunt", "Problem", "detectors_named", "hunt"]


def detectors_named(names: Sequence[str] = ()) -> list[Detector[BaseModel]]:
    """The registered detectors called ``names`` (every one when empty); KeyError names an unknown one."""
    if not names:
        return list(REGISTRY)
    unknown = sorted(set(names) - set(REGISTRY.names()))
    if unknown:
        raise KeyError(", ".join(unknown))
    return [d for d in REGISTRY if d.name in set(names)]


@dataclass
class Hunt:
    """One hunt over ``paths`` (files, folders, ``s3://bucket/prefix``): iterate :meth:`run` for its output."""

    paths: Sequence[str]
    detectors: Sequence[Detector[BaseModel]] = field(default_factory=lambda: list(REGISTRY))
    since: datetime | None = None
    until: datetime | None = None
    settings: Settings = DEFAULT_SETTINGS
    self_principals: frozenset[str] = frozenset()
    routes: tuple[Route, ...] = ()
    limits: ReadLimits = DEFAULT_LIMITS
    capacity: int = DEFAULT_CAPACITY
    s3_client: Callable[[], Any] | None = None
    selection: Wants | None = None
    counts: Counts = field(default_factory=Counts)
    out_of_range: int = 0
    """Wanted records dropped by ``since``/``until``."""

    def __post_init__(self) -> None:
        self.wants: Wants = self.selection or Selection.of(self.detectors)
        self.hunter = Hunter(
            self.wants, self.detectors, settings=self.settings, self_principals=self.self_principals, routes=self.routes
        )
        self.reorder = Reorder(self.capacity)

    @classmethod
    def configured(
        cls, paths: Sequence[str], detectors: Sequence[Detector[BaseModel]], config: HuntConfig, **options: Any
    ) -> Hunt:
        """A hunt judging as the deployment ``config`` describes (its settings, own roles and routes)."""
        return cls(
            paths,
            detectors,
            settings=config.settings,
            self_principals=frozenset(config.self_principals),
            routes=config.routes,
            **options,
        )

    def run(self) -> Iterator[Finding | Problem]:
        """Findings as they are published and problems as they are met, in one stream."""
        for entry in self.reorder(self._read()):
            if isinstance(entry, Problem):
                yield entry
            else:
                yield from self.hunter.feed([entry])

    def _read(self) -> Iterator[Item | Problem]:
        for source in inputs(self.paths, s3_client=self.s3_client):
            if not isinstance(source, Input):
                yield source
                continue
            for entry in read(source, self.wants, self.counts, self.limits):
                if isinstance(entry, Problem) or self._in_range(entry):
                    yield entry

    def _in_range(self, item: Item) -> bool:
        if (self.since is not None and item.time < self.since) or (self.until is not None and item.time > self.until):
            self.out_of_range += 1
            return False
        return True


def hunt(
    paths: Sequence[str],
    *,
    detectors: Sequence[Detector[BaseModel]] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    config: HuntConfig | None = None,
    s3_client: Callable[[], Any] | None = None,
) -> Iterator[Finding | Problem]:
    """Findings (and problems, each naming file and position) of every selected detector over ``paths``.

    ``config`` is the deployment to judge as (default: read from the environment, :mod:`.config`).
    """
    chosen = list(REGISTRY) if detectors is None else detectors
    return Hunt.configured(paths, chosen, config or hunt_config(), since=since, until=until, s3_client=s3_client).run()
