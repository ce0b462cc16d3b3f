"""Reads event files in every shape Warden meets in the wild, and says exactly what it could not read.

Accepted: EventBridge events (one object, an array, or one per line), CloudTrail records (a JSON
array, one per line, or CloudTrail's ``{"Records": [...]}`` log files), and Bedrock model-invocation
log records (``schemaType: "ModelInvocationLog"``, one per line, as Bedrock writes them to S3 under
``AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/``), each gzipped or not, in
any mixture. A file is recognised by its content, never by its name; a folder is read recursively.
CloudTrail records are wrapped into the EventBridge envelope that CloudTrail delivery would give
them, so that every input goes through the template's own rules; invocation-log records are kept as
written (the runner puts them in the invocation-log bucket, as Bedrock would).

Nothing read is lost and nothing read can end a run: ``read_events`` never raises for a file, and
every item ends either in ``events``, in ``invocation_logs`` or in ``errors`` as ``"FILE POSITION:
reason"``, the position being a line (``FILE:12``) or an index (``FILE Records[3]``, ``FILE[3]``).
Bounds are checked before the work they protect: the file size while decompressing (a gzip bomb
stops at the limit), the nesting depth before parsing (without recursion), integer width while
parsing, the size of each item before it is validated with the library's own models. A file refused
whole is one error naming the file. An error never quotes a value: an invocation-log record holds
prompts and completions, which must not reach a terminal or a report.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeGuard

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import ValidationError

from warden.guard import refusal
from warden.models.cloudtrail import CloudTrailEvent
from warden.models.invocation_log import ModelInvocationLog

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
INVOCATION_LOG_SCHEMA = "ModelInvocationLog"
PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"
"""The object Bedrock writes at the top of its log prefix when logging is set up: not a log file."""
GZIP_MAGIC = b"\x1f\x8b"
_ID_NAMESPACE = uuid.UUID("6f1d1c3e-8f0a-4a53-9d0e-2b8f6c1e7a10")

IAM_USER_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
"""What IAM accepts as a user name (CreateUser's ``UserName``)."""
ACCESS_KEY_ID = re.compile(r"\w{16,128}", re.ASCII)
"""What IAM issues as an access key id (``AccessKeyId``: 16 to 128 word characters)."""


@dataclass(frozen=True)
class ReadLimits:
    """How much one replay reads; every bound is checked before the work it protects."""

    file_bytes: int = 256 * 1024 * 1024
    """Largest file, counted after decompression."""
    event_bytes: int = 256 * 1024
    """Largest event, as UTF-8 JSON: what EventBridge's PutEvents accepts for one entry, and what the
    detector accepts for one invocation-log record."""
    depth: int = 64
    """Deepest nesting of arrays and objects in a file, checked before parsing; each event is then held
    to the detector's own bounds (``warden.guard``: 32 levels from its envelope, 64-bit integers)."""
    int_digits: int = 20
    """Widest integer: any 64-bit value fits, and Python's 4,300-digit conversion limit is never reached."""
    days_from_median: int = 30
    """How far an event's time may be from the median time of the run's events."""


DEFAULT_LIMITS = ReadLimits()


Kind = Literal["event", "invocation-log"]
EVENT: Kind = "event"
INVOCATION_LOG: Kind = "invocation-log"


@dataclass(frozen=True)
class ReadItem:
    """One valid item read: an EventBridge event or a model-invocation log record, with where and when."""

    kind: Kind
    origin: str
    """Where it was read: ``"FILE Records[3]"``, ``"FILE:12"``."""
    value: dict[str, Any]
    """The EventBridge event (a CloudTrail record wrapped in its envelope), or the log record as written."""
    time: datetime
    """When it happened: the record's ``eventTime``, the envelope's ``time`` or the log record's ``timestamp``."""


@dataclass
class ReadResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    """Valid EventBridge events, in time order."""
    errors: list[str] = field(default_factory=list)
    """One line per file or item that was refused: ``"FILE POSITION: reason"``."""
    origins: list[str] = field(default_factory=list)
    """Where each event was read (``"FILE Records[3]"``), in the order of ``events``."""
    invocation_logs: list[dict[str, Any]] = field(default_factory=list)
    """Valid model-invocation log records, as written, in time order."""
    invocation_log_origins: list[str] = field(default_factory=list)
    """Where each invocation-log record was read (``"FILE:12"``), in the order of ``invocation_logs``."""
    items: list[ReadItem] = field(default_factory=list)
    """Everything valid, events and invocation-log records merged, in time order (ties in reading order)."""


class UnreadableInput(Exception):
    """A whole file could not be read or parsed."""


class Refused(Exception):
    """One document or item refused; the message is the reason, without the value."""


class _Read(NamedTuple):
    origin: str
    event: dict[str, Any]
    moment: datetime
    time_field: str
    kind: Kind = EVENT


class _WideInteger:
    """Stands in for an integer too wide to convert; the item holding it is refused with the width."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def read_events(paths: Iterable[Path], limits: ReadLimits = DEFAULT_LIMITS) -> ReadResult:
    """Every valid event and invocation-log record in ``paths``, in time order; every refused file and item
    is named in ``errors``. A folder stands for every file under it, in name order (see :func:`files_in`)."""
    read: list[_Read] = []
    errors: list[str] = []
    for path in files_in(paths, errors):
        try:
            documents = _documents(path, _text(path, limits), limits)
            for location, value in documents:
                if isinstance(value, Refused):
                    errors.append(f"{location}: {value}")
                    continue
                for where, item in _items(location, value):
                    try:
                        read.append(_read(where, item, limits))
                    except Refused as exc:
                        errors.append(f"{where}: {exc}")
        except UnreadableInput as exc:
            errors.append(str(exc))
        except Exception as exc:  # a reader bug must cost one file, named, not the run
            errors.append(f"{path}: could not be read: {type(exc).__name__}: {exc}")
    kept = _near_the_median(read, limits, errors)
    kept.sort(key=lambda r: r.moment)
    events = [r for r in kept if r.kind == EVENT]
    logs = [r for r in kept if r.kind == INVOCATION_LOG]
    return ReadResult(
        events=[r.event for r in events],
        errors=errors,
        origins=[r.origin for r in events],
        invocation_logs=[r.event for r in logs],
        invocation_log_origins=[r.origin for r in logs],
        items=[ReadItem(r.kind, r.origin, r.event, r.moment) for r in kept],
    )


def files_in(paths: Iterable[Path], errors: list[str]) -> list[Path]:
    """The files to read: each file given, and every file under each folder given, recursively in name order.

    Under a folder, Bedrock's permission-check object is passed over (it is not a log file), and so are
    symbolic links to folders (a link loop would never end). A folder with no file to read is named in
    ``errors``; a path that does not exist is returned as is, so that reading it names it.
    """
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        before = len(found)
        for folder, subfolders, names in os.walk(path, onerror=lambda exc: errors.append(_walk_error(exc))):
            subfolders.sort()
            found.extend(Path(folder) / name for name in sorted(names) if name != PERMISSION_CHECK)
        if len(found) == before:
            errors.append(f"{path}: a folder with no file to read")
    return found


def _walk_error(exc: OSError) -> str:
    return f"{exc.filename}: cannot list: {exc.strerror or exc}"


def to_eventbridge(record: Mapping[str, Any]) -> dict[str, Any]:
    """The EventBridge event that CloudTrail delivers for a record (deterministic id).

    Never raises for a mapping: fields of the wrong type end up in the envelope as text, and the
    models say what is wrong with them.
    """
    source = record.get("eventSource")
    service = source.split(".")[0] if isinstance(source, str) and source else "unknown"
    identity = record.get("userIdentity")
    account = record.get("recipientAccountId") or (identity.get("accountId") if isinstance(identity, dict) else None)
    event_id = record.get("eventID")
    seed = event_id if isinstance(event_id, str) else json.dumps(record, sort_keys=True, default=repr)
    return {
        "version": "0",
        "id": str(uuid.uuid5(_ID_NAMESPACE, seed.encode("utf-8", "backslashreplace").decode("utf-8"))),
        "detail-type": CLOUDTRAIL_DETAIL_TYPE,
        "source": f"aws.{service}",
        "account": str(account or ""),
        "time": str(record.get("eventTime", "")),
        "region": str(record.get("awsRegion", "")),
        "resources": [],
        "detail": dict(record),
    }


def is_iam_user_name(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and IAM_USER_NAME.fullmatch(value) is not None


def is_access_key_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and ACCESS_KEY_ID.fullmatch(value) is not None


# ------------------------------------------------------------------------------------------ files


def _text(path: Path, limits: ReadLimits) -> str:
    raw = _raw(path, limits.file_bytes)
    if not raw.strip():
        raise UnreadableInput(f"{path}: empty file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(f"{path}: not UTF-8 text (byte {exc.start})") from exc


def _raw(path: Path, limit: int) -> bytes:
    """The file's bytes, gunzipped if gzipped, reading at most ``limit + 1`` bytes of output."""
    try:
        file = path.open("rb")
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot read: {exc.strerror or exc}") from exc
    gzipped = False
    with file:
        try:
            gzipped = file.read(2) == GZIP_MAGIC
            file.seek(0)
            if gzipped:
                with gzip.GzipFile(fileobj=file) as stream:
                    data = stream.read(limit + 1)
            else:
                data = file.read(limit + 1)
        except (OSError, EOFError, zlib.error) as exc:
            problem = "corrupt gzip data" if gzipped else "cannot read"
            raise UnreadableInput(f"{path}: {problem}: {exc}") from exc
    if len(data) > limit:
        raise UnreadableInput(f"{path}: more than {limit} bytes" + (" once decompressed" if gzipped else ""))
    return data


def _documents(path: Path, text: str, limits: ReadLimits) -> list[tuple[str, Any]]:
    """(location, JSON value or Refused) pairs: the whole file, or each line of a JSON-lines file.

    The file is read as JSON lines when it is not one JSON document and at least half of its
    non-empty lines are; otherwise it is refused whole with the reason the document failed.
    """
    try:
        return [(str(path), _loads(text, limits, whole=True))]
    except Refused as whole:
        lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip(" \t\r")]
        if len(lines) < 2:
            raise UnreadableInput(f"{path}: {whole}") from whole
        documents: list[tuple[str, Any]] = []
        for number, line in lines:
            try:
                documents.append((f"{path}:{number}", _loads(line, limits, whole=False)))
            except Refused as exc:
                documents.append((f"{path}:{number}", exc))
        parsed = sum(not isinstance(value, Refused) for _, value in documents)
        if parsed * 2 < len(lines):
            raise UnreadableInput(f"{path}: {whole}") from whole
        return documents


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_AS_PARENTHESES = str.maketrans("[{]}", "(())")


