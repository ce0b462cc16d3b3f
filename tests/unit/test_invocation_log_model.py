"""ModelInvocationLog: tokens, guardrail and text, read from real-shaped records, and bodies never rendered.

The shapes follow records Bedrock writes (as published in Elastic's and Panther's test logs): Converse
with ``stopReason``/``usage`` and a guardrail ``trace``, InvokeModel with ``amazon-bedrock-guardrailAction``
and ``amazon-bedrock-trace``, a stream's output as a list of chunks, and a failed call with ``errorCode``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import load_json
from warden.models import ModelInvocationLog
from warden.models.invocation_log import MAX_TOKENS, BodyText

ACCOUNT = "123456789012"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def _record(operation: str, output: Any = None, *, request: Any = None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": "2026-11-20T14:03:31Z",
        "accountId": ACCOUNT,
        "identity": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/support-chat-app/i-0a1b2c3d4e5f60718"},
        "region": "us-east-1",
        "requestId": "6f9e9644-95a1-4c3c-892f-b51372320d5e",
        "operation": operation,
        "modelId": HAIKU,
        "input": {"inputContentType": "application/json", "inputBodyJson": request or _anthropic("PROMPT-CANARY")},
    }
    if output is not None:
        record["output"] = {"outputContentType": "application/json", "outputBodyJson": output}
    for key, value in fields.items():
        record[key] = value
    return record


def _anthropic(text: str) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 2000,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }


def _stream(pieces: list[str], *, input_tokens: int = 571, output_tokens: int = 281) -> list[Any]:
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01L3WcyJkxCgmHpMiLRhSYvf",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-3-haiku-48k-20240307",
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}} for p in pieces),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": output_tokens}},
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": input_tokens,
                "outputTokenCount": output_tokens,
                "invocationLatency": 3848,
                "firstByteLatency": 509,
            },
        },
    ]


INVOKE_INTERVENED = {
    "amazon-bedrock-guardrailAction": "INTERVENED",
    "amazon-bedrock-trace": {
        "guardrail": {
            "actionReason": "Guardrail blocked.",
            "input": {
                "h28wrktbwagn": {
                    "contentPolicy": {
                        "filters": [
                            {"action": "BLOCKED", "confidence": "HIGH", "detected": True, "type": "VIOLENCE"},
                            {"action": "NONE", "confidence": "LOW", "detected": True, "type": "INSULTS"},
                        ]
                    },
                    "wordPolicy": {"customWords": [{"match": "molotov cocktail", "action": "BLOCKED"}]},
                    "invocationMetrics": {"guardrailProcessingLatency": 179},
                }
            },
        }
    },
    "content": [{"text": "COMPLETION-CANARY: you shouldn't ask this", "type": "text"}],
    "role": "assistant",
    "type": "message",
}


def _validate(raw: dict[str, Any]) -> ModelInvocationLog:
    return ModelInvocationLog.model_validate(raw)


def test_converse_sample_counts_tokens_and_has_no_guardrail() -> None:
    record = _validate(load_json("invocation_logs/model_invocation__converse.json"))

    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (812, 3904, 4716)
    assert record.succeeded
    assert not record.guardrail.applied
    assert record.guardrail.guardrail_id is None


def test_stream_without_top_level_counts_falls_back_to_the_invocation_metrics_chunk() -> None:
    raw = _record("InvokeModelWithResponseStream", _stream(["The", " text", " is"]))

    record = _validate(raw)

    assert (record.input_tokens, record.output_tokens) == (571, 281)


def test_zero_top_level_counts_fall_back_to_the_usage_the_model_reported() -> None:
    """Panther's published records carry inputTokenCount 0 next to a usage of thousands."""
    output = {
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1000, "outputTokens": 4000, "totalTokens": 5000},
    }
    raw = _record("Converse", output)
    raw["input"]["inputTokenCount"] = 0
    raw["output"]["outputTokenCount"] = 0

    assert _validate(raw).total_tokens == 5000


def test_top_level_counts_win_over_the_body_and_absurd_counts_are_clamped() -> None:
    output = {"usage": {"inputTokens": 1, "outputTokens": 1}}
    raw = _record("Converse", output)
    raw["input"]["inputTokenCount"] = 10**15
    raw["output"]["outputTokenCount"] = -5

    record = _validate(raw)

    assert record.input_tokens == MAX_TOKENS
    assert record.output_tokens == 1  # a negative own count is no count: the model's usage stands


def test_invoke_model_guardrail_intervention_names_guardrail_confidence_and_blocking_filters_only() -> None:
    record = _validate(_record("InvokeModel", INVOKE_INTERVENED))

    guardrail = record.guardrail
    assert guardrail.applied and guardrail.intervened
    assert guardrail.guardrail_id == "h28wrktbwagn"
    assert guardrail.guardrail_version is None  # InvokeModel names it in headers, which are not logged
    assert guardrail.blocking_confidence == "HIGH"
    assert guardrail.blocked == ("contentPolicy:VIOLENCE", "wordPolicy")
    assert "molotov" not in guardrail.model_dump_json()
    assert record.total_tokens == 0


def test_converse_guardrail_config_gives_id_and_version_without_a_trace() -> None:
    arn = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:guardrail/iy5aqw3mmiwu"
    request = {
        "messages": [{"role": "user", "content": [{"text": "hello"}]}],
        "guardrailConfig": {"guardrailIdentifier": arn, "guardrailVersion": "3", "trace": "disabled"},
    }
    output = {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "stopReason": "end_turn"}

    guardrail = _validate(_record("Converse", output, request=request)).guardrail

    assert guardrail.applied and not guardrail.intervened
    assert (guardrail.guardrail_id, guardrail.guardrail_version) == (arn, "3")


