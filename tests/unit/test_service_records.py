"""The detection service over every kind of record: GuardDuty findings, invocation-log records, stateless
detectors, per-detector retention, and repeated findings merged into one."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from tests.conftest import load_json
from tests.fakes import MemoryDeadLetters, MemoryPublisher, MemoryStateStore, service
from warden.adapters.eventbridge import EventBridgeFindingPublisher
from warden.detectors.registry import Detector, Outcome
from warden.errors import PublishError
from warden.models import (
    GUARDDUTY_SOURCE,
    INVOCATION_LOG_SOURCE,
    CloudTrailRecord,
    Family,
    Finding,
    FindingUpdate,
    GuardDutyFinding,
    ModelInvocationLog,
    Severity,
)
from warden.service import MERGE_NAMESPACE, DetectionService
from warden.settings import DEFAULT_SETTINGS, Settings

INVOKE = "cloudtrail/bedrock__InvokeModel__stolen_key.json"
LOG_RECORD = "invocation_logs/model_invocation__converse.json"
GUARDDUTY_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "5b6c1f0e-1d6e-4c55-9a43-0e4f7d1f2a10",
    "detail-type": "GuardDuty Finding",
    "source": "aws.guardduty",
    "account": "123456789012",
    "time": "2026-11-20T14:10:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "schemaVersion": "2.0",
        "accountId": "123456789012",
        "region": "us-east-1",
        "id": "7ac8f1c5d2e94b5f8a1b2c3d4e5f6a7b",
        "arn": "arn:aws:guardduty:us-east-1:123456789012:detector/d1/finding/7ac8f1c5d2e94b5f8a1b2c3d4e5f6a7b",
        "type": "Example:IAMUser/Example",
        "severity": 8,
        "createdAt": "2026-11-20T14:05:00.000Z",
        "updatedAt": "2026-11-20T14:09:00.000Z",
        "title": "An example finding",
        "resource": {
            "resourceType": "AccessKey",
            "accessKeyDetails": {
                "accessKeyId": "AKIAEXAMPLEBATCHSVC1",
                "userName": "ml-batch-svc",
                "userType": "IAMUser",
            },
        },
        "service": {"serviceName": "guardduty", "count": 3},
    },
}


class Seen(BaseModel):
    ids: list[str] = []


def _finding(record: Any, *, detector: str, evidence: str | None = None, when: datetime | None = None) -> Finding:
    moment = when or record.event_time
    return Finding.build(
        detector=detector,
        evidence=[evidence or record.event_id],
        family=Family.BEDROCK_USAGE,
        severity=Severity.MEDIUM,
        title="test finding",
        principal="arn:aws:iam::123456789012:user/ml-batch-svc",
        account="123456789012",
        region="us-east-1",
        first_seen=moment,
        last_seen=moment,
    )


def _stateless(name: str, source: str, event: str, record: type[Any]) -> Detector[BaseModel]:
    def evaluate(item: Any, state: None, settings: Settings) -> Outcome[BaseModel]:
        assert state is None
        return Outcome(findings=(_finding(item, detector=name),))

    return Detector(
        name=name,
        family=Family.BEDROCK_USAGE,
        state_model=None,
        consumes=frozenset({(source, event)}),
        state_key=lambda item: None,
        evaluate=evaluate,
        record=record,
    )


def _svc(*detectors: Detector[Any], settings: Settings = DEFAULT_SETTINGS) -> DetectionService:
    svc = service(detectors=[], settings=settings)
    svc.detectors = list(detectors)
    return svc


def _published(svc: DetectionService) -> list[Finding]:
    assert isinstance(svc.publisher, MemoryPublisher)
    return svc.publisher.published


def test_a_guardduty_finding_reaches_the_detectors_that_read_guardduty_findings_only() -> None:
    guardduty = _stateless("gd", GUARDDUTY_SOURCE, "Example:IAMUser/Example", GuardDutyFinding)
    cloudtrail = _stateless("ct", "bedrock.amazonaws.com", "InvokeModel", CloudTrailRecord)
    svc = _svc(guardduty, cloudtrail)

    result = svc.handle(GUARDDUTY_EVENT)

    assert result.status == "processed"
    (finding,) = _published(svc)
    assert finding.detector == "gd"
    assert finding.evidence[0].startswith("7ac8f1c5d2e94b5f8a1b2c3d4e5f6a7b@")


def test_a_guardduty_finding_of_another_type_reaches_no_detector() -> None:
    svc = _svc(_stateless("gd", GUARDDUTY_SOURCE, "Example:IAMUser/Example", GuardDutyFinding))
    other = copy.deepcopy(GUARDDUTY_EVENT)
    other["detail"]["type"] = "Recon:EC2/PortProbeUnprotectedPort"

    assert svc.handle(other).status == "processed"
    assert _published(svc) == []


def test_a_malformed_guardduty_finding_is_kept_with_its_problems() -> None:
    svc = _svc(_stateless("gd", GUARDDUTY_SOURCE, "Example:IAMUser/Example", GuardDutyFinding))
    broken = copy.deepcopy(GUARDDUTY_EVENT)
    broken["detail"]["severity"] = "very"

    result = svc.handle(broken)

    assert result.status == "rejected"
    assert "severity" in (result.reason or "")
    assert isinstance(svc.dead_letters, MemoryDeadLetters)
    assert svc.dead_letters.kept[0]["payload"] == broken


def test_an_invocation_log_record_reaches_the_detectors_that_read_invocation_logs() -> None:
    logs = _stateless("il", INVOCATION_LOG_SOURCE, "Converse", ModelInvocationLog)
    cloudtrail = _stateless("ct", "bedrock.amazonaws.com", "Converse", CloudTrailRecord)
    svc = _svc(logs, cloudtrail)

    result = svc.handle_invocation_log(load_json(LOG_RECORD), origin="s3://logs/AWSLogs/x.json.gz:1")

    assert result.status == "processed"
    assert [f.detector for f in _published(svc)] == ["il"]
    assert result.event_id == "0f6e2a35-9c1b-4d7e-8a2f-5b3c4d6e7f80"


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.pop("identity"),
        lambda r: r.update(timestamp="yesterday"),
        lambda r: r.update(schemaType="SomethingElse"),
        lambda r: r["input"].update(inputTokenCount="many"),
    ],
    ids=["no-identity", "bad-time", "not-a-log-record", "bad-token-count"],
)
def test_a_malformed_invocation_log_record_is_kept_as_its_origin_never_its_text(damage: Any) -> None:
    svc = _svc(_stateless("il", INVOCATION_LOG_SOURCE, "Converse", ModelInvocationLog))
    record = load_json(LOG_RECORD)
    damage(record)

    result = svc.handle_invocation_log(record, origin="s3://logs/AWSLogs/x.json.gz:7")

    assert result.status == "rejected"
    assert isinstance(svc.dead_letters, MemoryDeadLetters)
    (kept,) = svc.dead_letters.kept
    assert kept["payload"] == {"origin": "s3://logs/AWSLogs/x.json.gz:7", "kind": "model-invocation-log"}
    assert "CANARY" not in json.dumps(kept) + (result.reason or "")


def test_an_invocation_log_record_dated_far_from_its_arrival_is_refused() -> None:
    svc = _svc(_stateless("il", INVOCATION_LOG_SOURCE, "Converse", ModelInvocationLog))
    record = load_json(LOG_RECORD)

    result = svc.handle_invocation_log(record, origin="o", now=datetime(2026, 11, 21, 14, tzinfo=UTC))

    assert result.status == "rejected"
    assert "before its arrival" in (result.reason or "")
    assert _published(svc) == []


def test_warden_own_invocations_are_ignored_in_invocation_logs_too() -> None:
    svc = _svc(_stateless("il", INVOCATION_LOG_SOURCE, "Converse", ModelInvocationLog))
    svc.self_principals = frozenset({"arn:aws:iam::123456789012:user/ml-batch-svc"})

    assert svc.handle_invocation_log(load_json(LOG_RECORD), origin="o").status == "ignored"


def _keeper(retention: timedelta) -> Detector[Seen]:
    def evaluate(record: CloudTrailRecord, state: Seen, settings: Settings) -> Outcome[Seen]:
        return Outcome(state=Seen(ids=[*state.ids, record.event_id]))

    return Detector(
        name="keeper",
        family=Family.BEDROCK_USAGE,
        state_model=Seen,
        consumes=frozenset({("bedrock.amazonaws.com", "InvokeModel")}),
        state_key=lambda record: record.user_identity.arn,
        evaluate=evaluate,
        retention=retention,
    )


@pytest.mark.parametrize("days", [1, 30])
def test_state_is_kept_as_long_as_its_detector_says(days: int) -> None:
    svc = _svc(_keeper(timedelta(days=days)))
    event = load_json(INVOKE)

    svc.handle(event)

    assert isinstance(svc.state, MemoryStateStore)
    ((_key, expires),) = [(k, v) for k, v in svc.state.expiry.items() if k[0] == "keeper"]
    event_time = datetime.fromisoformat(event["detail"]["eventTime"])
    assert expires == event_time + timedelta(days=days)


def test_the_detectors_get_the_deployers_settings() -> None:
    seen: list[Settings] = []

    def evaluate(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
        seen.append(settings)
        return Outcome()

    probe = Detector(
        name="probe",
        family=Family.BEDROCK_USAGE,
        state_model=None,
        consumes=frozenset({("bedrock.amazonaws.com", "*")}),
        state_key=lambda record: None,
        evaluate=evaluate,
    )
    settings = Settings(trusted_accounts=frozenset({"111122223333"}), require_guardrail=True)

    _svc(probe, settings=settings).handle(load_json(INVOKE))

    assert seen == [settings]


# ---------------------------------------------------------------- repeated findings are merged


def _repeater() -> Detector[BaseModel]:
    """Finds the same thing about the same principal on every event (new evidence each time)."""
    return _stateless("repeater", "bedrock.amazonaws.com", "InvokeModel", CloudTrailRecord)


def _at(minutes: int) -> dict[str, Any]:
    event: dict[str, Any] = load_json(INVOKE)
    moment = datetime(2026, 11, 20, 14, tzinfo=UTC) + timedelta(minutes=minutes)
    event["id"] = f"00000000-0000-4000-8000-{minutes:012d}"
    event["detail"]["eventID"] = f"10000000-0000-4000-8000-{minutes:012d}"
    event["detail"]["eventTime"] = event["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def test_repeats_within_the_window_are_merged_and_the_next_finding_carries_their_count() -> None:
    svc = _svc(_repeater())

    for minutes in (0, 10, 20, 30):  # one finding, three repeats merged into it
        svc.handle(_at(minutes))
    svc.handle(_at(95))  # 65 minutes after the last published one: a new finding

    first, second = _published(svc)
    assert "merged" not in first.details
    assert second.details["merged"] == {"repeats": 3, "previous_finding": first.id}
    assert second.content_id() == second.id  # details are not sealed: the id still verifies


def test_a_republished_finding_is_published_again_not_merged() -> None:
    """An outbox retry publishes the same finding again: merging must not swallow it."""
    svc = _svc(_repeater())
    event = _at(0)

    svc.handle(event)
    svc.handle(copy.deepcopy(event))  # redelivered (no idempotency layer in this test)

    first, again = _published(svc)
    assert first.id == again.id


def test_findings_that_would_start_different_actions_are_never_merged() -> None:
    def evaluate(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
        finding = _finding(record, detector="per-key")
        key = record.user_identity.access_key_id
        return Outcome(findings=(finding.sealed({**finding.model_dump(), "access_key_id": key}),))

    per_key = Detector(
        name="per-key",
        family=Family.BEDROCK_USAGE,
        state_model=None,
        consumes=frozenset({("bedrock.amazonaws.com", "InvokeModel")}),
        state_key=lambda record: None,
        evaluate=evaluate,
    )
    svc = _svc(per_key)
    backup = _at(5)
    backup["detail"]["userIdentity"]["accessKeyId"] = "AKIAEXAMPLEBACKUPKEY"

    svc.handle(_at(0))
    svc.handle(backup)

    assert sorted(f.access_key_id or "" for f in _published(svc)) == ["AKIAEXAMPLEBACKUPKEY", "AKIAEXAMPLEBATCHSVC1"]


def test_merge_records_expire() -> None:
    svc = _svc(_repeater())
    svc.handle(_at(0))

    assert isinstance(svc.state, MemoryStateStore)
    ((_key, expires),) = [(k, v) for k, v in svc.state.expiry.items() if k[0] == MERGE_NAMESPACE]
    assert expires <= datetime(2026, 11, 20, 14, tzinfo=UTC) + timedelta(hours=26)


def test_an_escalation_is_published_even_within_the_window() -> None:
    """A LOW finding must never hide a HIGH one of the same detector about the same principal."""

    def evaluate(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
        finding = _finding(record, detector="escalating")
        severity = Severity.HIGH if record.event_time.minute >= 20 else Severity.LOW
        return Outcome(findings=(finding.sealed({**finding.model_dump(), "severity": severity}),))

    escalating = Detector(
        name="escalating",
        family=Family.BEDROCK_USAGE,
        state_model=None,
        consumes=frozenset({("bedrock.amazonaws.com", "InvokeModel")}),
        state_key=lambda record: None,
        evaluate=evaluate,
    )
    svc = _svc(escalating)

    for minutes in (0, 10, 20, 30):
        svc.handle(_at(minutes))

    assert [f.severity for f in _published(svc)] == [Severity.LOW, Severity.HIGH]


def test_each_merged_repeat_publishes_its_count_and_newest_evidence_as_an_update() -> None:
    svc = _svc(_repeater())

    for minutes in (0, 10, 20):
        svc.handle(_at(minutes))

    (first,) = _published(svc)
    assert isinstance(svc.publisher, MemoryPublisher)
    assert [(u.finding_id, u.repeats) for u in svc.publisher.updates] == [(first.id, 1), (first.id, 2)]
    newest = svc.publisher.updates[-1]
    assert newest.newest_evidence == ("10000000-0000-4000-8000-000000000020",)
    assert newest.last_seen == datetime(2026, 11, 20, 14, 20, tzinfo=UTC)
    assert newest.repeat_id != first.id


def test_an_update_that_cannot_be_published_does_not_fail_the_event() -> None:
    class NoUpdates(MemoryPublisher):
        def publish_update(self, update: FindingUpdate) -> None:
            raise PublishError("throttled")

    svc = _svc(_repeater())
    svc.publisher = NoUpdates()

    results = [svc.handle(_at(minutes)) for minutes in (0, 10)]

    assert [r.status for r in results] == ["processed", "processed"]
    assert len(_published(svc)) == 1


def test_the_eventbridge_adapter_publishes_updates_under_their_own_detail_type() -> None:
    class Recording:
        entries: list[Any] = []

        def put_events(self, Entries: list[Any]) -> dict[str, Any]:
            self.entries.extend(Entries)
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}

    client = Recording()
    svc = _svc(_repeater())
    for minutes in (0, 10):
        svc.handle(_at(minutes))
    assert isinstance(svc.publisher, MemoryPublisher)

    EventBridgeFindingPublisher(client, "findings").publish_update(svc.publisher.updates[0])  # type: ignore[arg-type]

    (entry,) = client.entries
    assert entry["DetailType"] == "Warden Finding Update"
    assert entry["Source"] == "bedrock-warden"
    assert json.loads(entry["Detail"])["repeats"] == 1
