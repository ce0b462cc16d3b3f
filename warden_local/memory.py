"""In-memory implementations of the warden ports: for unit tests, benchmarks and offline hunting."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from warden.errors import StateConflictError
from warden.models import Finding, FindingUpdate
from warden.ports import StoredState


class MemoryStateStore:
    """A StateStore with the same optimistic-locking contract as the DynamoDB adapter."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[str, int]] = {}  # stored as JSON text, as DynamoDB does
        self.expiry: dict[tuple[str, str], datetime] = {}
        self.saves = 0
        self.conflicts_to_raise = 0
        """Simulate that many concurrent writers before the next successful save."""

    def load(self, namespace: str, key: str) -> StoredState | None:
        stored = self.items.get((namespace, key))
        return StoredState(value=json.loads(stored[0]), version=stored[1]) if stored else None

    def save(
        self, namespace: str, key: str, value: Mapping[str, Any], *, expected_version: int | None, expires_at: datetime
    ) -> None:
        current = self.items.get((namespace, key))
        if self.conflicts_to_raise or (current[1] if current else None) != expected_version:
            self.conflicts_to_raise = max(0, self.conflicts_to_raise - 1)
            raise StateConflictError(f"{namespace}#{key} changed since version {expected_version}")
        version = (expected_version or 0) + 1
        self.items[(namespace, key)] = (json.dumps(value, separators=(",", ":")), version)
        self.expiry[(namespace, key)] = expires_at
        self.saves += 1


class MemoryPublisher:
    def __init__(self) -> None:
        self.published: list[Finding] = []
        self.updates: list[FindingUpdate] = []

    def publish(self, findings: Sequence[Finding]) -> None:
        self.published.extend(findings)

    def publish_update(self, update: FindingUpdate) -> None:
        self.updates.append(update)


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    def keep(self, payload: Any, *, reason: str, error: str) -> None:
        self.kept.append({"payload": payload, "reason": reason, "error": error})
