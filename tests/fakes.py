"""In-memory implementations of the ports, for unit tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from warden.detectors import REGISTRY
from warden.errors import StateConflictError
from warden.models import Family, Finding
from warden.ports import StoredState
from warden.service import DetectionService


class MemoryStateStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], StoredState] = {}
        self.expiry: dict[tuple[str, str], datetime] = {}
        self.saves = 0
        self.conflicts_to_raise = 0

    def load(self, namespace: str, key: str) -> StoredState | None:
        return copy.deepcopy(self.items.get((namespace, key)))

    def save(
        self, namespace: str, key: str, value: Mapping[str, Any], *, expected_version: int | None, expires_at: datetime
    ) -> None:
        current = self.items.get((namespace, key))
        if self.conflicts_to_raise or (current.version if current else None) != expected_version:
            self.conflicts_to_raise = max(0, self.conflicts_to_raise - 1)
            raise StateConflictError("changed")
        self.items[(namespace, key)] = StoredState(
            value=copy.deepcopy(dict(value)), version=(expected_version or 0) + 1
        )
        self.expiry[(namespace, key)] = expires_at
        self.saves += 1


class MemoryPublisher:
    def __init__(self) -> None:
        self.published: list[Finding] = []

    def publish(self, findings: Sequence[Finding]) -> None:
        self.published.extend(findings)


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    def keep(self, payload: Any, *, reason: str, error: str) -> None:
        self.kept.append({"payload": payload, "reason": reason, "error": error})


def service(self_principals: frozenset[str] = frozenset()) -> DetectionService:
    return DetectionService(
        detectors=REGISTRY.for_family(Family.BEDROCK_USAGE),
        state=MemoryStateStore(),
        publisher=MemoryPublisher(),
        dead_letters=MemoryDeadLetters(),
        self_principals=self_principals,
    )


def run(events: list[dict[str, Any]], svc: DetectionService | None = None) -> list[Finding]:
    """Feed EventBridge events through a detection service with in-memory state; return what it published."""
    svc = svc or service()
    for event in events:
        svc.handle(event)
    assert isinstance(svc.publisher, MemoryPublisher)
    return svc.publisher.published
