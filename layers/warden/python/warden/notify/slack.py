"""A :class:`~warden.notify.notification.Notification` as a Slack Block Kit message, within Block Kit's limits.

Pure: no I/O. Every value comes from a named field of the notification, is escaped for Slack's ``mrkdwn``
(``&``, ``<`` and ``>``, so that no value can open a link or a ``<!channel>`` mention) and is cut with an
ellipsis to the limit of the place it goes, so a long ARN, summary or list of reasons shortens the message
instead of making Slack refuse it. Lengths are counted in UTF-16 code units, which is never less than the
number of characters, so a cut value fits whichever way Slack counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from warden.notify.notification import Notification

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_FALLBACK_TEXT = 3000
"""Slack accepts far longer ``text``, but a notification's fallback is read on a phone's lock screen."""

ELLIPSIS = "…"

APPROVE_ACTION_ID = "warden_approve"
REJECT_ACTION_ID = "warden_reject"
APPROVAL_BLOCK_ID = "warden_approval"
"""The hook for ``approve`` mode: an interactive Slack app receives these action ids with the incident id as
the button value, and answers the playbook's task token (see docs/design.md, "Slack notifications")."""

SEVERITY_MARK = {
    "CRITICAL": ":red_circle:",
    "HIGH": ":large_orange_circle:",
    "MEDIUM": ":large_yellow_circle:",
    "LOW": ":large_blue_circle:",
    "INFORMATIONAL": ":white_circle:",
}
STATUS_WORDS = {
    "CONTAINED": "Contained",
    "DRY_RUN": "Dry run: nothing changed",
    "REFUSED_PROTECTED": "Refused: protected principal",
    "REFUSED_MISMATCH": "Refused: key owner does not match",
    "NO_ACTION": "Nothing to do",
    "NOT_APPLICABLE": "Not applicable",
    "FAILED": "FAILED: the threat may NOT be contained",
    "INVALID_INPUT": "Input refused",
    "EXECUTION_FAILED": "Playbook execution did not finish",
    "PENDING_APPROVAL": "Waiting for approval",
    "APPROVAL_PENDING": "Waiting for approval",
    "AWAITING_APPROVAL": "Waiting for approval",
    "APPROVED": "Approved",
    "REJECTED": "Rejected",
    "APPROVAL_TIMED_OUT": "Approval timed out",
}


def units(text: str) -> int:
    """Length in UTF-16 code units (what JavaScript's ``length`` gives): at least the number of characters."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` UTF-16 units, ending in an ellipsis when it was cut."""
    if units(text) <= limit:
        return text
    budget = limit - units(ELLIPSIS)
    kept, used = [], 0
    for char in text:
        width = units(char)
        if used + width > budget:
            break
        kept.append(char)
        used += width
    return "".join(kept).rstrip() + ELLIPSIS


