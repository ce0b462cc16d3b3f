"""What every kind of record a detector reads has in common."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Record(Protocol):
    """A CloudTrail record, a model-invocation log record or a GuardDuty finding, as detectors see it.

    ``(event_source, event_name)`` is what a detector's ``consumes`` names; ``event_id`` identifies the
    record (a redelivery has the same id); ``actor_arns`` are the caller's identities, by which the
    service recognises Warden's own calls; ``account`` and ``region`` are where it happened.
    """

    @property
    def event_id(self) -> str: ...
    @property
    def event_time(self) -> datetime: ...
    @property
    def event_source(self) -> str: ...
    @property
    def event_name(self) -> str: ...
    @property
    def actor_arns(self) -> frozenset[str]: ...
    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...