def test_converse_intervention_reads_input_and_output_assessments() -> None:
    output = {
        "output": {"message": {"role": "assistant", "content": [{"text": "GuardRail Blocked"}]}},
        "stopReason": "guardrail_intervened",
        "usage": {"inputTokens": 70, "outputTokens": 209, "totalTokens": 279},
        "trace": {
            "guardrail": {
                "modelOutput": ['{"content":[{"type":"text","text":"BLOCKED-OUTPUT-CANARY"}]}'],
                "inputAssessment": {"iy5aqw3mmiwu": {"invocationMetrics": {"guardrailProcessingLatency": 302}}},
                "outputAssessments": [
                    {
                        "iy5aqw3mmiwu": {
                            "contextualGroundingPolicy": {
                                "filters": [
                                    {"type": "GROUNDING", "threshold": 0.99, "score": 0.36, "action": "BLOCKED"},
                                    {"type": "RELEVANCE", "threshold": 0.99, "score": 0.97, "action": "NONE"},
                                ]
                            }
                        }
                    }
                ],
            }
        },
    }

    record = _validate(_record("Converse", output))

    assert record.guardrail.intervened
    assert record.guardrail.guardrail_id == "iy5aqw3mmiwu"
    assert record.guardrail.blocked == ("contextualGroundingPolicy:GROUNDING",)
    assert record.guardrail.blocking_confidence is None  # only content filters have a confidence
    completion = " ".join(p.text for p in record.texts() if p.side == "completion")
    assert "BLOCKED-OUTPUT-CANARY" in completion  # the guardrail's copy of the blocked output is still text


def test_invoke_model_guardrail_that_did_not_intervene_counts_as_applied() -> None:
    output = {"content": [{"type": "text", "text": "fine"}], "amazon-bedrock-guardrailAction": "NONE"}

    guardrail = _validate(_record("InvokeModel", output)).guardrail

    assert guardrail.applied and not guardrail.intervened


def test_streamed_intervention_is_read_from_its_chunks() -> None:
    chunks = _stream(["Sorry, the model cannot answer this question."], input_tokens=0, output_tokens=0)
    chunks[2]["amazon-bedrock-guardrailAction"] = "INTERVENED"
    chunks[-1] = {"type": "message_stop", **{k: v for k, v in INVOKE_INTERVENED.items() if k.startswith("amazon")}}

    record = _validate(_record("InvokeModelWithResponseStream", [*chunks, "[DONE]"]))

    assert record.guardrail.intervened
    assert record.guardrail.blocking_confidence == "HIGH"


def test_error_record_has_no_output_no_tokens_and_only_prompt_text() -> None:
    raw = _record("InvokeModel", errorCode="ValidationException")

    record = _validate(raw)

    assert not record.succeeded
    assert record.total_tokens == 0
    assert not record.guardrail.applied
    assert {p.side for p in record.texts()} == {"prompt"}


def test_stream_pieces_are_joined_so_a_value_split_across_chunks_is_seen_whole() -> None:
    record = _validate(_record("InvokeModelWithResponseStream", _stream(["AKIA", "ABCD", "EFGH", " and more"])))

    (joined,) = [p for p in record.texts() if p.field == "stream"]

    assert joined.side == "completion"
    assert joined.text == "AKIAABCDEFGH and more"


def test_texts_walk_every_string_with_its_key_and_skip_encoded_media() -> None:
    request = {
        "system": "SYSTEM-CANARY",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgoAAAANSUhEUgAA"}}},
                    {"toolResult": {"toolUseId": "t1", "content": [{"json": {"SecretAccessKey": "TOOL-CANARY"}}]}},
                ],
            }
        ],
    }

    pieces = list(_validate(_record("Converse", {"stopReason": "end_turn"}, request=request)).texts())

    assert BodyText("prompt", "system", "SYSTEM-CANARY") in pieces
    assert BodyText("prompt", "SecretAccessKey", "TOOL-CANARY") in pieces
    assert not any("iVBOR" in p.text for p in pieces)


def test_texts_stop_at_the_limit() -> None:
    record = _validate(_record("Converse", {"output": {"message": {"content": [{"text": "y" * 500}]}}}))

    pieces = list(record.texts(limit=100))

    assert sum(len(p.text) for p in pieces) == 100


def test_body_text_repr_never_shows_the_text() -> None:
    piece = BodyText("prompt", "text", "PROMPT-CANARY")

    assert "CANARY" not in repr(piece)
    assert "13 characters" in repr(piece)


def test_bodies_of_any_json_type_are_accepted() -> None:
    for body in ("a plain string body", 42, None, [], ["[DONE]"], {"usage": "not a dict"}):
        record = _validate(_record("InvokeModel", body))
        assert record.total_tokens == 0
        assert not record.guardrail.intervened
        list(record.texts())


@pytest.mark.parametrize(
    "raw",
    [
        _record("InvokeModel", INVOKE_INTERVENED),
        _record("InvokeModelWithResponseStream", _stream(["COMPLETION-CANARY"])),
        _record("InvokeModel", errorCode="AccessDeniedException"),
    ],
    ids=["intervened", "stream", "error"],
)
def test_bodies_never_reach_a_dump_or_repr_even_after_they_were_read(raw: dict[str, Any]) -> None:
    record = _validate(copy.deepcopy(raw))
    _ = (record.total_tokens, record.guardrail, list(record.texts()))  # fill the cached properties

    for rendering in (record.model_dump_json(), json.dumps(record.model_dump(mode="json")), repr(record), str(record)):
        assert "CANARY" not in rendering
        assert "molotov" not in rendering
