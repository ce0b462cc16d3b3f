"""Bedrock API key detectors: every sample sequence proves a positive or a negative, then the edges."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS
from tests.fakes import MemoryStateStore, run, service
from warden.detectors import REGISTRY
from warden.detectors import api_keys as rule
from warden.models import CloudTrailEvent, Family, Severity
from warden.settings import DEFAULT_SETTINGS, Settings

SEQUENCES = EVENTS / "sequences"
DETECTORS = [rule.FOR_ANOTHER_USER, rule.CONTROL_PLANE, rule.NEW_NETWORK, rule.OUTSIDE_BEDROCK]
PHANTOM = "arn:aws:iam::123456789012:user/BedrockAPIKey-7k2q"
STOLEN = "arn:aws:iam::123456789012:user/ml-batch-svc"
ADMIN = (
    "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_4f1e2d3c5b6a7980/maria.lopez@example.com"
)

# file stem -> (severity, principal, playbook, access key id, details that must hold)
EXPECTED: dict[str, tuple[Severity, str, str | None, str | None, dict[str, Any]]] = {
    "bedrock-api-key-for-another-user__positive__stolen_key_mints_key_for_lead": (
        Severity.HIGH,
        "arn:aws:iam::123456789012:user/data-science-lead",
        "contain-bedrock-api-key",
        "ACCAEXAMPLEDSLEAD001",
        {"actor": STOLEN, "target_user": "data-science-lead", "credential_expires_in_days": 36600},
    ),
    "bedrock-api-key-for-another-user__positive__access_key_on_placeholder_user": (
        Severity.HIGH,
        PHANTOM,
        "revert-policy-change",
        "AKIAEXAMPLEPHANTOM01",
        {"actor": STOLEN, "call": "CreateAccessKey", "placeholder_user": True},
    ),
    "bedrock-api-key-for-another-user__positive__console_password_on_placeholder_user": (
        Severity.HIGH,
        PHANTOM,
        "revert-policy-change",
        None,
        {"actor": STOLEN, "call": "CreateLoginProfile"},
    ),
    "bedrock-api-key-control-plane__positive__delete_guardrail": (
        Severity.HIGH,
        PHANTOM,
        "contain-bedrock-api-key",
        None,
        {"call": "DeleteGuardrail", "kind": "destructive", "key_kind": "long-term", "outcome": "succeeded"},
    ),
    "bedrock-api-key-control-plane__positive__logging_deletion_denied": (
        Severity.HIGH,
        PHANTOM,
        "contain-bedrock-api-key",
        None,
        {"call": "DeleteModelInvocationLoggingConfiguration", "outcome": "failed: AccessDeniedException"},
    ),
    "bedrock-api-key-new-network__positive__leaked_key_used_from_new_network": (
        Severity.MEDIUM,
        PHANTOM,
        "contain-bedrock-api-key",
        None,
        {"network": "203.0.113.0/24", "source_ip": "203.0.113.200", "baseline_calls": 24},
    ),
    "bedrock-api-key-outside-bedrock__positive__placeholder_user_pivots_to_iam": (
        Severity.HIGH,
        PHANTOM,
        "contain-access-key",
        "AKIAEXAMPLEPHANTOM01",
        {"call": "GetCallerIdentity", "event_source": "sts.amazonaws.com", "credential_type": "long-term-access-key"},
    ),
}


def _files(kind: str) -> list[Path]:
    return sorted(path for name in DETECTORS for path in SEQUENCES.glob(f"{name}__{kind}__*.json"))


def _svc() -> Any:
    return service(detectors=DETECTORS)


def _load(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((SEQUENCES / f"{name}.json").read_text())
    return events


def test_every_detector_has_positive_and_negative_samples_and_every_positive_an_expectation() -> None:
    for name in DETECTORS:
        assert list(SEQUENCES.glob(f"{name}__positive__*.json")), name
        assert list(SEQUENCES.glob(f"{name}__negative__*.json")), name
    assert {p.stem for p in _files("positive")} == set(EXPECTED)


@pytest.mark.parametrize("path", _files("positive"), ids=lambda p: p.stem)
def test_positive_sequence_raises_one_finding_of_its_detector(path: Path) -> None:
    severity, principal, playbook, key, details = EXPECTED[path.stem]

    findings = run(json.loads(path.read_text()), _svc())

    assert len(findings) == 1, [f.title for f in findings]
    (finding,) = findings
    assert finding.detector == path.stem.split("__")[0]
    assert finding.family is Family.BEDROCK_USAGE
    assert finding.severity is severity
    assert finding.principal == principal
    assert finding.playbook == playbook
    assert finding.access_key_id == key
    assert finding.account == "123456789012"
    for field, value in details.items():
        assert finding.details[field] == value, field


@pytest.mark.parametrize("path", _files("negative"), ids=lambda p: p.stem)
def test_negative_sequence_raises_nothing(path: Path) -> None:
    assert run(json.loads(path.read_text()), _svc()) == []


def test_registered_with_docstrings_that_name_their_playbooks() -> None:
    for name in DETECTORS:
        assert REGISTRY[name].family is Family.BEDROCK_USAGE
    assert "contain-bedrock-api-key" in (rule.__doc__ or "")
    assert "revert-policy-change" in (rule.__doc__ or "")
    assert REGISTRY[rule.NEW_NETWORK].retention == timedelta(days=30)
    assert REGISTRY[rule.NEW_NETWORK].shrink is rule.shrink_baseline


# ---------------------------------------------------------------------------------------------
# bedrock-api-key-for-another-user
# ---------------------------------------------------------------------------------------------


def _console_flow() -> list[dict[str, Any]]:
    return _load("bedrock-api-key-for-another-user__negative__console_creates_long_term_key")


def test_console_flow_delivered_key_first_is_a_low_note_without_playbook() -> None:
    """The key can arrive before the CreateUser that explains it; the note is LOW and starts nothing."""
    flow = _console_flow()
    findings = run([flow[2], flow[0], flow[1]], _svc())

    (finding,) = findings
    assert finding.severity is Severity.LOW
    assert finding.playbook is None
    assert finding.principal == PHANTOM
    assert finding.details["actor"] == ADMIN


def test_a_key_added_to_an_existing_placeholder_user_by_someone_else_is_low() -> None:
    flow = _console_flow()
    later = copy.deepcopy(flow[2])
    later["id"], later["detail"]["eventID"] = "eb-second-key", "second-key"
    later["detail"]["eventTime"] = "2026-11-19T15:00:00Z"
    later["detail"]["userIdentity"] = _load(
        "bedrock-api-key-for-another-user__positive__stolen_key_mints_key_for_lead"
    )[0]["detail"]["userIdentity"]

    findings = run([*flow, later], _svc())

    (finding,) = findings
    assert finding.severity is Severity.LOW
    assert finding.evidence == ("second-key",)
    assert finding.details["reason"] == "a Bedrock API key created for an existing placeholder user"


def test_a_denied_attempt_is_medium_and_starts_no_playbook() -> None:
    (event,) = [
        e
        for e in _load("bedrock-api-key-for-another-user__positive__stolen_key_mints_key_for_lead")
        if e["detail"]["eventName"] == "CreateServiceSpecificCredential"
    ]
    event["detail"]["errorCode"] = "AccessDenied"
    event["detail"]["responseElements"] = None

    (finding,) = run([event], _svc())

    assert finding.severity is Severity.MEDIUM
    assert finding.playbook is None
    assert finding.principal == "arn:aws:iam::123456789012:user/data-science-lead"


def test_reactivating_a_placeholder_users_key_is_low_and_deactivating_it_is_nothing() -> None:
    base = _console_flow()[2]
    events = []
    for status in ("Inactive", "Active"):
        event = copy.deepcopy(base)
        event["id"], event["detail"]["eventID"] = f"eb-{status}", status
        event["detail"]["eventName"] = "UpdateServiceSpecificCredential"
        event["detail"]["requestParameters"] = {
            "userName": "BedrockAPIKey-7k2q",
            "serviceSpecificCredentialId": "ACCAEXAMPLE7K2QKEY01",
            "status": status,
        }
        event["detail"]["responseElements"] = None
        events.append(event)

    (finding,) = run(events, _svc())

    assert finding.evidence == ("Active",)
    assert finding.severity is Severity.LOW
    assert finding.access_key_id == "ACCAEXAMPLE7K2QKEY01"


def test_the_console_flow_remembers_only_the_placeholder_users_creation() -> None:
    svc = _svc()
    run(_console_flow(), svc)

    assert isinstance(svc.state, MemoryStateStore)
    stored = {key: svc.state.load(*key) for key in svc.state.items}
    assert list(stored) == [(rule.FOR_ANOTHER_USER, "123456789012/BedrockAPIKey-7k2q")]
    value = next(iter(stored.values()))
    assert value is not None
    assert value.value["state"]["created_by"] == ADMIN


# ---------------------------------------------------------------------------------------------
# bedrock-api-key-control-plane
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fires"),
    [
        ("InvokeModel", False),
        ("ConverseStream", False),
        ("CreateInference", False),
        ("ListGuardrails", False),
        ("GetModelInvocationLoggingConfiguration", False),
        ("PutModelInvocationLoggingConfiguration", True),
        ("DeleteCustomModel", True),
        ("CreateModelInvocationJob", True),
        ("UpdateGuardrail", True),
        ("UpdateAgent", True),
        ("StartIngestionJob", True),
    ],
)
def test_control_plane_fires_on_anything_but_invocations_and_reads(name: str, fires: bool) -> None:
    event = _load("bedrock-api-key-control-plane__positive__delete_guardrail")[2]
    event["detail"]["eventName"] = name

    findings = run([event], _svc())

    assert bool(findings) is fires
    if fires:
        assert findings[0].details["call"] == name


@pytest.mark.parametrize(
    ("name", "fires"), [("DeleteInference", False), ("CreateInference", False), ("DeleteProject", True)]
)
def test_mantle_responses_an_application_stored_are_its_own_to_delete(name: str, fires: bool) -> None:
    event = _load("bedrock-api-key-control-plane__positive__delete_guardrail")[2]
    event["detail"]["eventSource"], event["detail"]["eventName"] = rule.BEDROCK_MANTLE, name

    assert bool(run([event], _svc())) is fires


def test_a_mantle_call_is_a_key_call_when_mantle_marks_it_in_the_request() -> None:
    event = _load("bedrock-api-key-control-plane__positive__delete_guardrail")[2]
    detail = event["detail"]
    detail["eventSource"], detail["eventName"] = rule.BEDROCK_MANTLE, "DeleteProject"
    del detail["additionalEventData"]
    detail["requestParameters"] = {"callWithBearerToken": True, "projectId": "proj_01"}

    (finding,) = run([event], _svc())

    assert finding.details["event_source"] == rule.BEDROCK_MANTLE


# ---------------------------------------------------------------------------------------------
# bedrock-api-key-new-network
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.200", "203.0.113.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("bedrock.amazonaws.com", None),
        ("AWS Internal", None),
        (None, None),
    ],
)
def test_networks_are_v4_slash_24_and_v6_slash_48(address: str | None, network: str | None) -> None:
    assert rule.network_of(address) == network


def test_new_network_gives_one_finding_and_its_redelivery_none() -> None:
    events = _load("bedrock-api-key-new-network__positive__leaked_key_used_from_new_network")
    svc = _svc()

    first = run(events, svc)
    again = run(events[-2:], svc)

    assert len(first) == 1
    assert again == first, "a redelivered event adds nothing"


def test_the_baseline_of_a_short_term_key_is_its_role_and_spans_sessions() -> None:
    events = _load("bedrock-api-key-new-network__positive__leaked_key_used_from_new_network")
    for n, event in enumerate(events):
        identity = event["detail"]["userIdentity"]
        session = f"session-{n}"
        identity.clear()
        identity.update(
            type="AssumedRole",
            arn=f"arn:aws:sts::123456789012:assumed-role/rag-api-task/{session}",
            accountId="123456789012",
            accessKeyId=f"ASIAEXAMPLESESSION{n:02d}",
            sessionContext={"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/rag-api-task"}},
        )

    (finding,) = run(events, _svc())

    assert finding.principal.endswith("/session-24")
    assert finding.details["baseline_principal"] == "arn:aws:iam::123456789012:role/rag-api-task"
    assert finding.details["key_kind"] == "short-term"


def test_warm_up_needs_both_time_and_calls() -> None:
    events = _load("bedrock-api-key-new-network__positive__leaked_key_used_from_new_network")
    few = Settings(baseline_min_events=25)

    svc = service(detectors=[rule.NEW_NETWORK], settings=few)

    assert run(events, svc) == [], "24 baseline calls are fewer than 25"


def test_a_busy_known_network_is_sampled_and_the_state_stays_bounded() -> None:
    events = _load("bedrock-api-key-new-network__positive__leaked_key_used_from_new_network")[:24]
    busy = []
    for n in range(60):
        event = copy.deepcopy(events[-1])
        event["id"], event["detail"]["eventID"] = f"eb-busy-{n}", f"busy-{n}"
        event["detail"]["eventTime"] = f"2026-11-20T18:{n:02d}:00Z"
        busy.append(event)
    svc = _svc()
    run(events, svc)
    assert isinstance(svc.state, MemoryStateStore)
    saves = svc.state.saves

    run(busy, svc)

    assert svc.state.saves - saves <= 7, "about one write per sampling period"


def test_shrinking_keeps_the_most_recently_seen_networks() -> None:
    events = _load("bedrock-api-key-new-network__positive__leaked_key_used_from_new_network")
    baseline = rule.NetworkBaseline()
    for event in events:
        record = CloudTrailEvent.model_validate(event).detail
        baseline = rule.api_key_new_network(record, baseline, DEFAULT_SETTINGS).state or baseline

    shrunk = rule.shrink_baseline(baseline)

    assert list(baseline.networks) == ["203.0.113.0/24", "198.51.100.0/24"]
    assert list(shrunk.networks) == ["203.0.113.0/24"]


# ---------------------------------------------------------------------------------------------
# bedrock-api-key-outside-bedrock
# ---------------------------------------------------------------------------------------------


def test_outside_bedrock_consumes_a_finite_list_of_other_services() -> None:
    consumed = REGISTRY[rule.OUTSIDE_BEDROCK].consumes
    assert all(name == "*" for _, name in consumed)
    assert {"iam.amazonaws.com", "sts.amazonaws.com", "s3.amazonaws.com"} <= {source for source, _ in consumed}
    assert not {source for source, _ in consumed} & rule.BEDROCK_SOURCES


def test_every_call_of_the_pivot_is_evidence_of_its_own_finding_before_merging() -> None:
    events = _load("bedrock-api-key-outside-bedrock__positive__placeholder_user_pivots_to_iam")
    records = [CloudTrailEvent.model_validate(e).detail for e in events]

    outcomes = [rule.api_key_outside_bedrock(r, None, DEFAULT_SETTINGS) for r in records]

    assert [o.findings[0].details["outcome"] for o in outcomes] == [
        "succeeded",
        "succeeded",
        "failed: AccessDenied",
    ]


def test_placeholder_users_are_recognised_in_any_case() -> None:
    """IAM user names are unique whatever their case: ``bedrockapikey-x`` is as much a placeholder name."""
    (event,) = _load("bedrock-api-key-for-another-user__positive__console_password_on_placeholder_user")
    event["detail"]["requestParameters"]["userName"] = "bedrockapikey-lower"

    (finding,) = run([event], _svc())

    assert finding.principal == "arn:aws:iam::123456789012:user/bedrockapikey-lower"
    assert finding.playbook == "revert-policy-change"
    assert rule.is_phantom("BEDROCKAPIKEY-X") and not rule.is_phantom("bedrock-api-key-user")
