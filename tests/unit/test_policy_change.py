"""policy-change detectors: every sample sequence proves a positive or a negative, and the corpus captures fire."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import EVENTS, load_json
from tests.fakes import MemoryStateStore, run, service
from warden.detectors import REGISTRY
from warden.detectors import policy_change as rules
from warden.models import CloudTrailEvent, Family, Finding, Severity
from warden.settings import DEFAULT_SETTINGS, Settings
from warden_local.readers import to_eventbridge

SEQUENCES = EVENTS / "sequences"
DETECTORS = [
    "invocation-logging-disabled",
    "guardrail-deleted-or-weakened",
    "broad-permissions-granted",
    "credentials-created-for-another-user",
    "aws-compromised-key-quarantine",
    "bedrock-knowledge-agent-tampering",
    "permissions-boundary-removed",
]
POSITIVE = sorted(p for name in DETECTORS for p in SEQUENCES.glob(f"{name}__positive__*.json"))
NEGATIVE = sorted(p for name in DETECTORS for p in SEQUENCES.glob(f"{name}__negative__*.json"))
ACCOUNT = "123456789012"
STOLEN_USER = f"arn:aws:iam::{ACCOUNT}:user/ml-batch-svc"
SSO_SESSION = (
    f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_AdministratorAccess_4f1c2d3e5a6b7c8d/alice@example.com"
)
SETTINGS = Settings(
    account_id=ACCOUNT,
    deployment_principals=frozenset({f"arn:aws:iam::{ACCOUNT}:role/warden-deployer"}),
    warden_stack_name="warden",
    invocation_log_bucket="warden-invocation-logs-123456789012",
    invocation_log_group="/aws/bedrock/warden-invocations",
)
KB = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:knowledge-base"

EXPECTED: dict[str, list[tuple[str, Severity, str, str | None]]] = {
    "invocation-logging-disabled__positive__deleted_after_known_config": [
        ("invocation-logging-disabled", Severity.HIGH, STOLEN_USER, "restore-invocation-logging")
    ],
    "invocation-logging-disabled__positive__text_delivery_and_s3_removed": [
        ("invocation-logging-disabled", Severity.HIGH, STOLEN_USER, "restore-invocation-logging")
    ],
    "guardrail-deleted-or-weakened__positive__filters_lowered": [
        ("guardrail-deleted-or-weakened", Severity.MEDIUM, STOLEN_USER, None)
    ],
    "guardrail-deleted-or-weakened__positive__deleted": [
        ("guardrail-deleted-or-weakened", Severity.MEDIUM, STOLEN_USER, None)
    ],
    "guardrail-deleted-or-weakened__positive__enforced_configuration_removed": [
        ("guardrail-deleted-or-weakened", Severity.HIGH, STOLEN_USER, None)
    ],
    "broad-permissions-granted__positive__admin_attached_to_role": [
        (
            "broad-permissions-granted",
            Severity.HIGH,
            f"arn:aws:iam::{ACCOUNT}:role/ops-break-glass",
            "revert-policy-change",
        )
    ],
    "broad-permissions-granted__positive__inline_iam_wildcard": [
        (
            "broad-permissions-granted",
            Severity.HIGH,
            f"arn:aws:iam::{ACCOUNT}:user/svc-reporting",
            "revert-policy-change",
        )
    ],
    "broad-permissions-granted__positive__customer_policy_created_then_attached": [
        (
            "broad-permissions-granted",
            Severity.HIGH,
            f"arn:aws:iam::{ACCOUNT}:role/lambda-orders-api",
            "revert-policy-change",
        )
    ],
    "broad-permissions-granted__positive__inline_bedrock_wildcard": [
        (
            "broad-permissions-granted",
            Severity.MEDIUM,
            f"arn:aws:iam::{ACCOUNT}:role/rag-api-task",
            "revert-policy-change",
        )
    ],
    "credentials-created-for-another-user__positive__stolen_key_backdoors_user": [
        (
            "credentials-created-for-another-user",
            Severity.HIGH,
            f"arn:aws:iam::{ACCOUNT}:user/svc-reporting",
            "revert-policy-change",
        )
    ],
    "credentials-created-for-another-user__positive__sso_admin_sets_password": [
        (
            "credentials-created-for-another-user",
            Severity.MEDIUM,
            f"arn:aws:iam::{ACCOUNT}:user/contractor-bob",
            "revert-policy-change",
        )
    ],
    "aws-compromised-key-quarantine__positive__aws_quarantines_user": [
        ("aws-compromised-key-quarantine", Severity.HIGH, STOLEN_USER, None)
    ],
    "bedrock-knowledge-agent-tampering__positive__mass_deletion": [
        ("bedrock-knowledge-agent-tampering", Severity.LOW, f"{KB}/KB7HQ2ZLUA", None),
        ("bedrock-knowledge-agent-tampering", Severity.LOW, f"{KB}/KBPX93JD1E", None),
        ("bedrock-knowledge-agent-tampering", Severity.LOW, f"{KB}/KBR4T5NW2M", None),
        ("bedrock-knowledge-agent-tampering", Severity.HIGH, STOLEN_USER, None),
        (
            "bedrock-knowledge-agent-tampering",
            Severity.LOW,
            f"arn:aws:bedrock:us-east-1:{ACCOUNT}:agent/AGT0SUPPRT",
            None,
        ),
    ],
    "bedrock-knowledge-agent-tampering__positive__data_source_repointed": [
        ("bedrock-knowledge-agent-tampering", Severity.LOW, f"{KB}/KB7HQ2ZLUA", None)
    ],
    "permissions-boundary-removed__positive__role_boundary_deleted": [
        (
            "permissions-boundary-removed",
            Severity.MEDIUM,
            f"arn:aws:iam::{ACCOUNT}:role/stratus-red-team-malicious-iam-role",
            "revert-policy-change",
        )
    ],
}


def _family(settings: Settings = SETTINGS) -> Any:
    return service(family=Family.POLICY_CHANGE, settings=settings)


def _summary(findings: list[Finding]) -> list[tuple[str, Severity, str, str | None]]:
    return [(f.detector, f.severity, f.principal, f.playbook) for f in findings]


def test_every_detector_has_positive_and_negative_samples() -> None:
    for name in DETECTORS:
        assert list(SEQUENCES.glob(f"{name}__positive__*.json")), name
        assert list(SEQUENCES.glob(f"{name}__negative__*.json")), name
    assert {p.stem for p in POSITIVE} == set(EXPECTED)


@pytest.mark.parametrize("path", POSITIVE, ids=lambda p: p.stem)
def test_positive_sequence_raises_the_expected_findings(path: Path) -> None:
    findings = run(json.loads(path.read_text()), _family())

    assert _summary(findings) == EXPECTED[path.stem]
    for finding in findings:
        assert finding.family is Family.POLICY_CHANGE
        assert finding.account == ACCOUNT
        assert finding.details["actor"] == STOLEN_USER or finding.details["actor_type"] in ("AssumedRole", "IAMUser")
        assert finding.id == finding.content_id()


@pytest.mark.parametrize("path", NEGATIVE, ids=lambda p: p.stem)
def test_negative_sequence_raises_nothing(path: Path) -> None:
    assert run(json.loads(path.read_text()), _family()) == []


@pytest.mark.parametrize("name", DETECTORS)
def test_detector_is_registered_in_the_family_with_a_documented_playbook(name: str) -> None:
    registered = REGISTRY[name]
    assert registered.family is Family.POLICY_CHANGE
    for section in ("What it detects", "Why it matters", "When it fires", "Response playbook", "State"):
        assert section in registered.doc, (name, section)


# --- the corpus -------------------------------------------------------------------------------------


def _corpus(corpus: Path, name: str) -> list[dict[str, Any]]:
    records = json.loads((corpus / "stratus-red-team" / name).read_text())
    return [to_eventbridge(r) for r in records]


def test_backdoor_role_capture_is_an_admin_policy_attached_to_a_role(corpus: Path) -> None:
    (finding,) = run(_corpus(corpus, "aws.persistence.iam-create-backdoor-role.json"), _family(DEFAULT_SETTINGS))

    assert finding.detector == "broad-permissions-granted"
    assert finding.severity is Severity.HIGH
    assert finding.principal == "arn:aws:iam::609418236337:role/stratus-red-team-malicious-iam-role"
    assert finding.playbook == "revert-policy-change"
    assert finding.details["policy_arn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert finding.details["actor"] == "arn:aws:iam::609418236337:user/christophe"


def test_backdoor_user_capture_is_a_key_created_for_another_user(corpus: Path) -> None:
    (finding,) = run(_corpus(corpus, "aws.persistence.iam-backdoor-user.json"), _family(DEFAULT_SETTINGS))

    assert finding.detector == "credentials-created-for-another-user"
    assert finding.severity is Severity.HIGH
    assert finding.principal == "arn:aws:iam::946986569305:user/stratus-red-team-backdoor-u-user"
    assert finding.access_key_id == "AKIAL80DWDVKKM0UXEER"
    assert finding.details["created_credential_id"] == "AKIAL80DWDVKKM0UXEER"
    assert finding.details["actor"] == "arn:aws:iam::946986569305:user/christophe"
    assert finding.details["actor_access_key_id"] == "AKIA30BEZSJBVKOFKZW0"


def test_admin_user_capture_is_an_admin_policy_and_a_key_for_the_new_user(corpus: Path) -> None:
    findings = run(_corpus(corpus, "aws.persistence.iam-create-admin-user.json"), _family(DEFAULT_SETTINGS))

    target = "arn:aws:iam::229654561268:user/malicious-iam-user"
    assert sorted(_summary(findings)) == [
        ("broad-permissions-granted", Severity.HIGH, target, "revert-policy-change"),
        ("credentials-created-for-another-user", Severity.HIGH, target, "revert-policy-change"),
    ]


@pytest.mark.parametrize("name", ["aws.impact.bedrock-invoke-model.json", "aws.persistence.iam-backdoor-role.json"])
def test_other_captures_are_not_policy_changes(corpus: Path, name: str) -> None:
    assert run(_corpus(corpus, name), _family(DEFAULT_SETTINGS)) == []


# --- the benign activity the brief names ------------------------------------------------------------


def test_rotating_ones_own_key_is_not_a_finding() -> None:
    assert (
        run(load_json("sequences/credentials-created-for-another-user__negative__user_rotates_own_key.json"), _family())
        == []
    )


def test_attaching_a_read_only_policy_is_not_a_finding() -> None:
    events = load_json("sequences/broad-permissions-granted__negative__read_only_and_scoped_grants.json")
    assert run(events, _family()) == []


def test_a_read_only_list_guardrails_is_not_a_finding() -> None:
    events = load_json("sequences/guardrail-deleted-or-weakened__negative__list_and_strengthen.json")
    assert events[0]["detail"]["eventName"] == "ListGuardrails"
    assert run(events[:1], _family()) == []


def test_the_deployment_role_updating_wardens_functions_is_not_a_finding() -> None:
    events = load_json("sequences/warden-tampering__negative__deployment_role_updates_warden.json")
    assert run(events, _family()) == []


# --- building single events -------------------------------------------------------------------------

TEMPLATE = load_json("sequences/broad-permissions-granted__positive__admin_attached_to_role.json")[0]
SSO_IDENTITY = load_json("sequences/credentials-created-for-another-user__positive__sso_admin_sets_password.json")[0][
    "detail"
]["userIdentity"]


def _event(
    source: str,
    name: str,
    request: dict[str, Any] | None = None,
    answer: dict[str, Any] | None = None,
    *,
    at: str = "2026-11-20T14:00:00Z",
    identity: dict[str, Any] | None = None,
    error: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(TEMPLATE)
    detail = event["detail"]
    event_id = event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{name}/{at}/{json.dumps(request)}"))
    detail.update(
        eventSource=source,
        eventName=name,
        eventTime=at,
        eventID=event_id,
        requestParameters=request,
        responseElements=answer,
    )
    if identity:
        detail["userIdentity"] = copy.deepcopy(identity)
    if error:
        detail["errorCode"] = error
    event.update(id=f"eb-{event_id}", source=f"aws.{source.split('.')[0]}", time=at)
    return event


BEDROCK, IAM, ORGS = "bedrock.amazonaws.com", "iam.amazonaws.com", "organizations.amazonaws.com"


def _only(name: str, settings: Settings = SETTINGS) -> Any:
    return service(detectors=[name], settings=settings)


# --- invocation-logging-disabled --------------------------------------------------------------------

GOOD = load_json("sequences/invocation-logging-disabled__positive__deleted_after_known_config.json")[0]["detail"][
    "requestParameters"
]


def _put(config: dict[str, Any], at: str, **kwargs: Any) -> dict[str, Any]:
    return _event(BEDROCK, "PutModelInvocationLoggingConfiguration", {"loggingConfig": config}, at=at, **kwargs)


def _delete_logging(at: str, **kwargs: Any) -> dict[str, Any]:
    return _event(BEDROCK, "DeleteModelInvocationLoggingConfiguration", None, at=at, **kwargs)


def test_a_deletion_carries_the_known_good_configuration_in_the_apis_shape() -> None:
    events = load_json("sequences/invocation-logging-disabled__positive__deleted_after_known_config.json")

    (finding,) = run(events, _only("invocation-logging-disabled"))

    assert finding.details["previous_configuration"] == GOOD["loggingConfig"]
    assert finding.details["new_configuration"] is None
    assert finding.access_key_id == "AKIAEXAMPLEBATCHSVC1"
    assert finding.evidence == (events[2]["detail"]["eventID"],)


def test_a_weaker_configuration_without_wardens_feed_settings_is_medium() -> None:
    events = load_json("sequences/invocation-logging-disabled__positive__text_delivery_and_s3_removed.json")

    (finding,) = run(events, _only("invocation-logging-disabled", DEFAULT_SETTINGS))

    assert finding.severity is Severity.MEDIUM
    assert finding.details["reasons"] == ["S3 delivery removed", "textDataDeliveryEnabled turned off"]
    assert finding.details["previous_configuration"] == GOOD["loggingConfig"]


def test_cutting_wardens_own_feed_is_high() -> None:
    events = load_json("sequences/invocation-logging-disabled__positive__text_delivery_and_s3_removed.json")

    (finding,) = run(events, _only("invocation-logging-disabled"))

    assert finding.severity is Severity.HIGH
    assert "Warden's invocation-log S3 bucket is no longer a destination" in finding.details["reasons"]


def test_the_first_configuration_seen_is_not_judged_unless_it_starves_warden() -> None:
    other = {"s3Config": {"bucketName": "team-logs"}, "textDataDeliveryEnabled": False}

    assert run([_put(other, "2026-11-20T10:00:00Z")], _only("invocation-logging-disabled", DEFAULT_SETTINGS)) == []
    (finding,) = run([_put(other, "2026-11-20T10:00:00Z")], _only("invocation-logging-disabled"))
    assert finding.severity is Severity.HIGH
    assert finding.details["previous_configuration"] is None


def test_a_deletion_with_nothing_known_is_still_high() -> None:
    (finding,) = run([_delete_logging("2026-11-20T10:00:00Z")], _only("invocation-logging-disabled"))

    assert finding.severity is Severity.HIGH
    assert finding.details["previous_configuration"] is None


def test_restoring_after_a_deletion_is_quiet_and_becomes_the_known_good() -> None:
    svc = _only("invocation-logging-disabled")
    first = list(
        run(
            [
                _put(GOOD["loggingConfig"], "2026-11-20T10:00:00Z"),
                _delete_logging("2026-11-20T11:00:00Z"),
                _put(GOOD["loggingConfig"], "2026-11-20T11:30:00Z", identity=SSO_IDENTITY),
            ],
            svc,
        )
    )
    assert [f.severity for f in first] == [Severity.HIGH]

    weaker = {**GOOD["loggingConfig"], "imageDataDeliveryEnabled": False}
    (second,) = run([_put(weaker, "2026-11-20T15:00:00Z")], svc)[len(first) :]
    assert second.details["reasons"] == ["imageDataDeliveryEnabled turned off"]


def test_a_late_older_put_changes_nothing_and_a_redelivery_is_ignored() -> None:
    weaker = {**GOOD["loggingConfig"], "textDataDeliveryEnabled": False}
    svc = _only("invocation-logging-disabled", DEFAULT_SETTINGS)
    later = _put(GOOD["loggingConfig"], "2026-11-20T12:00:00Z")

    assert run([later, _put(weaker, "2026-11-20T11:00:00Z"), later], svc) == []
    (finding,) = run([_put(weaker, "2026-11-20T13:00:00Z")], svc)
    assert finding.first_seen == datetime(2026, 11, 20, 13, tzinfo=UTC)


def test_the_known_good_survives_a_chain_of_weakenings() -> None:
    weaker = {**GOOD["loggingConfig"], "textDataDeliveryEnabled": False}
    weakest = {k: v for k, v in weaker.items() if k != "cloudWatchConfig"}
    svc = _only("invocation-logging-disabled", DEFAULT_SETTINGS)

    findings = run(
        [
            _put(GOOD["loggingConfig"], "2026-11-20T10:00:00Z"),
            _put(weaker, "2026-11-20T11:00:00Z"),
            _put(weakest, "2026-11-20T13:00:00Z", identity=SSO_IDENTITY),
        ],
        svc,
    )

    assert [f.details["previous_configuration"] for f in findings] == [GOOD["loggingConfig"]] * 2
    assert findings[1].details["reasons"] == ["CloudWatch Logs delivery removed"]


def test_logging_configuration_round_trips_to_the_api_shape() -> None:
    config = rules.LoggingConfig.parse(GOOD["loggingConfig"])

    assert config is not None
    assert config.api() == GOOD["loggingConfig"]
    assert rules.LoggingConfig.parse("not an object") is None


# --- guardrail-deleted-or-weakened ------------------------------------------------------------------


def test_a_weakened_guardrail_names_each_weakening() -> None:
    events = load_json("sequences/guardrail-deleted-or-weakened__positive__filters_lowered.json")

    (finding,) = run(events, _only("guardrail-deleted-or-weakened"))

    reasons = finding.details["reasons"]
    assert "sensitive-information filters removed" in reasons
    assert "HATE input filter weakened" in reasons
    assert "HATE output filter weakened" in reasons
    assert "PROMPT_ATTACK output filter weakened" not in reasons, "it was NONE already"
    assert finding.details["guardrail"] == "cmy5azq5koeo"


def test_an_update_cloudtrail_recorded_without_its_policies_is_low() -> None:
    """The shape peers captured: CloudTrail hides the name and records no policy."""
    request = {"guardrailIdentifier": "cmy5azq5koeo", "name": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    events = load_json("sequences/guardrail-deleted-or-weakened__positive__filters_lowered.json")[:1]

    (finding,) = run([*events, _event(BEDROCK, "UpdateGuardrail", request, identity=SSO_IDENTITY)], _family())

    assert finding.severity is Severity.LOW
    assert finding.principal == SSO_SESSION


def test_a_deleted_guardrail_reports_what_it_enforced() -> None:
    create = load_json("sequences/guardrail-deleted-or-weakened__positive__filters_lowered.json")[:1]
    delete = load_json("sequences/guardrail-deleted-or-weakened__positive__deleted.json")

    (finding,) = run(create + delete, _family())

    assert finding.details["last_known_policies"] == ["contentPolicyConfig", "sensitiveInformationPolicyConfig"]


def test_an_enforced_configuration_that_excludes_models_is_medium() -> None:
    put = load_json("sequences/guardrail-deleted-or-weakened__positive__enforced_configuration_removed.json")[0]
    config = copy.deepcopy(put["detail"]["requestParameters"]["guardrailInferenceConfig"])
    config["modelEnforcement"] = {
        "includedModels": ["ALL"],
        "excludedModels": ["anthropic.claude-3-opus-20240229-v1:0"],
    }
    update = _event(
        BEDROCK, "PutEnforcedGuardrailConfiguration", {"configId": "a1b2c3d4e5", "guardrailInferenceConfig": config}
    )

    (finding,) = run([put, update], _family())

    assert finding.severity is Severity.MEDIUM
    assert finding.details["reasons"] == ["1 model(s) excluded from enforcement"]


def _bedrock_policy_created() -> dict[str, Any]:
    return _event(
        ORGS,
        "CreatePolicy",
        {"name": "enforce-guardrail", "type": "BEDROCK_POLICY", "content": '{"bedrock":{"guardrail_inference":{}}}'},
        {"policy": {"policySummary": {"id": "p-bedrock01", "name": "enforce-guardrail", "type": "BEDROCK_POLICY"}}},
        at="2026-11-10T09:00:00Z",
        identity=SSO_IDENTITY,
    )


@pytest.mark.parametrize(
    ("name", "request_parameters"),
    [
        ("DetachPolicy", {"policyId": "p-bedrock01", "targetId": "ou-ab12-cdef3456"}),
        ("DeletePolicy", {"policyId": "p-bedrock01"}),
        ("UpdatePolicy", {"policyId": "p-bedrock01", "content": '{"bedrock":{}}'}),
        ("DisablePolicyType", {"rootId": "r-ab12", "policyType": "BEDROCK_POLICY"}),
    ],
)
def test_removing_the_organizations_enforced_guardrail_is_high(name: str, request_parameters: dict[str, Any]) -> None:
    (finding,) = run([_bedrock_policy_created(), _event(ORGS, name, request_parameters)], _family())

    assert finding.detector == "guardrail-deleted-or-weakened"
    assert finding.severity is Severity.HIGH
    assert finding.principal == STOLEN_USER


def test_service_control_policy_changes_are_not_guardrail_findings() -> None:
    events = [
        _bedrock_policy_created(),
        _event(ORGS, "DetachPolicy", {"policyId": "p-scp00001", "targetId": "ou-ab12-cdef3456"}),
        _event(ORGS, "UpdatePolicy", {"policyId": "p-bedrock01", "description": "renamed"}),
        _event(ORGS, "DisablePolicyType", {"rootId": "r-ab12", "policyType": "TAG_POLICY"}),
    ]
    assert run(events, _family()) == []


# --- broad-permissions-granted ----------------------------------------------------------------------

ADMIN_DOCUMENT = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*:*", "Resource": "*"}]}
)
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/support-tooling"


def test_a_broad_default_version_of_an_attached_policy_is_high_on_the_policy() -> None:
    event = _event(
        IAM,
        "CreatePolicyVersion",
        {"policyArn": POLICY_ARN, "policyDocument": ADMIN_DOCUMENT, "setAsDefault": True},
        {"policyVersion": {"versionId": "v2", "isDefaultVersion": True}},
    )

    (finding,) = run([event], _only("broad-permissions-granted"))

    assert finding.severity is Severity.HIGH
    assert finding.principal == POLICY_ARN
    assert finding.details["version_id"] == "v2"
    assert finding.details["broad_actions"] == ["*:*"]


def test_a_broad_version_made_default_later_is_caught_and_an_older_default_is_not() -> None:
    svc = _only("broad-permissions-granted")
    staged = _event(
        IAM,
        "CreatePolicyVersion",
        {"policyArn": POLICY_ARN, "policyDocument": ADMIN_DOCUMENT, "setAsDefault": False},
        {"policyVersion": {"versionId": "v3", "isDefaultVersion": False}},
        at="2026-11-20T10:00:00Z",
    )
    attach = _event(IAM, "AttachRolePolicy", {"roleName": "ci", "policyArn": POLICY_ARN}, at="2026-11-20T10:05:00Z")
    assert run([staged, attach], svc) == [], "v3 is not the default: attaching grants the old document"

    back = _event(
        IAM, "SetDefaultPolicyVersion", {"policyArn": POLICY_ARN, "versionId": "v1"}, at="2026-11-20T11:00:00Z"
    )
    live = _event(
        IAM, "SetDefaultPolicyVersion", {"policyArn": POLICY_ARN, "versionId": "v3"}, at="2026-11-20T12:00:00Z"
    )
    (finding,) = run([back, live], svc)
    assert finding.evidence == (live["detail"]["eventID"],)


def test_a_deleted_policy_is_forgotten() -> None:
    events = load_json("sequences/broad-permissions-granted__positive__customer_policy_created_then_attached.json")
    svc = _only("broad-permissions-granted")
    run([*events[:1], _event(IAM, "DeletePolicy", {"policyArn": POLICY_ARN})], svc)

    assert run(events[1:], svc) == []


def test_a_url_encoded_admin_document_is_read() -> None:
    encoded = quote(json.dumps({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}), safe="")
    event = _event(IAM, "PutGroupPolicy", {"groupName": "ops", "policyName": "almost-admin", "policyDocument": encoded})

    (finding,) = run([event], _only("broad-permissions-granted"))

    assert finding.severity is Severity.HIGH
    assert finding.principal == f"arn:aws:iam::{ACCOUNT}:group/ops"
    assert finding.details["policy_name"] == "almost-admin"
    assert finding.details["broad_actions"] == ["NotAction: iam:*"]


def test_remembered_policies_are_bounded_and_shrink_keeps_the_newest() -> None:
    memory = rules.PolicyMemory()
    for n in range(rules.MAX_POLICIES + 5):
        event = _event(
            IAM,
            "CreatePolicy",
            {"policyName": f"p{n}", "policyDocument": ADMIN_DOCUMENT},
            {"policy": {"arn": f"arn:aws:iam::{ACCOUNT}:policy/p{n}"}},
            at=f"2026-11-20T{10 + n // 60:02d}:{n % 60:02d}:00Z",
        )
        record = CloudTrailEvent.model_validate(event).detail
        memory = rules.broad_permissions_granted(record, memory, SETTINGS).state or memory

    assert len(memory.policies) == rules.MAX_POLICIES
    shrunk = rules.shrink_policies(memory)
    assert len(shrunk.policies) == rules.MAX_POLICIES // 2
    assert f"arn:aws:iam::{ACCOUNT}:policy/p{rules.MAX_POLICIES + 4}" in shrunk.policies
    assert REGISTRY["broad-permissions-granted"].shrink is rules.shrink_policies


def test_a_failed_attachment_is_not_a_grant() -> None:
    event = _event(
        IAM,
        "AttachUserPolicy",
        {"userName": "x", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        error="AccessDenied",
    )
    assert run([event], _family()) == []


# --- credentials-created-for-another-user ------------------------------------------------------------

ROOT = {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}


def _key_for(user: str | None, identity: dict[str, Any] | None = None) -> dict[str, Any]:
    created = {"accessKey": {"accessKeyId": "AKIAEXAMPLENEWKEY001", "status": "Active", "userName": user or "self"}}
    return _event(IAM, "CreateAccessKey", {"userName": user} if user else None, created, identity=identity)


def test_the_root_user_creating_a_key_for_a_user_is_high() -> None:
    (finding,) = run([_key_for("svc-reporting", ROOT)], _family())

    assert finding.severity is Severity.HIGH
    assert finding.access_key_id == "AKIAEXAMPLENEWKEY001"


def test_a_role_session_creating_a_key_for_a_user_is_medium() -> None:
    (finding,) = run([_key_for("svc-reporting", SSO_IDENTITY)], _family())

    assert finding.severity is Severity.MEDIUM
    assert finding.details["actor"] == SSO_SESSION


def test_the_root_users_own_key_and_placeholder_users_are_left_to_others() -> None:
    assert run([_key_for(None, ROOT)], _only("credentials-created-for-another-user")) == []
    assert run([_key_for("BedrockAPIKey-x7k2", SSO_IDENTITY)], _only("credentials-created-for-another-user")) == []


def test_a_user_name_differing_only_in_case_is_still_ones_own() -> None:
    assert run([_key_for("ML-Batch-Svc")], _family()) == []


# --- aws-compromised-key-quarantine ------------------------------------------------------------------


def test_the_exposed_credential_inline_policy_is_a_quarantine() -> None:
    event = _event(
        IAM,
        "PutUserPolicy",
        {"userName": "ml-batch-svc", "policyName": "AWSExposedCredentialPolicy_DO_NOT_REMOVE", "policyDocument": "{}"},
    )

    (finding,) = run([event], _family())

    assert (finding.detector, finding.severity, finding.playbook) == (
        "aws-compromised-key-quarantine",
        Severity.HIGH,
        None,
    )


def test_lifting_the_quarantine_is_medium() -> None:
    arn = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2"
    event = _event(IAM, "DetachUserPolicy", {"userName": "ml-batch-svc", "policyArn": arn})

    (finding,) = run([event], _family())

    assert finding.severity is Severity.MEDIUM
    assert finding.details["quarantined"] is False
    assert finding.principal == STOLEN_USER


# --- bedrock-knowledge-agent-tampering ----------------------------------------------------------------


def _agent_delete(name: str, at: str, agent: str = "AGT0SUPPRT", **kwargs: Any) -> dict[str, Any]:
    return _event(
        BEDROCK, name, {"agentId": agent, "agentAliasId": "ALIAS01", "actionGroupId": "AG01"}, at=at, **kwargs
    )


def test_deleting_one_agent_with_its_parts_is_not_a_mass_deletion() -> None:
    events = [
        _agent_delete("DeleteAgentAlias", "2026-11-20T14:00:00Z"),
        _agent_delete("DeleteAgentActionGroup", "2026-11-20T14:00:10Z"),
        _agent_delete("DeleteAgent", "2026-11-20T14:00:20Z"),
    ]

    findings = run(events, _family())

    assert {f.severity for f in findings} == {Severity.LOW}
    assert {f.principal for f in findings} == {f"arn:aws:bedrock:us-east-1:{ACCOUNT}:agent/AGT0SUPPRT"}


@pytest.mark.parametrize("reverse", [False, True])
def test_a_mass_deletion_in_any_order_and_redelivered_is_one_high_finding_when_the_third_arrives(reverse: bool) -> None:
    events = load_json("sequences/bedrock-knowledge-agent-tampering__positive__mass_deletion.json")
    ordered = list(reversed(events)) if reverse else events

    findings = run(ordered + ordered, _only("bedrock-knowledge-agent-tampering"))

    (high,) = [f for f in findings if f.severity is Severity.HIGH]
    assert high.evidence == tuple(sorted((e["detail"]["eventID"] for e in ordered[:3]), key=_time_of(events)))
    assert high.details["deletions"] == 3
    assert len([f for f in findings if f.severity is Severity.LOW]) == 4


def _time_of(events: list[dict[str, Any]]) -> Any:
    times = {e["detail"]["eventID"]: e["detail"]["eventTime"] for e in events}
    return lambda event_id: times[event_id]


def test_a_second_burst_after_the_window_is_a_second_high_finding() -> None:
    def burst(hour: int) -> list[dict[str, Any]]:
        return [_agent_delete("DeleteAgent", f"2026-11-20T{hour}:0{n}:00Z", agent=f"AGENT{hour}{n}") for n in range(3)]

    findings = run(burst(10) + burst(12), _only("bedrock-knowledge-agent-tampering"))

    assert [f.first_seen.hour for f in findings if f.severity is Severity.HIGH] == [10, 12]


def test_deletions_spread_over_more_than_an_hour_are_not_a_burst() -> None:
    events = [_agent_delete("DeleteAgent", f"2026-11-20T1{n}:00:00Z", agent=f"AGENT{n}") for n in range(4)]
    assert {f.severity for f in run(events, _family())} == {Severity.LOW}


def test_the_deletion_window_is_bounded() -> None:
    events = [_agent_delete("DeleteAgentAlias", f"2026-11-20T14:{n // 60:02d}:{n % 60:02d}Z") for n in range(80)]
    svc = _only("bedrock-knowledge-agent-tampering")
    run(events, svc)

    assert isinstance(svc.state, MemoryStateStore)
    stored = [svc.state.load(*key) for key in svc.state.items if key[0] == "bedrock-knowledge-agent-tampering"]
    assert stored and all(len(s.value["state"]["deletions"]) <= rules.MAX_DELETIONS for s in stored if s)


# --- permissions-boundary-removed -----------------------------------------------------------------------


def test_an_admin_boundary_is_a_removed_boundary() -> None:
    arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    event = _event(IAM, "PutUserPermissionsBoundary", {"userName": "ci-deployer", "permissionsBoundary": arn})

    (finding,) = run([event], _family())

    assert finding.detector == "permissions-boundary-removed"
    assert finding.principal == f"arn:aws:iam::{ACCOUNT}:user/ci-deployer"
    assert finding.details["new_boundary"] == arn
