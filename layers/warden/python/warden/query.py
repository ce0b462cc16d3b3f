"""Which raw CloudTrail records the selected detectors can use: one plan, read by every engine.

A hunt over files asks :meth:`Selection.wants` of each raw record before it builds a model, and a hunt
over Athena sends the SQL of :meth:`Selection.sql`. Both come from the same plan, made from the
registry: per event source, the event names some detector consumes, the names consumed only under a
condition (a detector's ``where``, see :mod:`warden.detectors._conditions`), and what every other event
of the source must satisfy (a detector consuming ``(source, "*")``). A record is wanted iff some
selected detector consumes its pair and that detector's condition holds; the SQL says the same thing.

The SQL runs over the CloudTrail table AWS documents for Athena (a JSON SerDe over the trail's S3
objects, partition projection on the delivery day as ``timestamp`` = ``yyyy/MM/dd``; ``docs/athena.md``).
It selects only the columns the CloudTrail model reads, each aliased to its camelCase path, so that
:meth:`Selection.record_from_row` rebuilds the record as CloudTrail wrote it. Model-invocation logs and
GuardDuty findings are not in that table: :attr:`Selection.wants_invocation_logs` and
:attr:`Selection.wants_guardduty` say whether a hunt must read them from elsewhere.

Pure: no boto3, no I/O.
"""

from __future__ import annotations

import functools
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from warden.detectors._conditions import AllOf, AnyOf, Condition, Differs, Equals, IsTrue, Predicate, Prefix
from warden.detectors.registry import ANY_EVENT, Detector
from warden.models import CloudTrailRecord, GuardDutyFinding, ModelInvocationLog

Check = bool | Predicate
"""What a record of one (source, name) needs: True (nothing more), False (never wanted) or a predicate."""

# ------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class SourcePlan:
    """What the selection takes of one event source."""

    source: str
    everything: bool = False
    """Some detector takes every event of the source, unconditionally: no name filter at all."""
    names: frozenset[str] = frozenset()
    """Names taken whatever the record holds."""
    named: Mapping[str, tuple[Condition, ...]] = field(default_factory=dict)
    """Names taken only when one of their conditions holds."""
    rest: tuple[Condition, ...] = ()
    """Any name (``*``) taken when one of these holds."""

    def check(self, name: str) -> Check:
        """The check a record of ``name`` must pass."""
        if self.everything or name in self.names:
            return True
        conditions = (*self.named.get(name, ()), *self.rest)
        return AnyOf(conditions).predicate() if conditions else False

    def default(self) -> Check:
        """The check of a name the plan does not list."""
        return True if self.everything else (AnyOf(self.rest).predicate() if self.rest else False)


def _plans(detectors: Iterable[Detector[BaseModel]]) -> dict[str, SourcePlan]:
    everything: set[str] = set()
    names: dict[str, set[str]] = {}
    named: dict[str, dict[str, list[Condition]]] = {}
    rest: dict[str, list[Condition]] = {}
    for item in detectors:
        if item.record is not CloudTrailRecord:
            continue
        for source, name in item.consumes:
            condition = item.where.get((source, name))
            if condition is None and name == ANY_EVENT:
                everything.add(source)
            elif condition is None:
                names.setdefault(source, set()).add(name)
            elif name == ANY_EVENT:
                _add_once(rest.setdefault(source, []), condition)
            else:
                _add_once(named.setdefault(source, {}).setdefault(name, []), condition)
    plans = {}
    for source in sorted({*everything, *names, *named, *rest}):
        if source in everything:
            plans[source] = SourcePlan(source=source, everything=True)
            continue
        free = frozenset(names.get(source, ()))
        conditional = {n: tuple(c) for n, c in sorted(named.get(source, {}).items()) if n not in free}
        plans[source] = SourcePlan(source, names=free, named=conditional, rest=tuple(rest.get(source, ())))
    return plans


def _add_once(conditions: list[Condition], condition: Condition) -> None:
    if condition not in conditions:
        conditions.append(condition)


# ------------------------------------------------------------------------------------------ the columns

ColumnKind = Literal["text", "json", "boolean", "objects"]


