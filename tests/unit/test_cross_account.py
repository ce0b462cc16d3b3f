"""cross-account detectors: every sample sequence in events/sequences/ proves a positive or a negative."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS, load_json
from tests.fakes import MemoryStateStore, run, service
from warden.detectors import REGISTRY
from warden.detectors import _trust as trust_rules
from warden.detectors import cross_account as rule
from warden.models import CloudTrailEvent, Family, Finding, Severity
from warden.policy_documents import parse
from warden.service import MAX_EVENT_AGE
from warden.settings import DEFAULT_SETTINGS, Settings
from warden_local.readers import to_eventbridge

SEQUENCES = EVENTS / "sequences"
DETECTORS = [
    "external-trust-policy",
    "assume-role-from-new-account",
    "external-resource-policy",
    "untrusted-model-or-data-source",
]
ACCOUNT = "123456789012"
OUTSIDE = "444455556666"
SETTINGS = Settings(
    account_id=ACCOUNT,
    trusted_accounts=frozenset({"210987654321"}),
    organization_id="o-a1b2c3d4e5",
    invocation_log_bucket="acme-bedrock-invocation-logs",
)
STOLEN_USER = f"arn:aws:iam::{ACCOUNT}:user/devops-ci"
ADMIN_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/platform-admin/alice"


@dataclass(frozen=True)
class Expected:
    severity: Severity
    principal: str
    playbook: str | None
    check: Callable[[Finding], None] = lambda finding: None


def _details(**wanted: Any) -> Callable[[Finding], None]:
    def check(finding: Finding) -> None:
        for key, value in wanted.items():
            assert finding.details[key] == value, key

    return check


def _previous_trusts_lambda_only(finding: Finding) -> None:
    previous = json.loads(finding.details["previous_document"])
    assert previous["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert finding.details["outside_accounts"] == [OUTSIDE]
    assert finding.details["actor"] == STOLEN_USER
    assert OUTSIDE in finding.title


EXPECTED: dict[str, Expected] = {
    "external-trust-policy__positive__update_adds_outside_account": Expected(
        Severity.HIGH, f"arn:aws:iam::{ACCOUNT}:role/rag-ingest", "revert-policy-change", _previous_trusts_lambda_only
    ),
    "external-trust-policy__positive__create_role_trusts_everyone": Expected(
        Severity.CRITICAL,
        f"arn:aws:iam::{ACCOUNT}:role/support-bot",
        "revert-policy-change",
        _details(public=True, outside_principals=["*"], previous_document=None, actor=STOLEN_USER),
    ),
    "external-trust-policy__positive__github_oidc_without_subject": Expected(
        Severity.CRITICAL,
        f"arn:aws:iam::{ACCOUNT}:role/gha-deploy",
        "revert-policy-change",
        _details(
            public=True,
            outside_principals=[f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"],
        ),
    ),
    "external-trust-policy__positive__outside_user_behind_external_id": Expected(
        Severity.HIGH,
        f"arn:aws:iam::{ACCOUNT}:role/bedrock-batch",
        "revert-policy-change",
        _details(outside_accounts=[OUTSIDE], outside_principals=[f"arn:aws:iam::{OUTSIDE}:user/ops"], public=False),
    ),
    "assume-role-from-new-account__positive__backdoor_then_assume": Expected(
        Severity.MEDIUM,
        f"arn:aws:iam::{ACCOUNT}:role/rag-ingest",
        "revoke-role-sessions",
        _details(caller_account=OUTSIDE, session_name="x", role_created_after_warden=True),
    ),
    "external-resource-policy__positive__log_bucket_read_by_outside_account": Expected(
        Severity.HIGH,
        "arn:aws:s3:::acme-bedrock-invocation-logs",
        "revert-policy-change",
        _details(invocation_log_bucket=True, outside_accounts=[OUTSIDE], actor=STOLEN_USER),
    ),
    "external-resource-policy__positive__bucket_acl_all_users": Expected(
        Severity.HIGH,
        "arn:aws:s3:::acme-rag-corpus",
        "revert-policy-change",
        _details(public=True, outside_principals=["AllUsers"], invocation_log_bucket=False),
    ),
    "external-resource-policy__positive__kms_grant_to_outside_role": Expected(
        Severity.MEDIUM,
        f"arn:aws:kms:us-east-1:{ACCOUNT}:key/5c1e7a9d-3b2f-4e8a-9c61-0f5a3c1e7d2b",
        "revert-policy-change",
        _details(outside_accounts=[OUTSIDE], grant_operations=["Decrypt", "DescribeKey", "GenerateDataKey"]),
    ),
    "external-resource-policy__positive__guardrail_policy_outside_account": Expected(
        Severity.MEDIUM,
        f"arn:aws:bedrock:us-east-1:{ACCOUNT}:guardrail/q7w3e9r1t5y2",
        "revert-policy-change",
        _details(outside_accounts=[OUTSIDE], resource_type="Bedrock resource"),
    ),
    "untrusted-model-or-data-source__positive__knowledge_base_bucket_of_outside_account": Expected(
        Severity.HIGH,
        f"arn:aws:bedrock:us-east-1:{ACCOUNT}:knowledge-base/KBX7Q2M9P4",
        None,
        _details(untrusted_owners=[OUTSIDE], untrusted_sources=["arn:aws:s3:::docs-mirror-2026"]),
    ),
    "untrusted-model-or-data-source__positive__model_import_from_outside_access_point": Expected(
        Severity.HIGH,
        f"arn:aws:bedrock:us-east-1:{ACCOUNT}:model-import-job/k3v8n1x6z0qa",
        None,
        _details(untrusted_owners=[OUTSIDE], needed_to_verify=None),
    ),
}


def _files(kind: str) -> list[Path]:
    return sorted(path for name in DETECTORS for path in SEQUENCES.glob(f"{name}__{kind}__*.json"))


def _detector(path: Path) -> str:
    return path.stem.split("__", 1)[0]


def _run(events: list[dict[str, Any]], name: str, settings: Settings = SETTINGS) -> list[Finding]:
    return run(events, service(detectors=[name], settings=settings))


def test_every_detector_has_positive_and_negative_samples_with_expectations() -> None:
    for name in DETECTORS:
        assert any(_detector(p) == name for p in _files("positive")), name
        assert any(_detector(p) == name for p in _files("negative")), name
    assert {p.stem for p in _files("positive")} == set(EXPECTED)


@pytest.mark.parametrize("path", _files("positive"), ids=lambda p: p.stem)
def test_positive_sequence_raises_one_finding(path: Path) -> None:
    expected = EXPECTED[path.stem]

    (finding,) = _run(json.loads(path.read_text()), _detector(path))

    assert finding.detector == _detector(path)
    assert finding.family is Family.CROSS_ACCOUNT
    assert finding.severity is expected.severity
    assert finding.principal == expected.principal
    assert finding.playbook == expected.playbook
    assert finding.account == ACCOUNT
    expected.check(finding)


@pytest.mark.parametrize("path", _files("negative"), ids=lambda p: p.stem)
def test_negative_sequence_raises_nothing(path: Path) -> None:
    assert _run(json.loads(path.read_text()), _detector(path)) == []


@pytest.mark.parametrize("path", _files("negative"), ids=lambda p: p.stem)
def test_negative_sequence_raises_nothing_from_the_whole_family(path: Path) -> None:
    assert run(json.loads(path.read_text()), service(family=Family.CROSS_ACCOUNT, settings=SETTINGS)) == []


@pytest.mark.parametrize("path", _files("positive"), ids=lambda p: p.stem)
def test_redelivered_events_give_the_same_finding_and_stateful_detectors_publish_it_once(path: Path) -> None:
    """Stateless detectors rely on the service's idempotency per event id; a redelivery mints the same id."""
    events = json.loads(path.read_text())
    svc = service(detectors=[_detector(path)], settings=SETTINGS)

    run(events, svc)
    published = run(events, svc)

    assert len({f.id for f in published}) == 1
    if REGISTRY[_detector(path)].state_model is not None:
        assert len(published) == 1


