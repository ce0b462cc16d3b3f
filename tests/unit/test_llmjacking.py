"""llmjacking-sequence: every sample sequence in events/sequences/ proves a positive or a negative."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import fakes
from tests.conftest import EVENTS, load_json
from tests.fakes import MemoryStateStore
from warden.detectors import REGISTRY
from warden.detectors import llmjacking as rule
from warden.models import CloudTrailEvent, CloudTrailRecord, Family, Finding, Severity
from warden.service import DetectionService
from warden.settings import DEFAULT_SETTINGS
from warden_local.readers import to_eventbridge

SEQUENCES = EVENTS / "sequences"
POSITIVE = sorted(SEQUENCES.glob("llmjacking__positive__*.json"))
NEGATIVE = sorted(SEQUENCES.glob("llmjacking__negative__*.json"))
STOLEN_USER = "arn:aws:iam::123456789012:user/ml-batch-svc"
WARDEN_ROLE = "arn:aws:iam::123456789012:role/warden-local-ContainAccessKeyStateMachineRole"


def service(self_principals: frozenset[str] = frozenset(), **options: Any) -> DetectionService:
    """A service running llmjacking-sequence alone: what these tests measure (writes, outbox) is its own."""
    return fakes.service(self_principals, detectors=options.pop("detectors", ["llmjacking-sequence"]), **options)


def run(events: list[dict[str, Any]], svc: DetectionService | None = None) -> list[Finding]:
    return fakes.run(events, svc or service())


def test_there_are_positive_and_negative_samples() -> None:
    assert len(POSITIVE) >= 2
    assert len(NEGATIVE) >= 4


@pytest.mark.parametrize("path", POSITIVE, ids=lambda p: p.stem)
def test_positive_sequence_raises_one_high_finding(path: Path) -> None:
    findings = run(json.loads(path.read_text()))

    assert len(findings) == 1
    finding = findings[0]
    assert finding.detector == "llmjacking-sequence"
    assert finding.family is Family.BEDROCK_USAGE
    assert finding.severity is Severity.HIGH
    assert finding.principal == STOLEN_USER
    assert finding.access_key_id == "AKIAEXAMPLEBATCHSVC1"
    assert finding.playbook == "contain-access-key"
    assert finding.details["credential_type"] == "long-term-access-key"


@pytest.mark.parametrize("path", NEGATIVE, ids=lambda p: p.stem)
def test_negative_sequence_raises_nothing(path: Path) -> None:
    assert run(json.loads(path.read_text()), service(self_principals=frozenset({WARDEN_ROLE}))) == []


def test_enablement_then_invoke_evidence_is_the_attackers_calls_only() -> None:
    events = load_json("scenarios/llmjacking.events.json")

    (finding,) = run(events)

    attacker_ids = {e["detail"]["eventID"] for e in events if e["detail"]["userIdentity"]["arn"] == STOLEN_USER}
    assert set(finding.evidence) <= attacker_ids
    assert "PutFoundationModelEntitlement" in finding.details["preparation_calls"]
    assert "GetCallerIdentity" in finding.details["preparation_calls"]
    assert finding.details["models"] == ["anthropic.claude-3-opus-20240229-v1:0"]
    assert finding.details["source_ips"] == ["203.0.113.77"]
    assert finding.first_seen.isoformat() == "2026-11-20T14:02:11+00:00"


def test_same_evidence_gives_the_same_finding_id() -> None:
    events = load_json("sequences/llmjacking__positive__enable_then_invoke.json")
    assert run(events)[0].id == run(events)[0].id


def test_events_arriving_in_reverse_order_still_raise_one_finding() -> None:
    events = load_json("sequences/llmjacking__positive__enable_then_invoke.json")

    findings = run(list(reversed(events)))

    assert len(findings) == 1
    assert findings[0].principal == STOLEN_USER


def test_redelivered_events_do_not_raise_a_second_finding() -> None:
    events = load_json("sequences/llmjacking__positive__enable_then_invoke.json")
    svc = service()

    first = run(events, svc)
    again = run(events, svc)

    assert len(first) == len(again) == 1


def test_a_new_attack_after_the_alert_window_raises_a_new_finding() -> None:
    events = load_json("sequences/llmjacking__positive__logging_check_long_term_key.json")
    later = json.loads(
        json.dumps(events).replace("2026-11-21T03:", "2026-11-21T06:").replace('"eventID": "', '"eventID": "later-')
    )
    svc = service()

    run(events + later, svc)

    findings = svc.publisher.published  # type: ignore[attr-defined]
    assert len(findings) == 2
    assert findings[0].id != findings[1].id


def test_a_busy_workload_costs_about_one_write_a_minute_and_late_preparation_still_counts() -> None:
    invocations = [
        _call("InvokeModel", f"2026-11-20T14:{10 + n // 6:02d}:{(n % 6) * 10:02d}Z", event_id=f"busy-{n}")
        for n in range(60)
    ]  # one every 10 seconds for 10 minutes
    svc = service()
    run(invocations, svc)
    store = svc.state
    assert isinstance(store, MemoryStateStore)
    assert store.saves <= 11

    preparation = _call("PutFoundationModelEntitlement", "2026-11-20T14:05:00Z", event_id="late-enable")
    (finding,) = run([preparation], svc)
    assert finding.first_seen.isoformat() == "2026-11-20T14:05:00+00:00"


def test_stratus_capture_raises_high_finding_on_the_assumed_role_session(corpus: Path) -> None:
    records = json.loads((corpus / "stratus-red-team" / "aws.impact.bedrock-invoke-model.json").read_text())
    ordered = sorted((to_eventbridge(r) for r in records), key=lambda e: e["detail"]["eventTime"])

    (finding,) = run(ordered)

    assert finding.severity is Severity.HIGH
    assert finding.family is Family.BEDROCK_USAGE
    assert finding.principal == "arn:aws:sts::494659789341:assumed-role/test-role/cli"
    assert finding.playbook == "revoke-role-sessions"
    assert finding.details["session_issuer"] == "arn:aws:iam::494659789341:role/test-role"
    assert len(finding.evidence) == len(records)


def test_stratus_capture_in_file_order_raises_the_same_single_finding(corpus: Path) -> None:
    """The capture is not in time order, as EventBridge delivery is not; the finding must not depend on it."""
    records = json.loads((corpus / "stratus-red-team" / "aws.impact.bedrock-invoke-model.json").read_text())

    findings = run([to_eventbridge(r) for r in records])

    assert len(findings) == 1
    assert findings[0].principal == "arn:aws:sts::494659789341:assumed-role/test-role/cli"


def test_detector_is_registered_with_a_docstring_that_names_its_playbook() -> None:
    registered = REGISTRY["llmjacking-sequence"]
    assert registered.family is Family.BEDROCK_USAGE
    assert "playbook" in (rule.__doc__ or "").lower()
    assert "contain-access-key" in (rule.__doc__ or "")


IAM_CAPTURES = [
    "aws.persistence.iam-backdoor-role.json",
    "aws.persistence.iam-backdoor-user.json",
    "aws.persistence.iam-create-admin-user.json",
    "aws.persistence.iam-create-backdoor-role.json",
]


@pytest.mark.parametrize("name", IAM_CAPTURES)
def test_iam_persistence_captures_are_not_mistaken_for_llmjacking(corpus: Path, name: str) -> None:
    """These captures are policy-change / cross-account attacks (the detection catalogue's job), not Bedrock abuse."""
    records = json.loads((corpus / "stratus-red-team" / name).read_text())
    assert records, name

    assert run([to_eventbridge(r) for r in records]) == []


def _call(
    name: str, at: str, *, event_id: str, key: str = "AKIAEXAMPLEBATCHSVC1", error: str | None = None
) -> dict[str, Any]:
    """A Bedrock call by the stolen user, from the real-shaped sample, with what the test needs changed."""
    event: dict[str, Any] = load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")
    detail = event["detail"]
    detail.update(eventName=name, eventTime=at, eventID=event_id)
    detail["userIdentity"]["accessKeyId"] = key
    if error:
        detail["errorCode"] = error
    event["id"] = f"eb-{event_id}"
    return event


def test_late_invocation_pairs_with_preparation_even_after_a_newer_event() -> None:
    """Arrival order: enablement at T0, an invocation at T0+70 min, then one at T0+50 min."""
    events = [
        _call("PutUseCaseForModelAccess", "2026-11-20T10:00:00Z", event_id="enable"),
        _call("InvokeModel", "2026-11-20T11:10:00Z", event_id="late-but-out-of-window"),
        _call("InvokeModel", "2026-11-20T10:50:00Z", event_id="in-window-arrives-last"),
    ]

    (finding,) = run(events)

    assert finding.evidence == ("enable", "in-window-arrives-last", "late-but-out-of-window")
    assert finding.first_seen.isoformat() == "2026-11-20T10:00:00+00:00"


def test_a_second_key_of_the_same_user_gets_its_own_finding() -> None:
    attack = load_json("sequences/llmjacking__positive__enable_then_invoke.json")
    backup = [
        _call("InvokeModel", "2026-11-20T14:10:00Z", event_id="backup-1", key="AKIAEXAMPLEBACKUPK01"),
        _call("InvokeModel", "2026-11-20T14:11:00Z", event_id="backup-2", key="AKIAEXAMPLEBACKUPK01"),
    ]

    first, second = run(attack + backup)

    assert first.access_key_id == "AKIAEXAMPLEBATCHSVC1"
    assert second.access_key_id == "AKIAEXAMPLEBACKUPK01"
    assert second.playbook == "contain-access-key"
    assert "backup-1" in second.evidence
    assert not {"backup-1", "backup-2"} & set(first.evidence)


def test_evidence_keeps_the_invocation_when_preparation_is_long() -> None:
    names = ["GetFoundationModelAvailability", "ListFoundationModels", "GetFoundationModel"]
    probes = [
        _call(names[n % 3], f"2026-11-20T10:{n // 60:02d}:{n % 60:02d}Z", event_id=f"probe-{n}") for n in range(63)
    ]
    enable = _call("PutUseCaseForModelAccess", "2026-11-20T09:59:00Z", event_id="enable")
    invoke = _call("InvokeModel", "2026-11-20T10:05:00Z", event_id="the-invocation")

    (finding,) = run([enable, *probes, invoke])

    assert "the-invocation" in finding.evidence
    assert "enable" in finding.evidence, "the call that made it suspicious is kept first"
    assert len(finding.evidence) == rule.MAX_EVIDENCE
    assert finding.last_seen.isoformat() == "2026-11-20T10:05:00+00:00"
    assert finding.details["evidence_truncated"] is True


def test_a_redelivered_event_is_remembered_once() -> None:
    invoke = _call("InvokeModel", "2026-11-20T10:00:00Z", event_id="same")
    svc = service()

    run([invoke] * 10, svc)

    assert isinstance(svc.state, MemoryStateStore)
    assert svc.state.saves == 1


def test_state_stays_bounded_under_a_flood_of_preparation_calls() -> None:
    names = ["ListFoundationModels", "GetFoundationModel", "ListInferenceProfiles", "GetFoundationModelAvailability"]
    probes = [
        _call(names[n % 4], f"2026-11-20T10:{n // 60:02d}:{n % 60:02d}Z", event_id=f"list-{n}") for n in range(300)
    ]
    svc = service()

    run(probes, svc)

    assert isinstance(svc.state, MemoryStateStore)
    (stored,) = [svc.state.load(*key) for key in svc.state.items]
    assert stored is not None
    activity = stored.value["state"]["activity"]
    assert len(activity) == rule.MAX_PREPARATION
    assert {a["event_name"] for a in activity} == set(names), "one flooded call does not evict the others"


def test_a_flood_of_invocations_does_not_evict_the_preparation() -> None:
    setup = [
        _call("GetModelInvocationLoggingConfiguration", "2026-11-20T10:00:00Z", event_id="logging"),
        _call("PutUseCaseForModelAccess", "2026-11-20T10:00:10Z", event_id="enable"),
    ]
    flood = [
        _call("InvokeModel", f"2026-11-20T10:{1 + n // 4:02d}:{(n % 4) * 15:02d}Z", event_id=f"flood-{n}")
        for n in range(150)
    ]
    backup = _call("InvokeModel", "2026-11-20T10:45:00Z", event_id="backup", key="AKIAEXAMPLEBACKUPK01")

    first, second = run([*setup, *flood, backup])

    assert first.access_key_id == "AKIAEXAMPLEBATCHSVC1"
    assert second.access_key_id == "AKIAEXAMPLEBACKUPK01"
    assert "enable" in second.evidence


def test_invocations_before_a_late_enablement_are_paired_with_it() -> None:
    """Delivery order: five invocations, then the enablement that preceded them in time."""
    invocations = [_call("InvokeModel", f"2026-11-20T10:1{n}:00Z", event_id=f"invoke-{n}") for n in range(5)]
    enable = _call("PutUseCaseForModelAccess", "2026-11-20T10:05:00Z", event_id="enable")

    (finding,) = run([*invocations, enable])

    assert finding.evidence[:2] == ("enable", "invoke-0")


def test_an_ongoing_attack_is_one_finding_even_when_it_prepares_again() -> None:
    events = []
    for hour in range(4):
        events.append(_call("PutUseCaseForModelAccess", f"2026-11-20T1{hour}:00:00Z", event_id=f"enable-{hour}"))
        events += [
            _call("InvokeModel", f"2026-11-20T1{hour}:{m:02d}:30Z", event_id=f"invoke-{hour}-{m}")
            for m in range(0, 60, 10)
        ]

    assert len(run(events)) == 1


def test_same_events_in_any_order_within_one_second_give_the_same_id() -> None:
    names = ["GetFoundationModelAvailability", "ListFoundationModels", "GetFoundationModel", "ListInferenceProfiles"]
    probes = [_call(names[n % 4], "2026-11-20T10:00:00Z", event_id=f"p-{n:02d}") for n in range(80)]
    enable = _call("PutUseCaseForModelAccess", "2026-11-20T10:00:00Z", event_id="enable")
    invoke = _call("InvokeModel", "2026-11-20T10:00:01Z", event_id="invoke")

    ids = {run([enable, *order, invoke])[0].id for order in (probes, probes[::-1], probes[::2] + probes[1::2])}

    assert len(ids) == 1


def test_denied_or_invalid_invocations_alone_never_fire() -> None:
    events = [
        _call("GetModelInvocationLoggingConfiguration", "2026-11-20T10:00:00Z", event_id="logging"),
        _call("InvokeModel", "2026-11-20T10:00:05Z", event_id="probe-1", error="ValidationException"),
        _call("InvokeModel", "2026-11-20T10:00:09Z", event_id="probe-2", error="AccessDeniedException"),
    ]
    assert run(events) == []


def _record(name: str, event_id: str, at: datetime) -> CloudTrailRecord:
    """A record built without validation, as a hunting script may build one: the detector must still cope."""
    record = CloudTrailEvent.model_validate(_call(name, "2026-11-20T10:00:00Z", event_id=event_id)).detail
    return record.model_copy(update={"event_time": at})


@pytest.mark.parametrize(
    "start", [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC) - timedelta(minutes=1)]
)
def test_time_arithmetic_at_the_ends_of_the_calendar_saturates_instead_of_overflowing(start: datetime) -> None:
    enable = _record("PutUseCaseForModelAccess", "enable", start)
    invoke = _record("InvokeModel", "invoke", start + timedelta(minutes=1))

    first = rule.llmjacking_sequence(enable, rule.PrincipalWindow(), DEFAULT_SETTINGS)
    assert first.state is not None
    second = rule.llmjacking_sequence(invoke, first.state, DEFAULT_SETTINGS)

    (finding,) = second.findings
    assert finding.evidence == ("enable", "invoke")
    assert second.state is not None
    assert second.state.alerted["AKIAEXAMPLEBATCHSVC1"] >= invoke.event_time


