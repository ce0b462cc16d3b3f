"""Reads event files in every shape Warden meets in the wild, and says exactly what it could not read.

Accepted: EventBridge events (one object, an array, or one per line), CloudTrail records (a JSON
array, one per line, or CloudTrail's ``{"Records": [...]}`` log files), each gzipped or not.
CloudTrail records are wrapped into the EventBridge envelope that CloudTrail delivery would give
them, so that every input goes through the template's own rules.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
_ID_NAMESPACE = uuid.UUID("6f1d1c3e-8f0a-4a53-9d0e-2b8f6c1e7a10")


class UnreadableInput(Exception):
    """A whole file could not be read or parsed."""


@dataclass
class ReadResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """One line per file or item that was skipped, naming it."""


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UnreadableInput(f"{path}: corrupt gzip data: {exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(f"{path}: not UTF-8 text (byte {exc.start})") from exc


def _documents(path: Path, text: str) -> list[tuple[str, Any]]:
    """(location, JSON value) pairs: the whole file, or each line of a JSON-lines file.

    A line that is not JSON comes back as (its error message, None), in its place.
    """
    stripped = text.strip()
    if not stripped:
        raise UnreadableInput(f"{path}: empty file")
    try:
        return [(str(path), json.loads(stripped))]
    except json.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise UnreadableInput(
                f"{path}: not JSON: {whole_error.msg} at line {whole_error.lineno} column {whole_error.colno}"
            ) from whole_error
        documents: list[tuple[str, Any]] = []
        for number, line in lines:
            try:
                documents.append((f"{path}:{number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                documents.append((f"{path}:{number}: not JSON: {exc.msg}", None))
        if all(value is None for _, value in documents):
            raise UnreadableInput(f"{path}: neither JSON nor JSON lines ({documents[0][0]})") from whole_error
        return documents


def to_eventbridge(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event that CloudTrail delivers for a record (deterministic id)."""
    source = str(record.get("eventSource", "unknown.amazonaws.com")).split(".")[0]
    identity: dict[str, Any] = record["userIdentity"] if isinstance(record.get("userIdentity"), dict) else {}
    return {
        "version": "0",
        "id": str(uuid.uuid5(_ID_NAMESPACE, str(record.get("eventID", json.dumps(record, sort_keys=True))))),
        "detail-type": CLOUDTRAIL_DETAIL_TYPE,
        "source": f"aws.{source}",
        "account": str(record.get("recipientAccountId") or identity.get("accountId") or ""),
        "time": str(record.get("eventTime", "")),
        "region": str(record.get("awsRegion", "")),
        "resources": [],
        "detail": record,
    }


def _events(location: str, value: Any) -> Iterable[tuple[str, dict[str, Any] | str]]:
    if isinstance(value, dict) and isinstance(value.get("Records"), list):
        items = [(f"{location} Records[{i}]", v) for i, v in enumerate(value["Records"])]
    elif isinstance(value, list):
        items = [(f"{location}[{i}]", v) for i, v in enumerate(value)]
    else:
        items = [(location, value)]
    for where, item in items:
        if not isinstance(item, dict):
            yield where, f"{where}: expected a JSON object, got {type(item).__name__}"
        elif "detail-type" in item:
            yield where, item
        elif "eventName" in item or "eventSource" in item:
            yield where, to_eventbridge(item)
        else:
            yield where, f"{where}: neither an EventBridge event nor a CloudTrail record"


def read_events(paths: Iterable[Path]) -> ReadResult:
    """Every event in ``paths``, in time order; unreadable files and items are listed in ``errors``."""
    result = ReadResult()
    for path in paths:
        try:
            documents = _documents(path, _text(path))
        except UnreadableInput as exc:
            result.errors.append(str(exc))
            continue
        for location, value in documents:
            if value is None:
                result.errors.append(location)
                continue
            for _where, item in _events(location, value):
                if isinstance(item, str):
                    result.errors.append(item)
                else:
                    result.events.append(item)
    result.events.sort(key=_event_time)
    return result


def _event_time(event: dict[str, Any]) -> str:
    detail = event.get("detail")
    if isinstance(detail, dict) and isinstance(detail.get("eventTime"), str):
        return str(detail["eventTime"])
    return str(event.get("time", ""))