def escape(text: str) -> str:
    """Slack's control characters escaped: a value can neither open a link nor mention a channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut_escaped(text: str, limit: int) -> str:
    """``escape(text)`` within ``limit``, never ending in half an entity (``&am``)."""
    escaped = escape(text)
    if units(escaped) <= limit:
        return escaped
    shortened = cut(escaped, limit)[: -len(ELLIPSIS)]
    amp = shortened.rfind("&")
    if amp != -1 and ";" not in shortened[amp:]:
        shortened = shortened[:amp]
    return shortened.rstrip() + ELLIPSIS


def _code(value: str) -> str:
    """A value shown verbatim in a code span (backticks in it would end the span, so they are replaced)."""
    return "`" + value.replace("`", "'") + "`"


def _plain(text: str, limit: int) -> dict[str, Any]:
    """Plain text is not parsed for links or mentions; angle brackets are swapped for look-alikes anyway."""
    safe = text.replace("<", "\u2039").replace(">", "\u203a")
    return {"type": "plain_text", "text": cut(safe, limit) or " ", "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text or " "}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _labelled(label: str, value: str, limit: int, *, code: bool = False) -> str:
    """``*label*`` then the escaped value, the whole within ``limit``."""
    head = f"*{label}*\n"
    room = limit - units(head) - (2 if code else 0)
    body = cut_escaped(value.replace("`", "'") if code else value, room)
    return head + (f"`{body}`" if code else body)


def _bullets(label: str, items: Sequence[str], limit: int = MAX_SECTION_TEXT, *, code: bool = False) -> str:
    """A titled bullet list within ``limit``; items that do not fit are counted, not dropped silently."""
    head = f"*{label}*"
    lines: list[str] = []
    used = units(head)
    for index, item in enumerate(items):
        line = "\n• " + (_code(cut_escaped(item, 500)) if code else cut_escaped(item, 500))
        more = f"\n…and {len(items) - index} more"
        if used + units(line) + units(more) > limit:
            lines.append(more)
            break
        lines.append(line)
        used += units(line)
    return head + "".join(lines)


def _partition(region: str | None) -> tuple[str, str]:
    """The console host and partition for a region (commercial, China, GovCloud)."""
    region = region or "us-east-1"
    if region.startswith("cn-"):
        return f"{region}.console.amazonaws.cn", "aws-cn"
    if region.startswith("us-gov-"):
        return f"{region}.console.amazonaws-us-gov.com", "aws-us-gov"
    return f"{region}.console.aws.amazon.com", "aws"


def _q(value: str) -> str:
    return quote(value, safe="")


def console_links(note: Notification) -> list[tuple[str, str]]:
    """(label, URL) of the console pages a responder opens first; a URL over Block Kit's limit is left out."""
    region = note.region if note.region and _looks_like_region(note.region) else None
    host, _ = _partition(region)
    region_q = _q(region or "us-east-1")
    links: list[tuple[str, str]] = []
    if note.first_evidence:
        links.append(
            (
                "CloudTrail event",
                f"https://{host}/cloudtrailv2/home?region={region_q}#/events?EventId={_q(note.first_evidence)}",
            )
        )
    elif note.access_key_id:
        links.append(
            (
                "CloudTrail events of the key",
                f"https://{host}/cloudtrailv2/home?region={region_q}#/events?AccessKeyId={_q(note.access_key_id)}",
            )
        )
    if note.execution_arn and note.execution_arn.startswith("arn:"):
        execution_region = note.execution_arn.split(":")[3] or region or "us-east-1"
        execution_host, _ = _partition(execution_region)
        links.append(
            (
                "Playbook execution",
                f"https://{execution_host}/states/home?region={_q(execution_region)}"
                f"#/v2/executions/details/{quote(note.execution_arn, safe=':')}",
            )
        )
    if note.principal and (iam := _iam_page(note.principal)):
        links.append(("IAM principal", f"https://{_partition(region)[0].split('.', 1)[1]}/iam/home#/{iam}"))
    return [(label, url) for label, url in links if units(url) <= MAX_URL]


def _looks_like_region(region: str) -> bool:
    return 0 < len(region) <= 25 and all(c.isascii() and (c.isalnum() or c == "-") for c in region)


