"""Streaming readers for ``warden hunt``: files, folders and S3 prefixes, recognised by content.

Replay (:mod:`warden_local.readers`) reads everything into memory, validates every item and sorts the
lot: right for a few thousand events, wrong for months of an account's trail. Hunt reads one file at
a time, one line at a time when the file is JSON lines, and asks the selection whether any selected
detector could use a record *before* anything wraps it or builds a model of it: the selection reads
two strings of a raw dict, while validation builds a tree of pydantic models. Most of a trail is
``Describe*``/``Get*``/``List*`` noise no detector reads, so most records are dropped at dict speed.

Formats (gzipped or not, decided by the gzip magic bytes, never by the name): CloudTrail log files
(``{"Records": [...]}``), JSON arrays or JSON lines of CloudTrail records or of EventBridge events
(CloudTrail's and GuardDuty's), one JSON object per file, and Bedrock model-invocation logs (JSON
lines of ``schemaType: ModelInvocationLog``). A file whose first line is a whole JSON value followed by
more lines is read as JSON lines, one line at a time; any other file is one JSON document, read whole
(bounded by :attr:`ReadLimits.file_bytes`, the size of one CloudTrail delivery is a few MB).

Positions name where a record was read as replay names them (``FILE Records[3]``, ``FILE[3]``,
``FILE:12``); a problem is reported as position and reason, never with the content.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import orjson
from pydantic import TypeAdapter, ValidationError

from warden.models.guardduty import GUARDDUTY_DETAIL_TYPE
from warden_local.readers import (
    CLOUDTRAIL_DETAIL_TYPE,
    DEFAULT_LIMITS,
    GZIP_MAGIC,
    PERMISSION_CHECK,
    ReadLimits,
    files_in,
    identity_problem,
    json_type,
)

S3_SCHEME = "s3://"
UTF8_BOM = b"\xef\xbb\xbf"

Kind = Literal["record", "event", "invocation-log"]
RECORD: Kind = "record"
"""A raw CloudTrail record: wrapped in its EventBridge envelope only once it is known to be wanted."""
EVENT: Kind = "event"
"""An EventBridge event as delivered (CloudTrail's or GuardDuty's envelope)."""
INVOCATION_LOG: Kind = "invocation-log"


class Wants(Protocol):
    """What the readers need of a selection (:class:`warden.query.Selection`)."""

    @property
    def wants_invocation_logs(self) -> bool: ...

    @property
    def wants_guardduty(self) -> bool: ...

    def wants(self, record: Mapping[str, Any]) -> bool: ...


@dataclass(slots=True)
class Item:
    """One wanted record, with where it was read and when it happened (its order in the hunt).

    Unlike replay's ``ReadItem``, a CloudTrail record stays raw (kind ``record``) until the engine takes it:
    wrapping it in its EventBridge envelope is work a record dropped by ``--since/--until`` never needs.
    """

    kind: Kind
    origin: str
    value: dict[str, Any]
    time: datetime


@dataclass(frozen=True, slots=True)
class Problem:
    """A file or record that could not be read: ``FILE POSITION`` and the reason, never the content."""

    origin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


@dataclass(frozen=True)
class Input:
    """One file to read: its name (a path or ``s3://bucket/key``) and how to open it as bytes."""

    name: str
    open: Callable[[], IO[bytes]]


@dataclass
class Counts:
    """What the readers saw; read by the progress bar and the summary."""

    files: int = 0
    records: int = 0
    wanted: int = 0


class Unreadable(Exception):
    """A whole file could not be read; the message names it and says why."""


# ------------------------------------------------------------------------------------------ inputs


def inputs(paths: Iterable[str], *, s3_client: Callable[[], Any] | None = None) -> Iterator[Input | Problem]:
    """The files to read, in order: each path as given; folders and S3 prefixes expanded in time order.

    Under a folder or prefix, files are read in the order of the time stamp in their names
    (``YYYYMMDDTHHMMZ``, as CloudTrail names its log files), then of their paths: CloudTrail's layout
    ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` puts each region in a folder of its own, so that
    name order would read one region's month before the next one's and overflow the reorder buffer.
    Files without a stamp (Bedrock's ``.../YYYY/MM/DD/HH/`` objects, samples) keep path order, first.
    ``s3_client`` makes the S3 client (default: boto3's, from the environment).
    """
    client: Any = None
    for path in paths:
        if path.startswith(S3_SCHEME):
            client = client or (s3_client or _default_s3_client)()
            yield from sorted(_s3_objects(client, path), key=_reading_order)
            continue
        errors: list[str] = []
        for file in sorted(files_in([Path(path)], errors), key=lambda f: _stamped(str(f))):
            yield Input(str(file), _file_opener(file))
        for error in errors:
            origin, _, reason = error.partition(": ")
            yield Problem(origin, reason)


_STAMP = re.compile(r"_(\d{8}T\d{4}Z)_")


def _stamped(path: str) -> tuple[str, str]:
    """(the time stamp in the file's name, or "", the path): the order files are read in."""
    found = _STAMP.search(path.rsplit("/", 1)[-1])
    return (found.group(1) if found else "", path)


def _reading_order(entry: Input | Problem) -> tuple[str, str]:
    return _stamped(entry.origin) if isinstance(entry, Problem) else _stamped(entry.name)


def _default_s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def _file_opener(path: Path) -> Callable[[], IO[bytes]]:
    return lambda: path.open("rb")


def _s3_objects(client: Any, url: str) -> Iterator[Input | Problem]:
    bucket, _, prefix = url.removeprefix(S3_SCHEME).partition("/")
    if not bucket:
        yield Problem(url, "no bucket named")
        return
    found = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for listed in page.get("Contents", []):
                key = listed["Key"]
                if key.endswith("/") or key.rsplit("/", 1)[-1] == PERMISSION_CHECK:
                    continue
                found += 1
                yield Input(f"{S3_SCHEME}{bucket}/{key}", _object_opener(client, bucket, key))
    except Exception as exc:  # botocore's errors: access denied, no such bucket, network
        yield Problem(url, f"cannot list: {type(exc).__name__}: {exc}")
        return
    if not found:
        yield Problem(url, "no object to read under this prefix")


def _object_opener(client: Any, bucket: str, key: str) -> Callable[[], IO[bytes]]:
    def open_object() -> IO[bytes]:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        return io.BufferedReader(_RawStream(body), buffer_size=1 << 16)

    return open_object


class _RawStream(io.RawIOBase):
    """A botocore StreamingBody as a raw binary stream, so that it can be buffered and gunzipped as it arrives."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._body.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._body.close()
        super().close()


# ------------------------------------------------------------------------------------------ files


@dataclass
class _Budget:
    """Bytes left to read of one file (counted after decompression): the bound on a gzip bomb."""

    left: int
    limit: int
    gzipped: bool

    def take(self, data: bytes) -> bytes:
        self.left -= len(data)
        if self.left < 0:
            raise Unreadable(f"more than {self.limit} bytes" + (" once decompressed" if self.gzipped else ""))
        return data


def read(
    source: Input, selection: Wants, counts: Counts, limits: ReadLimits = DEFAULT_LIMITS
) -> Iterator[Item | Problem]:
    """The wanted items of one file, in file order, and a Problem for each file or record refused."""
    try:
        stream = source.open()
    except Exception as exc:
        yield Problem(source.name, f"cannot read: {_oserror(exc)}")
        return
    counts.files += 1
    try:
        with stream:
            yield from _file(source.name, stream, selection, counts, limits)
    except Unreadable as exc:
        yield Problem(source.name, str(exc))
    except (OSError, EOFError, zlib.error) as exc:
        yield Problem(source.name, f"cannot read: {_oserror(exc)}")


def _oserror(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _file(name: str, raw: IO[bytes], selection: Wants, counts: Counts, limits: ReadLimits) -> Iterator[Item | Problem]:
    gzipped = _peek(raw, len(GZIP_MAGIC)) == GZIP_MAGIC
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw  # type: ignore[assignment]
    budget = _Budget(limits.file_bytes, limits.file_bytes, gzipped)
    try:
        first, number = _next_line(stream, budget, 0)
        if first is None:
            raise Unreadable("empty file")
        first = first.removeprefix(UTF8_BOM)
        value, problem = _loads(first)
        second, second_number = (None, number) if problem else _next_line(stream, budget, number)
        if problem is None and second is None:  # one JSON value on one line: a document
            yield from _document(name, value, selection, counts)
            return
        if problem is None and second is not None:  # JSON lines, read as they come
            yield from _line(name, number, value, None, selection, counts)
            line: bytes | None = second
            number = second_number
            while line is not None:
                value, problem = _loads(line)
                yield from _line(name, number, value, problem, selection, counts)
                line, number = _next_line(stream, budget, number)
            return
        yield from _whole(name, first + budget.take(stream.read(budget.left + 1)), selection, counts)
    except (OSError, EOFError, zlib.error) as exc:
        problem_text = "corrupt gzip data" if gzipped else "cannot read"
        raise Unreadable(f"{problem_text}: {exc}") from exc


def _peek(stream: IO[bytes], size: int) -> bytes:
    """The first ``size`` bytes of a buffered stream, left unread (files and S3 bodies are buffered readers)."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        head: bytes = peek(size)[:size]
        return head
    head = stream.read(size)
    stream.seek(0)
    return head


def _next_line(stream: IO[bytes], budget: _Budget, number: int) -> tuple[bytes | None, int]:
    """The next non-blank line and its number (1-based), or None at the end of the file."""
    while True:
        line = stream.readline(budget.left + 1)
        if not line:
            return None, number
        budget.take(line)
        number += 1
        if line.strip():
            return line, number


def _loads(data: bytes) -> tuple[Any, str | None]:
    try:
        return orjson.loads(data), None
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg}: line {exc.lineno} column {exc.colno}"


