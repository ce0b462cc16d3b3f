"""IAM policy documents as CloudTrail records them, parsed into statements detectors can reason over.

CloudTrail writes a policy document (``policyDocument``, ``assumeRolePolicyDocument``, a bucket's or a
key's ``policy``) as a JSON string, sometimes URL-encoded, and a few services as an object. IAM's
grammar lets most elements be a string or a list, and ``Principal`` be ``"*"``, an object of lists or
strings, or absent. :func:`parse` normalises all of it; it never raises, because a document an
attacker wrote is input, not code: what cannot be read is None, and a detector decides what that means.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

MAX_DOCUMENT_CHARS = 131_072
"""Far above IAM's largest policy (a role trust policy is at most 4 KB, a bucket policy 20 KB)."""
ACCOUNT_ID = re.compile(r"^\d{12}$")
ARN_ACCOUNT = re.compile(r"^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):")


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    principals: tuple[tuple[str, str], ...] = ()
    """``(kind, value)`` pairs: ``("AWS", "arn:...")``, ``("Service", "ec2.amazonaws.com")``,
    ``("Federated", ...)``, ``("*", "*")`` for ``"Principal": "*"``."""
    not_principals: tuple[tuple[str, str], ...] = ()
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    """operator -> condition key (lower case) -> values."""
    sid: str | None = None

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    def condition_values(self, key: str) -> tuple[str, ...]:
        """Every value any operator compares condition ``key`` with (case-insensitive key)."""
        wanted = key.lower()
        return tuple(v for by_key in self.conditions.values() for k, vs in by_key.items() if k == wanted for v in vs)


def parse(document: object) -> list[Statement] | None:
    """The statements of a policy document (a JSON string, URL-encoded or not, or an object); None if unreadable."""
    if isinstance(document, str):
        if len(document) > MAX_DOCUMENT_CHARS:
            return None
        text = document.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # a deeply nested document under the size limit
            return None
    if not isinstance(document, dict):
        return None
    raw = document.get("Statement")
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        return None
    statements = [_statement(item) for item in items if isinstance(item, dict)]
    return [s for s in statements if s is not None]


def _statement(item: Mapping[str, Any]) -> Statement | None:
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        return None
    return Statement(
        effect=effect,
        actions=_strings(item.get("Action")),
        not_actions=_strings(item.get("NotAction")),
        resources=_strings(item.get("Resource")),
        not_resources=_strings(item.get("NotResource")),
        principals=_principals(item.get("Principal")),
        not_principals=_principals(item.get("NotPrincipal")),
        conditions=_conditions(item.get("Condition")),
        sid=item.get("Sid") if isinstance(item.get("Sid"), str) else None,
    )


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _principals(value: object) -> tuple[tuple[str, str], ...]:
    if value == "*":
        return (("*", "*"),)
    if not isinstance(value, dict):
        return ()
    return tuple((kind, v) for kind, values in value.items() if isinstance(kind, str) for v in _strings(values))


def _conditions(value: object) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(value, dict):
        return {}
    parsed: dict[str, dict[str, tuple[str, ...]]] = {}
    for operator, by_key in value.items():
        if isinstance(operator, str) and isinstance(by_key, dict):
            parsed[operator] = {k.lower(): _values(vs) for k, vs in by_key.items() if isinstance(k, str)}
    return parsed


def _values(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(str(v) for v in items if isinstance(v, str | bool | int))


def principal_account(value: str) -> str | None:
    """The account of an ``AWS`` principal: a bare 12-digit id or an IAM/STS ARN; None for ``*`` and others."""
    if ACCOUNT_ID.match(value):
        return value
    match = ARN_ACCOUNT.match(value)
    return match.group(1) if match else None


def action_matches(pattern: str, action: str) -> bool:
    """Whether IAM action ``pattern`` (``*`` and ``?`` wildcards, case-insensitive) covers ``action``."""
    regex = "^" + re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, action.lower()) is not None
