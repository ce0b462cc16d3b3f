"""A detection service wired to in-memory ports, for unit tests."""

from __future__ import annotations

from typing import Any

from warden.detectors import REGISTRY
from warden.models import Family, Finding
from warden.service import DetectionService
from warden_local.memory import MemoryDeadLetters, MemoryPublisher, MemoryStateStore

__all__ = ["MemoryDeadLetters", "MemoryPublisher", "MemoryStateStore", "run", "service"]


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
