"""A playbook's notification composed once, for every kind of subscriber of the notification topic.

A playbook's ``Notify`` state publishes with ``MessageStructure=json``: SNS then hands each subscriber the
body of its protocol. :func:`compose` builds them all from the finding's named fields and the playbook's
outcome, so that

* an e-mail subscriber reads plain text (``email``): what happened, who, where, what Warden did and how to
  undo it, and the console links;
* Amazon Q Developer in chat applications, which subscribes over HTTPS, gets its custom-notification
  format (``https``, and ``default`` for any other protocol): a card in Slack or Microsoft Teams with no
  code, threaded per incident (``metadata.threadId`` is the finding id);
* Warden's own functions (``lambda``, ``sqs``) get a structured JSON document with the same facts, which
  :func:`warden.notify.notification.parse_notification` reads by name;
* subscription filter policies match the message attributes: ``status`` (and ``outcome``, its older name),
  ``severity``, ``family``, ``account``, ``playbook``, ``incident`` and, when known, ``mode``.

Only named fields are used: a finding's ``details`` (detector-specific, possibly quoting a request) never
reaches a notification, and neither does any prompt or completion text. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from warden.models import Finding

SUBJECT_PREFIX = "[Bedrock Warden]"
MAX_SUBJECT = 100
"""SNS refuses a subject over 100 characters (ASCII, no line breaks)."""
MAX_SUMMARY = 4000
MAX_TITLE = 250
MAX_ATTRIBUTE = 256
"""Attribute values are kept short: filter policies compare them, nobody reads them."""
MAX_EVIDENCE_LISTED = 20
PROTOCOLS = ("default", "https", "email", "email-json", "lambda", "sqs")
WARDEN_DOCUMENT = "warden-notification/1"
"""The ``format`` of the structured body Warden's functions read."""
EVENT_TYPE = "BedrockWardenPlaybookOutcome"

SEVERITY_MARK = {
    "CRITICAL": ":red_circle:",
    "HIGH": ":large_orange_circle:",
    "MEDIUM": ":large_yellow_circle:",
    "LOW": ":large_blue_circle:",
    "INFORMATIONAL": ":white_circle:",
}
STATUS_TEXT = {
    "CONTAINED": "contained",
    "DRY_RUN": "dry run, nothing changed",
    "AWAITING_APPROVAL": "waiting for approval",
    "APPROVED": "approved",
    "REJECTED": "rejected, nothing changed",
    "APPROVAL_TIMED_OUT": "approval timed out",
    "REFUSED_PROTECTED": "refused: protected principal",
    "REFUSED_MISMATCH": "refused: the target does not match the finding",
    "NO_ACTION": "nothing to do",
    "NOT_APPLICABLE": "not applicable",
    "FAILED": "FAILED: the threat may NOT be contained",
    "REVERTED": "undone",
}
_UNDO = re.compile(r"\bUndo:\s*(?P<command>.+)$", re.S)
_PROPOSED = re.compile(r"\bTo contain now:\s*(?P<command>.+?)(?:$|(?<=\S)\s+(?=Undo:))", re.S)
_SUBJECT_UNSAFE = re.compile(r"[^\x20-\x7e]")


class Outcome(BaseModel):
    """What the playbook's ``Describe*`` state concluded: ``$.outcome``."""

    status: str = Field(min_length=1, max_length=64)
    summary: str = ""


class NotificationCheck(BaseModel):
    """The response-policy request of a ``ComposeNotification`` state: compose the run's notification."""

    check: Literal["notification"]
    playbook: str = Field(min_length=1, max_length=64)
    finding: Finding
    outcome: Outcome
    execution: str = ""
    """``$$.Execution.Id``: the execution's ARN, for the console link."""
    mode: str | None = None
    state: Any = None
    """The state input (``$``): only ``decision.mode`` is read from it, when the run got that far (a JSONPath
    to a field that may be missing would fail the state)."""
    requested_mode: Any = None
    """Carried by every playbook request; unused here."""


class Composed(BaseModel):
    """What the ``Notify`` state publishes: ``Subject``, ``Message`` (with ``MessageStructure: json``) and
    ``MessageAttributes`` in the form Step Functions' ``sns:publish`` takes."""

    model_config = ConfigDict(frozen=True)

    subject: str
    message: str
    attributes: dict[str, dict[str, str]]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _subject(finding: Finding, status: str) -> str:
    text = f"{SUBJECT_PREFIX} {finding.severity.value} {finding.family.value} finding: {status}"
    return _cut(_SUBJECT_UNSAFE.sub("?", text), MAX_SUBJECT)


