"""The body of ``warden hunt``: parse times, run the hunt, print findings, problems and the summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any, Literal, Protocol, TypeVar

from warden.errors import ConfigurationError
from warden.models import Finding
from warden_local.hunt import Hunt, Problem, detectors_named
from warden_local.hunt.config import HuntConfig, hunt_config
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
    chosen = detectors_named(detector_names)

    def search(config: HuntConfig) -> Hunt:
        return Hunt.configured(paths, chosen, config, since=since, until=until, s3_client=s3_client)

    return run_search(search, output, stderr or sys.stderr, summary)


class Search(Protocol):
    """What :func:`run_search` runs: a file hunt or an Athena hunt."""

    def run(self) -> Iterator[Finding | Problem]: ...


S = TypeVar("S", bound=Search)


def run_search(
    search: Callable[[HuntConfig], S], output: Format, err: IO[str], summarize: Callable[[S, int, float], str]
) -> int:
    """Build a hunt judging as the deployment the environment describes, print its outcome, then its summary.

    The exit status: 0, or 2 when the configuration is invalid or some input was refused. Every engine
    goes through here, so that each judges with the detector functions' settings, own roles and routes.
    """
    started = time.monotonic()
    try:
        config = hunt_config()
    except ConfigurationError as exc:
        err.write(f"warden hunt: {exc}\n")
        return 2
    with quiet_powertools() as out:
        running = search(config)
        problems = print_outcome(running.run(), output, out, err, Progress(running))
    err.write(summarize(running, problems, time.monotonic() - started) + "\n")
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