def _within_delivery_delay(path: Path) -> bool:
    """Sequences spanning at most the service's event-age limit: only those can arrive in any order."""
    times = [datetime.fromisoformat(e["detail"]["eventTime"]) for e in json.loads(path.read_text())]
    return max(times) - min(times) <= MAX_EVENT_AGE


@pytest.mark.parametrize("path", [p for p in _files("positive") if _within_delivery_delay(p)], ids=lambda p: p.stem)
def test_events_in_reverse_order_raise_the_same_single_finding(path: Path) -> None:
    (in_order,) = _run(json.loads(path.read_text()), _detector(path))

    (reversed_finding,) = _run(list(reversed(json.loads(path.read_text()))), _detector(path))

    assert reversed_finding.principal == in_order.principal
    assert reversed_finding.severity is in_order.severity
    assert reversed_finding.details.get("caller_account") == in_order.details.get("caller_account")
    assert reversed_finding.details.get("outside_accounts") == in_order.details.get("outside_accounts")


# ------------------------------------------------------------------------------------ the corpus


def _corpus(corpus: Path, name: str) -> list[dict[str, Any]]:
    records = json.loads((corpus / "stratus-red-team" / name).read_text())
    return [to_eventbridge(r) for r in records]


def test_stratus_trust_backdoor_names_the_outside_account_and_the_actor(corpus: Path) -> None:
    """The finding's principal is the backdoored role (what the playbook reverts); the actor is in details."""
    (finding,) = run(_corpus(corpus, "aws.persistence.iam-backdoor-role.json"), service(family=Family.CROSS_ACCOUNT))

    assert finding.detector == "external-trust-policy"
    assert finding.family is Family.CROSS_ACCOUNT
    assert finding.severity is Severity.HIGH
    assert finding.principal == "arn:aws:iam::751203476945:role/stratus-red-team-backdoor-r-role"
    assert finding.details["actor"] == "arn:aws:iam::751203476945:user/christophe"
    assert finding.details["actor_access_key_id"] == "AKIAMUV7B57OZM0RV05D"
    assert finding.details["outside_accounts"] == ["193672423079"]
    assert "193672423079" in finding.title
    assert finding.playbook == "revert-policy-change"