def _console_host(region: str) -> str:
    if region.startswith("cn-"):
        return f"{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return f"{region}.console.amazonaws-us-gov.com"
    return f"{region}.console.aws.amazon.com"


def _iam_fragment(arn: str) -> str | None:
    """The IAM console page of a user or role (an assumed-role session shows its role)."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return None
    resource = parts[5]
    if parts[2] == "iam" and resource.startswith("user/"):
        return "users/details/" + quote(resource.rsplit("/", 1)[1], safe="")
    if parts[2] == "iam" and resource.startswith("role/"):
        return "roles/details/" + quote(resource.rsplit("/", 1)[1], safe="")
    if parts[2] == "sts" and resource.startswith("assumed-role/") and resource.count("/") >= 2:
        return "roles/details/" + quote(resource.split("/")[1], safe="")
    return None


def console_links(finding: Finding, execution: str) -> dict[str, str]:
    """The console pages a responder opens first: the CloudTrail event, the execution, the IAM principal."""
    region = quote(finding.region, safe="")
    host = _console_host(finding.region)
    links = {
        "cloudtrail_event": f"https://{host}/cloudtrailv2/home?region={region}#/events?EventId="
        + quote(finding.evidence[0], safe=""),
    }
    if execution.startswith("arn:") and execution.count(":") >= 7:
        execution_region = execution.split(":")[3]
        links["execution"] = (
            f"https://{_console_host(execution_region)}/states/home?region={quote(execution_region, safe='')}"
            f"#/v2/executions/details/{quote(execution, safe=':')}"
        )
    if fragment := _iam_fragment(finding.principal):
        links["principal"] = f"https://{host.split('.', 1)[1]}/iam/home#/{fragment}"
    return links


_LINK_LABELS = {"cloudtrail_event": "CloudTrail event", "execution": "Playbook execution", "principal": "IAM principal"}


def _commands(status: str, summary: str) -> tuple[list[str], list[str]]:
    """The command a dry run proposes and the undo of what was done, as the summaries spell them out."""
    proposed = [m["command"].strip()] if (m := _PROPOSED.search(summary)) else []
    undo = [m["command"].strip()] if (m := _UNDO.search(summary)) and status != "DRY_RUN" else []
    return proposed, undo


def _email(finding: Finding, outcome: Outcome, playbook: str, execution: str, links: Mapping[str, str]) -> str:
    """The plain-text body: the same ``Key: value`` lines the playbooks always published, then the links."""
    lines = [
        _cut(finding.title, MAX_TITLE),
        "",
        f"Outcome: {outcome.status}",
        _cut(outcome.summary, MAX_SUMMARY),
        "",
        f"Finding: {finding.id}",
        f"Detector: {finding.detector} ({finding.family.value}, severity {finding.severity.value})",
        f"Principal: {finding.principal}",
    ]
    if finding.access_key_id:
        lines.append(f"Access key: {finding.access_key_id}")
    lines += [
        f"Account / region: {finding.account} / {finding.region}",
        f"First seen: {_time(finding.first_seen)}",
        f"Last seen: {_time(finding.last_seen)}",
        f"Evidence: {len(finding.evidence)} event(s)",
        f"First evidence: {finding.evidence[0]}",
        f"Recommended playbook: {finding.playbook or 'none'}",
        f"Playbook: {playbook}",
        f"Playbook execution: {execution or 'unknown'}",
        "",
        "Console:",
        *(f"  {_LINK_LABELS[key]}: {url}" for key, url in links.items()),
    ]
    return "\n".join(lines)


def _time(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z") if hasattr(moment, "isoformat") else str(moment)


def _facts(finding: Finding, outcome: Outcome, playbook: str, execution: str, mode: str | None) -> dict[str, str]:
    facts = {
        "finding_id": finding.id,
        "status": outcome.status,
        "playbook": playbook,
        "detector": finding.detector,
        "family": finding.family.value,
        "severity": finding.severity.value,
        "principal": finding.principal,
        "access_key_id": finding.access_key_id or "",
        "account": finding.account,
        "region": finding.region,
        "first_seen": _time(finding.first_seen),
        "last_seen": _time(finding.last_seen),
        "evidence_count": str(len(finding.evidence)),
        "first_evidence": finding.evidence[0],
        "recommended_playbook": finding.playbook or "",
        "execution_arn": execution,
        "mode": mode or "",
    }
    return {key: value for key, value in facts.items() if value}


def _amazon_q(
    finding: Finding, outcome: Outcome, facts: Mapping[str, str], links: Mapping[str, str], steps: list[str]
) -> dict[str, Any]:
    """The Amazon Q Developer in chat applications custom notification (``client-markdown``)."""
    severity = finding.severity.value
    status = STATUS_TEXT.get(outcome.status, outcome.status)
    title = f"{SEVERITY_MARK.get(severity, ':shield:')} Bedrock Warden {severity}: {status}"
    where = f"account `{finding.account}`, {finding.region}"
    description = (
        f"*{_md(_cut(finding.title, MAX_TITLE))}*\n"
        f"{_md(_cut(outcome.summary, MAX_SUMMARY))}\n\n"
        f"*Principal:* `{_code(finding.principal)}`"
        + (f" (key `{_code(finding.access_key_id)}`)" if finding.access_key_id else "")
        + f"\n*Where:* {where}\n*Detector:* `{_code(finding.detector)}` ({finding.family.value})"
    )
    next_steps = [f"<{url}|{_LINK_LABELS[key]}>" for key, url in links.items()] + steps
    related = [finding.principal] + ([facts["execution_arn"]] if "execution_arn" in facts else [])
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{finding.id}:{outcome.status}",
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": next_steps,
            "keywords": [severity, finding.family.value, outcome.status, facts["playbook"]],
        },
        "metadata": {
            "threadId": finding.id,
            "summary": _cut(f"Bedrock Warden {severity} {finding.family.value}: {status}", MAX_TITLE),
            "eventType": EVENT_TYPE,
            "relatedResources": related,
            "additionalContext": dict(facts),
        },
    }


def _md(text: str) -> str:
    """Text for chat markdown: no ``<``/``>`` (no links or mentions from a value) and no ``&`` entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return _md(text.replace("`", "'"))