def _whole(name: str, data: bytes, selection: Wants, counts: Counts) -> Iterator[Item | Problem]:
    """A file that is not JSON lines from its first line: one document, or JSON lines with a bad first line."""
    value, problem = _loads(data)
    if problem is None:
        yield from _document(name, value, selection, counts)
        return
    lines = [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    parsed = [(n, *_loads(line)) for n, line in lines]
    if len(lines) < 2 or sum(p is None for _, _, p in parsed) * 2 < len(lines):  # replay's rule for JSON lines
        raise Unreadable(problem)
    for number, value, line_problem in parsed:
        yield from _line(name, number, value, line_problem, selection, counts)


def _line(
    name: str, number: int, value: Any, problem: str | None, selection: Wants, counts: Counts
) -> Iterator[Item | Problem]:
    if problem is not None:
        counts.records += 1
        yield Problem(f"{name}:{number}", problem.replace(": line 1 column", ": column"))
        return
    yield from _document(f"{name}:{number}", value, selection, counts)


def _document(location: str, value: Any, selection: Wants, counts: Counts) -> Iterator[Item | Problem]:
    """The items of one JSON document: a CloudTrail log file, an array, or one object."""
    if isinstance(value, dict) and "Records" in value:
        records = value["Records"]
        if not isinstance(records, list):
            yield Problem(location, f"Records must be an array, got {json_type(records)}")
            return
        for index, record in enumerate(records):
            if (item := _item(record, selection, counts)) is not None:
                yield _placed(item, f"{location} Records[{index}]")
        return
    if isinstance(value, list):
        for index, element in enumerate(value):
            if (item := _item(element, selection, counts)) is not None:
                yield _placed(item, f"{location}[{index}]")
        return
    if (item := _item(value, selection, counts)) is not None:
        yield _placed(item, location)


def _placed(item: Item | Problem, origin: str) -> Item | Problem:
    if isinstance(item, Item):
        item.origin = origin
        return item
    return Problem(origin, item.reason)


# ------------------------------------------------------------------------------------------ items


def _item(value: Any, selection: Wants, counts: Counts) -> Item | Problem | None:
    """The wanted item ``value`` is (origin filled in by the caller), a Problem, or None when nobody wants it.

    The selection is asked first, on the raw dict: nothing is wrapped, copied or validated before.
    """
    counts.records += 1
    if not isinstance(value, dict):
        return Problem("", f"expected a JSON object, got {json_type(value)}")
    if "detail-type" in value:
        found = _event(value, selection)
    elif "schemaType" in value:
        found = (INVOCATION_LOG, value.get("timestamp")) if selection.wants_invocation_logs else None
    elif "eventName" in value or "eventSource" in value:
        if not selection.wants(value):
            return None
        problem = _identity_problem(value.get("userIdentity"))
        found = Problem("", problem) if problem else (RECORD, value.get("eventTime"))
    else:
        return Problem("", "neither an EventBridge event nor a CloudTrail record nor a model-invocation log record")
    if found is None or isinstance(found, Problem):
        return found
    counts.wanted += 1
    return Item(found[0], "", value, event_time(found[1]))


def _event(event: dict[str, Any], selection: Wants) -> tuple[Kind, object] | Problem | None:
    """An EventBridge event's kind and time when wanted: CloudTrail's by its record, GuardDuty's if read at all."""
    detail_type = event["detail-type"]
    if detail_type == CLOUDTRAIL_DETAIL_TYPE:
        detail = event.get("detail")
        if not (isinstance(detail, dict) and selection.wants(detail)):
            return None
        if problem := _identity_problem(detail.get("userIdentity")):
            return Problem("", f"detail.{problem}")
        return EVENT, detail.get("eventTime")
    if detail_type == GUARDDUTY_DETAIL_TYPE and selection.wants_guardduty:
        return EVENT, event.get("time")
    return None  # another service's event: no detector reads it


def _identity_problem(identity: object) -> str | None:
    """What replay's reader also refuses in a record's identity: names and key ids IAM would never issue."""
    if not isinstance(identity, dict):
        return None  # the models say what is wrong with it
    return identity_problem(identity.get("type"), identity.get("userName"), identity.get("accessKeyId"))


_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
UNDATED = datetime.min.replace(tzinfo=UTC)
"""The time given to an item whose time cannot be read: it goes first, and the service says what is wrong."""


def event_time(value: object) -> datetime:
    """An item's time as the models read it (ISO 8601, ``Z`` or offset; naive taken as UTC), or UNDATED."""
    moment: datetime | None = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None and value is not None:
        try:
            moment = _DATETIME.validate_python(value)
        except ValidationError:
            return UNDATED
    if moment is None:
        return UNDATED
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
