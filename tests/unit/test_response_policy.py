"""The response policy: genuine findings only, protected principals as IAM identifies them, no foreign keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import load_json
from warden.config import ResponseConfig
from warden.models import Finding, Severity
from warden.principals import PrincipalRef, protected_match, same_principal
from warden.response import (
    ContainmentCheck,
    FindingCheck,
    IncidentCheck,
    LoggingRestoreCheck,
    RateCheck,
    RevocationCheck,
    RoleTargetCheck,
    check_finding,
    check_rate,
    decide_containment,
    decide_logging_restore,
    decide_revocation,
    dynamodb_value,
    evaluate,
    find_role,
    identify_incident,
    revocation_policy,
)
from warden.routing import parse_routes

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


@pytest.mark.parametrize("mode", ["dry-run", "", "AUTO", "approval"])
def test_any_mode_but_auto_and_approve_only_plans(mode: str) -> None:
    decision = decide_containment(containment(OWNER), settings(mode=mode))
    assert (decision.act, decision.status, decision.reason, decision.mode) == (False, "DRY_RUN", "dry-run", "dry-run")


def test_approve_mode_acts_only_once_a_person_approves_with_the_configured_wait() -> None:
    config = settings(mode="approve", approval_timeout_seconds=900, approval_default="approve", rate_limit=3)
    decision = decide_containment(containment(OWNER), config)
    assert (decision.act, decision.approval, decision.mode, decision.status) == (True, True, "approve", "CONTAINED")
    assert (decision.approval_timeout, decision.approval_default, decision.rate_limit) == (900, "approve", 3)
    assert decision.summary.startswith("Awaiting approval (response mode approve): Disable ")


def test_auto_mode_acts_without_waiting() -> None:
    decision = decide_containment(containment(OWNER), settings())
    assert (decision.act, decision.approval, decision.mode) == (True, False, "auto")


@pytest.mark.parametrize(
    ("requested", "stack_mode", "expected"),
    [("approve", "auto", "approve"), ("dry-run", "auto", "dry-run"), ("auto", "dry-run", "auto"),
     (None, "approve", "approve")],
)  # fmt: skip
def test_a_person_starting_the_playbook_chooses_the_mode(requested: str | None, stack_mode: str, expected: str) -> None:
    request = containment(OWNER).model_copy(update={"requested_mode": requested})
    decision = decide_containment(request, settings(mode=stack_mode))
    assert decision.mode == expected
    assert decision.act is (expected != "dry-run")


def test_the_routing_table_sets_the_mode_by_family_and_severity() -> None:
    config = settings(mode="auto", routes=parse_routes("bedrock-usage/CRITICAL=auto,bedrock-usage/HIGH+=approve"))
    high = decide_containment(containment(OWNER, finding(severity="HIGH")), config)
    critical = decide_containment(containment(OWNER, finding(severity="CRITICAL")), config)
    assert (high.mode, critical.mode) == ("approve", "auto")
    assert "routing entry bedrock-usage/HIGH+=approve" in high.summary


def test_protection_and_mismatch_come_before_any_mode() -> None:
    request = containment(OWNER).model_copy(update={"requested_mode": "auto"})
    protected = decide_containment(request, settings(protected=("arn:aws:iam::*:user/ML-*",)))
    assert (protected.act, protected.status) == (False, "REFUSED_PROTECTED")


@pytest.mark.parametrize(("current", "previous", "limit", "over"), [(1, 0, 10, False), (10, 0, 10, False),
                                                                    (11, 0, 10, True), (4, 7, 10, True),
                                                                    (1, 0, 0, True)])  # fmt: skip
def test_the_rate_limit_counts_this_hour_and_the_last(current: int, previous: int, limit: int, over: bool) -> None:
    counts = [
        {"Attributes": {"containments": {"N": str(current)}}},
        {"Attributes": {"containments": {"N": str(previous)}}},
    ]
    answer = check_rate(
        RateCheck(check="rate", playbook="contain-access-key", finding=finding(), counts=counts),
        settings(rate_limit=limit),
    )
    assert (answer.over, answer.count, answer.limit) == (over, current + previous, limit)
    assert ("Rate limit reached" in answer.summary) is over


def test_an_unreadable_count_counts_as_none() -> None:
    answer = check_rate(
        RateCheck(
            check="rate",
            playbook="p",
            finding=finding(),
            counts=[{}, None, {"Attributes": {"containments": {"N": "x"}}}],
        ),
        settings(rate_limit=0),
    )
    assert (answer.over, answer.count) == (False, 0)


def test_a_requested_mode_that_does_not_exist_is_refused_input() -> None:
    triage = check_finding(
        FindingCheck(check="finding", playbook="p", finding=finding().to_json_dict(), requested_mode="yolo"),
        settings(),
        NOW,
    )
    assert (triage.valid, triage.problems) == (False, ["mode: must be one of dry-run, approve, auto"])
    accepted = check_finding(
        FindingCheck(check="finding", playbook="p", finding=finding().to_json_dict(), requested_mode="approve"),
        settings(),
        NOW,
    )
    assert (accepted.valid, accepted.requested_mode) == (True, "approve")
    assert (accepted.rate_bucket, accepted.rate_previous) == (
        f"RATE#{NOW:%Y-%m-%dT%H}",
        f"RATE#{NOW - timedelta(hours=1):%Y-%m-%dT%H}",
    )


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


# ------------------------------------------------------------------ revoke-role-sessions

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/apps/rag-indexer"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/rag-indexer/i-0a1b2c3d4e5f"
STARTED = datetime(2026, 11, 26, 5, 0, 0, 250000, tzinfo=UTC)


def role_finding(**fields: Any) -> Finding:
    sample = {**load_json("findings/revoke_role_sessions__llmjacking_role.json"), "principal": SESSION, **fields}
    sample.pop("id")
    return Finding.build(**sample)


def revocation(
    role: dict[str, Any] | None = None, found: Finding | None = None, previous: Any = None
) -> RevocationCheck:
    return RevocationCheck(
        check="revocation",
        playbook="revoke-role-sessions",
        finding=found or role_finding(),
        role=role or {"Arn": ROLE_ARN, "RoleName": "rag-indexer", "Path": "/apps/", "Tags": []},
        previous_document=previous,
        issued_before=STARTED,
    )


@pytest.mark.parametrize(
    ("principal", "name", "status"),
    [
        (SESSION, "rag-indexer", "FOUND"),
        (ROLE_ARN, "rag-indexer", "FOUND"),
        (f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/Deployer/ci", "Deployer", "FOUND"),
        (f"arn:aws:iam::{ACCOUNT}:user/ml-batch-svc", None, "NOT_APPLICABLE"),
        (f"arn:aws:iam::{ACCOUNT}:root", None, "NOT_APPLICABLE"),
        ("not-an-arn", None, "NOT_APPLICABLE"),
        ("arn:aws:sts::494659789341:assumed-role/test-role/cli", None, "REFUSED_MISMATCH"),
    ],
)
def test_the_role_a_principal_names_is_found_whatever_its_form(principal: str, name: str | None, status: str) -> None:
    check = RoleTargetCheck(
        check="role-target", playbook="revoke-role-sessions", finding=role_finding(principal=principal)
    )

    target = find_role(check, settings())

    assert (target.role_name, target.status) == (name, status)
    if name is None:
        assert "changed nothing" in target.summary and principal in target.summary


def test_a_finding_about_another_account_is_not_looked_up_in_this_one() -> None:
    check = RoleTargetCheck(
        check="role-target", playbook="revoke-role-sessions", finding=role_finding(account="999999999999")
    )

    assert find_role(check, settings()).status == "REFUSED_MISMATCH"


def test_the_revocation_denies_older_sessions_everything_and_bedrock_explicitly() -> None:
    decision = decide_revocation(revocation(), settings())

    assert (decision.act, decision.status) == (True, "CONTAINED")
    document = json.loads(decision.policy_document)
    cutoff = {"DateLessThan": {"aws:TokenIssueTime": "2026-11-26T05:00:01Z"}}  # rounded up: no older session escapes
    everything, bedrock = document["Statement"]
    assert (everything["Effect"], everything["Action"], everything["Resource"]) == ("Deny", "*", "*")
    assert everything["Condition"] == cutoff == bedrock["Condition"]
    assert bedrock["Effect"] == "Deny"
    assert set(bedrock["Action"]) == {"bedrock:InvokeModel*", "bedrock:Converse*", "bedrock:CallWithBearerToken"}
    assert decision.policy_name == "warden-revoke-sessions"
    assert "issued before 2026-11-26T05:00:01Z" in decision.summary


def test_a_whole_second_start_is_not_moved() -> None:
    assert revocation_policy(datetime(2026, 11, 26, 5, 0, 0, tzinfo=UTC))["Statement"][0]["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2026-11-26T05:00:00Z"}
    }


def test_the_undo_deletes_the_policy_or_restores_the_one_it_replaced() -> None:
    fresh = decide_revocation(revocation(), settings())
    old = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    replaced = decide_revocation(revocation(previous=old), settings())
    encoded = decide_revocation(revocation(previous=quote(json.dumps(old))), settings())

    assert fresh.undo == {
        "M": {
            "api": {"S": "iam:DeleteRolePolicy"},
            "RoleName": {"S": "rag-indexer"},
            "PolicyName": {"S": "warden-revoke-sessions"},
        }
    }
    assert replaced.undo["M"]["api"] == {"S": "iam:PutRolePolicy"}
    assert json.loads(replaced.undo["M"]["PolicyDocument"]["S"]) == old
    assert json.loads(encoded.undo["M"]["PolicyDocument"]["S"]) == old, "IAM's URL-encoded form is decoded"


@pytest.mark.parametrize(
    ("role", "protected", "status", "reason"),
    [
        ({}, (ROLE_ARN,), "REFUSED_PROTECTED", "protected-principal"),
        ({}, (f"arn:aws:iam::{ACCOUNT}:role/RAG-Indexer",), "REFUSED_PROTECTED", "protected-principal"),
        ({"Tags": [{"Key": "warden:protected", "Value": "True"}]}, (), "REFUSED_PROTECTED", "protected-principal"),
        ({"Path": "/aws-service-role/bedrock.amazonaws.com/"}, (), "REFUSED_PROTECTED", "service-linked-role"),
        ({"Arn": "arn:aws:iam::999999999999:role/rag-indexer"}, (), "REFUSED_MISMATCH", "foreign-account"),
        ({"Arn": f"arn:aws:iam::{ACCOUNT}:role/other", "RoleName": "other"}, (), "REFUSED_MISMATCH", "role-mismatch"),
    ],
    ids=["protected-arn", "protected-other-case-and-path", "protected-tag", "service-linked", "foreign", "mismatch"],
)
def test_a_revocation_is_refused_when_it_must_not_touch_the_role(
    role: dict[str, Any], protected: tuple[str, ...], status: str, reason: str
) -> None:
    described = {"Arn": ROLE_ARN, "RoleName": "rag-indexer", "Path": "/apps/", **role}

    decision = decide_revocation(revocation(described), settings(protected=protected))

    assert (decision.act, decision.status, decision.reason) == (False, status, reason)


@pytest.mark.parametrize(
    ("overrides", "severity", "reason"),
    [({"mode": "dry-run"}, "HIGH", "dry-run"), ({}, "MEDIUM", "below-threshold")],
)
def test_a_revocation_is_planned_not_done_outside_auto_mode_or_below_the_threshold(
    overrides: dict[str, Any], severity: str, reason: str
) -> None:
    decision = decide_revocation(revocation(found=role_finding(severity=severity)), settings(**overrides))

    assert (decision.act, decision.status, decision.reason) == (False, "DRY_RUN", reason)
    assert decision.command.startswith("aws iam put-role-policy --role-name rag-indexer")
    assert json.loads(decision.command.split("--policy-document '")[1].rstrip("'")) == json.loads(
        decision.policy_document
    )


# ------------------------------------------------------------------ restore-invocation-logging

KNOWN_GOOD = load_json("findings/restore_invocation_logging__deleted.json")["details"]["previous_configuration"]
EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:warden-restore-invocation-logging:run"


def logging_finding(previous: Any = KNOWN_GOOD, **fields: Any) -> Finding:
    sample = load_json("findings/restore_invocation_logging__deleted.json")
    sample["details"]["previous_configuration"] = previous
    sample = {**sample, **fields}
    sample.pop("id")
    return Finding.build(**sample)


def restore(found: Finding | None = None, current: Any = None, known_good: str = "") -> LoggingRestoreCheck:
    return LoggingRestoreCheck(
        check="logging-restore",
        playbook="restore-invocation-logging",
        finding=found or logging_finding(),
        current={} if current is None else current,
        execution=EXECUTION,
        known_good=known_good,
    )


def test_the_findings_known_good_configuration_is_restored_and_the_undo_deletes_when_logging_was_off() -> None:
    decision = decide_logging_restore(restore(), settings())

    assert (decision.act, decision.status) == (True, "RESTORED")
    assert decision.logging_config == KNOWN_GOOD
    assert decision.parameters["CloudWatchConfig"]["LogGroupName"] == "/aws/bedrock/invocations"
    assert decision.parameters["TextDataDeliveryEnabled"] is True
    assert decision.undo == {"M": {"api": {"S": "bedrock:DeleteModelInvocationLoggingConfiguration"}}}
    assert decision.previous == "null"


def test_the_configuration_in_force_is_read_in_either_letter_case_and_is_what_undo_puts_back() -> None:
    weak = {"s3Config": {"bucketName": "elsewhere"}, "textDataDeliveryEnabled": False}
    as_sfn_gives_it = {"LoggingConfig": {"S3Config": {"BucketName": "elsewhere"}, "TextDataDeliveryEnabled": False}}

    for current in ({"loggingConfig": weak}, as_sfn_gives_it):
        decision = decide_logging_restore(restore(current=current), settings())
        assert decision.undo["M"]["api"] == {"S": "bedrock:PutModelInvocationLoggingConfiguration"}
        assert decision.undo["M"]["loggingConfig"]["M"]["textDataDeliveryEnabled"] == {"BOOL": False}
        assert json.loads(decision.previous) == weak


def test_the_stack_parameter_is_used_when_the_finding_carries_no_configuration() -> None:
    parameter = json.dumps({"s3Config": {"bucketName": "fallback-logs"}, "textDataDeliveryEnabled": True})

    decision = decide_logging_restore(restore(logging_finding(previous=None), known_good=parameter), settings())

    assert decision.act
    assert decision.logging_config["s3Config"] == {"bucketName": "fallback-logs"}
    assert "KnownGoodInvocationLogging" in decision.source


@pytest.mark.parametrize("parameter", ["", "not json", "[]", '{"textDataDeliveryEnabled": true}'])
def test_nothing_to_restore_is_refused_with_a_clear_summary(parameter: str) -> None:
    decision = decide_logging_restore(restore(logging_finding(previous=None), known_good=parameter), settings())

    assert (decision.act, decision.status, decision.reason) == (False, "NOTHING_TO_RESTORE", "nothing-to-restore")
    assert "Nothing to restore" in decision.summary and "KnownGoodInvocationLogging" in decision.summary


@pytest.mark.parametrize(
    ("found", "mode", "status", "reason"),
    [
        (logging_finding(account="999999999999"), "auto", "REFUSED_MISMATCH", "foreign-account"),
        (logging_finding(region="eu-west-1"), "auto", "REFUSED_MISMATCH", "foreign-account"),
        (logging_finding(), "dry-run", "DRY_RUN", "dry-run"),
        (logging_finding(severity="MEDIUM"), "auto", "DRY_RUN", "below-threshold"),
    ],
    ids=["other-account", "other-region", "dry-run", "below-threshold"],
)
def test_a_restore_is_refused_or_planned_when_it_must_not_act(
    found: Finding, mode: str, status: str, reason: str
) -> None:
    decision = decide_logging_restore(restore(found), settings(mode=mode))

    assert (decision.act, decision.status, decision.reason) == (False, status, reason)


def test_a_configuration_already_in_force_is_left_alone() -> None:
    decision = decide_logging_restore(restore(current={"loggingConfig": KNOWN_GOOD}), settings())

    assert (decision.act, decision.status) == (False, "NO_ACTION")


def test_the_policy_function_answers_the_new_checks_as_json() -> None:
    answer = evaluate(revocation(), settings(), NOW)
    assert answer["status"] == "CONTAINED" and isinstance(answer["policy_document"], str)
    assert (
        evaluate(restore(), settings(), NOW)["parameters"]["S3Config"]["BucketName"] == "acme-bedrock-invocation-logs"
    )


def test_undo_records_are_dynamodb_values() -> None:
    assert dynamodb_value({"a": [1, True, "x", None], "b": None}) == {
        "M": {"a": {"L": [{"N": "1"}, {"BOOL": True}, {"S": "x"}, {"NULL": True}]}}
    }


# ------------------------------------------------------------------ contain-access-key's options


def _options(**fields: Any) -> ContainmentCheck:
    return containment(OWNER).model_copy(update={"user_name": "ml-batch-svc", **fields})


def test_by_default_only_the_findings_key_is_disabled() -> None:
    request = _options(keys=[f"{finding().access_key_id}=Active", "AKIAOTHERKEY00000001=Active"])
    decision = decide_containment(request, settings())
    assert [key["AccessKeyId"] for key in decision.keys] == [finding().access_key_id]
    assert decision.deny_policy is False
    assert decision.keys[0]["undo"]["M"]["Status"] == {"S": "Active"}


def test_every_active_key_and_the_deny_when_configured() -> None:
    named = finding().access_key_id
    request = _options(keys=[f"{named}=Active", "AKIAOTHERKEY00000001=Active", "AKIAOLDKEY0000000002=Inactive"])
    decision = decide_containment(request, settings(contain_all_keys=True, contain_user_deny=True))
    assert [key["AccessKeyId"] for key in decision.keys] == [named, "AKIAOTHERKEY00000001"]
    assert decision.deny_policy is True
    statements = json.loads(decision.policy_document)["Statement"]
    assert all(statement["Effect"] == "Deny" for statement in statements)
    assert decision.deny_undo == {"M": {"api": {"S": "iam:DeleteUserPolicy"}, "UserName": {"S": "ml-batch-svc"},
                                        "PolicyName": {"S": "warden-deny-bedrock-and-credentials"}}}  # fmt: skip
    assert "aws iam put-user-policy" in decision.command and "delete-user-policy" in decision.done_summary


def test_an_earlier_deny_is_what_undo_puts_back() -> None:
    earlier = quote(json.dumps({"Version": "2012-10-17", "Statement": []}))
    decision = decide_containment(_options(previous_deny=earlier), settings(contain_user_deny=True))
    assert decision.deny_undo["M"]["api"] == {"S": "iam:PutUserPolicy"}
    assert json.loads(decision.deny_undo["M"]["PolicyDocument"]["S"]) == {"Version": "2012-10-17", "Statement": []}


def test_nothing_to_do_is_no_action_even_with_the_options() -> None:
    decision = decide_containment(_options(active=False, keys=["AKIAOLD=Inactive"]), settings(contain_all_keys=True))
    assert (decision.act, decision.status) == (False, "NO_ACTION")


def test_a_tagged_owner_is_protected() -> None:
    tags = [{"Key": "team", "Value": "ml"}, {"Key": "warden:protected", "Value": "TRUE"}]
    decision = decide_containment(_options(tags=tags), settings())
    assert (decision.act, decision.status) == (False, "REFUSED_PROTECTED")
    assert "tag warden:protected=true" in decision.summary


def test_the_triage_names_the_role_the_playbook_acts_as() -> None:
    config = settings(responder_role_prefix=f"arn:aws:iam::{ACCOUNT}:role/warden-")
    triage = check_finding(
        FindingCheck(check="finding", playbook="contain-access-key", finding=finding().to_json_dict()), config, NOW
    )
    assert triage.responder_role_arn == f"arn:aws:iam::{ACCOUNT}:role/warden-contain-access-key"


def test_the_stacks_own_role_names_are_protected_in_its_account() -> None:
    config = ResponseConfig.from_environ({"WARDEN_ACCOUNT_ID": ACCOUNT, "WARDEN_OWN_ROLES": "warden-x,warden-y"})
    assert protected_match(f"arn:aws:sts::{ACCOUNT}:assumed-role/warden-y/s", config.protected)
    assert not protected_match("arn:aws:sts::999988887777:assumed-role/warden-y/s", config.protected)
