"""Hypothesis strategies for everything Warden reads from outside.

Valid shapes come from the samples under ``events/``; the strategies then damage them the way the wild
does: fields dropped, retyped, nested, oversized, text with lone surrogates and control characters,
times at the ends of the calendar. Sizes stay within what the delivering service accepts for each
entry point (EventBridge and Lambda payloads; files have no such limit).
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from warden.detectors import REGISTRY

EVENTS = Path(__file__).resolve().parents[2] / "events"
EVENTBRIDGE_MAX_BYTES = 256 * 1024
"""The largest event EventBridge accepts (PutEvents entry): the bound of every handler and playbook input."""
PYTHON_JSON_DEPTH = 900
"""Lambda parses its payload with Python's json module, which cannot go much deeper than this."""

SEEDED_USER = "${fuzz:user}"
SEEDED_KEY = "${fuzz:access-key}"
PLAYBOOK_ARN = "${fuzz:playbook-arn}"
"""Placeholders that a check replaces with a user, key or state machine it has just created or found."""


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _sample_events() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted([*EVENTS.glob("cloudtrail/*.json"), *EVENTS.glob("sequences/*.json")]):
        value = _load(path)
        found.extend(value if isinstance(value, list) else [value])
    return found


SAMPLE_EVENTS = _sample_events()
SAMPLE_RECORDS = [event["detail"] for event in SAMPLE_EVENTS]
SAMPLE_SEQUENCES = [_load(path) for path in sorted(EVENTS.glob("sequences/*.json"))]
SAMPLE_FINDINGS = [_load(path) for path in sorted(EVENTS.glob("findings/*.json"))]
SAMPLE_INVOCATION_LOGS = [_load(path) for path in sorted(EVENTS.glob("invocation_logs/*.json"))]
CONSUMED = sorted({pair for item in REGISTRY for pair in item.consumes})
"""(eventSource, eventName) pairs some detector reads: mutated records keep reaching the detectors."""

# ----------------------------------------------------------------------------------------- leaves

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff",
    "arn:aws:iam::123456789012:user/\ud83d",
    "\u202eevil",
    "\ufeffBOM",
    "\x1b[2J\x1b[31mred",
    "line\r\nbreak",
    "\u2028\u2029",
    "null",
    "None",
    "true",
    "-1",
    "1e999",
    "NaN",
    "AKIA",
    "ASIA" + "Z" * 16,
    "ABIA" + "Q" * 16,
    "AKIA" + "\x00" * 16,
    "arn:aws:iam::123456789012:user/",
    "arn:aws:iam::123456789012:user/admins/Breakglass-Admin",
    "arn:aws:iam::999999999999:root",
    "arn:aws:sts::123456789012:assumed-role/",
    "../../../etc/passwd",
    "${AWS::AccountId}",
    "States.Format('{}', $)",
    "$.detail",
    "'\"\\",
    "<script>alert(1)</script>",
    "Äpfel Grüße",
    "日本語のユーザー",
    "🔥" * 20,
    "a" * 1025,
]
_odd_characters = st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp", "Co"])
texts = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=30),
    st.text(alphabet=_odd_characters, min_size=1, max_size=8),
)
"""Short strings a field may hold: plain, empty, lone surrogates, control and format characters."""

HUGE_SIZES = [1_025, 7_000, 65_536, 200_000]


def huge_texts(max_bytes: int) -> st.SearchStrategy[str]:
    """One character repeated up to ``max_bytes``: cheap to make, as large as a field gets."""
    sizes = st.sampled_from([n for n in HUGE_SIZES if n <= max_bytes] + [max_bytes])
    return st.builds(lambda char, size: char * size, st.sampled_from(["x", "é", "\x00", "\ud800", "🔥"]), sizes).map(
        lambda text: text[: max_bytes // 4] if len(text.encode("utf-8", "surrogatepass")) > max_bytes else text
    )


big_integers = st.one_of(
    st.sampled_from([2**31, 2**63, -(2**63) - 1, 2**64, 10**30]),
    st.integers(min_value=20, max_value=4_000).map(lambda digits: 10**digits),
)
"""Integers past every fixed-width type, up to Python's 4,300-digit conversion limit."""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    big_integers,
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=12,
)
"""Any JSON value (no NaN: EventBridge and Lambda refuse it)."""


def nested(depth: int, kind: str = "dict") -> Any:
    """A value nested ``depth`` levels deep, built without recursion."""
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value} if kind == "dict" else [value]
    return value


