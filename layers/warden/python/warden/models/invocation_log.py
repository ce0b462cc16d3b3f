"""Bedrock model-invocation log records (CloudWatch Logs or S3 delivery).

Prompt and completion bodies are parsed only so that the record validates; they are excluded from
every dump and repr so that they can never reach a log line, a finding or a notification. What the
detectors need from them is read here, bounded and typed:

* token counts: the record's own ``input.inputTokenCount`` / ``output.outputTokenCount``, or, when
  those are missing or zero, the usage the model reported in the output body (Converse ``usage``,
  Anthropic ``usage``, the ``amazon-bedrock-invocationMetrics`` of a stream's last chunk, Llama's
  counts);
* the guardrail (:class:`GuardrailSummary`): whether one was applied and intervened, its id and
  version, and the policies and filters that blocked. A Converse request names it in the request body
  (``guardrailConfig``); InvokeModel names it in HTTP headers, which are not logged, so there the id
  is only known from the trace (``amazon-bedrock-trace.guardrail.input.<id>``; Converse:
  ``trace.guardrail.inputAssessment.<id>``), and ``amazon-bedrock-guardrailAction`` (``NONE`` or
  ``INTERVENED``) says that one ran;
* the text itself (:meth:`ModelInvocationLog.texts`), for in-memory inspection only.

Bodies are bounded before they get here: the detection service refuses a record over 256 KB or
nested deeper than 32 levels (:mod:`warden.guard`). The walks below are iterative all the same.

The models are built on first use (``defer_build``): only the invocation functions validate these records,
so the other functions' cold starts do not build them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from warden.models.cloudtrail import EventTime, IdentityArn
from warden.models.wire import Name, WireModel, truncated

INVOCATION_LOG_SOURCE = "bedrock.invocation-log"
"""The ``event_source`` of an invocation-log record, as detectors' ``consumes`` name it (the event name
is the record's ``operation``)."""

MAX_TEXT_CHARS = 1_000_000
"""Most characters of prompt and completion text :meth:`ModelInvocationLog.texts` yields per record."""
MAX_TOKENS = 10**9
"""Token counts are clamped to [0, MAX_TOKENS]: no single invocation comes near it."""
MAX_NODES = 50_000
"""Most JSON values one walk of a body visits (a 256 KB record holds far fewer)."""
MAX_GUARDRAIL_ITEMS = 10
"""Most distinct blocking policies/filters a :class:`GuardrailSummary` names."""

Side = Literal["prompt", "completion"]
Confidence = Literal["NONE", "LOW", "MEDIUM", "HIGH"]
CONFIDENCE_ORDER: tuple[Confidence, ...] = ("NONE", "LOW", "MEDIUM", "HIGH")

GUARDRAIL_ACTION = "amazon-bedrock-guardrailAction"
BEDROCK_TRACE = "amazon-bedrock-trace"
INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"
GUARDRAIL_STOP_REASON = "guardrail_intervened"
BLOCKED = "BLOCKED"

STREAM_TEXT_KEYS = frozenset({"text", "partial_json", "thinking", "completion", "outputText", "generation"})
"""Keys under which stream chunks carry pieces of the completion; a stream's pieces are joined before
inspection, so that a value split across chunks is seen whole."""
BINARY_KEYS = frozenset({"bytes", "base64"})
"""Keys whose string values are encoded media, not text."""

_INPUT_USAGE_KEYS = ("inputTokens", "input_tokens", "prompt_tokens", "inputTokenCount", "prompt_token_count")
_OUTPUT_USAGE_KEYS = (
    "outputTokens", "output_tokens", "completion_tokens", "outputTokenCount", "generation_token_count",
)  # fmt: skip
_ASSESSMENT_MAPS = ("input", "inputAssessment", "outputs", "outputAssessments")
"""Where a guardrail trace keeps its assessments, each a map of guardrail id to assessment (or a list of such
maps): ``input``/``outputs`` in InvokeModel's ``amazon-bedrock-trace``, ``inputAssessment``/``outputAssessments``
in Converse's ``trace``."""


class BodyText(NamedTuple):
    """A piece of prompt or completion text, for in-memory inspection only: never store or log it."""

    side: Side
    field: str
    """The key the text sat under (``text``, ``system``, ``SecretAccessKey``...; a list's items share the
    list's key), ``"stream"`` for a stream's joined pieces."""
    text: str

    def __repr__(self) -> str:  # a stray repr in a traceback must not carry the text
        return f"BodyText(side={self.side!r}, field={self.field!r}, text=<{len(self.text)} characters>)"


class TokenUsage(NamedTuple):
    input: int
    output: int