def test_stratus_create_backdoor_role_is_an_external_trust(corpus: Path) -> None:
    (finding,) = run(
        _corpus(corpus, "aws.persistence.iam-create-backdoor-role.json"), service(family=Family.CROSS_ACCOUNT)
    )

    assert finding.detector == "external-trust-policy"
    assert finding.severity is Severity.HIGH
    assert finding.principal == "arn:aws:iam::609418236337:role/stratus-red-team-malicious-iam-role"
    assert finding.details["actor"] == "arn:aws:iam::609418236337:user/christophe"
    assert finding.details["outside_accounts"] == ["193672423079"]
    assert finding.details["change"] == "CreateRole"


@pytest.mark.parametrize(
    "name",
    ["aws.persistence.iam-backdoor-user.json", "aws.persistence.iam-create-admin-user.json"],
)
def test_other_persistence_captures_are_not_cross_account(corpus: Path, name: str) -> None:
    assert run(_corpus(corpus, name), service(family=Family.CROSS_ACCOUNT)) == []


# ---------------------------------------------------------------------------- trust-policy rules


def _event(path: str, index: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = load_json(f"sequences/{path}.json")[index]
    return event


def _trust_update(document: dict[str, Any], *, event_id: str = "trust-change") -> dict[str, Any]:
    event = _event("external-trust-policy__positive__update_adds_outside_account", 1)
    event["detail"]["requestParameters"]["policyDocument"] = json.dumps(document)
    event["detail"]["eventID"] = event["id"] = event_id
    return event


def _statement(principal: Any, condition: dict[str, Any] | None = None, effect: str = "Allow") -> dict[str, Any]:
    statement = {"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return statement


def _trust_finding(*statements: dict[str, Any], settings: Settings = SETTINGS) -> Finding | None:
    findings = _run([_trust_update({"Statement": list(statements)})], "external-trust-policy", settings)
    return findings[0] if findings else None


@pytest.mark.parametrize(
    ("principal", "label"),
    [
        (OUTSIDE, OUTSIDE),
        (f"arn:aws:iam::{OUTSIDE}:root", OUTSIDE),
        (f"arn:aws:iam::{OUTSIDE}:role/admin", OUTSIDE),
        ({"AWS": [f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:sts::{OUTSIDE}:assumed-role/r/s"]}, OUTSIDE),
    ],
)
def test_a_named_outside_account_is_high(principal: Any, label: str) -> None:
    wrapped = principal if isinstance(principal, dict) else {"AWS": principal}

    finding = _trust_finding(_statement(wrapped))

    assert finding is not None
    assert finding.severity is Severity.HIGH
    assert finding.details["outside_accounts"] == [label]


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}])
def test_everyone_without_conditions_is_critical(principal: Any) -> None:
    finding = _trust_finding(_statement(principal))

    assert finding is not None
    assert finding.severity is Severity.CRITICAL


def test_external_id_does_not_make_an_outside_account_trusted_nor_everyone_critical() -> None:
    named = _trust_finding(_statement({"AWS": OUTSIDE}, {"StringEquals": {"sts:ExternalId": "secret"}}))
    everyone = _trust_finding(_statement("*", {"StringEquals": {"sts:ExternalId": "secret"}}))

    assert named is not None and named.severity is Severity.HIGH
    assert everyone is not None and everyone.severity is Severity.HIGH
    assert everyone.details["exposures"][0]["conditions"] is True


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        {"StringEquals": {"aws:principalorgid": ["o-a1b2c3d4e5"]}},
        {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/*"]}},
        {"StringEquals": {"aws:PrincipalAccount": ["210987654321", ACCOUNT]}},
        {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}},
    ],
)
def test_conditions_restricting_callers_to_the_organization_or_trusted_accounts_restore_trust(
    condition: dict[str, Any],
) -> None:
    assert _trust_finding(_statement("*", condition)) is None
    assert _trust_finding(_statement({"AWS": OUTSIDE}, condition)) is None


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}},
        {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
        {"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}},
        {"StringEquals": {"aws:PrincipalAccount": [ACCOUNT, OUTSIDE]}},
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"StringEquals": {"aws:SourceVpce": "vpce-0a1b2c3d"}},
    ],
)
def test_conditions_that_do_not_restrict_callers_to_trusted_ones_do_not_restore_trust(
    condition: dict[str, Any],
) -> None:
    finding = _trust_finding(_statement("*", condition))

    assert finding is not None
    assert finding.severity is Severity.HIGH


def test_the_organization_condition_needs_the_organization_configured() -> None:
    condition = {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    without_org = SETTINGS.model_copy(update={"organization_id": None})

    assert _trust_finding(_statement("*", condition), settings=without_org) is not None


def test_a_deny_for_everyone_outside_the_organization_walls_off_every_allow() -> None:
    outside_org = {"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    deny: dict[str, Any] = {"Effect": "Deny", "Principal": "*", "Action": "sts:*", "Condition": outside_org}
    leaky_deny = {**deny, "Condition": {**outside_org, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}

    assert _trust_finding(_statement("*"), deny) is None
    assert _trust_finding(_statement({"AWS": OUTSIDE}), deny) is None
    assert _trust_finding(_statement({"AWS": OUTSIDE}), leaky_deny) is not None


def test_only_allow_statements_for_role_assumption_count() -> None:
    deny = _statement({"AWS": OUTSIDE}, effect="Deny")
    other_action = {"Effect": "Allow", "Principal": {"AWS": OUTSIDE}, "Action": "sts:TagSession"}
    wildcard = {"Effect": "Allow", "Principal": {"AWS": OUTSIDE}, "Action": "sts:*"}
    not_action = {"Effect": "Allow", "Principal": {"AWS": OUTSIDE}, "NotAction": "sts:TagSession"}

    assert _trust_finding(deny) is None
    assert _trust_finding(other_action) is None
    assert _trust_finding(wildcard) is not None
    assert _trust_finding(not_action) is not None


def test_trusted_accounts_services_and_own_providers_are_trusted() -> None:
    assert _trust_finding(_statement({"AWS": "210987654321"})) is None
    assert _trust_finding(_statement({"Service": ["ec2.amazonaws.com", "bedrock.amazonaws.com"]})) is None
    assert _trust_finding(_statement({"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"})) is None


def test_a_service_acting_for_an_outside_account_is_not_trusted() -> None:
    finding = _trust_finding(
        _statement({"Service": "bedrock.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": OUTSIDE}})
    )

    assert finding is not None
    assert finding.severity is Severity.HIGH
    assert finding.details["outside_accounts"] == [OUTSIDE]


@pytest.mark.parametrize(
    ("federated", "condition", "severity"),
    [
        (
            f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
            {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}},
            Severity.CRITICAL,
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com",
            {"StringEquals": {"gitlab.com:aud": "https://gitlab.com"}},
            Severity.CRITICAL,
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B7",
            {"StringEquals": {"oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B7:aud": "sts.amazonaws.com"}},
            Severity.MEDIUM,
        ),
        ("cognito-identity.amazonaws.com", None, Severity.CRITICAL),
        (f"arn:aws:iam::{OUTSIDE}:oidc-provider/token.actions.githubusercontent.com", None, Severity.HIGH),
    ],
)
def test_federated_providers_anyone_can_get_a_token_from(
    federated: str, condition: dict[str, Any] | None, severity: Severity
) -> None:
    statement = _statement({"Federated": federated}, condition)
    statement["Action"] = "sts:AssumeRoleWithWebIdentity"

    finding = _trust_finding(statement)

    assert finding is not None
    assert finding.severity is severity


def test_a_cognito_pool_condition_narrows_the_public_provider() -> None:
    statement = _statement(
        {"Federated": "cognito-identity.amazonaws.com"},
        {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:12345678-aaaa-bbbb-cccc-1234567890ab"}},
    )
    statement["Action"] = "sts:AssumeRoleWithWebIdentity"

    assert _trust_finding(statement) is None


def test_a_change_keeping_an_already_trusted_outside_account_is_not_reported_again() -> None:
    vendor = _statement({"AWS": OUTSIDE}, {"StringEquals": {"sts:ExternalId": "v1"}})
    vendor_v2 = _statement({"AWS": OUTSIDE}, {"StringEquals": {"sts:ExternalId": "v2"}})
    another = _statement({"AWS": "555566667777"})
    first = _trust_update({"Statement": [vendor]}, event_id="v1")
    second = _trust_update({"Statement": [vendor_v2]}, event_id="v2")
    third = _trust_update({"Statement": [vendor_v2, another]}, event_id="v3")
    second["detail"]["eventTime"] = "2026-11-20T15:00:00Z"
    third["detail"]["eventTime"] = "2026-11-20T16:00:00Z"

    findings = _run([first, second, third], "external-trust-policy")

    assert [f.details["outside_accounts"] for f in findings] == [[OUTSIDE], ["555566667777"]]
    assert json.loads(findings[1].details["previous_document"])["Statement"] == [vendor_v2]


def test_the_previous_document_is_the_latest_before_the_change_even_when_it_arrives_late() -> None:
    create, backdoor = load_json("sequences/external-trust-policy__positive__update_adds_outside_account.json")
    later = _trust_update({"Statement": [_statement({"Service": "ecs-tasks.amazonaws.com"})]}, event_id="later")
    later["detail"]["eventTime"] = "2026-11-20T16:00:00Z"

    (finding,) = _run([create, later, backdoor], "external-trust-policy")

    assert finding.details["previous_document_known"] is True
    _previous_trusts_lambda_only(finding)


def test_an_assumption_arriving_before_the_roles_creation_is_reported_when_the_creation_arrives() -> None:
    create, backdoor, first, second = load_json(
        "sequences/assume-role-from-new-account__positive__backdoor_then_assume.json"
    )

    (finding,) = _run([first, second, backdoor, create], "assume-role-from-new-account")

    assert finding.evidence == (first["detail"]["eventID"],)
    assert finding.details["caller_account"] == OUTSIDE
    assert finding.first_seen.isoformat() == "2026-11-20T14:04:40+00:00"
    assert "reported_late" in finding.details


def test_the_trust_history_is_bounded_and_shrinks() -> None:
    svc = service(detectors=["external-trust-policy"], settings=SETTINGS)
    for hour in range(10):
        event = _trust_update({"Statement": [_statement({"Service": "ec2.amazonaws.com"})]}, event_id=f"e{hour}")
        event["detail"]["eventTime"] = f"2026-11-20T1{hour}:00:00Z"
        run([event], svc)

    assert isinstance(svc.state, MemoryStateStore)
    (stored,) = [svc.state.load(*key) for key in svc.state.items]
    assert stored is not None
    versions = stored.value["state"]["versions"]
    assert [v["event_id"] for v in versions] == ["e6", "e7", "e8", "e9"]
    history = rule.TrustHistory.model_validate(stored.value["state"])
    assert [v.event_id for v in rule.shrink_history(history).versions] == ["e8", "e9"]
    assert REGISTRY["external-trust-policy"].retention == timedelta(days=90)


def test_an_unreadable_or_oversized_document_raises_nothing_and_is_not_kept() -> None:
    nested = _trust_update({"Statement": []}, event_id="nested")
    nested["detail"]["requestParameters"]["policyDocument"] = "[" * 50_000
    huge = _trust_update({"Statement": [_statement({"AWS": OUTSIDE})], "Padding": "x" * 20_000}, event_id="huge")

    svc = service(detectors=["external-trust-policy"], settings=SETTINGS)
    findings = run([nested, huge], svc)

    assert [f.details["outside_accounts"] for f in findings] == [[OUTSIDE]]
    assert svc.dead_letters.kept == []  # type: ignore[attr-defined]


def test_a_failed_trust_change_changes_nothing() -> None:
    event = _trust_update({"Statement": [_statement("*")]})
    event["detail"]["errorCode"] = "AccessDenied"

    assert _run([event], "external-trust-policy") == []


# ----------------------------------------------------------------------- assume-role-from-new-account


def _assume(account: str, at: str, *, event_id: str, role: str = "partner-reporting") -> dict[str, Any]:
    event = _event("assume-role-from-new-account__positive__backdoor_then_assume", 2)
    detail = event["detail"]
    detail["userIdentity"]["accountId"] = account
    detail["requestParameters"]["roleArn"] = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    detail.update(eventTime=at, eventID=event_id)
    event["id"] = f"eb-{event_id}"
    return event


def test_the_assume_role_sample_has_the_shape_cloudtrail_records_in_the_roles_account() -> None:
    detail = _event("assume-role-from-new-account__positive__backdoor_then_assume", 2)["detail"]

    assert detail["userIdentity"] == {
        "type": "AWSAccount",
        "principalId": detail["userIdentity"]["principalId"],
        "accountId": OUTSIDE,
    }
    assert detail["readOnly"] is True
    assert detail["recipientAccountId"] == ACCOUNT
    assert "sharedEventID" in detail
    assert detail["responseElements"]["assumedRoleUser"]["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/")


def test_a_warm_baseline_reports_a_new_outside_account_once() -> None:
    """Not a sample file: the fuzz harness's blinding check copies an attack's events to before its start, and
    an outside account first seen during the warm-up is learned by design."""
    known = "555566667777"
    events = [
        _assume(known, "2026-11-02T08:00:00Z", event_id="known-1"),
        _assume(known, "2026-11-03T08:00:00Z", event_id="known-2"),
        _assume(known, "2026-11-20T08:00:00Z", event_id="known-3"),
        _assume(OUTSIDE, "2026-11-20T14:04:40Z", event_id="new"),
        _assume(OUTSIDE, "2026-11-20T14:34:40Z", event_id="new-again"),
        _assume(known, "2026-11-21T08:00:00Z", event_id="known-4"),
    ]

    (finding,) = _run(events, "assume-role-from-new-account")

    assert finding.severity is Severity.MEDIUM
    assert finding.principal == f"arn:aws:iam::{ACCOUNT}:role/partner-reporting"
    assert finding.playbook == "revoke-role-sessions"
    assert finding.evidence == ("new",)
    assert finding.details["caller_account"] == OUTSIDE
    assert finding.details["caller_identity_type"] == "AWSAccount"
    assert finding.details["known_outside_accounts"] == 1
    assert finding.details["role_created_after_warden"] is False


def test_a_new_account_during_warm_up_is_learned_and_never_reported() -> None:
    events = [
        _assume(OUTSIDE, "2026-11-01T10:00:00Z", event_id="warm"),
        _assume(OUTSIDE, "2026-11-20T10:00:00Z", event_id="later"),
        _assume("555566667777", "2026-11-20T11:00:00Z", event_id="new"),
    ]

    findings = _run(events, "assume-role-from-new-account")

    assert [f.details["caller_account"] for f in findings] == ["555566667777"]
    assert findings[0].evidence == ("new",)


def test_the_warm_up_follows_the_settings() -> None:
    events = [
        _assume(OUTSIDE, "2026-11-01T10:00:00Z", event_id="warm"),
        _assume("555566667777", "2026-11-03T10:00:00Z", event_id="new"),
    ]
    short = SETTINGS.model_copy(update={"baseline_warmup": timedelta(days=1)})

    assert _run(events, "assume-role-from-new-account") == []
    assert len(_run(events, "assume-role-from-new-account", short)) == 1


def test_a_recreated_role_forgets_the_callers_of_its_deleted_namesake() -> None:
    create, _, first, _ = load_json("sequences/assume-role-from-new-account__positive__backdoor_then_assume.json")
    old = _assume(OUTSIDE, "2026-11-20T08:59:00Z", event_id="old-incarnation", role="rag-ingest")
    late_old = _assume("555566667777", "2026-11-20T08:58:00Z", event_id="late-old", role="rag-ingest")

    findings = _run([old, create, late_old, first], "assume-role-from-new-account")

    assert [f.evidence for f in findings] == [(first["detail"]["eventID"],)]


def test_outbound_and_failed_assumptions_are_not_read() -> None:
    outbound = _assume("555566667777", "2026-11-20T10:00:00Z", event_id="outbound")
    outbound["detail"]["requestParameters"]["roleArn"] = f"arn:aws:iam::{OUTSIDE}:role/theirs"
    failed = _assume("555566667777", "2026-11-20T10:00:00Z", event_id="failed")
    failed["detail"]["errorCode"] = "AccessDenied"
    svc = service(detectors=["assume-role-from-new-account"], settings=SETTINGS)

    assert run([outbound, failed], svc) == []
    assert isinstance(svc.state, MemoryStateStore)
    assert svc.state.saves == 0


def test_an_outside_account_named_in_an_org_wide_trust_is_still_new() -> None:
    create = _event("assume-role-from-new-account__negative__organization_member", 0)
    document = {
        "Statement": [
            _statement("*", {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}),
            _statement({"AWS": f"arn:aws:iam::{OUTSIDE}:root"}),
        ]
    }
    create["detail"]["requestParameters"]["assumeRolePolicyDocument"] = json.dumps(document)
    member = _assume("777788889999", "2026-11-20T10:20:00Z", event_id="member", role="org-readonly")
    named = _assume(OUTSIDE, "2026-11-20T10:21:00Z", event_id="named", role="org-readonly")

    findings = _run([create, member, named], "assume-role-from-new-account")

    assert [f.details["caller_account"] for f in findings] == [OUTSIDE]


def test_a_busy_known_caller_costs_about_one_write_a_day() -> None:
    events = [
        _assume(OUTSIDE, f"2026-11-01T{hour:02d}:{minute:02d}:00Z", event_id=f"call-{hour}-{minute}")
        for hour in range(24)
        for minute in range(0, 60, 10)
    ]
    svc = service(detectors=["assume-role-from-new-account"], settings=SETTINGS)

    run(events, svc)

    assert isinstance(svc.state, MemoryStateStore)
    assert svc.state.saves <= 2


def test_the_callers_are_bounded_keeping_the_most_recent() -> None:
    state = rule.RoleCallers()
    settings = SETTINGS.model_copy(update={"baseline_warmup": timedelta(0)})
    for n in range(rule.MAX_CALLERS + 5):
        record = CloudTrailEvent.model_validate(
            _assume(f"{100000000000 + n}", f"2026-11-{1 + n // 24:02d}T{n % 24:02d}:00:00Z", event_id=f"c{n}")
        ).detail
        state = rule.assume_role_from_new_account(record, state, settings).state or state

    assert len(state.callers) == rule.MAX_CALLERS
    assert "100000000000" not in state.callers
    assert f"{100000000000 + rule.MAX_CALLERS + 4}" in state.callers
    assert len(rule.shrink_callers(state).callers) == rule.MAX_CALLERS // 2


# --------------------------------------------------------------------------- external-resource-policy


def _bucket_policy(policy: dict[str, Any], bucket: str = "acme-shared-datasets") -> dict[str, Any]:
    event = _event("external-resource-policy__negative__organization_and_same_account_grants", 0)
    event["detail"]["requestParameters"].update(bucketPolicy=policy, bucketName=bucket)
    return event


def test_a_public_bucket_policy_is_high_and_a_named_account_medium() -> None:
    public = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}
    named = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": OUTSIDE}, "Action": "s3:*", "Resource": "*"}]}

    (public_finding,) = _run([_bucket_policy(public)], "external-resource-policy")
    (named_finding,) = _run([_bucket_policy(named)], "external-resource-policy")

    assert public_finding.severity is Severity.HIGH
    assert public_finding.details["public"] is True
    assert named_finding.severity is Severity.MEDIUM
    assert named_finding.principal == "arn:aws:s3:::acme-shared-datasets"


def test_a_service_principal_writing_for_an_outside_account_is_reported() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": f"arn:aws:cloudtrail:us-east-1:{OUTSIDE}:trail/x"}},
            }
        ]
    }

    (finding,) = _run([_bucket_policy(policy)], "external-resource-policy")

    assert finding.details["outside_accounts"] == [OUTSIDE]
    assert finding.details["exposures"][0]["reach"] == "service"


def test_a_canned_public_acl_and_a_grant_to_another_canonical_user_are_reported() -> None:
    event = _event("external-resource-policy__positive__bucket_acl_all_users")
    params = event["detail"]["requestParameters"]
    grants = params["AccessControlPolicy"]["AccessControlList"]["Grant"]
    grants[1]["Grantee"] = {"xsi:type": "CanonicalUser", "ID": "f" * 64}
    other_user = json.loads(json.dumps(event))
    params.pop("AccessControlPolicy")
    params["x-amz-acl"] = ["public-read"]

    (canned,) = _run([event], "external-resource-policy")
    (canonical,) = _run([other_user], "external-resource-policy")

    assert canned.severity is Severity.HIGH
    assert canned.details["outside_principals"] == ["canned:public-read"]
    assert canonical.severity is Severity.MEDIUM
    assert canonical.details["outside_principals"] == ["canonical-user:" + "f" * 64]


def test_a_private_acl_raises_nothing() -> None:
    event = _event("external-resource-policy__positive__bucket_acl_all_users")
    params = event["detail"]["requestParameters"]
    params["AccessControlPolicy"]["AccessControlList"]["Grant"] = params["AccessControlPolicy"]["AccessControlList"][
        "Grant"
    ][0]
    params["x-amz-acl"] = ["private"]

    assert _run([event], "external-resource-policy") == []


def test_a_grant_on_another_accounts_key_or_to_a_service_is_not_ours_to_report() -> None:
    theirs = _event("external-resource-policy__positive__kms_grant_to_outside_role")
    theirs_key = f"arn:aws:kms:us-east-1:{OUTSIDE}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    theirs["detail"]["requestParameters"]["keyId"] = theirs_key
    theirs["detail"]["responseElements"]["keyId"] = theirs_key
    theirs["detail"]["resources"][0]["ARN"] = theirs_key
    service_grant = _event("external-resource-policy__positive__kms_grant_to_outside_role")
    service_grant["detail"]["requestParameters"]["granteePrincipal"] = "ec2.us-east-1.amazonaws.com"

    assert _run([theirs, service_grant], "external-resource-policy") == []


def test_a_key_policy_opening_the_key_to_an_outside_account_is_reported() -> None:
    event = _event("external-resource-policy__negative__organization_and_same_account_grants", 2)
    policy = json.loads(event["detail"]["requestParameters"]["policy"])
    policy["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    event["detail"]["requestParameters"]["policy"] = json.dumps(policy)

    (finding,) = _run([event], "external-resource-policy")

    assert finding.principal.startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert finding.details["outside_accounts"] == [OUTSIDE]
    assert finding.severity is Severity.MEDIUM


def test_the_log_bucket_may_be_configured_as_an_arn() -> None:
    events = load_json("sequences/external-resource-policy__positive__log_bucket_read_by_outside_account.json")
    settings = SETTINGS.model_copy(update={"invocation_log_bucket": "arn:aws:s3:::acme-bedrock-invocation-logs"})
    other = SETTINGS.model_copy(update={"invocation_log_bucket": "another-bucket"})

    assert _run(events, "external-resource-policy", settings)[0].severity is Severity.HIGH
    assert _run(events, "external-resource-policy", other)[0].severity is Severity.MEDIUM


# -------------------------------------------------------------------- untrusted-model-or-data-source


def test_an_import_from_a_plain_s3_uri_is_low_and_says_what_is_needed() -> None:
    event = _event("untrusted-model-or-data-source__positive__model_import_from_outside_access_point")
    event["detail"]["requestParameters"]["modelDataSource"]["s3DataSource"]["s3Uri"] = "s3://weights-drop/llama-ft/"

    (finding,) = _run([event], "untrusted-model-or-data-source")

    assert finding.severity is Severity.LOW
    assert finding.details["untrusted_owners"] == []
    assert finding.details["unverified_sources"] == ["s3://weights-drop"]
    assert "owner" in finding.details["needed_to_verify"]
    assert finding.playbook is None


def test_an_import_from_an_access_point_of_a_trusted_account_raises_nothing() -> None:
    event = _event("untrusted-model-or-data-source__positive__model_import_from_outside_access_point")
    uri = f"s3://arn:aws:s3:us-east-1:{ACCOUNT}:accesspoint/weights/llama-ft/"
    event["detail"]["requestParameters"]["modelDataSource"]["s3DataSource"]["s3Uri"] = uri

    assert _run([event], "untrusted-model-or-data-source") == []


def test_a_customization_job_on_outside_data_is_medium() -> None:
    event = _event("untrusted-model-or-data-source__positive__model_import_from_outside_access_point")
    detail = event["detail"]
    detail["eventName"] = "CreateModelCustomizationJob"
    detail["requestParameters"] = {
        "jobName": "support-ft",
        "customModelName": "support-ft-v1",
        "baseModelIdentifier": "amazon.titan-text-express-v1",
        "trainingDataConfig": {"s3Uri": f"s3://arn:aws:s3:us-east-1:{OUTSIDE}:accesspoint/train/data.jsonl"},
        "validationDataConfig": {"validators": [{"s3Uri": "s3://acme-ml/validation.jsonl"}]},
        "outputDataConfig": {"s3Uri": "s3://acme-ml/output/"},
    }
    detail["responseElements"] = {"jobArn": f"arn:aws:bedrock:us-east-1:{ACCOUNT}:model-customization-job/abc"}

    (finding,) = _run([event], "untrusted-model-or-data-source")

    assert finding.severity is Severity.MEDIUM
    assert finding.details["untrusted_owners"] == [OUTSIDE]
    assert finding.details["unverified_sources"] == ["s3://acme-ml"]


def test_a_data_source_update_to_an_outside_bucket_is_reported() -> None:
    event = _event("untrusted-model-or-data-source__negative__own_and_trusted_buckets", 1)
    for config in (
        event["detail"]["requestParameters"]["dataSourceConfiguration"],
        event["detail"]["responseElements"]["dataSource"]["dataSourceConfiguration"],
    ):
        config["s3Configuration"]["bucketOwnerAccountId"] = OUTSIDE

    (finding,) = _run([event], "untrusted-model-or-data-source")

    assert finding.severity is Severity.HIGH
    assert finding.details["change"] == "UpdateDataSource"


# ---------------------------------------------------------------------------------- the contract


def test_detectors_are_registered_in_the_family_with_documented_playbooks() -> None:
    for name in DETECTORS:
        assert REGISTRY[name].family is Family.CROSS_ACCOUNT
        assert name in (rule.__doc__ or "")
    for playbook in ("revert-policy-change", "revoke-role-sessions"):
        assert playbook in (rule.__doc__ or "")
    assert REGISTRY["assume-role-from-new-account"].retention == timedelta(days=90)
    assert REGISTRY["external-resource-policy"].state_model is None


def test_the_default_settings_trust_the_records_own_account() -> None:
    events = load_json("sequences/external-trust-policy__negative__own_account_and_services.json")
    events[0]["detail"]["requestParameters"]["assumeRolePolicyDocument"] = json.dumps(
        {"Statement": [_statement({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})]}
    )

    assert _run(events, "external-trust-policy", DEFAULT_SETTINGS) == []


def test_organization_admission_summarises_a_trust_policy() -> None:
    trust = trust_rules.Trust.of(SETTINGS, ACCOUNT)
    org = _statement("*", {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}})
    statements = parse({"Statement": [org, _statement({"AWS": OUTSIDE})]})
    public = parse({"Statement": [org, _statement("*")]})
    assert statements is not None and public is not None

    assert trust_rules.organization_admission(statements, trust) == (True, frozenset({OUTSIDE}))
    assert trust_rules.organization_admission(public, trust) == (False, frozenset())