def deep_values(max_depth: int) -> st.SearchStrategy[Any]:
    depths = st.sampled_from([d for d in (50, 200, 500, 800, 2_000, 20_000) if d <= max_depth] + [max_depth])
    return st.builds(nested, depths, st.sampled_from(["dict", "list"]))


TIMES: list[Any] = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2099-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-11-20T14:03:30",
    "2026-11-20T14:03:30+14:00",
    "2026-11-20T14:03:30.123456789Z",
    "2026-02-30T00:00:00Z",
    "2026-11-20T24:00:00Z",
    "2026-11-20",
    "+275760-09-13T00:00:00Z",
    "yesterday",
    "",
    0,
    -1,
    253_402_300_800,
    1.5e18,
]
times = st.one_of(
    st.sampled_from(TIMES),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)).map(
        lambda moment: moment.isoformat().replace("+00:00", "Z")
    ),
)

# ----------------------------------------------------------------------------------------- mutation

Path_ = tuple[str, ...]


def _paths(value: Any, prefix: Path_ = (), depth: int = 3) -> Iterator[Path_]:
    if isinstance(value, dict) and depth:
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key), depth - 1)


def _set(root: dict[str, Any], path: Path_, value: Any) -> None:
    node = root
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _drop(root: dict[str, Any], path: Path_) -> None:
    node: Any = root
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


@dataclass(frozen=True)
class Limits:
    """How large a generated value may get at an entry point."""

    max_text: int = 60_000
    max_depth: int = PYTHON_JSON_DEPTH


HANDLER_LIMITS = Limits()
FILE_LIMITS = Limits(max_text=300_000)
REPLAY_LIMITS = Limits(max_text=4_000_000)
"""A replay sends every event through SQS-backed queues: a 4 MB field is past their 256 KB limit."""


def _mutation(draw: st.DrawFn, target: dict[str, Any], focus: list[Path_], limits: Limits) -> None:
    """Apply one damaging change to ``target`` (in place), at a field of interest or anywhere."""
    known = list(_paths(target))
    path = draw(st.sampled_from(focus + known)) if focus or known else ("x",)
    kind = draw(
        st.sampled_from(["drop", "drop", "retype", "retype", "text", "huge", "nest", "bigint", "extra", "empty"])
    )
    if kind == "drop":
        _drop(target, path)
    elif kind == "retype":
        _set(target, path, draw(json_values))
    elif kind == "text":
        _set(target, path, draw(texts))
    elif kind == "huge":
        _set(target, path, draw(huge_texts(limits.max_text)))
    elif kind == "nest":
        _set(target, path, draw(deep_values(limits.max_depth)))
    elif kind == "bigint":
        _set(target, path, draw(big_integers))
    elif kind == "extra":
        _set(target, (*path[:-1], draw(texts)), draw(json_values))
    else:
        _set(target, path, draw(st.sampled_from([{}, [], None, ""])))


RECORD_FOCUS: list[Path_] = [
    ("eventTime",),
    ("eventName",),
    ("eventSource",),
    ("eventID",),
    ("awsRegion",),
    ("userAgent",),
    ("errorCode",),
    ("readOnly",),
    ("recipientAccountId",),
    ("requestParameters",),
    ("requestParameters", "modelId"),
    ("userIdentity",),
    ("userIdentity", "type"),
    ("userIdentity", "arn"),
    ("userIdentity", "accessKeyId"),
    ("userIdentity", "userName"),
    ("userIdentity", "accountId"),
    ("userIdentity", "sessionContext"),
    ("userIdentity", "sessionContext", "sessionIssuer", "arn"),
]


def _mutation_count(draw: st.DrawFn, most: int) -> int:
    """How many changes to make: none in a good share of cases, so that valid inputs reach deep code."""
    return draw(st.sampled_from([0, 0, 0, *range(1, most + 1)])) if most else 0


@st.composite
def cloudtrail_records(draw: st.DrawFn, limits: Limits = HANDLER_LIMITS, max_mutations: int = 4) -> dict[str, Any]:
    """A CloudTrail record from the samples, with up to ``max_mutations`` damaging changes."""
    record: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SAMPLE_RECORDS)))
    if draw(st.booleans()):  # keep reaching the detectors: a consumed call
        record["eventSource"], record["eventName"] = draw(st.sampled_from(CONSUMED))
    record["eventID"] = str(draw(st.uuids()))
    if max_mutations and draw(st.integers(0, 3)) == 0:
        record["eventTime"] = draw(times)
    for _ in range(_mutation_count(draw, max_mutations)):
        _mutation(draw, record, RECORD_FOCUS, limits)
    return record


