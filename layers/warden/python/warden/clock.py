"""Wall-clock time, read once per invocation at the handler edge; detectors never read it.

The local runner replays captured events in-process. It sets the clock to each event's arrival
time with :func:`frozen`, so that the detection service judges an old capture as it would have
judged it when it arrived.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_frozen: ContextVar[datetime | None] = ContextVar("warden_clock", default=None)


def now() -> datetime:
    """The current time in UTC, or the time the clock is frozen at."""
    return _frozen.get() or datetime.now(UTC)


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Make :func:`now` return ``at`` (an aware datetime) inside the block."""
    if at.tzinfo is None:
        raise ValueError("the clock needs an aware datetime")
    token = _frozen.set(at)
    try:
        yield
    finally:
        _frozen.reset(token)
