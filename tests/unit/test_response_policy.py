"""The response policy: genuine findings only, protected principals as IAM identifies them, no foreign keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import load_json
from warden.config import ResponseConfig
from warden.models import Finding, Severity
from warden.principals import PrincipalRef, protected_match, same_principal
from warden.response import (
    ContainmentCheck,
    FindingCheck,
    IncidentCheck,
    check_finding,
    decide_containment,
    identify_incident,
)

ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 26, 5, 0, 0, 123456, tzinfo=UTC)


def settings(**overrides: Any) -> ResponseConfig:
    values: dict[str, Any] = {"account_id": ACCOUNT, "mode": "auto", "protected": (), **overrides}
    return ResponseConfig.model_validate(values)


def finding(**fields: Any) -> Finding:
    sample = {**load_json("findings/contain_access_key__llmjacking.json"), **fields}
    sample.pop("id")
    return Finding.build(**sample)


def containment(owner: str, found: Finding | None = None, *, active: bool = True) -> ContainmentCheck:
    found = found or finding()
    return ContainmentCheck(
        check="containment",
        playbook="contain-access-key",
        finding=found,
        owner_arn=owner,
        credential=found.access_key_id or "-",
        active=active,
    )


OWNER = f"arn:aws:iam::{ACCOUNT}:user/ml-batch-svc"


# ------------------------------------------------------------------ principals


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/admins/Alice", f"arn:aws:iam::{ACCOUNT}:user/alice"),
        (f"arn:aws:iam::{ACCOUNT}:user/ALICE", f"arn:aws:iam::{ACCOUNT}:user/x/y/alice"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/BreakGlass/jane", f"arn:aws:iam::{ACCOUNT}:role/ops/breakglass"),
    ],
)
def test_the_same_principal_whatever_the_path_or_letter_case(left: str, right: str) -> None:
    assert same_principal(left, right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/alice", "arn:aws:iam::999999999999:user/alice"),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:role/alice"),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:user/xalice"),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", "not an arn"),
        ("arn:aws:s3:::bucket/user/alice", f"arn:aws:iam::{ACCOUNT}:user/alice"),
    ],
)
def test_different_principals_stay_different(left: str, right: str) -> None:
    assert not same_principal(left, right)


def test_a_protected_entry_covers_the_principal_with_any_path_and_case() -> None:
    protected = (f"arn:aws:iam::{ACCOUNT}:role/Other", f"arn:aws:iam::{ACCOUNT}:user/BreakGlass-Admin")
    assert protected_match(f"arn:aws:iam::{ACCOUNT}:user/admins/breakglass-admin", protected) == protected[1]
    assert protected_match(f"arn:aws:iam::{ACCOUNT}:user/breakglass-admin2", protected) is None
    assert PrincipalRef.parse(f"arn:aws:iam::{ACCOUNT}:root") == PrincipalRef(ACCOUNT, "root", "root")


# ------------------------------------------------------------------ genuine findings


def test_a_genuine_finding_is_accepted_with_the_lease_times() -> None:
    triage = check_finding(
        FindingCheck(check="finding", playbook="p", finding=finding().to_json_dict()), settings(), NOW
    )
    assert triage.valid and not triage.problems
    assert triage.opened_at == "2026-11-26T05:00:00Z"
    assert triage.stale_before == "2026-11-26T04:45:00Z"
    assert "2026-11-26T04:44:59Z" < triage.stale_before < triage.opened_at, "one fixed-width form: compares as text"


@pytest.mark.parametrize("field", ["principal", "access_key_id", "account", "severity", "playbook", "evidence"])
def test_a_finding_that_borrows_a_real_id_is_refused(field: str) -> None:
    real = finding().to_json_dict()
    forged = {
        **real,
        field: {
            "principal": "arn:aws:iam::123456789012:user/someone-else",
            "access_key_id": "AKIAEXAMPLEOTHERKEY1",
            "account": "999999999999",
            "severity": "CRITICAL",
            "playbook": "notify-only",
            "evidence": ["forged"],
        }[field],
    }

    triage = check_finding(FindingCheck(check="finding", playbook="p", finding=forged), settings(), NOW)

    assert not triage.valid
    assert triage.problems == ["id: does not match the finding's content (altered or forged)"]


def test_details_do_not_seal_the_id_and_the_id_is_stable() -> None:
    assert finding(details={"x": 1}).id == finding().id
    assert finding().id == finding().content_id()
    assert finding(title="other").id != finding().id


@pytest.mark.parametrize(
    "raw",
    [None, [], "finding", 7, {"id": 5}, {"principal": "arn:aws:iam::1:user/x"}, {"severity": "x" * 100_000}],
)
def test_input_that_is_not_a_finding_is_refused_naming_fields_not_values(raw: Any) -> None:
    triage = check_finding(FindingCheck(check="finding", playbook="p", finding=raw), settings(), NOW)
    assert not triage.valid and triage.problems
    assert "x" * 50 not in triage.summary, "values never reach the summary"
    assert len(triage.problems) <= 10


# ------------------------------------------------------------------ containment decisions


def test_contains_when_everything_agrees() -> None:
    decision = decide_containment(containment(OWNER), settings())
    assert decision.act and decision.status == "CONTAINED"


def test_a_key_of_another_user_is_refused() -> None:
    decision = decide_containment(containment(f"arn:aws:iam::{ACCOUNT}:user/bob"), settings())
    assert not decision.act
    assert (decision.status, decision.reason) == ("REFUSED_MISMATCH", "owner-mismatch")


def test_the_owner_matches_whatever_its_path_or_case() -> None:
    decision = decide_containment(containment(f"arn:aws:iam::{ACCOUNT}:user/batch/ML-Batch-Svc"), settings())
    assert decision.act


@pytest.mark.parametrize(
    ("owner", "found"),
    [
        ("arn:aws:iam::999999999999:user/ml-batch-svc", None),
        (OWNER, finding(account="999999999999")),
        (
            "arn:aws:iam::999999999999:user/ml-batch-svc",
            finding(principal="arn:aws:iam::999999999999:user/ml-batch-svc"),
        ),
    ],
    ids=["key-in-another-account", "finding-in-another-account", "both-elsewhere"],
)
def test_nothing_outside_the_stacks_account_is_touched(owner: str, found: Finding | None) -> None:
    decision = decide_containment(containment(owner, found), settings())
    assert (decision.act, decision.status, decision.reason) == (False, "REFUSED_MISMATCH", "foreign-account")


@pytest.mark.parametrize(
    "entry",
    [OWNER, f"arn:aws:iam::{ACCOUNT}:user/ML-BATCH-SVC", f"arn:aws:iam::{ACCOUNT}:user/service/ml-batch-svc"],
    ids=["exact", "other-case", "other-path"],
)
def test_a_protected_owner_is_refused_however_it_is_listed(entry: str) -> None:
    decision = decide_containment(
        containment(f"arn:aws:iam::{ACCOUNT}:user/batch/ml-batch-svc"), settings(protected=(entry,))
    )
    assert (decision.act, decision.status) == (False, "REFUSED_PROTECTED")
    assert "protected principal" in decision.summary


def test_a_finding_naming_wardens_own_role_is_refused() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/warden-ContainAccessKeyStateMachineRole-1"
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/warden-ContainAccessKeyStateMachineRole-1/exec"
    decision = decide_containment(containment(OWNER, finding(principal=session)), settings(protected=(role,)))
    assert decision.status == "REFUSED_PROTECTED"


def test_an_inactive_key_needs_nothing() -> None:
    decision = decide_containment(containment(OWNER, active=False), settings())
    assert (decision.act, decision.status) == (False, "NO_ACTION")


@pytest.mark.parametrize("mode", ["dry-run", "", "AUTO", "approve"])
def test_any_mode_but_auto_only_plans(mode: str) -> None:
    decision = decide_containment(containment(OWNER), settings(mode=mode))
    assert (decision.act, decision.status, decision.reason) == (False, "DRY_RUN", "dry-run")


@pytest.mark.parametrize(
    ("severity", "minimum", "acts"),
    [("LOW", "HIGH", False), ("MEDIUM", "HIGH", False), ("HIGH", "HIGH", True), ("CRITICAL", "HIGH", True),
     ("HIGH", "CRITICAL", False), ("LOW", "LOW", True), ("INFORMATIONAL", "LOW", False)],
)  # fmt: skip
def test_below_the_severity_threshold_nothing_is_contained_automatically(
    severity: str, minimum: str, acts: bool
) -> None:
    decision = decide_containment(containment(OWNER, finding(severity=severity)), settings(auto_min_severity=minimum))
    assert decision.act is acts
    if not acts:
        assert (decision.status, decision.reason) == ("DRY_RUN", "below-threshold")


def test_the_configuration_reads_the_template_environment() -> None:
    config = ResponseConfig.from_environ(
        {
            "WARDEN_ACCOUNT_ID": ACCOUNT,
            "WARDEN_RESPONSE_MODE": "auto",
            "WARDEN_PROTECTED_PRINCIPALS": f"arn:aws:iam::{ACCOUNT}:user/a,,arn:aws:iam::{ACCOUNT}:role/b",
            "WARDEN_AUTO_CONTAIN_MIN_SEVERITY": "MEDIUM",
            "WARDEN_INCIDENT_LEASE_SECONDS": "600",
        }
    )
    assert config.protected == (f"arn:aws:iam::{ACCOUNT}:user/a", f"arn:aws:iam::{ACCOUNT}:role/b")
    assert config.auto_min_severity is Severity.MEDIUM
    assert config.incident_lease == timedelta(minutes=10)


# ------------------------------------------------------------------ the failure recorder's question


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (json.dumps({"id": "ab" * 16, "principal": "x"}), "ab" * 16),
        ({"id": "ab" * 16}, "ab" * 16),
        ("6]", None),
        ("not json", None),
        ("[" * 5000, None),
        (json.dumps({"id": "../../INCIDENT#x"}), None),
        (json.dumps([1, 2]), None),
        (None, None),
        (17, None),
    ],
    ids=["json-finding", "object", "broken-json", "text", "deep", "not-an-id", "array", "none", "number"],
)
def test_the_incident_of_a_failed_execution_is_read_from_any_input(given: Any, expected: str | None) -> None:
    assert identify_incident(IncidentCheck(check="incident", input=given)).finding_id == expected
