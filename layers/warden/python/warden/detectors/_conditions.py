"""Conditions on raw CloudTrail fields: what a detector declares about every record it can act on.

A detector's ``consumes`` names ``(eventSource, eventName)`` pairs; a few take every call of a source
(``bedrock-api-key-outside-bedrock`` watches every service a ``BedrockAPIKey-*`` user calls) and most
of those calls are none of its business. Its ``where`` says, per consumed pair, a condition that every
record it could raise a finding on or learn from satisfies, so that a hunt can drop the rest before
building a model, and an Athena query can leave them in S3.

A condition is data, not code: it reads the record as CloudTrail writes it (camelCase, dotted
``path``s such as ``userIdentity.userName``) and has two readings that must agree: its ``predicate()``
(a Python function over the raw dict, which never raises whatever the dict holds) and the SQL that
:mod:`warden.query` writes for it. A missing field, or a value of the wrong JSON type, fails every
condition, the way a model field of the wrong type fails validation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Predicate = Callable[[Mapping[str, Any]], bool]


def _checked(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if not all(_SEGMENT.fullmatch(part) for part in parts):
        raise ValueError(f"a condition's path is dotted CloudTrail field names: {path!r}")
    return parts


@dataclass(frozen=True)
class Equals:
    """The field is the string ``value``."""

    path: str
    value: str

    def __post_init__(self) -> None:
        _checked(self.path)

    def predicate(self) -> Predicate:
        wanted, parts = self.value, _checked(self.path)
        if len(parts) == 2:  # the common case (``userIdentity.type``), without a getter call per record
            outer, inner = parts

            def equal_in(record: Mapping[str, Any]) -> bool:
                value = record.get(outer)
                return isinstance(value, dict) and value.get(inner) == wanted  # only a str equals a str

            return equal_in
        get = getter(self.path)

        def equal(record: Mapping[str, Any]) -> bool:
            value = get(record)
            return isinstance(value, str) and value == wanted

        return equal


@dataclass(frozen=True)
class Prefix:
    """The field is a string that starts with ``prefix`` (in any letter case when ``ignore_case``)."""

    path: str
    prefix: str
    ignore_case: bool = False

    def __post_init__(self) -> None:
        _checked(self.path)

    def predicate(self) -> Predicate:
        get, ignore_case = getter(self.path), self.ignore_case
        prefix = self.prefix.lower() if ignore_case else self.prefix

        def starts(record: Mapping[str, Any]) -> bool:
            value = get(record)
            if not isinstance(value, str):
                return False
            return (value.lower() if ignore_case else value).startswith(prefix)

        return starts


@dataclass(frozen=True)
class IsTrue:
    """The field is JSON ``true`` or the string ``"true"`` in any letter case (CloudTrail writes both)."""

    path: str

    def __post_init__(self) -> None:
        _checked(self.path)

    def predicate(self) -> Predicate:
        get = getter(self.path)

        def true(record: Mapping[str, Any]) -> bool:
            value = get(record)
            return value is True or (isinstance(value, str) and value.lower() == "true")

        return true


@dataclass(frozen=True)
class Differs:
    """Both fields are non-empty strings, and not the same (e.g. the caller's account is not the recipient)."""

    left: str
    right: str

    def __post_init__(self) -> None:
        _checked(self.left)
        _checked(self.right)

    def predicate(self) -> Predicate:
        get_left, get_right = getter(self.left), getter(self.right)

        def differ(record: Mapping[str, Any]) -> bool:
            a, b = get_left(record), get_right(record)
            return isinstance(a, str) and isinstance(b, str) and a != "" and b != "" and a != b

        return differ


@dataclass(frozen=True)
class AnyOf:
    """At least one of the conditions holds."""

    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if not self.conditions:
            raise ValueError("AnyOf needs at least one condition")

    def predicate(self) -> Predicate:
        return _either(tuple(c.predicate() for c in self.conditions))


@dataclass(frozen=True)
class AllOf:
    """Every one of the conditions holds."""

    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if not self.conditions:
            raise ValueError("AllOf needs at least one condition")

    def predicate(self) -> Predicate:
        return _both(tuple(c.predicate() for c in self.conditions))


def _either(checks: tuple[Predicate, ...]) -> Predicate:
    """``a or b or ...`` as nested closures: a generator per record costs more than the checks themselves."""
    first, *rest = checks
    if not rest:
        return first
    other = _either(tuple(rest))
    return lambda record: first(record) or other(record)


def _both(checks: tuple[Predicate, ...]) -> Predicate:
    first, *rest = checks
    if not rest:
        return first
    other = _both(tuple(rest))
    return lambda record: first(record) and other(record)


Condition = Equals | Prefix | IsTrue | Differs | AnyOf | AllOf


def paths(condition: Condition) -> frozenset[str]:
    """Every field a condition reads."""
    match condition:
        case Equals(path=path) | Prefix(path=path) | IsTrue(path=path):
            return frozenset({path})
        case Differs(left=left, right=right):
            return frozenset({left, right})
        case AnyOf(conditions=inner) | AllOf(conditions=inner):
            return frozenset().union(*(paths(c) for c in inner))
    raise TypeError(f"not a condition: {type(condition).__name__}")  # pragma: no cover (the union is closed)


def getter(path: str) -> Callable[[Mapping[str, Any]], object]:
    """A function reading a dotted field of a raw record: None when any step is missing or not an object."""
    parts = _checked(path)
    if len(parts) == 1:
        (only,) = parts

        def get_one(record: Mapping[str, Any]) -> object:
            return record.get(only)

        return get_one
    if len(parts) == 2:
        outer, inner = parts

        def get_two(record: Mapping[str, Any]) -> object:
            value = record.get(outer)
            return value.get(inner) if isinstance(value, dict) else None

        return get_two
    first, rest = parts[0], parts[1:]

    def get_many(record: Mapping[str, Any]) -> object:
        value = record.get(first)
        for part in rest:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get_many
