"""``warden hunt --athena DB.TABLE``: the live detectors over an organization's CloudTrail table in Athena.

An organization trail is terabytes: reading it through one machine is the wrong tool, and Athena is
already there. :class:`warden.query.Selection` writes the query (only the consumed event names, only
the time range, on the partitions and the event time, only the columns the models read, in event-time
order); Athena runs it where the data is; the few rows it returns are rebuilt into CloudTrail records
and stream through the same engine as a file hunt (:class:`warden_local.hunt.engine.Hunter`).

Athena hunts CloudTrail only: model-invocation logs and GuardDuty findings are not in the CloudTrail
table (hunt them from their S3 files with ``warden hunt s3://...``). Errors (a query that fails or is
cancelled, a refused call, no credentials) end the hunt with one clear message and exit status 2; a row
that cannot be rebuilt is a problem naming its row number, never its content. See docs/athena.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from pydantic import BaseModel

from warden.detectors.registry import Detector
from warden.models import Finding
from warden.query import Selection
from warden.routing import Route
from warden.settings import DEFAULT_SETTINGS, Settings
from warden_local.hunt import detectors_named
from warden_local.hunt.command import Format, run_search
from warden_local.hunt.config import HuntConfig
from warden_local.hunt.engine import Hunter
from warden_local.hunt.sources import Counts, Problem

FIRST_WAIT = 0.2
LONGEST_WAIT = 5.0
WAIT_FACTOR = 1.5
"""Polling of a running query: 0.2 s, then half as long again each time, at most 5 s between polls."""
FAILED_STATES = frozenset({"FAILED", "CANCELLED"})


class AthenaError(Exception):
    """The query could not run: the message says what Athena (or the SDK) said, and which query."""


@dataclass(frozen=True)
class AthenaTarget:
    """Where the query runs: the table, and the workgroup and/or S3 location of its results."""

    table: str
    workgroup: str | None = None
    output_location: str | None = None


def start(client: Any, sql: str, target: AthenaTarget) -> str:
    """Start the query; its execution id."""
    request: dict[str, Any] = {"QueryString": sql}
    if target.workgroup:
        request["WorkGroup"] = target.workgroup
    if target.output_location:
        request["ResultConfiguration"] = {"OutputLocation": target.output_location}
    return str(_call("StartQueryExecution", client.start_query_execution, **request)["QueryExecutionId"])


def wait(client: Any, execution_id: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Poll until the query succeeded (with backoff); AthenaError when it failed or was cancelled."""
    pause = FIRST_WAIT
    while True:
        found = _call("GetQueryExecution", client.get_query_execution, QueryExecutionId=execution_id)
        status = found["QueryExecution"]["Status"]
        state = status.get("State")
        if state == "SUCCEEDED":
            return
        if state in FAILED_STATES:
            reason = status.get("StateChangeReason") or "no reason given"
            raise AthenaError(f"Athena query {execution_id} {state}: {reason}")
        sleep(pause)
        pause = min(pause * WAIT_FACTOR, LONGEST_WAIT)


def rows(client: Any, execution_id: str) -> Iterator[dict[str, str | None]]:
    """The query's rows as ``{column: value}``, page by page; the first row of the first page is the header.

    Athena returns NULL as a cell without ``VarCharValue`` (None here), an empty string as ``""``.
    """
    pages = client.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
    header: list[str] | None = None
    for page in _pages(pages):
        for row in page["ResultSet"]["Rows"]:
            values = [cell.get("VarCharValue") for cell in row.get("Data", [])]
            if header is None:
                header = [str(v) for v in values]
                continue
            yield dict(zip(header, values + [None] * (len(header) - len(values)), strict=False))


def _pages(pages: Any) -> Iterator[Mapping[str, Any]]:
    iterator = iter(pages)
    while True:
        try:
            page = _call("GetQueryResults", next, iterator)
        except StopIteration:
            return
        yield page