def _iam_page(arn: str) -> str | None:
    """The IAM console fragment of a user or role (an assumed-role session shows its role)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5]:
        return None
    resource = parts[5]
    if parts[2] == "iam" and resource.startswith("user/"):
        return f"users/details/{_q(resource.rsplit('/', 1)[1])}"
    if parts[2] == "iam" and resource.startswith("role/"):
        return f"roles/details/{_q(resource.rsplit('/', 1)[1])}"
    if parts[2] == "sts" and resource.startswith("assumed-role/") and resource.count("/") >= 2:
        return f"roles/details/{_q(resource.split('/')[1])}"
    return None


def _header(note: Notification) -> dict[str, Any]:
    severity = (note.severity or "").upper()
    mark = SEVERITY_MARK.get(severity, ":shield:")
    title = note.title or note.subject or "Bedrock Warden notification"
    prefix = f"{mark} {severity}: " if severity else f"{mark} "
    return {"type": "header", "text": _plain(prefix + title, MAX_HEADER)}


def _status_line(note: Notification) -> str:
    status = note.status or "NOTICE"
    line = "*" + cut_escaped(STATUS_WORDS.get(status, status), 200) + "*"
    if note.playbook:
        line += f" · playbook {_code(cut_escaped(note.playbook, 200))}"
    if note.mode:
        line += f" · mode {_code(cut_escaped(note.mode, 100))}"
    return line


def _facts(note: Notification) -> list[dict[str, Any]]:
    facts: list[tuple[str, str | None, bool]] = [
        ("Principal", note.principal, True),
        ("Access key", note.access_key_id, True),
        ("Account", note.account, True),
        ("Region", note.region, True),
        ("Severity", note.severity, False),
        ("Detector", f"{note.detector} ({note.family})" if note.detector and note.family else note.detector, False),
        ("Seen", _seen(note), False),
        ("Evidence", f"{note.evidence_count} event(s)" if note.evidence_count is not None else None, False),
        ("Recommended playbook", note.recommended_playbook, True),
        ("Finding", note.finding_id, True),
    ]
    if not note.detector and note.family:
        facts[5] = ("Family", note.family, False)
    return [_mrkdwn(_labelled(label, value, MAX_FIELD_TEXT, code=code)) for label, value, code in facts if value][
        :MAX_FIELDS
    ]


def _seen(note: Notification) -> str | None:
    if note.first_seen and note.last_seen and note.first_seen != note.last_seen:
        return f"{note.first_seen} → {note.last_seen}"
    return note.first_seen or note.last_seen


def _approval_block(note: Notification) -> dict[str, Any] | None:
    """Approve and Reject buttons carrying the incident id (never the task token), each behind a confirm
    dialog: only when the message says approval is pending."""
    incident = note.incident_id or note.finding_id
    if not note.approval_pending or not incident or units(incident) > MAX_BUTTON_VALUE:
        return None
    confirm = {
        "title": _plain("Contain now?", MAX_CONFIRM_TITLE),
        "text": _mrkdwn(
            cut_escaped(f"The playbook will act on {note.principal or 'the principal'}.", MAX_CONFIRM_TEXT)
        ),
        "confirm": _plain("Approve", MAX_CONFIRM_BUTTON),
        "deny": _plain("Cancel", MAX_CONFIRM_BUTTON),
    }
    reject_confirm = {
        "title": _plain("Reject containment?", MAX_CONFIRM_TITLE),
        "text": _mrkdwn(
            cut_escaped(
                f"Nothing will change for {note.principal or 'the principal'}; the incident is recorded as rejected.",
                MAX_CONFIRM_TEXT,
            )
        ),
        "confirm": _plain("Reject", MAX_CONFIRM_BUTTON),
        "deny": _plain("Cancel", MAX_CONFIRM_BUTTON),
    }
    return {
        "type": "actions",
        "block_id": APPROVAL_BLOCK_ID,
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION_ID,
                "text": _plain("Approve containment", MAX_BUTTON_TEXT),
                "style": "primary",
                "value": incident,
                "confirm": confirm,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION_ID,
                "text": _plain("Reject", MAX_BUTTON_TEXT),
                "style": "danger",
                "value": incident,
                "confirm": reject_confirm,
            },
        ],
    }


def _links_block(note: Notification) -> dict[str, Any] | None:
    """The console links that fit in one section (each URL is escaped-safe: its parts are percent-encoded)."""
    text = "*Console:*"
    for index, (label, url) in enumerate(console_links(note)):
        link = f"{' ·' if index else ''} <{url}|{label}>"
        if units(text) + units(link) <= MAX_SECTION_TEXT:
            text += link
    return _section(text) if text != "*Console:*" else None


def _context_block(note: Notification) -> dict[str, Any]:
    parts = ["Bedrock Warden"]
    if note.finding_id:
        parts.append(f"finding {cut_escaped(note.finding_id, 200)}")
    if note.execution_arn:
        parts.append(f"execution {cut_escaped(note.execution_arn.rsplit(':', 1)[-1], 300)}")
    return {"type": "context", "elements": [_mrkdwn(" · ".join(parts))]}


def _fallback(note: Notification) -> str:
    """The ``text`` shown in notifications and by clients that cannot render blocks."""
    severity = f"{note.severity} " if note.severity else ""
    status = f" [{note.status}]" if note.status else ""
    title = note.title or note.subject or "Bedrock Warden notification"
    who = f" principal {note.principal}" if note.principal else ""
    return cut_escaped(f"Bedrock Warden {severity}{title}{status}{who}", MAX_FALLBACK_TEXT)


def build_message(note: Notification) -> dict[str, Any]:
    """The webhook payload (``text`` and ``blocks``) for a notification; always within Block Kit's limits."""
    blocks: list[dict[str, Any] | None] = [_header(note)]
    status = _status_line(note)
    if note.summary:
        status += "\n" + cut_escaped(note.summary, MAX_SECTION_TEXT - units(status) - 1)
    blocks.append(_section(status))
    if fields := _facts(note):
        blocks.append({"type": "section", "fields": fields})
    if note.notes:
        blocks.append(_section(_bullets(":warning: Read this", note.notes)))
    if note.actions_taken:
        blocks.append(_section(_bullets("Actions taken", note.actions_taken)))
    if note.actions_proposed:
        blocks.append(_section(_bullets("Actions proposed", note.actions_proposed, code=True)))
    if note.undo:
        blocks.append(_section(_bullets("Undo", note.undo, code=True)))
    if note.reasons:
        blocks.append(_section(_bullets("Why", note.reasons)))
    blocks.append(_links_block(note))
    blocks.append(_approval_block(note))
    blocks.append({"type": "divider"})
    blocks.append(_context_block(note))
    kept = [block for block in blocks if block is not None]
    return {"text": _fallback(note), "blocks": kept[:MAX_BLOCKS]}


