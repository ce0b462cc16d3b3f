"""A detection service wired to in-memory ports, for unit tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from warden.detectors import REGISTRY
from warden.models import Family, Finding
from warden.service import DetectionService
from warden.settings import DEFAULT_SETTINGS, Settings
from warden_local.memory import MemoryDeadLetters, MemoryPublisher, MemoryStateStore

__all__ = ["MemoryDeadLetters", "MemoryPublisher", "MemoryStateStore", "run", "run_invocation_logs", "service"]


def service(
    self_principals: frozenset[str] = frozenset(),
    *,
    family: Family | None = Family.BEDROCK_USAGE,
    settings: Settings = DEFAULT_SETTINGS,
    detectors: Iterable[str] | None = None,
) -> DetectionService:
    """A service running the detectors of ``family`` (every family if None), or only those named."""
    chosen = [REGISTRY[name] for name in detectors] if detectors is not None else REGISTRY.select(family=family)
    return DetectionService(
        detectors=chosen,
        state=MemoryStateStore(),
        publisher=MemoryPublisher(),
        dead_letters=MemoryDeadLetters(),
        self_principals=self_principals,
        settings=settings,
    )


def run(events: list[dict[str, Any]], svc: DetectionService | None = None) -> list[Finding]:
    """Feed EventBridge events through a detection service with in-memory state; return what it published."""
    svc = svc or service()
    for event in events:
        svc.handle(event)
    assert isinstance(svc.publisher, MemoryPublisher)
    return svc.publisher.published


def run_invocation_logs(records: list[dict[str, Any]], svc: DetectionService | None = None) -> list[Finding]:
    """Feed model-invocation log records through a detection service; return what it published."""
    svc = svc or service()
    for position, record in enumerate(records):
        svc.handle_invocation_log(record, origin=f"test:{position}")
    assert isinstance(svc.publisher, MemoryPublisher)
    return svc.publisher.published
