"""The real attack captures of the shared corpus give the outcome its README states, through every family at once.

Each capture (a JSON array of CloudTrail records, anonymised by its publisher: accounts, addresses and
region names that do not exist) is wrapped as CloudTrail delivers it to EventBridge and fed to a
detection service running every registered detector with the default settings, so that the
capture's own account is the deployer's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes import run, service
from warden.models import Family, Finding, Severity
from warden_local.readers import to_eventbridge

STRATUS = "stratus-red-team"
EXTERNAL_ACCOUNT = "193672423079"


@dataclass(frozen=True)
class Expected:
    """A finding the capture must raise; ``mentions`` must each appear in its title or details."""

    family: Family
    detector: str
    principal: str | None = None
    severity: Severity | None = None
    playbook: str | None = None
    mentions: tuple[str, ...] = ()
    details_mention: tuple[str, ...] = ()

    def matches(self, finding: Finding) -> bool:
        details = json.dumps(finding.details, default=str)
        return (
            (finding.family, finding.detector) == (self.family, self.detector)
            and self.principal in (None, finding.principal)
            and self.severity in (None, finding.severity)
            and self.playbook in (None, finding.playbook)
            and all(text in finding.title or text in details for text in self.mentions)
            and all(text in details for text in self.details_mention)
        )


CAPTURES: dict[str, list[Expected]] = {
    "aws.impact.bedrock-invoke-model.json": [
        Expected(
            Family.BEDROCK_USAGE,
            "llmjacking-sequence",
            principal="arn:aws:sts::494659789341:assumed-role/test-role/cli",
            severity=Severity.HIGH,
            playbook="revoke-role-sessions",
        ),
    ],
    "aws.persistence.iam-backdoor-role.json": [
        Expected(
            Family.CROSS_ACCOUNT,
            "external-trust-policy",
            mentions=(EXTERNAL_ACCOUNT,),
            details_mention=("arn:aws:iam::751203476945:user/christophe",),
        ),
    ],
    "aws.persistence.iam-create-backdoor-role.json": [
        Expected(Family.CROSS_ACCOUNT, "external-trust-policy", mentions=(EXTERNAL_ACCOUNT,)),
        Expected(Family.POLICY_CHANGE, "broad-permissions-granted", mentions=("AdministratorAccess",)),
    ],
    "aws.persistence.iam-backdoor-user.json": [
        Expected(
            Family.POLICY_CHANGE, "credentials-created-for-another-user", mentions=("stratus-red-team-backdoor-u-user",)
        ),
    ],
    "aws.persistence.iam-create-admin-user.json": [
        Expected(Family.POLICY_CHANGE, "broad-permissions-granted", mentions=("AdministratorAccess",)),
        Expected(Family.POLICY_CHANGE, "credentials-created-for-another-user", mentions=("malicious-iam-user",)),
    ],
}


def _findings(corpus: Path, capture: str) -> list[Finding]:
    records = json.loads((corpus / STRATUS / capture).read_text())
    return run([to_eventbridge(record) for record in records], service(family=None))


def test_every_capture_of_the_corpus_has_an_expected_outcome(corpus: Path) -> None:
    assert sorted(p.name for p in (corpus / STRATUS).glob("*.json")) == sorted(CAPTURES)


@pytest.mark.parametrize(("capture", "expected"), CAPTURES.items(), ids=list(CAPTURES))
def test_a_capture_raises_the_findings_its_readme_states(corpus: Path, capture: str, expected: list[Expected]) -> None:
    findings = _findings(corpus, capture)

    raised = [(f.family.value, f.detector, f.severity.value, f.principal, f.playbook) for f in findings]
    for want in expected:
        assert any(want.matches(f) for f in findings), f"{capture}: no finding like {want}; raised {raised}"
    assert {f.family for f in findings} <= {want.family for want in expected}, f"another family fired: {raised}"


def test_the_backdoored_role_names_the_outside_account_and_the_actor(corpus: Path) -> None:
    (finding,) = [
        f for f in _findings(corpus, "aws.persistence.iam-backdoor-role.json") if f.family is Family.CROSS_ACCOUNT
    ]

    assert finding.account == "751203476945"
    assert finding.region == "ca-isob-northsouth-1r", "an anonymised region name is accepted as it is"
    assert list(finding.evidence) == ["62e290e2-ee95-4a7c-a9f8-db4ef462b12d"]
    assert finding.severity in {Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL}


def test_the_keys_created_for_other_users_are_policy_changes_of_at_least_medium(corpus: Path) -> None:
    for capture in ("aws.persistence.iam-backdoor-user.json", "aws.persistence.iam-create-admin-user.json"):
        (finding,) = [f for f in _findings(corpus, capture) if f.detector == "credentials-created-for-another-user"]
        assert finding.severity in {Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL}, capture