def _call(operation: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One SDK call; what it raises becomes an AthenaError naming the operation and the error code."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(*args, **kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        raise AthenaError(f"Athena {operation} refused: {code}: {message}") from None
    except BotoCoreError as exc:
        raise AthenaError(f"Athena {operation} failed: {exc}") from None


@dataclass
class AthenaHunt:
    """One hunt over an Athena table: iterate :meth:`run` for findings and problems, in event-time order."""

    target: AthenaTarget
    detectors: Sequence[Detector[BaseModel]]
    since: datetime
    until: datetime
    client: Any
    settings: Settings = DEFAULT_SETTINGS
    self_principals: frozenset[str] = frozenset()
    routes: tuple[Route, ...] = ()
    sleep: Callable[[float], None] = time.sleep
    counts: Counts = field(default_factory=Counts)
    """``records``: rows returned; ``wanted``: rows the selection kept (``files`` stays 0)."""
    execution_id: str | None = None

    def __post_init__(self) -> None:
        self.selection = Selection.of(self.detectors)
        if not self.selection.wants_cloudtrail:
            raise AthenaError(
                "the selected detectors read no CloudTrail: hunt invocation logs and GuardDuty findings from their "
                "files (warden hunt s3://bucket/prefix)"
            )
        try:
            self.sql = self.selection.sql(self.target.table, self.since, self.until)
        except ValueError as exc:
            raise AthenaError(str(exc)) from None
        self.hunter = Hunter(
            self.selection,
            self.detectors,
            settings=self.settings,
            self_principals=self.self_principals,
            routes=self.routes,
        )

    @classmethod
    def configured(
        cls,
        target: AthenaTarget,
        detectors: Sequence[Detector[BaseModel]],
        since: datetime,
        until: datetime,
        client: Any,
        config: HuntConfig,
    ) -> AthenaHunt:
        """A hunt judging as the deployment ``config`` describes (its settings, own roles and routes)."""
        return cls(
            target,
            detectors,
            since,
            until,
            client,
            settings=config.settings,
            self_principals=frozenset(config.self_principals),
            routes=config.routes,
        )

    def run(self) -> Iterator[Finding | Problem]:
        self.execution_id = start(self.client, self.sql, self.target)
        wait(self.client, self.execution_id, sleep=self.sleep)
        for number, row in enumerate(rows(self.client, self.execution_id), start=1):
            self.counts.records += 1
            origin = f"athena query {self.execution_id} row {number}"
            try:
                record = Selection.record_from_row(row)
            except ValueError as exc:
                yield Problem(origin, str(exc))
                continue
            if self.selection.wants(record):
                self.counts.wanted += 1
            yield from self.hunter.feed_records([(origin, record)])


def run(
    table: str,
    *,
    since: datetime | None,
    until: datetime | None,
    workgroup: str | None = None,
    output_location: str | None = None,
    output: Format = "table",
    detector_names: Sequence[str] = (),
    athena_client: Callable[[], Any] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """``warden hunt --athena``: print the findings; the exit status (0, or 2 on an error or a refused row)."""
    err = stderr or sys.stderr
    if since is None or until is None:
        return _failed(err, "--athena needs --since and --until (Athena reads only the partitions of the range)")
    target = AthenaTarget(table, workgroup, output_location)
    chosen = detectors_named(detector_names)

    def search(config: HuntConfig) -> AthenaHunt:
        client = _call("client set-up", athena_client or _default_client)
        return AthenaHunt.configured(target, chosen, since, until, client, config)

    try:
        return run_search(search, output, err, _summary)
    except AthenaError as exc:
        return _failed(err, str(exc))


def _summary(search: AthenaHunt, problems: int, seconds: float) -> str:
    return (
        f"warden hunt: Athena query {search.execution_id}: {search.counts.records} rows, {search.counts.wanted} "
        f"wanted, {search.hunter.counts.findings} findings, {problems} errors, {seconds:.1f} s"
    )


def _failed(err: IO[str], message: str) -> int:
    err.write(f"warden hunt: {message}\n")
    err.flush()
    return 2


def _default_client() -> Any:
    import boto3

    return boto3.client("athena")