class GuardrailSummary(BaseModel):
    """What a record says about the guardrail applied to it: ids and policy names, never matched text."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    applied: bool = False
    """A guardrail was named in the request or ran on it (its action or trace is in the response)."""
    intervened: bool = False
    guardrail_id: Name | None = None
    guardrail_version: Name | None = None
    blocking_confidence: Confidence | None = None
    """The highest confidence of the content filters that blocked (None: no content filter blocked)."""
    blocked: tuple[Name, ...] = ()
    """The policies and filters that blocked, as ``contentPolicy:VIOLENCE``, ``topicPolicy:<topic>``,
    ``wordPolicy``, ``sensitiveInformationPolicy:AWS_ACCESS_KEY``... (never the matched words)."""


class InvocationIdentity(WireModel):
    model_config = ConfigDict(defer_build=True)

    arn: IdentityArn


class InvocationInput(WireModel):
    model_config = ConfigDict(defer_build=True)

    input_content_type: str | None = None
    input_token_count: int | None = None
    cache_read_input_token_count: int | None = None
    cache_write_input_token_count: int | None = None
    input_body_s3_path: str | None = None
    input_body_json: Any = Field(default=None, exclude=True, repr=False)


class InvocationOutput(WireModel):
    model_config = ConfigDict(defer_build=True)

    output_content_type: str | None = None
    output_token_count: int | None = None
    output_body_s3_path: str | None = None
    output_body_json: Any = Field(default=None, exclude=True, repr=False)


class ModelInvocationLog(WireModel):
    """One model-invocation log record (schemaType ``ModelInvocationLog``)."""

    model_config = ConfigDict(defer_build=True)

    schema_type: str = Field(pattern="^ModelInvocationLog$")
    schema_version: str | None = None
    timestamp: EventTime
    account_id: str
    identity: InvocationIdentity
    region: str
    inference_region: str | None = None
    request_id: str = Field(min_length=1, max_length=256)
    operation: str = Field(min_length=1, max_length=256)
    model_id: str = Field(min_length=1, max_length=2048)
    error_code: str | None = None
    input: InvocationInput = Field(default_factory=InvocationInput)
    output: InvocationOutput = Field(default_factory=InvocationOutput)

    @property
    def succeeded(self) -> bool:
        return self.error_code is None

    @cached_property
    def token_usage(self) -> TokenUsage:
        """Input and output tokens: the record's own counts, else the usage the model reported in the body."""
        body_in, body_out = _body_usage(self.output.output_body_json)
        return TokenUsage(
            input=_count(self.input.input_token_count, body_in), output=_count(self.output.output_token_count, body_out)
        )

    @property
    def input_tokens(self) -> int:
        return self.token_usage.input

    @property
    def output_tokens(self) -> int:
        return self.token_usage.output

    @property
    def total_tokens(self) -> int:
        return self.token_usage.input + self.token_usage.output

    @cached_property
    def guardrail(self) -> GuardrailSummary:
        return _guardrail(self.input.input_body_json, self.output.output_body_json)

    def texts(self, limit: int = MAX_TEXT_CHARS) -> Iterator[BodyText]:
        """The prompt's strings, then the completion's, up to ``limit`` characters in all.

        Every string value of the bodies is a piece of text (message text, system prompt, tool input,
        the guardrail's copy of a blocked output), except encoded media. A stream's completion pieces
        are joined into one ``"stream"`` text. For in-memory inspection only: never store, log or raise
        with what this yields.
        """
        budget = limit
        bodies: tuple[tuple[Side, Any], ...] = (
            ("prompt", self.input.input_body_json),
            ("completion", self.output.output_body_json),
        )
        for side, body in bodies:
            for piece in _strings(side, body):
                if budget <= 0:
                    return
                text = piece.text if len(piece.text) <= budget else piece.text[:budget]
                budget -= len(text)
                yield piece if text is piece.text else piece._replace(text=text)

    @property
    def event_id(self) -> str:
        return self.request_id

    @property
    def event_time(self) -> datetime:
        return self.timestamp

    @property
    def event_source(self) -> str:
        return INVOCATION_LOG_SOURCE

    @property
    def event_name(self) -> str:
        return self.operation

    @property
    def actor_arns(self) -> frozenset[str]:
        return frozenset({self.identity.arn})

    @property
    def account(self) -> str:
        return self.account_id


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(own: int | None, reported: int | None) -> int:
    """The record's own count when it has one (above zero), else the model's, clamped to [0, MAX_TOKENS]."""
    value = own if own is not None and own > 0 else (reported or 0)
    return min(max(value, 0), MAX_TOKENS)


def _usage_of(part: dict[str, Any]) -> tuple[int | None, int | None]:
    """Token counts one object of an output body reports, wherever its model puts them."""
    found_in: int | None = None
    found_out: int | None = None
    message = part.get("message")
    nested = message.get("usage") if isinstance(message, dict) else None  # a stream's message_start chunk
    places = [part, part.get("usage"), part.get(INVOCATION_METRICS), nested]
    for place in places:
        if not isinstance(place, dict):
            continue
        for key in _INPUT_USAGE_KEYS:
            if (value := _int(place.get(key))) is not None:
                found_in = max(found_in or 0, value)
        for key in _OUTPUT_USAGE_KEYS:
            if (value := _int(place.get(key))) is not None:
                found_out = max(found_out or 0, value)
    return found_in, found_out