@dataclass(frozen=True)
class Column:
    """One selected column: its Athena expression, and the camelCase path it is aliased to."""

    path: str
    expression: str
    kind: ColumnKind = "text"
    """``text`` as is; ``json`` a JSON document in a string; ``boolean`` ``true``/``false``; ``objects``
    a JSON array of objects built in the query (null members dropped)."""


TABLE_COLUMNS = frozenset(
    {
        "eventversion",
        "useridentity",
        "eventtime",
        "eventsource",
        "eventname",
        "awsregion",
        "sourceipaddress",
        "useragent",
        "errorcode",
        "errormessage",
        "requestparameters",
        "responseelements",
        "additionaleventdata",
        "requestid",
        "eventid",
        "resources",
        "eventtype",
        "apiversion",
        "readonly",
        "recipientaccountid",
        "serviceeventdetails",
        "sharedeventid",
        "vpcendpointid",
        "tlsdetails",
    }
)
"""The columns of the documented table (its struct columns have the CloudTrail fields, lower-cased)."""
JSON_TEXT = frozenset({"requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"})
"""Fields the table keeps as the JSON text CloudTrail wrote (their content varies by API)."""
NOT_IN_TABLE = frozenset({"managementEvent", "eventCategory"})
"""Model fields the documented table has no column for; no detector reads them."""
STRUCT_OBJECTS = {"userIdentity.sessionContext.attributes": ("mfaAuthenticated", "creationDate")}
"""Free-form model fields (``dict``) that the table declares as structs: selected field by field."""
RESOURCES = Column(
    path="resources",
    expression=(
        "json_format(CAST(transform(resources, r -> MAP(ARRAY['ARN', 'accountId', 'type'], "
        "ARRAY[r.arn, r.accountid, r.type])) AS JSON))"
    ),
    kind="objects",
)
"""An array of structs: rebuilt as JSON with CloudTrail's own key names (``ARN``), whatever Athena's
version does when it casts a row to JSON."""
BOOLEANS = frozenset({"readOnly"})
"""Declared ``string`` in the table (``'true'``/``'false'``), a JSON boolean in the record."""

_RESERVED_WORDS = """
alter and as between by case cast constraint create cross cube current_catalog current_date current_path current_role
current_schema current_time current_timestamp current_user date deallocate delete describe distinct drop else end escape
except execute exists extract false for from full group grouping having in inner insert intersect interval into is join
json_array json_exists json_object json_query json_table json_value left like listagg localtime localtimestamp natural
normalize not null on or order outer prepare recursive right rollup select skip table then time timestamp trim true
uescape union unnest using values when where with
"""
_RESERVED = frozenset(_RESERVED_WORDS.split())
"""Trino's reserved words, and Hive's ``date``/``time``/``timestamp``/``interval`` (``timestamp`` is the
partition): such an identifier must be quoted."""
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")
_TABLE_PART = re.compile(r"[A-Za-z0-9_]+")
_JSON_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifier(name: str) -> str:
    """``name`` as a Trino identifier: bare when plain lower case and not reserved, else double-quoted."""
    if _PLAIN.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def table_name(table: str) -> str:
    """``db.table`` as SQL, after checking that both are Athena names (letters, digits, underscores)."""
    parts = table.split(".")
    if len(parts) != 2 or not all(_TABLE_PART.fullmatch(part) for part in parts):
        raise ValueError("the Athena table must be DATABASE.TABLE (letters, digits and underscores only)")
    return ".".join(identifier(part.lower()) for part in parts)


def expression(path: str) -> str:
    """The Athena expression of a CloudTrail field (dotted camelCase path)."""
    parts = path.split(".")
    top = parts[0]
    if top.lower() not in TABLE_COLUMNS:
        raise ValueError(f"the CloudTrail table has no column for {path!r}")
    if top in JSON_TEXT:
        if len(parts) == 1:
            return top.lower()
        if not all(_JSON_KEY.fullmatch(part) for part in parts[1:]):
            raise ValueError(f"not a plain JSON path: {path!r}")
        return f"json_extract_scalar({top.lower()}, {literal('$.' + '.'.join(parts[1:]))})"
    return ".".join(identifier(part.lower()) for part in parts)


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The camelCase paths of every leaf field of a model, nested models followed."""
    found = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        nested = [arg for arg in _members(info.annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)]
        found += _leaf_paths(nested[0], f"{path}.") if nested else [path]
    return found


def _members(annotation: Any) -> list[Any]:
    """The types an annotation admits (``X | None`` -> ``[X, NoneType]``; ``Annotated`` unwrapped)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


