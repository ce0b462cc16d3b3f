"""What ``warden hunt`` prints: findings on stdout (JSON lines or a table), progress and summary on stderr.

stdout carries findings and nothing else, so that ``warden hunt --format json | jq`` works. The
detection service was written for Lambda: Powertools Logger writes JSON logs to stdout and Powertools
Metrics prints EMF documents to stdout (``single_metric`` on every finding, the metric set every 100
values), which CloudWatch turns into metrics there. :func:`quiet_powertools` keeps both off stdout for
the duration of a hunt: the logger's records are dropped before its handler, and anything printed lands
in the null device; the findings are written to the stdout saved before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from warden.models import Finding
from warden_local.hunt.engine import HUNT_METRICS_NAMESPACE

METRICS_ENVIRONMENT = {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": HUNT_METRICS_NAMESPACE,
}
"""Set while a hunt runs (and restored after): metrics off, and a namespace so that metric calls do not raise."""


@contextlib.contextmanager
def quiet_powertools() -> Iterator[IO[str]]:
    """Keep Powertools' logs and metrics off stdout; yields the real stdout for the findings."""
    from warden.observability import logger, metrics

    saved = {key: os.environ.get(key) for key in METRICS_ENVIRONMENT}
    os.environ.update(METRICS_ENVIRONMENT)
    stdout = sys.stdout
    namespace = metrics.namespace
    metrics.namespace = namespace or METRICS_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"]
    silence = _Silence()
    with open(os.devnull, "w") as null:  # noqa: PTH123  the null device, not a project file
        logger.addFilter(silence)  # the handler keeps the stream it was built with: drop records before it
        try:
            with contextlib.redirect_stdout(null):  # EMF documents are print()ed: they land in the null device
                yield stdout
        finally:
            metrics.clear_metrics()  # what the hunt counted is in its summary; nothing is flushed later
            metrics.namespace = namespace
            logger.removeFilter(silence)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class _Silence(logging.Filter):
    """Drops every record: the hunt reports refused records itself, with their position."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def json_line(finding: Finding) -> bytes:
    """One finding as one compact line: the contract of docs/findings.md."""
    return orjson.dumps(finding.model_dump(mode="json")) + b"\n"


@dataclass
class Table:
    """The findings as rows for people: severity, detector, principal, first seen, last seen, title."""

    rows: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.rows.append(
            (
                finding.severity.value,
                finding.detector,
                finding.principal,
                _iso(finding.first_seen.isoformat()),
                _iso(finding.last_seen.isoformat()),
                finding.title,
            )
        )

    def print(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(title=f"Findings ({len(self.rows)})", show_lines=False)
        for column in ("severity", "detector", "principal", "first seen", "last seen"):
            table.add_column(column, no_wrap=True)  # whole, so that a reader can copy a principal or grep it
        table.add_column("title", overflow="fold")
        for row in self.rows:
            table.add_row(*row)
        Console(file=out, width=_width(out) or UNBOUNDED_WIDTH).print(table)


UNBOUNDED_WIDTH = 400
"""The table's width when stdout is no terminal (a file, a pipe): wide enough for whole ARNs and titles."""


def _width(out: IO[str]) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def _iso(text: str) -> str:
    return text.replace("+00:00", "Z")


@dataclass
class Progress:
    """A progress bar on stderr (files, events, findings, events/s), shown only when stderr is a terminal."""

    hunt: Any
    """The running :class:`warden_local.hunt.Hunt`: read by rich's refresh thread."""
    started: float = field(default_factory=time.monotonic)

    @contextlib.contextmanager
    def shown(self, stderr: IO[str]) -> Iterator[None]:
        if not stderr.isatty():
            yield
            return
        from rich.console import Console
        from rich.live import Live

        with Live(self, console=Console(file=stderr), transient=True, refresh_per_second=4):
            yield

    def __rich__(self) -> str:
        """What rich's refresh thread shows: the counts as they are now."""
        return self.text()

    def text(self) -> str:
        counts, engine = self.hunt.counts, self.hunt.hunter.counts
        rate = counts.records / max(time.monotonic() - self.started, 1e-9)
        return (
            f"files {counts.files:,}  events {counts.records:,}  wanted {counts.wanted:,}"
            f"  findings {engine.findings:,}  {rate:,.0f} events/s"
        )


def summary(hunt: Any, problems: int, seconds: float) -> str:
    """The one line printed on stderr at the end of a hunt."""
    counts, engine, late = hunt.counts, hunt.hunter.counts, hunt.reorder.late
    line = (
        f"warden hunt: {counts.files} files, {counts.records} records read, {counts.wanted} wanted,"
        f" {engine.findings} findings, {problems} errors, {seconds:.1f} s"
    )
    if hunt.out_of_range:
        line += f" ({hunt.out_of_range} outside --since/--until)"
    if late:
        line += f" ({late} records out of order: more than {hunt.reorder.capacity} buffered)"
    return line
