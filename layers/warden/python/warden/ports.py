"""The ports between detection logic and AWS. Adapters implement them; tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from warden.models import Finding, FindingUpdate


@dataclass(frozen=True)
class StoredState:
    value: Mapping[str, Any]
    version: int


class StateStore(Protocol):
    def load(self, namespace: str, key: str) -> StoredState | None:
        """The stored state of one detector for one key, or None."""

    def save(
        self, namespace: str, key: str, value: Mapping[str, Any], *, expected_version: int | None, expires_at: datetime
    ) -> None:
        """Store the state if nobody else changed it since ``expected_version``; else StateConflictError."""


class FindingPublisher(Protocol):
    def publish(self, findings: Sequence[Finding]) -> None:
        """Publish findings to the stack's event bus; raise PublishError if any is refused."""

    def publish_update(self, update: FindingUpdate) -> None:
        """Publish what a merged repeat adds to a finding; raise PublishError if it is refused."""


class DeadLetterSink(Protocol):
    def keep(self, payload: Any, *, reason: str, error: str) -> None:
        """Keep an event that could not be processed, with why, for a human to look at."""
