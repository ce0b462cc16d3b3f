"""Event-time order across files, with a bounded reorder buffer.

Detectors keep windows over event time, so a hunt must hand records over in event-time order, while
files arrive in name order and records in file order. Replay sorts everything it read; hunt cannot
hold months of records. It keeps a heap of wanted records only, keyed by (event time, arrival
sequence), and releases the earliest whenever the heap holds more than ``capacity`` records, and
everything at the end. Ties keep reading order, as replay's stable sort does.

The bound: the order is exact whenever no record arrives after ``capacity`` or more wanted records
later than it (always so when the whole input holds at most ``capacity`` wanted records, and for
files read in CloudTrail's S3 layout, where a record is at most one delivery file, a few minutes,
out of order). A record that arrives after a later one was released is still processed, late; it is
counted in :attr:`Reorder.late`, and the summary says so.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime

from warden_local.hunt.sources import Item, Problem

DEFAULT_CAPACITY = 2_000
"""Wanted records held for reordering: files are read in the time order of their names, so a record is
rarely more than a delivery file (five minutes) out of order; a few MB of dicts, whatever the input's size."""


class Reorder:
    """Merges a stream of items into event-time order within :attr:`capacity` buffered records."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("the reorder buffer holds at least one record")
        self.capacity = capacity
        self.late = 0
        """Records released after a later one had been (out of order: the input exceeded the bound)."""
        self._heap: list[tuple[datetime, int, Item]] = []
        self._sequence = 0
        self._released: datetime | None = None

    def __call__(self, stream: Iterable[Item | Problem]) -> Iterator[Item | Problem]:
        """The items of ``stream`` in event-time order; problems pass through at once."""
        heap = self._heap
        for entry in stream:
            if isinstance(entry, Problem):
                yield entry
                continue
            self._sequence += 1
            heapq.heappush(heap, (entry.time, self._sequence, entry))
            if len(heap) > self.capacity:
                yield self._release(heapq.heappop(heap)[2])
        while heap:
            yield self._release(heapq.heappop(heap)[2])

    def _release(self, item: Item) -> Item:
        if self._released is not None and item.time < self._released:
            self.late += 1
        else:
            self._released = item.time
        return item

    def __len__(self) -> int:
        return len(self._heap)