def test_remembered_strings_are_cut_so_that_one_call_cannot_fill_the_state() -> None:
    event = _call("ListFoundationModels", "2026-11-20T10:00:00Z", event_id="long")
    event["detail"]["userAgent"] = "A" * 7000
    event["detail"]["requestParameters"] = {"modelId": "m" * 5000}

    record = CloudTrailEvent.model_validate(event).detail
    outcome = rule.llmjacking_sequence(record, rule.PrincipalWindow(), DEFAULT_SETTINGS)

    assert outcome.state is not None
    (activity,) = outcome.state.activity
    assert len(activity.user_agent or "") <= 512
    assert len(activity.model_id or "") <= 256


def test_shrinking_keeps_the_strongest_preparation_and_the_newest_invocations() -> None:
    names = ["ListFoundationModels", "GetFoundationModel", "ListInferenceProfiles"]
    weak = [_call(names[n % 3], f"2026-11-20T10:{n:02d}:00Z", event_id=f"weak-{n}") for n in range(30)]
    strong = [_call("GetModelInvocationLoggingConfiguration", "2026-11-20T09:00:00Z", event_id="logging")]
    invocations = [_call("InvokeModel", f"2026-11-20T10:{n:02d}:30Z", event_id=f"invoke-{n}") for n in range(4)]
    window = rule.PrincipalWindow()
    for event in [*strong, *weak, *invocations[:1]]:
        record = CloudTrailEvent.model_validate(event).detail
        window = rule.llmjacking_sequence(record, window, DEFAULT_SETTINGS).state or window
    window.activity += [_activity(e) for e in invocations[1:]]

    shrunk = rule.shrink(window)

    kept = {a.event_id for a in shrunk.activity}
    assert len(shrunk.activity) <= len(window.activity) // 2
    assert "logging" in kept, "the strongest preparation is kept"
    assert {"invoke-3", "invoke-2"} <= kept and "invoke-0" not in kept, "the newest invocations are kept"
    assert "weak-29" in kept and "weak-0" not in kept, "then the newest preparation"
    assert shrunk.alerted == window.alerted
    assert REGISTRY["llmjacking-sequence"].shrink is rule.shrink, "the service calls it through the registry"