@functools.cache
def columns(model: type[BaseModel] = CloudTrailRecord) -> tuple[Column, ...]:
    """The columns to select for ``model``: every field it reads that the documented table has (computed once)."""
    selected: list[Column] = []
    for path in _leaf_paths(model):
        if path in NOT_IN_TABLE:
            continue
        if path == RESOURCES.path:
            selected.append(RESOURCES)
        elif path in STRUCT_OBJECTS:
            selected += [Column(f"{path}.{key}", expression(f"{path}.{key}")) for key in STRUCT_OBJECTS[path]]
        elif path in JSON_TEXT:
            selected.append(Column(path, expression(path), "json"))
        else:
            selected.append(Column(path, expression(path), "boolean" if path in BOOLEANS else "text"))
    return tuple(selected)


# ------------------------------------------------------------------------------------------------ SQL


def condition_sql(condition: Condition) -> str:
    """A condition as an Athena (Trino) boolean expression; NULL (a missing field) counts as false."""
    match condition:
        case Equals(path=path, value=value):
            return f"{expression(path)} = {literal(value)}"
        case Prefix(path=path, prefix=prefix, ignore_case=True):
            return f"starts_with(lower({expression(path)}), {literal(prefix.lower())})"
        case Prefix(path=path, prefix=prefix):
            return f"starts_with({expression(path)}, {literal(prefix)})"
        case IsTrue(path=path):
            return f"lower({expression(path)}) = 'true'"
        case Differs(left=left, right=right):
            a, b = expression(left), expression(right)
            return f"({a} <> {b} AND {a} <> '' AND {b} <> '')"
        case AnyOf(conditions=inner):
            return _joined(" OR ", inner)
        case AllOf(conditions=inner):
            return _joined(" AND ", inner)
    raise TypeError(f"not a condition: {type(condition).__name__}")  # pragma: no cover (the union is closed)


def _joined(operator: str, conditions: tuple[Condition, ...]) -> str:
    if len(conditions) == 1:
        return condition_sql(conditions[0])
    return "(" + operator.join(condition_sql(c) for c in conditions) + ")"


def _names_sql(names: Iterable[str]) -> str:
    ordered = sorted(names)
    if len(ordered) == 1:
        return f"eventname = {literal(ordered[0])}"
    return f"eventname IN ({', '.join(literal(n) for n in ordered)})"


def source_sql(plan: SourcePlan) -> str:
    """The clause taking what the plan takes of its source."""
    head = f"eventsource = {literal(plan.source)}"
    if plan.everything:
        return f"({head})"
    alternatives = [_names_sql(plan.names)] if plan.names else []
    grouped: dict[tuple[Condition, ...], list[str]] = {}
    for name, conditions in plan.named.items():
        grouped.setdefault(conditions, []).append(name)
    for conditions, names in grouped.items():
        alternatives.append(f"({_names_sql(names)} AND {_joined(' OR ', conditions)})")
    if plan.rest:
        alternatives.append(_joined(" OR ", plan.rest))
    if len(alternatives) == 1:
        return f"({head} AND {alternatives[0]})"
    inner = "\n      OR ".join(alternatives)
    return f"({head} AND (\n      {inner}\n    ))"


PARTITION = "timestamp"
PARTITION_FORMAT = "%Y/%m/%d"
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DELIVERY_LAG = timedelta(days=1)
"""CloudTrail files a log under the day it delivers it, minutes after its events: the partitions read run
one day past the last event's day, so that the events of a day's last minutes are not missed."""


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} needs a time zone")
    return moment.astimezone(UTC)


def _ceil_second(moment: datetime) -> datetime:
    """The first whole second at or after ``moment`` (CloudTrail's event times are whole seconds)."""
    whole = moment.replace(microsecond=0)
    return whole + timedelta(seconds=1) if moment.microsecond else whole


# --------------------------------------------------------------------------------------- the selection