def compose_notification(request: NotificationCheck) -> Composed:
    """The response-policy check ``notification``: :func:`compose` for the playbook's request."""
    mode = request.mode
    if mode is None and isinstance(request.state, Mapping) and isinstance(request.state.get("decision"), Mapping):
        found = request.state["decision"].get("mode")
        mode = found if isinstance(found, str) else None
    mode = mode.strip()[:32] if mode and mode.strip() else None
    return compose(request.finding, request.outcome, playbook=request.playbook, execution=request.execution, mode=mode)


def compose(
    finding: Finding,
    outcome: Outcome,
    *,
    playbook: str,
    execution: str = "",
    mode: str | None = None,
    notes: tuple[str, ...] = (),
) -> Composed:
    """Everything the ``Notify`` state publishes for one outcome of one playbook run."""
    links = console_links(finding, execution)
    proposed, undo = _commands(outcome.status, outcome.summary)
    facts = _facts(finding, outcome, playbook, execution, mode)
    email = _email(finding, outcome, playbook, execution, links)
    structured = {
        "format": WARDEN_DOCUMENT,
        "title": _cut(finding.title, MAX_TITLE),
        "status": outcome.status,
        "summary": _cut(outcome.summary, MAX_SUMMARY),
        "playbook": playbook,
        "mode": mode,
        "execution_arn": execution or None,
        "incident_id": finding.id,
        "finding": {
            "id": finding.id,
            "detector": finding.detector,
            "family": finding.family.value,
            "severity": finding.severity.value,
            "title": _cut(finding.title, MAX_TITLE),
            "principal": finding.principal,
            "access_key_id": finding.access_key_id,
            "account": finding.account,
            "region": finding.region,
            "first_seen": _time(finding.first_seen),
            "last_seen": _time(finding.last_seen),
            "evidence_count": len(finding.evidence),
            "first_evidence": finding.evidence[0],
            "evidence_ids": list(finding.evidence[:MAX_EVIDENCE_LISTED]),
            "playbook": finding.playbook,
        },
        "actions_proposed": proposed,
        "undo": undo,
        "notes": list(notes),
        "links": links,
        "text": email,
    }
    amazon_q = json.dumps(_amazon_q(finding, outcome, facts, links, proposed), ensure_ascii=False)
    warden = json.dumps(structured, ensure_ascii=False)
    bodies = {"default": amazon_q, "https": amazon_q, "email": email, "email-json": warden, "lambda": warden}
    bodies["sqs"] = warden
    attributes = {
        "status": outcome.status,
        "outcome": outcome.status,
        "severity": finding.severity.value,
        "family": finding.family.value,
        "account": finding.account,
        "playbook": playbook,
        "incident": finding.id,
    }
    if mode:
        attributes["mode"] = mode
    return Composed(
        subject=_subject(finding, outcome.status),
        message=json.dumps(bodies, ensure_ascii=False),
        attributes={
            name: {"DataType": "String", "StringValue": _cut(value, MAX_ATTRIBUTE)}
            for name, value in attributes.items()
        },
    )
