"""The typed models accept every real-shaped sample, and the finding contract holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import EVENTS, load_json
from warden.models import (
    CloudTrailEvent,
    CloudTrailRecord,
    Family,
    Finding,
    GuardDutyEvent,
    ModelInvocationLog,
    Severity,
)
from warden.models.finding import finding_id
from warden.models.wire import truncated

EVENTBRIDGE_SAMPLES = sorted((EVENTS / "cloudtrail").glob("*.json"))
SEQUENCES = [*sorted((EVENTS / "sequences").glob("*.json")), EVENTS / "scenarios" / "llmjacking.events.json"]


@pytest.mark.parametrize("path", EVENTBRIDGE_SAMPLES, ids=lambda p: p.stem)
def test_every_eventbridge_sample_parses(path: Path) -> None:
    event = CloudTrailEvent.model_validate(json.loads(path.read_text()))
    assert event.detail_type == "AWS API Call via CloudTrail"
    assert event.detail.event_id


@pytest.mark.parametrize("path", SEQUENCES, ids=lambda p: p.stem)
def test_every_sequence_event_parses(path: Path) -> None:
    for raw in json.loads(path.read_text()):
        if raw["detail-type"] == "GuardDuty Finding":
            assert GuardDutyEvent.model_validate(raw).detail.type
            continue
        identity = CloudTrailEvent.model_validate(raw).detail.user_identity
        # Every caller is named: by ARN, or (another account calling in, an AWS service) by account or service.
        assert identity.arn or identity.account_id or identity.invoked_by


def test_raw_cloudtrail_records_of_the_corpus_parse(corpus: Path) -> None:
    for path in sorted(corpus.rglob("*.json")):
        for raw in json.loads(path.read_text()):
            record = CloudTrailRecord.model_validate(raw)
            assert record.event_time.tzinfo is not None


def test_record_exposes_identity_facts() -> None:
    record = CloudTrailEvent.model_validate(load_json("cloudtrail/bedrock__Converse__app_role.json")).detail
    assert record.user_identity.credential_type == "temporary-session"
    assert record.user_identity.issuer_arn == "arn:aws:iam::123456789012:role/rag-api-task"
    assert record.actor_arns == {
        "arn:aws:sts::123456789012:assumed-role/rag-api-task/7f3c2b1a9d8e4f60",
        "arn:aws:iam::123456789012:role/rag-api-task",
    }
    assert record.model_id == "anthropic.claude-3-haiku-20240307-v1:0"
    assert record.succeeded


def test_malformed_event_names_the_missing_field() -> None:
    with pytest.raises(ValidationError) as caught:
        CloudTrailEvent.model_validate(load_json("malformed/cloudtrail__detail_without_identity.json"))
    assert "userIdentity" in str(caught.value)


def test_invocation_log_never_carries_prompt_or_completion_text() -> None:
    raw = load_json("invocation_logs/model_invocation__converse.json")

    record = ModelInvocationLog.model_validate(raw)

    assert record.total_tokens == 812 + 3904
    assert record.identity.arn == "arn:aws:iam::123456789012:user/ml-batch-svc"
    for rendering in (record.model_dump_json(), json.dumps(record.model_dump(mode="json")), repr(record), str(record)):
        assert "CANARY" not in rendering


def test_invocation_log_rejects_other_schemas() -> None:
    raw = {**load_json("invocation_logs/model_invocation__converse.json"), "schemaType": "Other"}
    with pytest.raises(ValidationError):
        ModelInvocationLog.model_validate(raw)


def _finding(**overrides: object) -> Finding:
    fields: dict[str, object] = {
        "detector": "llmjacking-sequence",
        "evidence": ["b", "a"],
        "family": Family.BEDROCK_USAGE,
        "severity": Severity.HIGH,
        "title": "t",
        "principal": "arn:aws:iam::123456789012:user/u",
        "access_key_id": "AKIAEXAMPLEBATCHSVC1",
        "account": "123456789012",
        "region": "us-east-1",
        "first_seen": datetime(2026, 11, 20, 14, 2, 11, tzinfo=UTC),
        "last_seen": datetime(2026, 11, 20, 14, 3, 55, tzinfo=UTC),
        "playbook": "contain-access-key",
    }
    fields.update(overrides)
    return Finding.build(**fields)  # type: ignore[arg-type]


def test_finding_id_is_sealed_over_the_content_but_not_the_details() -> None:
    document = _finding().to_json_dict()
    assert _finding().id == finding_id(document) == _finding(details={"other": 1}).id
    assert _finding().id != _finding(evidence=["a", "c"]).id
    assert _finding().id != _finding(detector="other").id
    assert _finding().id != _finding(title="other").id
    assert _finding().id != _finding(principal="arn:aws:iam::123456789012:user/v").id


def test_finding_serialises_to_the_documented_contract() -> None:
    document = _finding().to_json_dict()

    assert set(document) == {
        "id", "detector", "family", "severity", "title", "principal", "access_key_id", "account", "region",
        "first_seen", "last_seen", "evidence", "playbook", "details",
    }  # fmt: skip
    assert document["family"] == "bedrock-usage"
    assert document["severity"] == "HIGH"
    assert document["first_seen"] == "2026-11-20T14:02:11Z"
    assert document["evidence"] == ["b", "a"]
    assert Finding.model_validate(document) == _finding()


def test_finding_rejects_unknown_severity_and_empty_evidence() -> None:
    with pytest.raises(ValidationError):
        _finding(severity="SEVERE")
    with pytest.raises(ValidationError):
        _finding(evidence=[])


def test_an_event_time_without_a_time_zone_is_rejected_not_compared() -> None:
    raw = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    raw["detail"]["eventTime"] = "2026-11-20T14:03:30"
    with pytest.raises(ValidationError, match="timezone"):
        CloudTrailEvent.model_validate(raw)


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "2004-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
)
def test_an_implausible_event_time_is_a_validation_error(moment: str) -> None:
    raw = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    raw["detail"]["eventTime"] = moment
    with pytest.raises(ValidationError, match="eventTime"):
        CloudTrailEvent.model_validate(raw)


@pytest.mark.parametrize("moment", ["2005-01-01T00:00:00Z", "2199-12-31T23:59:59Z"])
def test_event_times_at_the_edges_of_the_plausible_range_are_accepted(moment: str) -> None:
    raw = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    raw["detail"]["eventTime"] = moment
    assert CloudTrailEvent.model_validate(raw).detail.event_time.year in {2005, 2199}


@pytest.mark.parametrize(("field", "length"), [("arn", 2049), ("accessKeyId", 257), ("userName", 257)])
def test_identity_fields_longer_than_aws_allows_are_a_validation_error(field: str, length: int) -> None:
    raw = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    raw["detail"]["userIdentity"][field] = "a" * length
    with pytest.raises(ValidationError, match=field):
        CloudTrailEvent.model_validate(raw)


def test_truncated_strings_stay_distinct_and_bounded() -> None:
    first, second = "x" * 7000 + "1", "x" * 7000 + "2"

    cut_first, cut_second = truncated(first, 512), truncated(second, 512)

    assert len(cut_first) == len(cut_second) == 512
    assert cut_first != cut_second
    assert cut_first.startswith("x" * 400)
    assert truncated("short", 512) == "short"
    assert truncated("\ud800" * 600, 512) != truncated("\udc00" * 600, 512), "lone surrogates are digested too"