ENVELOPE_FOCUS: list[Path_] = [("id",), ("detail-type",), ("source",), ("time",), ("detail",), ("version",)]


def wrap(record: Any, event_id: str) -> dict[str, Any]:
    """The EventBridge event CloudTrail delivery gives a record."""
    detail = record if isinstance(record, dict) else {}
    source = detail.get("eventSource")
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + source.split(".")[0] if isinstance(source, str) else "aws.bedrock",
        "account": "123456789012",
        "time": detail.get("eventTime", "2026-11-20T14:03:30Z"),
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }


@st.composite
def eventbridge_envelopes(draw: st.DrawFn, limits: Limits = HANDLER_LIMITS, max_mutations: int = 4) -> dict[str, Any]:
    """An "AWS API Call via CloudTrail" event around a damaged record; sometimes the envelope is damaged too."""
    event = wrap(draw(cloudtrail_records(limits, max_mutations)), str(draw(st.uuids())))
    if max_mutations and draw(st.integers(0, 3)) == 0:
        _mutation(draw, event, ENVELOPE_FOCUS, Limits(max_text=min(limits.max_text, 8_000), max_depth=50))
    return event


@st.composite
def invocation_logs(draw: st.DrawFn, limits: Limits = HANDLER_LIMITS) -> dict[str, Any]:
    """A Bedrock model-invocation log record (its prompt and completion carry canaries), damaged."""
    record: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SAMPLE_INVOCATION_LOGS)))
    if draw(st.integers(0, 3)) == 0:
        record["timestamp"] = draw(times)
    focus: list[Path_] = [("timestamp",), ("identity", "arn"), ("modelId",), ("input", "inputTokenCount"), ("output",)]
    for _ in range(_mutation_count(draw, 3)):
        _mutation(draw, record, focus, limits)
    return record


@st.composite
def invocation_log_lines(draw: st.DrawFn) -> str:
    """One line of a model-invocation log file: a record as JSON, or a damaged line."""
    line = json.dumps(draw(invocation_logs()), ensure_ascii=draw(st.sampled_from([True, True, False])))
    damage = draw(st.sampled_from(["none"] * 6 + ["truncate", "garbage", "nan", "bigint"]))
    if damage == "truncate":
        return line[: draw(st.integers(0, max(0, len(line) - 1)))]
    if damage == "garbage":
        return draw(texts)
    if damage == "nan":
        return line.replace('"inputTokenCount": 812', '"inputTokenCount": NaN')
    if damage == "bigint":
        return line.replace("812", "9" * 5_000)
    return line


@st.composite
def findings(draw: st.DrawFn, limits: Limits = HANDLER_LIMITS) -> dict[str, Any]:
    """A finding from the samples, damaged; often naming a real user and key (the placeholders)."""
    finding: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SAMPLE_FINDINGS)))
    if draw(st.sampled_from([True, True, True, False])):
        finding["principal"] = f"arn:aws:iam::123456789012:user/{SEEDED_USER}"
        finding["access_key_id"] = SEEDED_KEY
    finding["severity"] = draw(st.sampled_from(["HIGH", "HIGH", "CRITICAL", "MEDIUM", "LOW", "INFORMATIONAL", "high"]))
    focus: list[Path_] = [
        ("id",),
        ("principal",),
        ("access_key_id",),
        ("account",),
        ("severity",),
        ("evidence",),
        ("playbook",),
        ("first_seen",),
        ("title",),
        ("details",),
    ]
    for _ in range(_mutation_count(draw, 3)):
        _mutation(draw, finding, focus, limits)
    return finding


@st.composite
def execution_status_events(draw: st.DrawFn) -> dict[str, Any]:
    """A Step Functions execution-status-change event of a playbook (the failure recorder's input), damaged."""
    finding = draw(findings())
    execution = f"arn:aws:states:us-east-1:123456789012:execution:fuzz:{draw(st.uuids())}"
    event = {
        "version": "0",
        "id": str(draw(st.uuids())),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-20T14:05:00Z",
        "region": "us-east-1",
        "resources": [execution],
        "detail": {
            "executionArn": execution,
            "stateMachineArn": PLAYBOOK_ARN,
            "name": "fuzz",
            "status": draw(st.sampled_from(["FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED", "RUNNING"])),
            "input": draw(st.one_of(st.just(json.dumps(finding)), texts, st.none())),
            "error": draw(st.one_of(st.none(), texts)),
            "cause": draw(st.one_of(st.none(), texts)),
        },
    }
    for _ in range(draw(st.integers(0, 2))):
        _mutation(draw, event, [("detail",), ("detail", "input"), ("detail", "executionArn")], HANDLER_LIMITS)
    return event


