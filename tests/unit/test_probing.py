"""bedrock-denied-burst: every sample sequence in events/sequences/ proves a positive or a negative."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS, load_json
from tests.fakes import MemoryStateStore, run, service
from warden.detectors import REGISTRY
from warden.detectors import probing as rule
from warden.detectors._bedrock import MANTLE
from warden.models import CloudTrailEvent, CloudTrailRecord, Family, Finding, Severity
from warden.settings import DEFAULT_SETTINGS

SEQUENCES = EVENTS / "sequences"
POSITIVE = sorted(SEQUENCES.glob("bedrock-denied-burst__positive__*.json"))
NEGATIVE = sorted(SEQUENCES.glob("bedrock-denied-burst__negative__*.json"))
STOLEN_USER = "arn:aws:iam::123456789012:user/ml-batch-svc"
API_KEY_USER = "arn:aws:iam::123456789012:user/BedrockAPIKey-q7k2"
OPUS = "anthropic.claude-3-opus-20240229-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"

EXPECTED: dict[str, dict[str, Any]] = {
    "stolen_key_walks_models": {
        "severity": Severity.HIGH,
        "principal": STOLEN_USER,
        "access_key_id": "AKIAEXAMPLEBATCHSVC1",
        "playbook": "contain-access-key",
        "credential_type": "long-term-access-key",
        "failures": 5,
        "models": 4,
    },
    "api_key_probes_mantle": {
        "severity": Severity.MEDIUM,
        "principal": API_KEY_USER,
        "access_key_id": None,
        "playbook": "contain-bedrock-api-key",
        "credential_type": "bedrock-api-key",
        "failures": 5,
        "models": 2,
    },
}


def _story(path: Path) -> str:
    return path.stem.split("__")[-1]


def test_there_are_positive_and_negative_samples() -> None:
    assert {_story(p) for p in POSITIVE} == set(EXPECTED)
    assert len(NEGATIVE) >= 3


@pytest.mark.parametrize("path", POSITIVE, ids=_story)
def test_positive_sequence_raises_one_finding(path: Path) -> None:
    expected = EXPECTED[_story(path)]
    events = json.loads(path.read_text())

    (finding,) = run(events, service(detectors=[rule.NAME]))

    assert finding.detector == "bedrock-denied-burst"
    assert finding.family is Family.BEDROCK_USAGE
    assert finding.severity is expected["severity"]
    assert finding.principal == expected["principal"]
    assert finding.access_key_id == expected["access_key_id"]
    assert finding.playbook == expected["playbook"]
    assert finding.details["credential_type"] == expected["credential_type"]
    assert finding.details["failures"] == expected["failures"]
    assert finding.details["model_count"] == expected["models"]
    failed = {e["detail"]["eventID"] for e in events if e["detail"].get("errorCode")}
    assert set(finding.evidence) <= failed
    assert finding.last_seen - finding.first_seen <= rule.WINDOW


@pytest.mark.parametrize("path", NEGATIVE, ids=_story)
def test_negative_sequence_raises_nothing(path: Path) -> None:
    assert run(json.loads(path.read_text()), service(detectors=[rule.NAME])) == []


def test_the_stolen_key_sample_names_what_was_tried() -> None:
    events = load_json("sequences/bedrock-denied-burst__positive__stolen_key_walks_models.json")

    (finding,) = run(events, service(detectors=[rule.NAME]))

    assert finding.details["models"] == sorted([OPUS, SONNET, HAIKU, "mistral.mistral-large-2402-v1:0"])
    assert set(finding.details["error_codes"]) == {"AccessDenied", "AccessDeniedException", "ValidationException"}
    assert "bedrock.amazonaws.com:ListFoundationModels" in finding.details["calls"]
    assert finding.details["source_ips"] == ["185.220.101.47"]


def test_detector_is_registered_for_both_endpoints() -> None:
    item = REGISTRY[rule.NAME]
    assert item.family is Family.BEDROCK_USAGE
    assert (MANTLE, "CreateInference") in item.consumes
    assert (MANTLE, "ListModels") in item.consumes
    assert ("bedrock.amazonaws.com", "GetFoundationModelAvailability") in item.consumes
    assert "contain-bedrock-api-key" in (rule.__doc__ or "")


# ---------------------------------------------------------------------------------------------
# Built stories
# ---------------------------------------------------------------------------------------------

_TEMPLATE = CloudTrailEvent.model_validate(load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")).detail
_T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def _failure(
    seconds: float,
    event_id: str,
    model: str | None,
    error: str = "AccessDeniedException",
    name: str = "InvokeModel",
) -> CloudTrailRecord:
    return _TEMPLATE.model_copy(
        update={
            "event_time": _T0 + timedelta(seconds=seconds),
            "event_id": event_id,
            "event_name": name,
            "request_parameters": {"modelId": model} if model else None,
            "error_code": error,
        }
    )


def _evaluate(records: Iterable[CloudTrailRecord]) -> tuple[list[Finding], rule.FailureWindow]:
    state, findings = rule.FailureWindow(), list[Finding]()
    for record in records:
        outcome = rule.bedrock_denied_burst(record, state, DEFAULT_SETTINGS)
        findings += outcome.findings
        state = outcome.state or state
    return findings, state


def _event(record: CloudTrailRecord) -> dict[str, Any]:
    event: dict[str, Any] = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    event["id"] = f"eb-{record.event_id}"
    event["detail"] = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    return event


def test_a_burst_that_grows_to_a_third_model_escalates_from_medium_to_high() -> None:
    two_models = [_failure(n * 10, f"f-{n}", (OPUS, SONNET)[n % 2]) for n in range(5)]
    third = _failure(60, "third", HAIKU)

    findings, state = _evaluate([*two_models, third])

    assert [f.severity for f in findings] == [Severity.MEDIUM, Severity.HIGH]
    assert findings[1].evidence[-1] == "third"
    assert state.alerted_severity is Severity.HIGH
    published = run([_event(r) for r in [*two_models, third]], service(detectors=[rule.NAME]))
    assert [f.severity for f in published] == [Severity.MEDIUM, Severity.HIGH], "the service publishes an escalation"


def test_a_continuing_burst_is_one_finding_and_a_later_one_is_another() -> None:
    models = [OPUS, SONNET, HAIKU, "meta.llama3-70b-instruct-v1:0"]
    burst = [_failure(n * 20, f"b-{n}", models[n % 4]) for n in range(60)]  # 20 minutes of probing
    later = [_failure(3 * 3600 + n * 5, f"later-{n}", models[n % 4]) for n in range(6)]

    findings, _ = _evaluate([*burst, *later])

    assert [f.severity for f in findings] == [Severity.HIGH, Severity.HIGH]
    assert findings[1].evidence[0].startswith("later-")


def test_order_of_arrival_and_redelivery_do_not_change_the_finding() -> None:
    events = load_json("sequences/bedrock-denied-burst__positive__stolen_key_walks_models.json")

    forward = run(events, service(detectors=[rule.NAME]))
    backward = run([*reversed(events), *events], service(detectors=[rule.NAME]))

    assert len(forward) == len(backward) == 1
    assert forward[0].severity is backward[0].severity is Severity.HIGH


def test_failures_without_a_model_count_but_do_not_make_a_burst_alone() -> None:
    listing = [_failure(n * 5, f"list-{n}", None, "AccessDenied", "ListFoundationModels") for n in range(20)]
    findings, state = _evaluate(listing)
    assert findings == []
    assert len(state.failures) == 20


def test_one_model_named_three_ways_is_one_model() -> None:
    names = [OPUS, f"us.{OPUS}", f"arn:aws:bedrock:us-east-1::foundation-model/{OPUS}"]
    findings, _ = _evaluate(_failure(n * 5, f"same-{n}", names[n % 3]) for n in range(12))
    assert findings == []


def test_successful_calls_and_load_errors_store_nothing() -> None:
    success = _failure(0, "ok", OPUS).model_copy(update={"error_code": None})
    throttled = _failure(1, "throttled", OPUS, "ThrottlingException")
    svc = service(detectors=[rule.NAME])

    results = [svc.handle(_event(record)) for record in (success, throttled)]

    assert [r.status for r in results] == ["processed", "processed"]
    assert isinstance(svc.state, MemoryStateStore)
    assert svc.state.items == {}
    assert rule.bedrock_denied_burst(success, rule.FailureWindow(), DEFAULT_SETTINGS).state is None


def test_remembered_failures_are_bounded() -> None:
    _, state = _evaluate(_failure(n, f"flood-{n}", OPUS, "ValidationException") for n in range(500))
    assert len(state.failures) == rule.MAX_FAILURES
    assert state.failures[-1].event_id == "flood-499"


def test_no_request_body_reaches_the_state() -> None:
    probe = _failure(0, "body", OPUS).model_copy(
        update={"request_parameters": {"modelId": OPUS, "body": "SECRET-PROMPT"}}
    )
    outcome = rule.bedrock_denied_burst(probe, rule.FailureWindow(), DEFAULT_SETTINGS)
    assert outcome.state is not None
    assert "SECRET-PROMPT" not in outcome.state.model_dump_json()


@pytest.mark.parametrize(
    "start", [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC) - timedelta(minutes=5)]
)
def test_time_arithmetic_at_the_ends_of_the_calendar_saturates(start: datetime) -> None:
    records = [
        _failure(0, f"edge-{n}", (OPUS, SONNET, HAIKU)[n % 3]).model_copy(
            update={"event_time": start + timedelta(seconds=n)}
        )
        for n in range(10)
    ]

    (finding,) = _evaluate(records)[0]

    assert finding.severity is Severity.HIGH
