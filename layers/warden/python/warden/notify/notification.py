"""What a playbook published to the notification topic, reduced to an allow-list of named fields.

Playbooks publish either the text message of their ``Notify`` state (``Key: value`` lines under a title and
an outcome) or a JSON document (a Warden notification object, or the Amazon Q Developer in chat applications
custom-notification format, whose facts are in ``metadata.additionalContext``). Both are read here into one
:class:`Notification`. Only the fields named below are ever read: anything else a message carries (a
finding's ``details``, a future field, anything injected) never reaches a chat message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

APPROVAL_STATUSES = frozenset({"PENDING_APPROVAL", "APPROVAL_PENDING", "AWAITING_APPROVAL"})
"""Outcomes meaning a playbook in ``approve`` mode is waiting for a human on a task token."""

MAX_FIELD_CHARS = 4000
"""Any one value is cut to this many characters on reading: the Slack builder cuts again to Block Kit's limits."""
MAX_ITEMS = 100
"""At most this many actions, reasons or notes are read."""


class Notification(BaseModel):
    """The facts a chat message may show. Every field is optional: a message names what it knows."""

    model_config = ConfigDict(frozen=True)

    subject: str | None = None
    title: str | None = None
    status: str | None = None
    """The playbook's outcome: CONTAINED, DRY_RUN, REFUSED_PROTECTED, FAILED, PENDING_APPROVAL..."""
    summary: str | None = None
    """The playbook's one-paragraph account of what it did or would do (metadata only, never inputs)."""
    finding_id: str | None = None
    incident_id: str | None = None
    """The incident an approval decides; the finding id unless the message names another."""
    detector: str | None = None
    family: str | None = None
    severity: str | None = None
    principal: str | None = None
    access_key_id: str | None = None
    account: str | None = None
    region: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    evidence_count: int | None = None
    first_evidence: str | None = None
    """The earliest evidence event id (a CloudTrail ``eventID``), for the console link."""
    recommended_playbook: str | None = None
    playbook: str | None = None
    """The playbook that published the message (the ``playbook`` message attribute)."""
    mode: str | None = None
    execution_arn: str | None = None
    actions_taken: tuple[str, ...] = ()
    actions_proposed: tuple[str, ...] = ()
    undo: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Warnings a human must read (e.g. every current session of a role is affected)."""
    approval_pending: bool = False


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    if not text or text.lower() in {"null", "none"}:
        return None
    return text[:MAX_FIELD_CHARS]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    text = _text(value)
    return int(text) if text is not None and text.isdigit() and len(text) < 10 else None


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple):
        return ()
    items = []
    for item in value[:MAX_ITEMS]:
        text = _action_text(item) if isinstance(item, Mapping) else _text(item)
        if text:
            items.append(text)
    return tuple(items)


def _action_text(item: Mapping[str, Any]) -> str | None:
    """An action object (``{action, target, status, undo}``) as one line, from its named fields only."""
    action = _text(item.get("action")) or _text(item.get("api"))
    if action is None:
        return None
    target = _text(item.get("target")) or _text(item.get("target_arn")) or _text(item.get("resource"))
    state = _text(item.get("state")) or _text(item.get("status"))
    line = action + (f" on {target}" if target else "") + (f" ({state})" if state else "")
    return line[:MAX_FIELD_CHARS]


def _attributes(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """SNS message attributes as {name: value}, whether given as {Type, Value}, {StringValue} or plain strings."""
    found: dict[str, str] = {}
    for name, value in (raw or {}).items():
        if isinstance(value, Mapping):
            value = value.get("Value", value.get("StringValue"))
        text = _text(value)
        if isinstance(name, str) and text is not None:
            found[name.lower()] = text
    return found


_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "status": ("status", "outcome"),
    "summary": ("summary", "description"),
    "finding_id": ("finding_id", "finding"),
    "incident_id": ("incident_id", "incident"),
    "detector": ("detector",),
    "family": ("family",),
    "severity": ("severity",),
    "principal": ("principal",),
    "access_key_id": ("access_key_id", "access_key"),
    "account": ("account",),
    "region": ("region",),
    "first_seen": ("first_seen",),
    "last_seen": ("last_seen",),
    "first_evidence": ("first_evidence",),
    "recommended_playbook": ("recommended_playbook",),
    "playbook": ("playbook",),
    "mode": ("mode",),
    "execution_arn": ("execution_arn", "execution"),
}
_LISTS: dict[str, tuple[str, ...]] = {
    "actions_taken": ("actions_taken", "actions"),
    "actions_proposed": ("actions_proposed", "plan", "nextSteps"),
    "undo": ("undo",),
    "reasons": ("reasons",),
    "notes": ("notes", "warnings"),
}


def _pick(source: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in source and source[name] is not None:
            return source[name]
    return None


def _layers(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Where the known layouts keep their facts, most specific first."""
    layers: list[Mapping[str, Any]] = []
    content = document.get("content")
    metadata = document.get("metadata")
    if isinstance(metadata, Mapping):  # Amazon Q custom notification
        context = metadata.get("additionalContext")
        if isinstance(context, Mapping):
            layers.append(context)
        layers.append({key: metadata[key] for key in ("summary",) if key in metadata})
    if isinstance(content, Mapping):
        layers.append({key: content[key] for key in ("title", "description", "nextSteps") if key in content})
    layers.extend(value for key in ("outcome", "approval") if isinstance(value := document.get(key), Mapping))
    finding = document.get("finding")
    if isinstance(finding, Mapping):  # a finding names its recommended playbook, not the one that ran
        renamed = {key: value for key, value in finding.items() if key != "playbook"}
        renamed.update(finding_id=finding.get("id"), recommended_playbook=finding.get("playbook"))
        layers.append(renamed)
    layers.append(document)
    return layers


