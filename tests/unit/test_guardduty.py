"""guardduty-ai-finding: GuardDuty AI Protection findings re-emitted as Warden findings, other types left alone."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS, load_json
from tests.fakes import run, service
from warden.detectors import REGISTRY
from warden.detectors import guardduty as rule
from warden.models import GUARDDUTY_SOURCE, Family, GuardDutyEvent, Severity
from warden.settings import DEFAULT_SETTINGS

SAMPLES = EVENTS / "guardduty"
SEQUENCES = EVENTS / "sequences"

# file -> (severity, principal, playbook, access key id, identity type)
EXPECTED: dict[str, tuple[Severity, str, str | None, str | None, str]] = {
    "Impact-IAMUser-AnomalousModelInvocation.json": (
        Severity.LOW,
        "arn:aws:iam::123456789012:user/ml-batch-svc",
        "contain-access-key",
        "AKIAEXAMPLEBATCHSVC1",
        "IAMUser",
    ),
    "Impact-IAMUser-CostHarvesting.json": (
        Severity.MEDIUM,
        "arn:aws:iam::123456789012:role/rag-api-task",
        "revoke-role-sessions",
        "ASIAEXAMPLERAGAPI001",
        "AssumedRole",
    ),
    "Impact-IAMUser-PromptInjection.Direct.json": (
        Severity.LOW,
        "arn:aws:iam::123456789012:user/BedrockAPIKey-7k2q",
        "contain-bedrock-api-key",
        None,
        "IAMUser",
    ),
    "Impact-IAMUser-AnomalousModelInvocation__sample.json": (
        Severity.INFORMATIONAL,
        "arn:aws:iam::123456789012:user/GeneratedFindingUserName",
        None,
        "ASIASAMPLEACCESSKEY1",
        "IAMUser",
    ),
}
NOT_CONSUMED = ["UnauthorizedAccess-EC2-SSHBruteForce.json", "Discovery-IAMUser-AnomalousBehavior.json"]


def _svc() -> Any:
    return service(detectors=[rule.NAME])


def test_every_sample_file_has_an_expectation() -> None:
    assert {p.name for p in SAMPLES.glob("*.json")} == set(EXPECTED) | set(NOT_CONSUMED)
    assert {json.loads((SAMPLES / name).read_text())["detail"]["type"] for name in EXPECTED} == rule.AI_FINDING_TYPES


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_ai_protection_finding_becomes_one_warden_finding(name: str) -> None:
    severity, principal, playbook, key, identity_type = EXPECTED[name]
    event = load_json(f"guardduty/{name}")

    (finding,) = run([event], _svc())

    detail = event["detail"]
    assert finding.detector == "guardduty-ai-finding"
    assert finding.family is Family.BEDROCK_USAGE
    assert finding.severity is severity
    assert finding.principal == principal
    assert finding.playbook == playbook
    assert finding.access_key_id == key
    assert finding.account == "123456789012"
    assert finding.region == "us-east-1"
    assert finding.evidence == (f"{detail['id']}@{datetime.fromisoformat(detail['updatedAt']).isoformat()}",)
    assert finding.details["guardduty_finding_id"] == detail["id"]
    assert finding.details["guardduty_finding_arn"] == detail["arn"]
    assert finding.details["guardduty_type"] == detail["type"]
    assert finding.details["guardduty_severity"] == detail["severity"]
    assert finding.details["identity_type"] == identity_type
    assert finding.first_seen.isoformat() == "2026-11-20T14:03:30+00:00"
    assert finding.last_seen.isoformat() == "2026-11-20T15:02:10+00:00"


def test_the_assumed_role_principal_is_the_role_and_the_session_is_in_details() -> None:
    (finding,) = run([load_json("guardduty/Impact-IAMUser-CostHarvesting.json")], _svc())

    assert finding.details["principal_basis"] == "the role of the session in accessKeyDetails"
    assert finding.details["principal_id"] == "AROAF349E43BCC615B288:7f3c2b1a9d8e4f60"
    assert finding.details["models"] == [
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    ]
    assert finding.details["guardduty_count"] == 14
    assert finding.details["api"] == "Converse"


def test_the_call_behind_the_finding_is_in_details() -> None:
    (finding,) = run([load_json("guardduty/Impact-IAMUser-AnomalousModelInvocation.json")], _svc())

    assert finding.details["api"] == "InvokeModel"
    assert finding.details["service_name"] == "bedrock.amazonaws.com"
    assert finding.details["source_ip"] == "203.0.113.77"
    assert finding.details["models"] == ["anthropic.claude-3-opus-20240229-v1:0"]
    assert finding.details["sample"] is False


def test_a_sample_finding_is_informational_and_starts_nothing() -> None:
    (finding,) = run([load_json("guardduty/Impact-IAMUser-AnomalousModelInvocation__sample.json")], _svc())

    assert finding.title.startswith("[SAMPLE] ")
    assert finding.details["sample"] is True
    assert finding.playbook is None


@pytest.mark.parametrize("name", NOT_CONSUMED)
def test_other_finding_types_are_not_consumed(name: str) -> None:
    event = load_json(f"guardduty/{name}")

    assert run([event], _svc()) == []
    assert (GUARDDUTY_SOURCE, event["detail"]["type"]) not in REGISTRY[rule.NAME].consumes


def test_consumes_exactly_the_ai_protection_types() -> None:
    registered = REGISTRY[rule.NAME]
    assert registered.consumes == {
        (GUARDDUTY_SOURCE, "Impact:IAMUser/AnomalousModelInvocation"),
        (GUARDDUTY_SOURCE, "Impact:IAMUser/CostHarvesting"),
        (GUARDDUTY_SOURCE, "Impact:IAMUser/PromptInjection.Direct"),
    }
    assert registered.state_model is None
    assert "contain-bedrock-api-key" in (rule.__doc__ or "")


@pytest.mark.parametrize(
    ("number", "severity"),
    [
        (10.0, Severity.CRITICAL),
        (9.0, Severity.CRITICAL),
        (8.9, Severity.HIGH),
        (7.0, Severity.HIGH),
        (6.9, Severity.MEDIUM),
        (4.0, Severity.MEDIUM),
        (3.9, Severity.LOW),
        (1.0, Severity.LOW),
        (0.5, Severity.INFORMATIONAL),
        (0.0, Severity.INFORMATIONAL),
    ],
)
def test_severity_follows_guardduty_ranges(number: float, severity: Severity) -> None:
    assert rule.severity_of(number) is severity


@pytest.mark.parametrize(
    ("details", "principal", "playbook"),
    [
        ({"userName": "ops-root", "userType": "Root"}, "arn:aws:iam::123456789012:root", None),
        (
            {"userName": "partner", "userType": "FederatedUser", "accessKeyId": "ASIAEXAMPLEFEDERATE1"},
            "arn:aws:sts::123456789012:federated-user/partner",
            None,
        ),
        (
            {"userName": "ml-batch-svc", "userType": "IAMUser", "accessKeyId": "ASIAEXAMPLESESSION01"},
            "arn:aws:iam::123456789012:user/ml-batch-svc",
            None,
        ),
        (None, "arn:aws:iam::123456789012:root", None),
    ],
)
def test_other_identities_are_named_and_not_contained(
    details: dict[str, str] | None, principal: str, playbook: str | None
) -> None:
    event = copy.deepcopy(load_json("guardduty/Impact-IAMUser-AnomalousModelInvocation.json"))
    if details is None:
        del event["detail"]["resource"]["accessKeyDetails"]
    else:
        event["detail"]["resource"]["accessKeyDetails"] = details

    record = GuardDutyEvent.model_validate(event).detail
    (finding,) = rule.guardduty_ai_finding(record, None, DEFAULT_SETTINGS).findings

    assert finding.principal == principal
    assert finding.playbook == playbook


@pytest.mark.parametrize(
    ("key", "playbook"),
    [(None, "contain-bedrock-api-key"), ("AKIAEXAMPLEPHANTOM01", "contain-access-key")],
)
def test_a_placeholder_users_finding_contains_the_credential_that_signed(key: str | None, playbook: str) -> None:
    """A ``BedrockAPIKey-*`` user's Bedrock key, unless an IAM access key added to it signed the calls."""
    event = copy.deepcopy(load_json("guardduty/Impact-IAMUser-AnomalousModelInvocation.json"))
    details = {"userName": "BedrockAPIKey-7k2q", "userType": "IAMUser"}
    event["detail"]["resource"]["accessKeyDetails"] = details | ({"accessKeyId": key} if key else {})

    record = GuardDutyEvent.model_validate(event).detail
    (finding,) = rule.guardduty_ai_finding(record, None, DEFAULT_SETTINGS).findings

    assert (finding.principal, finding.playbook) == ("arn:aws:iam::123456789012:user/BedrockAPIKey-7k2q", playbook)


def test_the_partition_of_the_finding_is_the_partition_of_the_principal() -> None:
    event = copy.deepcopy(load_json("guardduty/Impact-IAMUser-AnomalousModelInvocation.json"))
    event["detail"]["partition"] = "aws-cn"

    (finding,) = run([event], _svc())

    assert finding.principal == "arn:aws-cn:iam::123456789012:user/ml-batch-svc"


@pytest.mark.parametrize("path", sorted(SEQUENCES.glob("guardduty-ai-finding__positive__*.json")), ids=lambda p: p.stem)
def test_a_finding_and_its_updates_are_published_once(path: Path) -> None:
    svc = _svc()

    findings = run(json.loads(path.read_text()), svc)

    assert len(findings) == 1
    assert findings[0].severity is Severity.LOW
    assert findings[0].playbook == "contain-access-key"


@pytest.mark.parametrize("path", sorted(SEQUENCES.glob("guardduty-ai-finding__negative__*.json")), ids=lambda p: p.stem)
def test_negative_sequences_raise_nothing(path: Path) -> None:
    assert run(json.loads(path.read_text()), _svc()) == []