def _body_usage(body: Any) -> tuple[int | None, int | None]:
    """The largest input and output counts an output body (an object, or a stream's chunks) reports.

    Streams report running totals, so the largest is the final one.
    """
    parts = body if isinstance(body, list) else [body]
    found_in: int | None = None
    found_out: int | None = None
    for part in parts[:MAX_NODES]:
        if isinstance(part, dict):
            part_in, part_out = _usage_of(part)
            if part_in is not None:
                found_in = max(found_in or 0, part_in)
            if part_out is not None:
                found_out = max(found_out or 0, part_out)
    return found_in, found_out


def _strings(side: Side, body: Any) -> Iterator[BodyText]:
    """Every string of a body in document order, with the key it sat under; a stream's text pieces joined."""
    stream = isinstance(body, list) and any(isinstance(chunk, dict) for chunk in body[:MAX_NODES])
    joined: list[str] = []
    todo: list[tuple[str, Any]] = [("", body)]
    visited = 0
    while todo and visited < MAX_NODES:
        key, value = todo.pop()
        visited += 1
        if isinstance(value, str):
            if key in BINARY_KEYS or not value:
                continue
            if stream and key in STREAM_TEXT_KEYS:
                joined.append(value)
            else:
                yield BodyText(side, key, value)
        elif isinstance(value, dict):
            todo.extend(reversed([(str(k), v) for k, v in value.items()]))
        elif isinstance(value, list):
            todo.extend(reversed([(key, v) for v in value]))
    if joined:
        yield BodyText(side, "stream", "".join(joined))


def _guardrail(request: Any, response: Any) -> GuardrailSummary:
    config = request.get("guardrailConfig") if isinstance(request, dict) else None
    configured_id = config.get("guardrailIdentifier") if isinstance(config, dict) else None
    configured_version = config.get("guardrailVersion") if isinstance(config, dict) else None
    parts = [p for p in (response if isinstance(response, list) else [response])[:MAX_NODES] if isinstance(p, dict)]

    ran = False
    intervened = False
    ids: list[str] = []
    confidences: list[Confidence] = []
    blocked: list[str] = []
    for part in parts:
        action = part.get(GUARDRAIL_ACTION)
        ran = ran or isinstance(action, str)
        intervened = intervened or action == "INTERVENED" or part.get("stopReason") == GUARDRAIL_STOP_REASON
        for holder in (BEDROCK_TRACE, "trace"):
            trace = part.get(holder)
            guardrail = trace.get("guardrail") if isinstance(trace, dict) else None
            if not isinstance(guardrail, dict):
                continue
            ran = True
            for named, assessment in _assessments(guardrail):
                ids.append(named)
                _blocking(assessment, confidences, blocked)
    applied = ran or intervened or isinstance(configured_id, str)
    return GuardrailSummary(
        applied=applied,
        intervened=intervened,
        guardrail_id=configured_id if isinstance(configured_id, str) else min(ids, default=None),
        guardrail_version=configured_version if isinstance(configured_version, str) else None,
        blocking_confidence=max(confidences, key=CONFIDENCE_ORDER.index, default=None),
        blocked=tuple(sorted(set(blocked))[:MAX_GUARDRAIL_ITEMS]),
    )


def _assessments(guardrail: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(guardrail id, assessment)`` pairs of a guardrail trace, from maps or lists of maps."""
    for name in _ASSESSMENT_MAPS:
        holder = guardrail.get(name)
        maps = holder if isinstance(holder, list) else [holder]
        for mapping in maps[:MAX_GUARDRAIL_ITEMS]:
            if not isinstance(mapping, dict):
                continue
            for guardrail_id, assessment in list(mapping.items())[:MAX_GUARDRAIL_ITEMS]:
                for item in (assessment if isinstance(assessment, list) else [assessment])[:MAX_GUARDRAIL_ITEMS]:
                    if isinstance(item, dict):
                        yield truncated(guardrail_id, 256), item


def _blocking(assessment: dict[str, Any], confidences: list[Confidence], blocked: list[str]) -> None:
    """Collect the blocking entries of one assessment: policy and filter names, content-filter confidences."""
    for policy, entries in _policy_entries(assessment):
        for entry in entries:
            if entry.get("action") != BLOCKED:
                continue
            if policy == "contentPolicy" and entry.get("confidence") in CONFIDENCE_ORDER:
                confidences.append(entry["confidence"])
            label = entry.get("name") if policy == "topicPolicy" else entry.get("type")
            blocked.append(truncated(f"{policy}:{label}", 256) if isinstance(label, str) else policy)


def _policy_entries(assessment: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for policy, body in assessment.items():
        if not isinstance(body, dict) or policy == "invocationMetrics":
            continue
        for entries in body.values():
            if isinstance(entries, list):
                yield policy, [e for e in entries[:MAX_NODES] if isinstance(e, dict)]
