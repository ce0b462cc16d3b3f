"""Rows as Athena returns them for the query of :meth:`warden.query.Selection.sql`, built from CloudTrail records.

The JSON SerDe of the CloudTrail table reads a record's fields into the table's columns; the query
selects them under their camelCase aliases, and Athena returns every value as text (NULL as no value).
The unit tests rebuild records from these rows and the Athena integration test seeds the emulator with them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from warden.query import Column, columns


def json_text(value: object) -> str | None:
    """A JSON value as the JSON SerDe gives it for a string column: strings as they are, the rest as JSON."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _at(record: Mapping[str, Any], path: str) -> object:
    value: object = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def athena_value(column: Column, record: Mapping[str, Any]) -> str | None:
    """What Athena returns for one column of the generated query, for a record stored by CloudTrail."""
    value = _at(record, column.path)
    if value is None:
        return None
    if column.kind == "boolean":
        return "true" if value is True else "false" if value is False else str(value)
    if column.kind == "objects":
        items = value if isinstance(value, list) else []
        cells = [{k: (i.get(k) if isinstance(i, dict) else None) for k in ("ARN", "accountId", "type")} for i in items]
        return json.dumps(cells, separators=(",", ":"))
    if column.kind == "json":
        return json.dumps(value, separators=(",", ":"))
    return json_text(value)


def athena_row(record: Mapping[str, Any]) -> dict[str, str | None]:
    """One result row of Selection.sql for a record, keyed by the query's column aliases."""
    return {column.path: athena_value(column, record) for column in columns()}
