"""What the policy-change detectors share: who acted, on which IAM identity, and how broad a grant is.

Pure helpers over :class:`~warden.models.CloudTrailRecord`: no state, no settings, never raising for a
record whose request or response has an unexpected shape (CloudTrail writes what the caller sent, and
an attacker chooses that).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from warden.models import CloudTrailRecord
from warden.models.wire import truncated
from warden.policy_documents import Statement, action_matches

IAM = "iam.amazonaws.com"
BEDROCK = "bedrock.amazonaws.com"
ORGANIZATIONS = "organizations.amazonaws.com"
MAX_LISTED = 10
MAX_KEPT_DOCUMENT = 10_240
"""Longest policy document a finding carries (IAM's limit for a role's inline policies, in characters)."""
"""Most items of one list (actions, reasons, resources) a finding's details carry."""
AWS_MANAGED_POLICY = re.compile(r"^arn:aws[\w-]*:iam::aws:policy/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$")
ARN_PARTITION = re.compile(r"^arn:(aws[\w-]*):")

IamKind = Literal["user", "role", "group", "policy"]
Level = Literal["admin", "iam", "bedrock"]
"""How broad a grant is: every action, IAM privilege escalation (admin in one more call), Bedrock's controls."""
LEVEL_ORDER: dict[Level, int] = {"admin": 3, "iam": 2, "bedrock": 1}

EVERY_SERVICE_PROBES = ("ec2:RunInstances", "s3:GetObject", "iam:CreateUser", "bedrock:InvokeModel")
"""An action pattern covering all of these covers every service (``*``, ``*:*``)."""
IAM_ESCALATION = (
    "iam:AttachUserPolicy",
    "iam:AttachRolePolicy",
    "iam:AttachGroupPolicy",
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "iam:PutGroupPolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:UpdateAssumeRolePolicy",
    "iam:AddUserToGroup",
    "iam:PassRole",
    "iam:DeleteUserPermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
)
"""IAM actions that let their holder grant itself more: a wildcard covering one of them is admin-equivalent."""
BEDROCK_CONTROLS = (
    "bedrock:DeleteModelInvocationLoggingConfiguration",
    "bedrock:PutModelInvocationLoggingConfiguration",
    "bedrock:DeleteGuardrail",
    "bedrock:UpdateGuardrail",
    "bedrock:DeleteEnforcedGuardrailConfiguration",
    "bedrock:PutEnforcedGuardrailConfiguration",
    "bedrock:PutUseCaseForModelAccess",
    "bedrock:PutFoundationModelEntitlement",
    "bedrock:CreateFoundationModelAgreement",
)
"""Bedrock actions that switch its defences off or open model access: the ones ``bedrock:*`` adds to an app's grant."""


def params(record: CloudTrailRecord) -> Mapping[str, Any]:
    return record.request_parameters or {}


def response(record: CloudTrailRecord) -> Mapping[str, Any]:
    return record.response_elements or {}


def text(mapping: object, *path: str) -> str | None:
    """The non-empty string at ``path`` in nested mappings, or None."""
    value = mapping
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value if isinstance(value, str) and value else None


def flag(mapping: object, key: str) -> bool | None:
    """A boolean request field; CloudTrail sometimes writes booleans as strings."""
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def strings(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, str)]


def partition(record: CloudTrailRecord) -> str:
    match = ARN_PARTITION.match(record.user_identity.arn or "")
    return match.group(1) if match else "aws"


def iam_arn(record: CloudTrailRecord, kind: IamKind, name: str) -> str:
    """The ARN of an IAM identity of the record's account, from its name (a path is not in the request)."""
    return f"arn:{partition(record)}:iam::{record.account}:{kind}/{name}"


def short_name(value: str) -> str:
    """The last segment of an ARN or path (``arn:...:function:name`` -> ``name``, ``a/b/c`` -> ``c``)."""
    tail = value.rsplit(":", 1)[-1] if value.startswith("arn:") and "/" not in value else value
    return tail.rstrip("/").rsplit("/", 1)[-1]


def managed_policy(arn: str | None) -> str | None:
    """The name of an AWS managed policy (``arn:aws:iam::aws:policy/AdministratorAccess``), or None."""
    match = AWS_MANAGED_POLICY.match(arn or "")
    return match.group(1) if match else None


