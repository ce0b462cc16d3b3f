"""Model-invocation log objects in S3, read the way Bedrock writes them: JSON lines, gzipped or not.

Bedrock delivers invocation logs to ``[prefix/]AWSLogs/<account>/BedrockModelInvocationLogs/<region>/
YYYY/MM/DD/HH/<name>.json.gz``, one record per line. Next to them it writes a permission-check object
and, when large-data delivery is on, the bodies of big requests under a ``data/`` segment: neither is a
log file (:func:`is_log_object`).

The object is streamed, never held whole: lines are read one at a time, each bounded by
:data:`MAX_LINE_BYTES`, and the object by :data:`MAX_OBJECT_BYTES` of decompressed text, so that a
gzip bomb stops at the bound. A line that is not JSON is handed on as its text (the detection service
refuses it and keeps where it was, never its content); what cannot be read at all (a corrupt gzip
stream, an object over the bound) ends the object with a :class:`Line` whose ``fatal`` is set. A failed
``GetObject`` (access denied, no such key) raises: the queue retries the message, then keeps it.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_OBJECT_BYTES = 64 * 1024 * 1024
"""Decompressed bytes read from one object; the rest is refused (and kept as a reference)."""
MAX_LINE_BYTES = 1024 * 1024
"""Bytes of one line. Bedrock moves request and response bodies over 100 KB to separate objects, so a
record is far smaller; a longer line is refused without being parsed."""
LOG_FOLDER = "/BedrockModelInvocationLogs/"
LOG_SUFFIXES = (".json.gz", ".json")
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Line:
    """One line of a log object: the JSON value it holds, or its text and why it is not a record."""

    number: int
    value: Any
    problem: str | None = None
    fatal: bool = False
    """The object cannot be read past this line (``value`` is None)."""


def is_log_object(key: str) -> bool:
    """Whether ``key`` names an invocation-log file (not a large-data body or the permission check)."""
    return LOG_FOLDER in f"/{key}" and "/data/" not in key and key.endswith(LOG_SUFFIXES)


class S3InvocationLogReader:
    """Streams the lines of invocation-log objects from S3."""

    def __init__(
        self, client: S3Client, *, max_object_bytes: int = MAX_OBJECT_BYTES, max_line_bytes: int = MAX_LINE_BYTES
    ) -> None:
        self._client = client
        self._max_object = max_object_bytes
        self._max_line = max_line_bytes

    def lines(self, bucket: str, key: str) -> Iterator[Line]:
        """The object's non-blank lines, in order (numbered from 1). Raises only if S3 refuses the read."""
        body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from read_lines(body, max_object_bytes=self._max_object, max_line_bytes=self._max_line)
        finally:
            body.close()


def read_lines(
    raw: Any, *, max_object_bytes: int = MAX_OBJECT_BYTES, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Line]:
    """The lines of a log stream (gzip is recognised by its magic bytes, whatever the key says)."""
    buffered = io.BufferedReader(raw, buffer_size=_CHUNK)
    stream: io.BufferedIOBase = gzip.GzipFile(fileobj=buffered) if buffered.peek(2)[:2] == _GZIP_MAGIC else buffered
    number, total = 0, 0
    while True:
        try:
            chunk = stream.readline(max_line_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            problem = f"the object cannot be decompressed past line {number}: {type(exc).__name__}"
            yield Line(number + 1, None, problem, fatal=True)
            return
        if not chunk:
            return
        number += 1
        total += len(chunk)
        if total > max_object_bytes:
            yield _too_large(number, max_object_bytes)
            return
        if len(chunk) > max_line_bytes and not chunk.endswith(b"\n"):
            skipped = _skip_rest_of_line(stream, max_object_bytes - total)
            if skipped is None:
                yield _too_large(number, max_object_bytes)
                return
            total += skipped
            yield Line(number, f"<{len(chunk) + skipped} bytes>", f"line longer than {max_line_bytes} bytes")
            continue
        text = chunk.strip()
        if not text:
            continue
        yield _parsed(number, text)


def _skip_rest_of_line(stream: io.BufferedIOBase, budget: int) -> int | None:
    """Read past the end of an over-long line; how many bytes that took, or None past ``budget``."""
    skipped = 0
    while True:
        try:
            chunk = stream.readline(_CHUNK)
        except (OSError, EOFError, zlib.error):
            return skipped
        skipped += len(chunk)
        if skipped > budget:
            return None
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def _too_large(number: int, limit: int) -> Line:
    return Line(
        number, None, f"the object is larger than {limit} bytes; lines from {number} on were not read", fatal=True
    )


def _parsed(number: int, text: bytes) -> Line:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return Line(number, text.decode("utf-8", errors="replace"), "line is not UTF-8")
    try:
        value = json.loads(decoded)
    except (ValueError, RecursionError):  # ValueError covers JSONDecodeError and integers past 4,300 digits
        return Line(number, decoded, "line is not JSON")
    if not isinstance(value, dict):
        return Line(number, value, f"line is a JSON {type(value).__name__}, not an object")
    return Line(number, value)