def _activity(event: dict[str, Any]) -> rule.Activity:
    return rule.Activity(
        event_id=event["detail"]["eventID"],
        event_name=event["detail"]["eventName"],
        kind="invoke",
        time=datetime.fromisoformat(event["detail"]["eventTime"]),
        account="123456789012",
        region="us-east-1",
        access_key_id="AKIAEXAMPLEBATCHSVC1",
    )


# ---------------------------------------------------------------------------------------------
# The bedrock-mantle endpoint (OpenAI-compatible): ListModels/GetModel enumerate, CreateInference invokes
# ---------------------------------------------------------------------------------------------

MANTLE_SAMPLE = "sequences/llmjacking__positive__logging_check_then_mantle_endpoint.json"
API_KEY_USER = "arn:aws:iam::123456789012:user/BedrockAPIKey-q7k2"


def test_the_mantle_endpoint_is_consumed_for_enumeration_and_invocation() -> None:
    assert ("bedrock-mantle.amazonaws.com", "CreateInference") in rule.CONSUMES
    assert ("bedrock-mantle.amazonaws.com", "ListModels") in rule.CONSUMES
    assert ("bedrock-mantle.amazonaws.com", "GetModel") in rule.CONSUMES


def test_an_invocation_through_mantle_after_preparation_names_its_model() -> None:
    events = load_json(MANTLE_SAMPLE)

    (finding,) = run(events, service(detectors=["llmjacking-sequence"]))

    assert finding.details["models"] == ["anthropic.claude-3-opus-20240229-v1:0"], "mantle logs the model as `model`"
    assert "ListModels" in finding.details["preparation_calls"]
    assert "GetModelInvocationLoggingConfiguration" in finding.details["access_checks"]
    assert finding.evidence[-1] == events[3]["detail"]["eventID"], "the first CreateInference after preparation"
    assert finding.details["source_ips"] == ["203.0.113.77"]


