"""Drift from the Bedrock security guidance: each detector's samples, then the once-a-day rule and the edges."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS
from tests.fakes import MemoryStateStore, run, service
from warden.detectors import REGISTRY
from warden.detectors import drift as rule
from warden.models import CloudTrailEvent, Family, Severity
from warden.settings import Settings

SEQUENCES = EVENTS / "sequences"
VPCE = "vpce-0a1b2c3d4e5f60718"
SETTINGS = Settings(expected_vpc_endpoints=frozenset({VPCE}))
APP = "arn:aws:sts::123456789012:assumed-role/rag-api-task/7f3c2b1a9d8e4f60"
TRAINER = "arn:aws:sts::123456789012:assumed-role/ml-pipeline/ml-pipeline-run-118"
STOLEN = "arn:aws:iam::123456789012:user/ml-batch-svc"
DETECTORS = [rule.LONG_TERM_KEY, rule.OUTSIDE_VPC, rule.JOB_ISOLATION_NAME, rule.WEAK_TLS]

# file stem -> (family, severity, principal, details that must hold)
EXPECTED: dict[str, tuple[Family, Severity, str, dict[str, Any]]] = {
    "drift-bedrock-long-term-key-use__positive__batch_user_key": (
        Family.BEDROCK_USAGE,
        Severity.LOW,
        STOLEN,
        {"credential_type": "long-term-access-key", "model_id": "anthropic.claude-3-5-sonnet-20240620-v1:0"},
    ),
    "drift-bedrock-outside-vpc-endpoint__positive__app_invokes_over_internet": (
        Family.BEDROCK_USAGE,
        Severity.LOW,
        APP,
        {"vpc_endpoint_id": None, "expected_vpc_endpoints": [VPCE]},
    ),
    "drift-bedrock-job-without-isolation__positive__fine_tuning_without_vpc_or_key": (
        Family.POLICY_CHANGE,
        Severity.MEDIUM,
        TRAINER,
        {"missing": ["vpc", "customer-managed-key"], "job_name": "support-tickets-ft-2026-11"},
    ),
    "drift-bedrock-job-without-isolation__positive__batch_in_vpc_without_key": (
        Family.POLICY_CHANGE,
        Severity.LOW,
        TRAINER,
        {"missing": ["customer-managed-key"], "call": "CreateModelInvocationJob"},
    ),
    "drift-bedrock-weak-tls__positive__legacy_client_tls11": (
        Family.BEDROCK_USAGE,
        Severity.LOW,
        APP,
        {"tls_version": "TLSv1.1", "min_tls_version": "TLSv1.2"},
    ),
}


def _detector(stem: str) -> str:
    return stem.split("__")[0].removeprefix("drift-")


def _files(kind: str) -> list[Path]:
    return sorted(path for name in DETECTORS for path in SEQUENCES.glob(f"drift-{name}__{kind}__*.json"))


def _load(stem: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((SEQUENCES / f"{stem}.json").read_text())
    return events


def _svc(settings: Settings = SETTINGS) -> Any:
    return service(detectors=DETECTORS, settings=settings)


def test_every_detector_has_positive_and_negative_samples_and_every_positive_an_expectation() -> None:
    for name in DETECTORS:
        assert list(SEQUENCES.glob(f"drift-{name}__positive__*.json")), name
        assert list(SEQUENCES.glob(f"drift-{name}__negative__*.json")), name
    assert {p.stem for p in _files("positive")} == set(EXPECTED)


@pytest.mark.parametrize("path", _files("positive"), ids=lambda p: p.stem)
def test_positive_sequence_raises_one_quiet_finding(path: Path) -> None:
    family, severity, principal, details = EXPECTED[path.stem]

    findings = run(json.loads(path.read_text()), service(detectors=[_detector(path.stem)], settings=SETTINGS))

    assert len(findings) == 1, [f.title for f in findings]
    (finding,) = findings
    assert finding.detector == _detector(path.stem)
    assert finding.family is family
    assert finding.severity is severity
    assert finding.principal == principal
    assert finding.playbook is None
    for field, value in details.items():
        assert finding.details[field] == value, field


@pytest.mark.parametrize("path", _files("negative"), ids=lambda p: p.stem)
def test_negative_sequence_raises_nothing(path: Path) -> None:
    svc = service(detectors=[_detector(path.stem)], settings=SETTINGS)
    assert run(json.loads(path.read_text()), svc) == []


def test_registered_in_their_families_with_playbookless_docstring() -> None:
    assert REGISTRY[rule.JOB_ISOLATION_NAME].family is Family.POLICY_CHANGE
    for name in (rule.LONG_TERM_KEY, rule.OUTSIDE_VPC, rule.WEAK_TLS):
        assert REGISTRY[name].family is Family.BEDROCK_USAGE
    assert "playbook" in (rule.__doc__ or "").lower()


def _repeat(event: dict[str, Any], at: str, tag: str) -> dict[str, Any]:
    copied = copy.deepcopy(event)
    copied["id"], copied["detail"]["eventID"] = f"eb-{tag}", tag
    copied["detail"]["eventTime"] = at
    return copied


def test_once_a_day_per_key_in_any_order_and_one_write_a_day() -> None:
    event = _load("drift-bedrock-long-term-key-use__positive__batch_user_key")[0]
    events = [
        _repeat(event, "2026-11-20T10:00:00Z", "day1-late"),
        _repeat(event, "2026-11-20T09:00:00Z", "day1-early"),
        _repeat(event, "2026-11-20T23:00:00Z", "day1-night"),
        _repeat(event, "2026-11-21T10:30:00Z", "day2"),
        _repeat(event, "2026-11-21T11:00:00Z", "day2-again"),
    ]
    svc = service(detectors=[rule.LONG_TERM_KEY])
    store = svc.state
    assert isinstance(store, MemoryStateStore)

    writes = []
    for event in events:
        before = store.saves
        run([event], svc)
        writes.append(store.saves - before)

    findings = run([], svc)
    assert [f.evidence for f in findings] == [("day1-late",), ("day2",)]
    assert findings[0].access_key_id == "AKIAEXAMPLEBATCHSVC1"
    assert [bool(w) for w in writes] == [True, False, False, True, False], "only the daily findings write"


def test_vpc_endpoint_check_is_silent_without_expected_endpoints_and_flags_another_endpoint() -> None:
    events = _load("drift-bedrock-outside-vpc-endpoint__positive__app_invokes_over_internet")
    assert run(events, service(detectors=[rule.OUTSIDE_VPC])) == []

    other = copy.deepcopy(events[0])
    other["detail"]["vpcEndpointId"] = "vpce-0ffeeffeeffeeffee"
    (finding,) = run([other], service(detectors=[rule.OUTSIDE_VPC], settings=SETTINGS))
    assert finding.details["vpc_endpoint_id"] == "vpce-0ffeeffeeffeeffee"


def test_calls_a_service_makes_on_a_principals_behalf_are_not_drift() -> None:
    event = copy.deepcopy(_load("drift-bedrock-outside-vpc-endpoint__positive__app_invokes_over_internet")[0])
    event["detail"]["userIdentity"]["invokedBy"] = "bedrock.amazonaws.com"

    assert run([event], _svc()) == []


def test_a_stricter_minimum_makes_tls12_weak_and_tls13_needs_no_state() -> None:
    strict = Settings(min_tls_version="TLSv1.3")
    tls12 = _load("drift-bedrock-weak-tls__negative__modern_clients")[:2]
    svc = service(detectors=[rule.WEAK_TLS], settings=strict)

    (finding,) = run(tls12, svc)

    assert finding.details["tls_version"] == "TLSv1.2"
    key = REGISTRY[rule.WEAK_TLS].state_key
    records = [CloudTrailEvent.model_validate(e).detail for e in tls12]
    assert [key(r) for r in records] == [APP, None], "a TLS 1.3 call cannot be weak: no state is loaded for it"


@pytest.mark.parametrize(
    ("text", "version"),
    [("TLSv1", (1, 0)), ("TLSv1.1", (1, 1)), ("TLSv1.2", (1, 2)), ("TLSv1.3", (1, 3)), ("SSLv3", None), (None, None)],
)
def test_tls_versions_are_read_as_numbers(text: str | None, version: tuple[int, int] | None) -> None:
    assert rule.tls_version(text) == version


def test_job_severities_are_remembered_apart() -> None:
    """A LOW job of the morning does not hide a MEDIUM one of the afternoon by the same principal."""
    low = _load("drift-bedrock-job-without-isolation__positive__batch_in_vpc_without_key")[0]
    medium = _load("drift-bedrock-job-without-isolation__positive__fine_tuning_without_vpc_or_key")[0]

    findings = run([low, medium], _svc())

    assert [f.severity for f in findings] == [Severity.LOW, Severity.MEDIUM]


def test_a_job_request_without_parameters_is_not_judged() -> None:
    event = copy.deepcopy(_load("drift-bedrock-job-without-isolation__positive__fine_tuning_without_vpc_or_key")[0])
    event["detail"]["requestParameters"] = None

    assert run([event], _svc()) == []


@pytest.mark.parametrize(
    ("call", "params", "missing"),
    [
        ("CreateModelImportJob", {"jobName": "j", "vpcConfig": {"subnetIds": ["subnet-1"]}}, ["customer-managed-key"]),
        ("CreateModelImportJob", {"jobName": "j", "importedModelKmsKeyId": "alias/models"}, ["vpc"]),
        ("CreateModelCopyJob", {"targetModelName": "m"}, ["customer-managed-key"]),
        ("CreateModelCopyJob", {"targetModelName": "m", "modelKmsKeyId": "alias/models"}, None),
        ("CreateEvaluationJob", {"jobName": "e", "customerEncryptionKeyId": "alias/eval"}, None),
        (
            "CreateModelCustomizationJob",
            {"jobName": "j", "vpcConfig": {"subnetIds": []}},
            ["vpc", "customer-managed-key"],
        ),
    ],
)
def test_each_job_call_is_read_by_its_own_parameters(
    call: str, params: dict[str, Any], missing: list[str] | None
) -> None:
    event = copy.deepcopy(_load("drift-bedrock-job-without-isolation__positive__fine_tuning_without_vpc_or_key")[0])
    event["detail"]["eventName"] = call
    event["detail"]["requestParameters"] = params

    findings = run([event], service(detectors=[rule.JOB_ISOLATION_NAME]))

    assert (findings[0].details["missing"] if findings else None) == missing