def actor_arn(record: CloudTrailRecord) -> str:
    identity = record.user_identity
    return identity.arn or identity.issuer_arn or identity.invoked_by or f"unknown@{record.account}"


def actor(record: CloudTrailRecord) -> dict[str, Any]:
    """Who made the call, for a finding's details."""
    identity = record.user_identity
    return {
        "actor": actor_arn(record),
        "actor_type": identity.type,
        "actor_access_key_id": identity.access_key_id,
        "actor_credential": identity.credential_type,
        "session_issuer": identity.issuer_arn,
        "source_ip": record.source_ip_address,
        "user_agent": truncated(record.user_agent, 512) if record.user_agent else None,
    }


def compact_document(document: object) -> str | None:
    """A policy document from a request (JSON text, URL-encoded or not, or an object) as compact JSON.

    A finding carries it so that a revert can check that IAM still holds what the event put; None when it
    is unreadable or longer than :data:`MAX_KEPT_DOCUMENT` (IAM's largest inline policy, a role's).
    """
    value = document
    if isinstance(document, str):
        raw = document.strip()
        raw = unquote(raw) if raw[:3].upper() == "%7B" else raw
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            return None
    if not isinstance(value, dict):
        return None
    try:
        compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        return None
    return compact if len(compact) <= MAX_KEPT_DOCUMENT else None


def cut(values: Iterable[str], limit: int = MAX_LISTED) -> list[str]:
    """Distinct values in order, at most ``limit``, each cut at 256 characters."""
    return [truncated(v, 256) for v in dict.fromkeys(values)][:limit]


@dataclass(frozen=True)
class Grant:
    """The broadest thing a policy document allows on every resource of a kind."""

    level: Level
    actions: tuple[str, ...]
    """The patterns that make it broad (``*``, ``iam:*``, ``NotAction: iam:*`` ...)."""
    conditional: bool
    """Every statement behind it carries a Condition (it may be narrower than it looks)."""


def unbounded(resource: str) -> bool:
    """``*``, or every resource of a kind (``arn:aws:iam::123456789012:role/*``, ``arn:aws:bedrock:*:*:*``,
    ``arn:aws:lambda:*:*:function:*``); one bucket's objects or one function's versions are not."""
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return False
    tail = parts[5]
    if tail in ("*", "*/*"):
        return True
    if parts[2] == "s3":  # ``bucket/*`` is one bucket's objects, not a kind
        return False
    kind, wild = tail[:-2], tail[-2:]
    return wild in ("/*", ":*") and bool(kind) and not any(c in kind for c in "*?/:")


def _wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def statement_level(statement: Statement) -> tuple[Level, tuple[str, ...]] | None:
    """How broad one statement is, and the action patterns that make it so; None if it is not broad."""
    if not statement.allows:
        return None
    if not (any(unbounded(r) for r in statement.resources) or (statement.not_resources and not statement.resources)):
        return None
    if statement.not_actions and not statement.actions:
        return "admin", tuple(f"NotAction: {a}" for a in statement.not_actions)
    every = tuple(a for a in statement.actions if all(action_matches(a, probe) for probe in EVERY_SERVICE_PROBES))
    if every:
        return "admin", every
    iam = tuple(a for a in statement.actions if _wildcard(a) and any(action_matches(a, x) for x in IAM_ESCALATION))
    if iam:
        return "iam", iam
    bedrock = tuple(
        a for a in statement.actions if _wildcard(a) and any(action_matches(a, x) for x in BEDROCK_CONTROLS)
    )
    return ("bedrock", bedrock) if bedrock else None


def broad_grant(statements: list[Statement]) -> Grant | None:
    """The broadest grant of a parsed policy document, or None when it grants nothing broad."""
    found: dict[Level, list[tuple[Statement, tuple[str, ...]]]] = {}
    for statement in statements:
        level = statement_level(statement)
        if level:
            found.setdefault(level[0], []).append((statement, level[1]))
    if not found:
        return None
    top = max(found, key=lambda level: LEVEL_ORDER[level])
    hits = found[top]
    actions = tuple(cut(a for _, patterns in hits for a in patterns))
    return Grant(level=top, actions=actions, conditional=all(bool(s.conditions) for s, _ in hits))