def _from_object(document: Mapping[str, Any]) -> dict[str, Any]:
    """The allow-listed fields of a JSON notification, wherever the known layouts put them."""
    fields: dict[str, Any] = {}
    for layer in _layers(document):
        for field, names in _ALIASES.items():
            if field not in fields and (value := _text(_pick(layer, names))) is not None:
                fields[field] = value
        for field, names in _LISTS.items():
            if field not in fields and (values := _texts(_pick(layer, names))):
                fields[field] = values
        _read_evidence(layer, fields)
        approval = layer.get("approval")
        if layer.get("approval_pending") is True or (isinstance(approval, Mapping) and approval.get("pending") is True):
            fields["approval_pending"] = True
    return {key: value for key, value in fields.items() if value is not None}


def _read_evidence(layer: Mapping[str, Any], fields: dict[str, Any]) -> None:
    evidence = layer.get("evidence")
    if isinstance(evidence, list) and "first_evidence" not in fields:
        fields["first_evidence"] = _text(evidence[0]) if evidence else None
        fields["evidence_count"] = len(evidence)
    elif "evidence_count" not in fields and (count := _int(_pick(layer, ("evidence_count", "evidence")))):
        fields["evidence_count"] = count


_LINE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z /]{1,40}):\s?(?P<value>.*)$")
_DETECTOR = re.compile(r"^(?P<detector>\S+) \((?P<family>[^,()]+), severity (?P<severity>[A-Z]+)\)$")
_EVIDENCE = re.compile(r"^(?P<count>\d+) event")
_TEXT_KEYS = {
    "finding": "finding_id",
    "principal": "principal",
    "access key": "access_key_id",
    "first seen": "first_seen",
    "last seen": "last_seen",
    "first evidence": "first_evidence",
    "recommended playbook": "recommended_playbook",
    "playbook execution": "execution_arn",
    "incident": "incident_id",
    "mode": "mode",
}


