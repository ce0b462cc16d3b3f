"""The body of ``warden hunt``: parse times, run the hunt, print findings, problems and the summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any, Literal

from warden.errors import ConfigurationError
from warden.models import Finding
from warden_local.hunt import Hunt, Problem, detectors_named
from warden_local.hunt.config import hunt_config
from warden_local.hunt.report import Progress, Table, json_line, quiet_powertools, summary

Format = Literal["table", "json"]


class BadTime(ValueError):
    """A --since/--until value that is not an ISO 8601 date or date-time."""


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date (``2026-11-01``) or date-time (``Z`` or an offset; none means UTC), as an aware datetime.

    A date alone is the start of that day, or with ``end_of_day`` its last instant, so that
    ``--since 2026-11-01 --until 2026-11-30`` covers the whole of both days.
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else start
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadTime(f"{text!r} is not an ISO 8601 date or date-time (2026-11-01, 2026-11-01T12:00:00Z)") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def run_hunt(
    paths: Sequence[str],
    *,
    output: Format = "table",
    since: datetime | None = None,
    until: datetime | None = None,
    detector_names: Sequence[str] = (),
    s3_client: Callable[[], Any] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Hunt over ``paths`` and print the outcome; the exit status: 0, or 2 when some input was refused."""
    err = stderr or sys.stderr
    started = time.monotonic()
    chosen = detectors_named(detector_names)
    try:
        config = hunt_config()
    except ConfigurationError as exc:
        err.write(f"warden hunt: {exc}\n")
        return 2
    with quiet_powertools() as out:
        search = Hunt.configured(paths, chosen, config, since=since, until=until, s3_client=s3_client)
        problems = print_outcome(search.run(), output, out, err, Progress(search))
    err.write(summary(search, problems, time.monotonic() - started) + "\n")
    err.flush()
    return 2 if problems else 0


def print_outcome(
    stream: Iterable[Finding | Problem], output: Format, out: IO[str], err: IO[str], progress: Progress
) -> int:
    """Print each finding (json: as it comes) and each problem; the number of problems."""
    problems = 0
    table = Table()
    binary = getattr(out, "buffer", None)
    with progress.shown(err):
        for entry in stream:
            if isinstance(entry, Problem):
                problems += 1
                err.write(_escaped(f"warden hunt: skipped {entry}", err) + "\n")
                err.flush()
            elif output == "json":
                line = json_line(entry)
                if binary is not None:
                    binary.write(line)
                else:
                    out.write(line.decode())
            else:
                table.add(entry)
    out.flush()
    if output == "table":
        table.print(out)
    return problems


def _escaped(text: str, stream: IO[str]) -> str:
    """Text the stream cannot encode (a file name that is not UTF-8) escaped, never failing on it."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)