def _too_deep(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` in JSON text, decided without parsing or recursion.

    Strings are set aside, brackets kept. Each pass deletes the innermost pairs, so a pair left
    after ``limit`` passes encloses more than ``limit`` levels; so do more than ``limit`` brackets
    never closed (a truncated file).
    """
    nesting = _NOT_BRACKET.sub("", _STRING.sub("", text)).translate(_AS_PARENTHESES)
    for _ in range(limit):
        inner_removed = nesting.replace("()", "")
        if len(inner_removed) == len(nesting):
            break
        nesting = inner_removed
    return "()" in nesting or nesting.count("(") > limit


def _loads(text: str, limits: ReadLimits, *, whole: bool) -> Any:
    if _too_deep(text, limits.depth):
        raise Refused(f"nested deeper than {limits.depth} levels")

    def integer(digits: str) -> int | _WideInteger:
        width = len(digits.lstrip("-"))
        return _WideInteger(width) if width > limits.int_digits else int(digits)

    try:
        return json.loads(text, parse_int=integer)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if whole else f"column {exc.colno}"
        raise Refused(f"not JSON: {exc.msg}: {where}") from exc
    except (RecursionError, ValueError) as exc:  # bounded above; kept so that no parse error escapes
        raise Refused(f"not JSON: {type(exc).__name__}: {exc}") from exc


def _items(location: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and "Records" in value:
        records = value["Records"]
        if not isinstance(records, list):
            return [(location, Refused(f"Records must be an array, got {json_type(records)}"))]
        return [(f"{location} Records[{i}]", v) for i, v in enumerate(records)]
    if isinstance(value, list):
        return [(f"{location}[{i}]", v) for i, v in enumerate(value)]
    return [(location, value)]


# ------------------------------------------------------------------------------------------ items


def _read(where: str, item: Any, limits: ReadLimits) -> _Read:
    """One item as a valid EventBridge event or invocation-log record, or Refused with the reason."""
    if isinstance(item, Refused):
        raise item
    if not isinstance(item, dict):
        raise Refused(f"expected a JSON object, got {json_type(item)}")
    if "detail-type" in item:
        event, from_record = item, False
    elif "schemaType" in item:
        return _read_invocation_log(where, item, limits)
    elif "eventName" in item or "eventSource" in item:
        event, from_record = to_eventbridge(item), True
    else:
        raise Refused("neither an EventBridge event nor a CloudTrail record nor a model-invocation log record")
    size = _encoded_size(event, limits)
    if size > limits.event_bytes:
        raise Refused(f"event of {size} bytes, more than the {limits.event_bytes} bytes EventBridge accepts")
    if problem := refusal(event):  # the detector's own bounds (nesting, integer width), so it is refused here
        raise Refused(problem)
    moment, time_field = _validated_time(event, from_record)
    return _Read(where, event, moment, time_field)


def _read_invocation_log(where: str, record: dict[str, Any], limits: ReadLimits) -> _Read:
    """One model-invocation log record, validated as the detector will validate it; never quoted in a reason."""
    size = _encoded_size(record, limits)
    if size > limits.event_bytes:
        raise Refused(f"invocation-log record of {size} bytes, more than the {limits.event_bytes} bytes Warden reads")
    if problem := refusal(record):
        raise Refused(problem)
    try:
        parsed = ModelInvocationLog.model_validate(record)
    except ValidationError as exc:
        raise Refused("invocation-log record: " + _describe(exc, in_detail=False)) from exc
    return _Read(where, record, parsed.timestamp, "timestamp", INVOCATION_LOG)


def _encoded_size(event: dict[str, Any], limits: ReadLimits) -> int:
    """The event's size as UTF-8 JSON; Refused if it cannot be sent as JSON at all."""

    def unencodable(value: Any) -> Any:
        if isinstance(value, _WideInteger):
            raise Refused(f"an integer has {value.digits} digits (at most {limits.int_digits} accepted)")
        raise Refused(f"a value of type {type(value).__name__} is not JSON")

    try:
        return len(json.dumps(event, ensure_ascii=False, allow_nan=False, default=unencodable).encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise Refused("a string is not valid Unicode (lone surrogate)") from exc
    except ValueError as exc:  # allow_nan=False
        raise Refused("a number is not finite (NaN or Infinity)") from exc


def _validated_time(event: dict[str, Any], from_record: bool) -> tuple[datetime, str]:
    """Validate with the library's models; the event's time and the name of the field it came from.

    The envelope ``time`` (when the event reached EventBridge) must carry a time zone: the local
    runner replays each event at that time.
    """
    cloudtrail = event.get("detail-type") == CLOUDTRAIL_DETAIL_TYPE
    model = CloudTrailEvent if cloudtrail else EventBridgeModel
    try:
        parsed = model.model_validate(event)
    except ValidationError as exc:
        raise Refused(_describe(exc, in_detail=cloudtrail and from_record)) from exc
    if parsed.time.tzinfo is None:
        raise Refused("time has no time zone")
    if not isinstance(parsed, CloudTrailEvent):
        return parsed.time, "time"
    record = parsed.detail
    identity, prefix = record.user_identity, "" if from_record else "detail."
    if problem := identity_problem(identity.type, identity.user_name, identity.access_key_id):
        raise Refused(prefix + problem)
    return record.event_time, "eventTime"


def identity_problem(kind: object, user_name: object, access_key_id: object) -> str | None:
    """What is refused in a record's identity beyond the models: a user name or key id IAM would never issue."""
    if kind == "IAMUser" and user_name is not None and not is_iam_user_name(user_name):
        return "userIdentity.userName is not a name IAM allows (1-64 of A-Z a-z 0-9 _+=,.@-)"
    if access_key_id and not is_access_key_id(access_key_id):
        return "userIdentity.accessKeyId is not a key id IAM issues (16-128 of A-Z a-z 0-9 _)"
    return None


_TYPE_PROBLEMS = {
    "missing": "is missing",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "string_type": "must be a string",
    "list_type": "must be an array",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def _describe(error: ValidationError, *, in_detail: bool) -> str:
    """What is wrong, field by field, without the values. For a record, fields are named as in the record."""
    problems = error.errors(include_url=False, include_input=False)
    if in_detail and any(p["loc"][:1] == ("detail",) for p in problems):
        problems = [p for p in problems if p["loc"][:1] == ("detail",)]
    described = []
    for problem in problems:
        loc = problem["loc"][1:] if in_detail and problem["loc"][:1] == ("detail",) else problem["loc"]
        name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        if problem["type"] in _TYPE_PROBLEMS:
            described.append(f"{name} {_TYPE_PROBLEMS[problem['type']]}")
        elif problem["type"] == "value_error":  # the models' own validators say what is expected
            described.append(f"{name} {str(problem['msg']).removeprefix('Value error, ')}")
        else:
            described.append(f"{name}: {problem['msg']}")
    shown = "; ".join(described[:5])
    return shown + (f"; and {len(described) - 5} more" if len(described) > 5 else "")


def json_type(value: Any) -> str:
    """A value's JSON type, as problems name it (never the value itself)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | _WideInteger):
        return "number"
    return {dict: "object", list: "array", str: "string", type(None): "null"}.get(type(value), type(value).__name__)


def _near_the_median(read: list[_Read], limits: ReadLimits, errors: list[str]) -> list[_Read]:
    """The events within ``days_from_median`` of the run's median event time; the others named in ``errors``.

    A replay is one stretch of activity: an event dated years away from the rest is a forgery or a
    corruption, and would otherwise hold a detector's state for as long.
    """
    if not read:
        return []
    median = sorted(r.moment for r in read)[(len(read) - 1) // 2]
    allowed, kept = timedelta(days=limits.days_from_median), []
    for r in read:
        distance = abs(r.moment - median)
        if distance <= allowed:
            kept.append(r)
            continue
        errors.append(
            f"{r.origin}: {r.time_field} {_iso(r.moment)} is {distance.days} days from the run's median event"
            f" time {_iso(median)} (at most {limits.days_from_median} accepted)"
        )
    return kept


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