def _text_of(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, Mapping) else ""


def limit_violations(message: Mapping[str, Any]) -> list[str]:
    """Every way ``message`` breaks Block Kit's documented limits (empty when it is valid to post)."""
    problems: list[str] = []

    def check(condition: bool, problem: str) -> None:
        if not condition:
            problems.append(problem)

    text = message.get("text")
    check(isinstance(text, str) and 0 < units(text) <= MAX_FALLBACK_TEXT, "text fallback missing or too long")
    blocks = message.get("blocks", [])
    check(isinstance(blocks, list) and len(blocks) <= MAX_BLOCKS, f"more than {MAX_BLOCKS} blocks")
    for index, block in enumerate(blocks if isinstance(blocks, list) else []):
        problems.extend(f"block {index}: {problem}" for problem in _block_violations(block))
    return problems


def _block_violations(block: Mapping[str, Any]) -> Iterable[str]:
    kind = block.get("type")
    if "block_id" in block and not 0 < units(block["block_id"]) <= MAX_BLOCK_ID:
        yield "block_id too long"
    if kind == "header":
        text = block.get("text", {})
        if text.get("type") != "plain_text" or not 0 < units(_text_of(text)) <= MAX_HEADER:
            yield "header text must be plain_text of 1..150"
    elif kind == "section":
        yield from _section_violations(block)
    elif kind == "context":
        elements = block.get("elements", [])
        if not 0 < len(elements) <= MAX_CONTEXT_ELEMENTS:
            yield "context needs 1..10 elements"
        if any(not 0 < units(_text_of(element)) <= MAX_SECTION_TEXT for element in elements):
            yield "context element text over 3000"
    elif kind == "actions":
        elements = block.get("elements", [])
        if not 0 < len(elements) <= MAX_ACTION_ELEMENTS:
            yield "actions needs 1..25 elements"
        for element in elements:
            yield from _button_violations(element)
    elif kind != "divider":
        yield f"unexpected block type {kind!r}"


def _section_violations(block: Mapping[str, Any]) -> Iterable[str]:
    if "text" not in block and "fields" not in block:
        yield "section without text or fields"
    if "text" in block and not 0 < units(_text_of(block["text"])) <= MAX_SECTION_TEXT:
        yield "section text over 3000"
    fields = block.get("fields", [])
    if len(fields) > MAX_FIELDS:
        yield "more than 10 fields"
    if any(not 0 < units(_text_of(field)) <= MAX_FIELD_TEXT for field in fields):
        yield "field text over 2000"


def _button_violations(button: Mapping[str, Any]) -> Iterable[str]:
    text = button.get("text", {})
    if text.get("type") != "plain_text" or not 0 < units(_text_of(text)) <= MAX_BUTTON_TEXT:
        yield "button text must be plain_text of 1..75"
    if not 0 < units(button.get("action_id", "")) <= MAX_ACTION_ID:
        yield "action_id missing or over 255"
    if "value" in button and not 0 < units(button["value"]) <= MAX_BUTTON_VALUE:
        yield "button value over 2000"
    if "url" in button and not 0 < units(button["url"]) <= MAX_URL:
        yield "button url over 3000"
    if confirm := button.get("confirm"):
        if not 0 < units(_text_of(confirm.get("title"))) <= MAX_CONFIRM_TITLE:
            yield "confirm title over 100"
        if not 0 < units(_text_of(confirm.get("text"))) <= MAX_CONFIRM_TEXT:
            yield "confirm text over 300"
        for key in ("confirm", "deny"):
            if not 0 < units(_text_of(confirm.get(key))) <= MAX_CONFIRM_BUTTON:
                yield f"confirm {key} over 30"