@st.composite
def policy_requests(draw: st.DrawFn) -> dict[str, Any]:
    """What a playbook asks a policy function: a check of a finding, or whether it may contain a credential."""
    finding = draw(findings())
    request = {
        "check": draw(st.sampled_from(["finding", "containment", "other"])),
        "playbook": draw(st.sampled_from(["contain-access-key", "notify-only", ""])),
        "finding": finding,
        "owner_arn": draw(st.sampled_from([finding.get("principal"), "arn:aws:iam::999999999999:user/x", None])),
        "credential": finding.get("access_key_id"),
        "active": draw(st.booleans()),
    }
    for _ in range(_mutation_count(draw, 2)):
        _mutation(draw, request, [("check",), ("finding",), ("owner_arn",), ("active",)], HANDLER_LIMITS)
    return request


def _fits(value: Any) -> bool:
    try:
        return len(json.dumps(value)) <= EVENTBRIDGE_MAX_BYTES
    except (ValueError, RecursionError):
        return False


handler_events: st.SearchStrategy[Any] = st.one_of(
    eventbridge_envelopes(),
    eventbridge_envelopes(),
    eventbridge_envelopes(),
    st.builds(wrap, invocation_logs(), st.uuids().map(str)),
    findings(),
    policy_requests(),
    json_values,
).filter(_fits)
"""Anything a function can be invoked with: mostly damaged CloudTrail events, also other services' and garbage."""


@st.composite
def event_sequences(draw: st.DrawFn) -> list[Any]:
    """Events of one principal in some order (state carries between them), some damaged or redelivered."""
    if draw(st.booleans()):
        events: list[Any] = copy.deepcopy(draw(st.sampled_from(SAMPLE_SEQUENCES)))
        for event in events:
            event["id"] = str(draw(st.uuids()))
            event["detail"]["eventID"] = str(draw(st.uuids()))
        for _ in range(draw(st.integers(0, 3))):
            index = draw(st.integers(0, len(events) - 1))
            _mutation(draw, events[index]["detail"], RECORD_FOCUS, HANDLER_LIMITS)
        events = draw(st.permutations(events))
    else:
        events = draw(st.lists(handler_events, min_size=1, max_size=4))
    if draw(st.integers(0, 4)) == 0:  # redelivery: the same event again
        events.append(copy.deepcopy(draw(st.sampled_from(events))))
    return [event for event in events if _fits(event)] or [{}]