def _from_text(message: str) -> dict[str, Any]:
    """The allow-listed fields of a playbook's text message (``Key: value`` lines; see the Notify states)."""
    fields: dict[str, Any] = {}
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", message) if p.strip()]
    has_outcome = any(p.lower().startswith("outcome:") for p in paragraphs)
    loose: list[str] = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        first = _LINE.match(lines[0])
        if first and first["key"].lower() == "outcome":
            fields["status"] = _text(first["value"])
            fields["summary"] = _text(" ".join(line.strip() for line in lines[1:]))
            continue
        keyed = [m for line in lines if (m := _LINE.match(line)) and _known(m["key"])]
        if not keyed:
            loose.append(" ".join(line.strip() for line in lines))
            continue
        for match in keyed:
            _read_line(match["key"].lower(), match["value"].strip(), fields)
    if loose and has_outcome:
        fields["title"] = _text(loose.pop(0))
    if loose and "summary" not in fields:
        fields["summary"] = _text(" ".join(loose))
    return {key: value for key, value in fields.items() if value is not None}


def _known(key: str) -> bool:
    return key.lower() in _TEXT_KEYS or key.lower() in {"detector", "account / region", "evidence"}


def _read_line(key: str, value: str, fields: dict[str, Any]) -> None:
    if key in _TEXT_KEYS:
        fields[_TEXT_KEYS[key]] = _text(value)
    elif key == "detector" and (match := _DETECTOR.match(value)):
        fields.update(detector=match["detector"], family=match["family"], severity=match["severity"])
    elif key == "detector":
        fields["detector"] = _text(value)
    elif key == "account / region" and " / " in value:
        account, region = value.split(" / ", 1)
        fields.update(account=_text(account), region=_text(region))
    elif key == "evidence" and (match := _EVIDENCE.match(value)):
        fields["evidence_count"] = _int(match["count"])


_PROPOSED = re.compile(r"\bTo contain now:\s*(?P<command>.+?)(?:$|(?<=\S)\s+(?=Undo:))", re.S)
_UNDO = re.compile(r"\bUndo:\s*(?P<command>.+)$", re.S)


def _actions_from_summary(status: str | None, summary: str | None) -> dict[str, tuple[str, ...]]:
    """Commands the playbook's summary spells out: the one a dry run proposes, the undo of what was done."""
    found: dict[str, tuple[str, ...]] = {}
    if not summary:
        return found
    if match := _PROPOSED.search(summary):
        found["actions_proposed"] = (match["command"].strip(),)
    if match := _UNDO.search(summary):
        found["undo"] = (match["command"].strip(),)
        if status == "CONTAINED":
            found["actions_taken"] = (summary[: match.start()].strip(),)
    return found


def parse_notification(
    message: str | None, *, subject: str | None = None, attributes: Mapping[str, Any] | None = None
) -> Notification:
    """Read an SNS notification (its message, subject and message attributes) into a :class:`Notification`."""
    text = message or ""
    fields: dict[str, Any] = {}
    document: Any = None
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read: read as text
            document = None
    fields = _from_object(document) if isinstance(document, Mapping) else _from_text(text)

    attrs = _attributes(attributes)
    for field, attribute in (
        ("status", "outcome"),
        ("status", "status"),
        ("severity", "severity"),
        ("family", "family"),
        ("account", "account"),
        ("playbook", "playbook"),
        ("mode", "mode"),
        ("detector", "detector"),
    ):
        if field not in fields and attribute in attrs:
            fields[field] = attrs[attribute]

    for field, values in _actions_from_summary(fields.get("status"), fields.get("summary")).items():
        fields.setdefault(field, values)
    status = fields.get("status")
    if isinstance(status, str):
        fields["status"] = status.upper()
        if fields["status"] in APPROVAL_STATUSES:
            fields["approval_pending"] = True
    if "incident_id" not in fields and fields.get("finding_id"):
        fields["incident_id"] = fields["finding_id"]
    fields["subject"] = _text(subject)
    if "title" not in fields and fields["subject"]:
        fields["title"] = re.sub(r"^\[Bedrock Warden\]\s*", "", fields["subject"])
    return Notification(**{key: value for key, value in fields.items() if key in Notification.model_fields})