@dataclass(frozen=True)
class Selection:
    """The detectors a hunt runs, and what of CloudTrail, invocation logs and GuardDuty they read."""

    detectors: tuple[Detector[BaseModel], ...]
    plans: Mapping[str, SourcePlan]
    wants_invocation_logs: bool
    """Some selected detector reads model-invocation logs."""
    wants_guardduty: bool
    """Some selected detector reads GuardDuty findings."""
    _index: dict[str, tuple[dict[str, Check], Check]] = field(repr=False, compare=False)

    @classmethod
    def of(cls, detectors: Iterable[Detector[BaseModel]]) -> Selection:
        chosen = tuple(detectors)
        plans = _plans(chosen)
        index = {
            source: ({name: plan.check(name) for name in {*plan.names, *plan.named}}, plan.default())
            for source, plan in plans.items()
        }
        return cls(
            detectors=chosen,
            plans=types.MappingProxyType(plans),
            wants_invocation_logs=any(d.record is ModelInvocationLog for d in chosen),
            wants_guardduty=any(d.record is GuardDutyFinding for d in chosen),
            _index=index,
        )

    @property
    def wants_cloudtrail(self) -> bool:
        return bool(self.plans)

    def wants(self, record: Mapping[str, Any]) -> bool:
        """Whether a selected detector can act on this raw CloudTrail record; never raises.

        Two dict look-ups for most records; a predicate only for the sources and names a detector takes
        under a condition.
        """
        try:
            entry = self._index.get(record.get("eventSource"))  # type: ignore[arg-type]
        except (AttributeError, TypeError):  # not a mapping; an unhashable source
            return False
        if entry is None:
            return False
        name = record.get("eventName")
        if type(name) is not str:
            return False
        names, default = entry
        check = names.get(name, default)
        if check is True or check is False:
            return check
        return check(record)

    def sql(self, table: str, since: datetime, until: datetime) -> str:
        """The Athena query for the selection's CloudTrail events from ``since`` to ``until`` (both included,
        as ``warden hunt --since/--until`` reads them), in event-time order."""
        if not self.plans:
            raise ValueError("no selected detector reads CloudTrail")
        since, until = _utc(since, "since"), _utc(until, "until")
        if since > until:
            raise ValueError("since must not be after until")
        start, end = _ceil_second(since), until.replace(microsecond=0)  # may cross: a range without a whole second
        first_day = start.strftime(PARTITION_FORMAT)
        last_day = (end + DELIVERY_LAG).strftime(PARTITION_FORMAT)
        selected = ",\n  ".join(f"{c.expression} AS {identifier(c.path)}" for c in columns())
        sources = "\n  OR ".join(source_sql(plan) for plan in self.plans.values())
        return (
            f"SELECT\n  {selected}\n"
            f"FROM {table_name(table)}\n"
            f"WHERE {identifier(PARTITION)} BETWEEN {literal(first_day)} AND {literal(last_day)}\n"
            f"  AND eventtime >= {literal(start.strftime(EVENT_TIME_FORMAT))}\n"
            f"  AND eventtime <= {literal(end.strftime(EVENT_TIME_FORMAT))}\n"
            f"  AND (\n  {sources}\n  )\n"
            f"ORDER BY eventtime, eventid"
        )

    @staticmethod
    def record_from_row(row: Mapping[str, str | None]) -> dict[str, Any]:
        """The CloudTrail record (camelCase, nested) of one result row of :meth:`sql`.

        Column names are matched in any letter case (Athena may lower-case aliases); a NULL leaves the
        field out, as CloudTrail does. A JSON column that does not parse raises ValueError naming the
        column, never its content.
        """
        by_name = {name.lower(): value for name, value in row.items()}
        record: dict[str, Any] = {}
        for column in columns():
            raw = by_name.get(column.path.lower())
            if raw is None:
                continue
            value = _value(column, raw)
            if value is not None:
                _put(record, column.path.split("."), value)
        return record


def _value(column: Column, raw: str) -> Any:
    if column.kind == "text":
        return raw
    if column.kind == "boolean":
        return {"true": True, "false": False}.get(raw.lower(), raw)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError(f"column {column.path} is not JSON") from None
    if column.kind == "objects" and isinstance(value, list):
        return [{k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item for item in value]
    return value


def _put(record: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        record = record.setdefault(part, {})
    record[parts[-1]] = value