POSITIVE_SEQUENCES = [_load(path) for path in sorted(EVENTS.glob("sequences/*__positive__*.json"))]
INVOCATIONS = {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@st.composite
def blinding_attempts(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(what the attacker sends first, the attack): events of the attacker's own principal and key meant to
    leave the detector blind: dated far ahead or behind, a flood of calls with large user agents, deep
    nesting, redeliveries. The events arrive (their envelope time) when the attack does."""
    attack: list[dict[str, Any]] = copy.deepcopy(draw(st.sampled_from(POSITIVE_SEQUENCES)))
    start = _moment(attack[0]["detail"]["eventTime"])
    prefix: list[dict[str, Any]] = []
    for kind in draw(st.lists(st.sampled_from(["time", "flood", "deep", "redeliver"]), min_size=1, max_size=3)):
        event = copy.deepcopy(draw(st.sampled_from(attack)))
        event["id"], event["detail"]["eventID"] = str(draw(st.uuids())), str(draw(st.uuids()))
        if kind == "time":
            shifts = [timedelta(hours=5), timedelta(hours=23), -timedelta(hours=23), timedelta(minutes=14)]
            far = ["2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]
            event["detail"]["eventTime"] = draw(
                st.one_of(st.sampled_from(far), st.sampled_from(shifts).map(lambda shift: _stamp(start + shift)))
            )
            prefix.append(event)
        elif kind == "flood":
            preparation = [e for e in attack if e["detail"]["eventName"] not in INVOCATIONS] or attack
            for n in range(draw(st.integers(20, 80))):
                call = copy.deepcopy(preparation[n % len(preparation)])
                call["id"], call["detail"]["eventID"] = str(draw(st.uuids())), f"flood-{n}-{draw(st.uuids())}"
                call["detail"]["userAgent"] = draw(st.sampled_from(["a", "é", "\ud800"])) * 7_000
                call["time"] = call["detail"]["eventTime"] = _stamp(start - timedelta(seconds=80 - n))
                prefix.append(call)
        elif kind == "deep":
            event["detail"]["requestParameters"] = nested(draw(st.sampled_from([33, 100, 500])))
            prefix.append(event)
        else:
            prefix.extend([attack[0], attack[0]])
    return prefix, attack


@dataclass(frozen=True)
class StateMachineInput:
    """What a playbook is started with; placeholders are replaced by the check (see SEEDED_USER)."""

    payload: Any
    reseal: bool
    """Give a finding the id its content gives, as a genuine one has (so it passes an integrity check)."""


state_machine_inputs = st.builds(
    StateMachineInput,
    payload=st.one_of(findings(), findings(), findings(), findings(), execution_status_events(), json_values).filter(
        _fits
    ),
    reseal=st.sampled_from([True, True, True, False]),
)

# ----------------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class EventFile:
    """A file as ``warden replay`` gets it: its name, bytes, and how many items it holds if that is known."""

    name: str
    data: bytes
    items: int | None

    def __repr__(self) -> str:  # failing examples are printed: keep them readable
        head = self.data[:120]
        return f"EventFile(name={self.name!r}, items={self.items}, {len(self.data)} bytes, starts {head!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints an example
        printer.text(repr(self))


def _items(limits: Limits) -> st.SearchStrategy[Any]:
    return st.one_of(
        cloudtrail_records(limits),
        cloudtrail_records(limits),
        eventbridge_envelopes(limits),
        invocation_logs(limits),
        findings(),
        json_values,
    )


def _dumps(value: Any, ascii_only: bool) -> str | None:
    try:
        return json.dumps(value, ensure_ascii=ascii_only)
    except (ValueError, RecursionError):  # too deep for json.dumps: the deep-text layouts cover it
        return None


def _unpacked(document: Any) -> int:
    """How many items a whole JSON document holds: an array's or a log file's records, else itself."""
    if isinstance(document, list):
        return len(document)
    if isinstance(document, dict) and isinstance(document.get("Records"), list):
        return len(document["Records"])
    return 1


def _layout(draw: st.DrawFn, items: list[Any]) -> tuple[str, int | None]:
    ascii_only = draw(st.booleans())
    dumped = [_dumps(item, ascii_only) for item in items]
    if any(text is None for text in dumped):
        return "[]", 0
    texts_ = [str(text) for text in dumped]
    layout = draw(st.sampled_from(["array", "lines", "records", "single", "empty", "special"]))
    if layout == "array":
        return "[" + ",".join(texts_) + "]", len(items)
    if layout == "lines":
        newline = draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
        return newline.join(texts_) + draw(st.sampled_from(["", newline])), sum(_unpacked(i) for i in items)
    if layout == "records":
        return '{"Records": [' + ",".join(texts_) + "]}", len(items)
    if layout == "single":
        return (texts_[0], _unpacked(items[0])) if items else ("{}", 1)
    if layout == "empty":
        return draw(st.sampled_from(["", " ", "\n\n", "\ufeff"])), None
    return _special(draw, texts_[0] if texts_ else "{}"), None


def _special(draw: st.DrawFn, item: str) -> str:
    """Text a JSON parser struggles with: deep nesting, huge numbers, NaN, duplicates, truncation."""
    kind = draw(st.sampled_from(["deep", "deep-object", "bigint", "nan", "duplicate", "truncated", "trailing"]))
    depth = draw(st.sampled_from([1_000, 5_000, 100_000]))
    if kind == "deep":
        return '{"Records": [' + "[" * depth + "]" * depth + "]}"
    if kind == "deep-object":
        return '{"eventName": "InvokeModel", "requestParameters": ' + '{"a":' * depth + "1" + "}" * depth + "}"
    if kind == "bigint":
        digits = draw(st.sampled_from([4_301, 50_000]))
        return '[{"eventName": "InvokeModel", "eventSource": "bedrock.amazonaws.com", "n": ' + "7" * digits + "}]"
    if kind == "nan":
        return '[{"eventName": "InvokeModel", "eventTime": NaN, "userIdentity": {"accountId": Infinity}}]'
    if kind == "duplicate":
        return '{"eventName": "InvokeModel", "eventName": {"x": 1}, "userIdentity": 1, "userIdentity": {}}'
    if kind == "truncated":
        return item[: draw(st.integers(0, max(0, len(item) - 1)))]
    return item + draw(st.sampled_from([",", "]", "\x00", "garbage", "\n{"]))


def _encode(draw: st.DrawFn, text: str) -> tuple[bytes, bool]:
    """Bytes of ``text`` in some encoding; the flag says whether the items are still all there."""
    kind = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "bom", "utf-16", "latin-1", "bad-bytes", "nul"]))
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate written raw: invalid UTF-8, as in the wild
    if kind == "bom":
        return b"\xef\xbb\xbf" + raw, True
    if kind == "utf-16":
        return text.encode("utf-16", "surrogatepass"), True
    if kind == "latin-1":
        return text.encode("latin-1", "replace"), False
    if kind == "bad-bytes":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"])) + raw[at:], False
    if kind == "nul":
        return raw.replace(b",", b",\x00", 1), False
    return raw, True


def _compress(draw: st.DrawFn, raw: bytes) -> tuple[bytes, bool, str]:
    kind = draw(
        st.sampled_from(["none", "none", "gzip", "gzip", "truncated", "flipped", "double", "trailing", "header"])
    )
    if kind == "none":
        return raw, True, ".json"
    packed = gzip.compress(raw, mtime=0)
    if kind == "gzip":
        return packed, True, ".json.gz"
    if kind == "truncated":
        return packed[: draw(st.integers(2, max(2, len(packed) - 1)))], False, ".json.gz"
    if kind == "flipped":  # corrupt deflate data: a bit flipped past the header
        at = draw(st.integers(min(10, len(packed) - 1), len(packed) - 1))
        return packed[:at] + bytes([packed[at] ^ 0xFF]) + packed[at + 1 :], False, ".json.gz"
    if kind == "double":
        return gzip.compress(packed, mtime=0), True, ".json.gz"
    if kind == "trailing":
        return packed + b"garbage after the gzip member", False, ".json.gz"
    return b"\x1f\x8b", False, ".json.gz"


@st.composite
def event_files(draw: st.DrawFn, max_items: int = 5, limits: Limits = FILE_LIMITS) -> EventFile:
    """A file of events in any shape Warden reads, in any encoding and compression, intact or not."""
    if draw(st.integers(0, 2)) == 0:  # a clean file of records: what most files are
        clean = st.one_of(cloudtrail_records(limits, max_mutations=0), eventbridge_envelopes(limits, max_mutations=0))
        items = draw(st.lists(clean, min_size=1, max_size=max_items))
        text = draw(st.sampled_from(["array", "lines", "records"]))
        layout = {"array": "[" + ",".join(map(json.dumps, items)) + "]", "lines": "\n".join(map(json.dumps, items))}
        raw = layout.get(text, '{"Records": [' + ",".join(map(json.dumps, items)) + "]}").encode()
        packed = draw(st.booleans())
        return EventFile(
            name="clean.json.gz" if packed else "clean.json",
            data=gzip.compress(raw) if packed else raw,
            items=len(items),
        )
    records = st.one_of(cloudtrail_records(limits), eventbridge_envelopes(limits))
    items = draw(st.lists(records if draw(st.booleans()) else _items(limits), max_size=max_items))
    text, count = _layout(draw, items)
    raw, intact = _encode(draw, text)
    data, packed_intact, suffix = _compress(draw, raw)
    return EventFile(
        name=f"{draw(st.uuids()).hex[:12]}{suffix}", data=data, items=count if intact and packed_intact else None
    )


@st.composite
def replay_files(draw: st.DrawFn) -> EventFile:
    """A small CloudTrail file as a user would replay it: mostly records, some damaged, some not records at all."""
    records = draw(
        st.lists(
            st.one_of(cloudtrail_records(REPLAY_LIMITS, max_mutations=2), cloudtrail_records(REPLAY_LIMITS, 0)),
            min_size=1,
            max_size=4,
        )
    )
    extra = draw(st.lists(st.one_of(json_values, invocation_logs()), max_size=1))
    text, count = _layout(draw, [*records, *extra])
    raw, intact = _encode(draw, text) if draw(st.integers(0, 3)) == 0 else (text.encode("utf-8", "surrogatepass"), True)
    data, packed_intact, suffix = _compress(draw, raw) if draw(st.integers(0, 3)) == 0 else (raw, True, ".json")
    return EventFile(name=f"replay{suffix}", data=data, items=count if intact and packed_intact else None)