def _mantle_call(name: str, at: str, *, event_id: str, model: str | None, error: str | None = None) -> dict[str, Any]:
    """A mantle call signed with a Bedrock API key: the bearer flag is in requestParameters there."""
    event: dict[str, Any] = load_json(MANTLE_SAMPLE)[-1]
    detail = event["detail"]
    detail.update(eventName=name, eventTime=at, eventID=event_id)
    detail["userIdentity"] = {
        "type": "IAMUser",
        "principalId": "AIDA3C9E1F7B5D2A8C6E4",
        "arn": API_KEY_USER,
        "accountId": "123456789012",
        "userName": "BedrockAPIKey-q7k2",
    }
    params: dict[str, Any] = {"callWithBearerToken": True, "bearerTokenType": "ABSK"}
    if model:
        params["model"] = model
    detail["requestParameters"] = params
    if error:
        detail["errorCode"] = error
    event["id"] = f"eb-{event_id}"
    return event


def test_a_bedrock_api_key_probing_mantle_then_invoking_is_contained_as_an_api_key() -> None:
    opus = "anthropic.claude-3-opus-20240229-v1:0"
    events = [
        _mantle_call("ListModels", "2026-11-22T03:00:00Z", event_id="m-list", model=None),
        _mantle_call("GetModel", "2026-11-22T03:00:05Z", event_id="m-get", model=opus),
        _mantle_call(
            "CreateInference", "2026-11-22T03:00:09Z", event_id="m-probe", model=opus, error="ValidationException"
        ),
        _mantle_call("CreateInference", "2026-11-22T03:01:00Z", event_id="m-invoke", model=opus),
    ]

    (finding,) = run(events, service(detectors=["llmjacking-sequence"]))

    assert finding.principal == API_KEY_USER
    assert finding.playbook == "contain-bedrock-api-key"
    assert finding.details["credential_type"] == "bedrock-api-key"
    assert finding.details["access_checks"] == ["CreateInference (failed)"]
    assert finding.evidence == ("m-list", "m-get", "m-probe", "m-invoke")


def test_mantle_calls_that_do_not_run_a_model_are_not_invocations() -> None:
    events = [
        _mantle_call("ListModels", "2026-11-22T03:00:00Z", event_id="m-list", model=None),
        _mantle_call(
            "GetModel", "2026-11-22T03:00:05Z", event_id="m-get", model="anthropic.claude-3-opus-20240229-v1:0"
        ),
        _mantle_call("CountTokens", "2026-11-22T03:00:07Z", event_id="m-count", model="x"),
        _mantle_call("GetInference", "2026-11-22T03:00:09Z", event_id="m-get-inference", model=None),
    ]
    assert run(events, service(detectors=["llmjacking-sequence"])) == []
