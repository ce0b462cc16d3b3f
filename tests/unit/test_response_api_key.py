"""contain-bedrock-api-key's response policy: whose key, which action, and every refusal before acting.

The sample findings ``events/findings/contain_bedrock_api_key__*.json`` are what ``bedrock-api-key-control-plane``
publishes for a stolen long-term key (a ``BedrockAPIKey-*`` user) and for a short-term key (a role's session).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import load_json
from warden.config import ResponseConfig
from warden.models import Finding, Severity
from warden.response import (
    BEARER_DENY_POLICY,
    REQUESTS,
    ApiKeyContainmentCheck,
    ApiKeyTargetCheck,
    bearer_deny_policy,
    decide_api_key,
    evaluate,
    find_api_key,
)

ACCOUNT = "123456789012"
PLAYBOOK = "contain-bedrock-api-key"
USER = "BedrockAPIKey-7k2q"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/{USER}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/rag-indexer"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/rag-indexer/i-0a1b2c3d4e5f"
KEY = "ACCAEXAMPLE123EXAMPLE"
OTHER_KEY = "ACCAEXAMPLE456EXAMPLE"


def settings(**overrides: Any) -> ResponseConfig:
    values: dict[str, Any] = {"account_id": ACCOUNT, "mode": "auto", "protected": (), **overrides}
    return ResponseConfig.model_validate(values)


def finding(branch: str = "long_term_key", **fields: Any) -> Finding:
    sample = {**load_json(f"findings/contain_bedrock_api_key__{branch}.json"), **fields}
    sample.pop("id")
    return Finding.build(**sample)


def target(found: Finding) -> dict[str, Any]:
    return find_api_key(
        ApiKeyTargetCheck(check="api-key-target", playbook=PLAYBOOK, finding=found), settings()
    ).model_dump()


def user(arn: str = USER_ARN, tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"Name": arn.rsplit("/", 1)[-1], "Arn": arn, "Path": "/", "Tags": tags or []}


def listed(*credentials: tuple[str, str]) -> dict[str, list[str]]:
    return {"ids": [c[0] for c in credentials], "statuses": [c[1] for c in credentials]}


def check(
    found: Finding | None = None,
    *,
    principal: dict[str, Any] | None = None,
    credentials: Any = None,
    previous: Any = None,
) -> ApiKeyContainmentCheck:
    found = found or finding(access_key_id=KEY)
    return ApiKeyContainmentCheck(
        check="api-key-containment",
        playbook=PLAYBOOK,
        finding=found,
        target=target(found),
        principal=principal or user(),
        credentials=listed((KEY, "Active")) if credentials is None else credentials,
        previous_document=previous,
    )


def role_check(**kwargs: Any) -> ApiKeyContainmentCheck:
    role = {"Name": "rag-indexer", "Arn": ROLE_ARN, "Path": "/", "Tags": []}
    return check(finding("short_term_key"), principal=kwargs.pop("principal", role), credentials=listed(), **kwargs)


# ------------------------------------------------------------------ whose key


def test_the_samples_are_sealed_as_a_detector_seals_them() -> None:
    for branch in ("long_term_key", "short_term_key"):
        raw = load_json(f"findings/contain_bedrock_api_key__{branch}.json")
        assert Finding.model_validate(raw).content_id() == raw["id"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"access_key_id": KEY}, ("user", USER, KEY)),
        ({"access_key_id": None, "details": {"service_specific_credential_id": KEY}}, ("user", USER, KEY)),
        ({"access_key_id": None}, ("user", USER, None)),
        ({"principal": f"arn:aws:iam::{ACCOUNT}:user/team/ml/alice"}, ("user", "alice", None)),
        ({"principal": SESSION, "access_key_id": "ASIAEXAMPLERAGINDEX1"}, ("role", "rag-indexer", None)),
        ({"principal": ROLE_ARN}, ("role", "rag-indexer", None)),
    ],
)
def test_the_key_is_a_users_or_a_roles(fields: dict[str, Any], expected: tuple[Any, ...]) -> None:
    found = target(finding(**fields))

    assert found["status"] == "FOUND"
    assert (found["kind"], found["name"], found["credential_id"]) == expected


def test_a_finding_about_another_credential_is_not_applicable_and_names_its_playbook() -> None:
    sample = {**load_json("findings/contain_access_key__llmjacking.json")}
    sample.pop("id")

    found = target(Finding.build(**sample))

    assert (found["status"], found["kind"]) == ("NOT_APPLICABLE", None)
    assert "Recommended playbook: contain-access-key" in found["summary"]


@pytest.mark.parametrize(
    "fields",
    [
        {"principal": f"arn:aws:iam::{ACCOUNT}:root"},
        {"principal": f"arn:aws:sts::{ACCOUNT}:federated-user/bob"},
        {"principal": SESSION, "access_key_id": KEY},  # a service-specific credential belongs to a user
    ],
)
def test_a_principal_that_can_hold_no_such_key_is_not_applicable(fields: dict[str, Any]) -> None:
    found = target(finding(**fields))

    assert (found["status"], found["kind"], found["name"]) == ("NOT_APPLICABLE", None, None)


@pytest.mark.parametrize(
    "fields",
    [{"principal": "arn:aws:iam::494659789341:user/BedrockAPIKey-x"}, {"account": "494659789341"}],
)
def test_another_accounts_key_is_refused_before_asking_iam(fields: dict[str, Any]) -> None:
    found = target(finding(**fields))

    assert (found["status"], found["kind"]) == ("REFUSED_MISMATCH", None)
    assert "acts only in its own account" in found["summary"]


# ------------------------------------------------------------------ long-term keys


def test_the_named_active_key_is_deactivated_with_its_undo() -> None:
    decision = decide_api_key(check(credentials=listed((OTHER_KEY, "Active"), (KEY, "Active"))), settings())

    assert (decision.act, decision.status, decision.action) == (True, "CONTAINED", "deactivate-credential")
    assert (decision.user_name, decision.credential_id, decision.target_arn) == (USER, KEY, USER_ARN)
    assert decision.undo == {
        "M": {
            "api": {"S": "iam:UpdateServiceSpecificCredential"},
            "UserName": {"S": USER},
            "ServiceSpecificCredentialId": {"S": KEY},
            "Status": {"S": "Active"},
        }
    }
    assert decision.command == (
        f"aws iam update-service-specific-credential --user-name {USER} --service-specific-credential-id {KEY} "
        "--status Inactive"
    )
    assert decision.policy_document == ""


@pytest.mark.parametrize("status", ["Inactive", "Expired"])
def test_a_key_that_no_longer_works_is_left_alone(status: str) -> None:
    decision = decide_api_key(check(credentials=listed((KEY, status))), settings())

    assert (decision.act, decision.status, decision.reason) == (False, "NO_ACTION", "already-inactive")


@pytest.mark.parametrize("credentials", [listed(), listed((OTHER_KEY, "Active")), {"ids": [KEY], "statuses": []}, None])
def test_a_key_iam_does_not_list_for_the_user_is_refused(credentials: Any) -> None:
    request = check(credentials=credentials or {})

    decision = decide_api_key(request, settings())

    assert (decision.act, decision.status, decision.reason) == (False, "REFUSED_MISMATCH", "credential-mismatch")
    assert "IAM lists no Bedrock API key" in decision.summary


def test_without_an_id_the_users_one_active_key_is_deactivated() -> None:
    request = check(finding(access_key_id=None), credentials=listed((OTHER_KEY, "Inactive"), (KEY, "Active")))

    decision = decide_api_key(request, settings())

    assert (decision.act, decision.action, decision.credential_id) == (True, "deactivate-credential", KEY)


@pytest.mark.parametrize(
    ("credentials", "why"),
    [
        (listed(), "short-term one it minted"),
        (listed((KEY, "Inactive")), "short-term one it minted"),
        (listed((KEY, "Active"), (OTHER_KEY, "Active")), "2 active Bedrock API keys"),
    ],
)
def test_without_an_id_or_a_single_active_key_every_key_of_the_user_is_denied(
    credentials: dict[str, list[str]], why: str
) -> None:
    decision = decide_api_key(check(finding(access_key_id=None), credentials=credentials), settings())

    assert (decision.act, decision.action, decision.user_name, decision.role_name) == (
        True,
        "deny-bearer-user",
        USER,
        "",
    )
    assert json.loads(decision.policy_document) == bearer_deny_policy()
    assert decision.undo == {
        "M": {"api": {"S": "iam:DeleteUserPolicy"}, "UserName": {"S": USER}, "PolicyName": {"S": BEARER_DENY_POLICY}}
    }
    assert why in decision.summary
    assert decision.command.startswith(f"aws iam put-user-policy --user-name {USER} --policy-name {BEARER_DENY_POLICY}")


# ------------------------------------------------------------------ short-term keys


def test_the_deny_names_both_endpoints_bearer_action_and_nothing_else() -> None:
    (statement,) = bearer_deny_policy()["Statement"]

    assert statement == {
        "Sid": "WardenDenyBedrockApiKeys",
        "Effect": "Deny",
        "Action": ["bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"],
        "Resource": "*",
    }


def test_a_roles_short_term_keys_are_denied_with_the_undo_that_deletes_the_deny() -> None:
    decision = decide_api_key(role_check(), settings())

    assert (decision.act, decision.status, decision.action) == (True, "CONTAINED", "deny-bearer-role")
    assert (decision.role_name, decision.user_name, decision.had_previous_policy) == ("rag-indexer", "", False)
    assert decision.undo == {
        "M": {
            "api": {"S": "iam:DeleteRolePolicy"},
            "RoleName": {"S": "rag-indexer"},
            "PolicyName": {"S": BEARER_DENY_POLICY},
        }
    }
    assert "legitimate ones included" in decision.summary


def test_the_previous_document_of_the_denys_name_is_what_undo_puts_back() -> None:
    earlier = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}

    decision = decide_api_key(role_check(previous=quote(json.dumps(earlier))), settings())

    assert decision.act and decision.had_previous_policy
    undo = decision.undo["M"]
    assert undo["api"] == {"S": "iam:PutRolePolicy"}
    assert json.loads(undo["PolicyDocument"]["S"]) == earlier


def test_a_principal_that_already_holds_the_deny_needs_nothing() -> None:
    decision = decide_api_key(role_check(previous=bearer_deny_policy()), settings())

    assert (decision.act, decision.status, decision.reason) == (False, "NO_ACTION", "already-denied")


def test_a_service_linked_role_is_refused() -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/bedrock.amazonaws.com/rag-indexer"
    principal = {"Name": "rag-indexer", "Arn": arn, "Path": "/aws-service-role/bedrock.amazonaws.com/", "Tags": []}

    decision = decide_api_key(role_check(principal=principal), settings())

    assert (decision.act, decision.status, decision.reason) == (False, "REFUSED_PROTECTED", "service-linked-role")


# ------------------------------------------------------------------ refusals and modes


@pytest.mark.parametrize(
    "protected",
    [
        (USER_ARN,),
        (f"arn:aws:iam::{ACCOUNT}:user/admins/{USER.upper()}",),
        ("arn:aws:iam::*:user/BedrockAPIKey-*",),
        ("arn:aws:iam::*:*/bedrockapikey-7?2q",),
    ],
)
def test_a_protected_user_is_refused_by_arn_or_pattern(protected: tuple[str, ...]) -> None:
    decision = decide_api_key(check(), settings(protected=protected))

    assert (decision.act, decision.status, decision.reason) == (False, "REFUSED_PROTECTED", "protected-principal")
    assert protected[0] in decision.summary


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_a_user_tagged_protected_is_refused(value: str) -> None:
    principal = user(tags=[{"Key": "team", "Value": "ml"}, {"Key": "warden:protected", "Value": value}])

    decision = decide_api_key(check(principal=principal), settings())

    assert (decision.status, decision.reason) == ("REFUSED_PROTECTED", "protected-principal")
    assert "tag warden:protected=true" in decision.summary


def test_a_tag_that_does_not_say_true_protects_nothing() -> None:
    principal = user(tags=[{"Key": "warden:protected", "Value": "false"}])

    assert decide_api_key(check(principal=principal), settings()).act


def test_a_protected_role_is_refused_for_its_sessions_keys() -> None:
    decision = decide_api_key(role_check(), settings(protected=("arn:aws:iam::*:role/rag-*",)))

    assert decision.status == "REFUSED_PROTECTED"


def test_iams_principal_must_be_the_findings() -> None:
    principal = user(arn=f"arn:aws:iam::{ACCOUNT}:user/someone-else")

    decision = decide_api_key(check(principal=principal), settings())

    assert (decision.act, decision.status, decision.reason) == (False, "REFUSED_MISMATCH", "principal-mismatch")


def test_a_user_of_another_account_is_refused() -> None:
    principal = user(arn="arn:aws:iam::494659789341:user/BedrockAPIKey-7k2q")

    decision = decide_api_key(check(principal=principal), settings())

    assert (decision.status, decision.reason) == ("REFUSED_MISMATCH", "foreign-account")


def test_dry_run_says_what_warden_would_have_done_and_the_command() -> None:
    decision = decide_api_key(check(), settings(mode="dry-run"))

    assert (decision.act, decision.status, decision.mode) == (False, "DRY_RUN", "dry-run")
    assert f"would have deactivated Bedrock API key {KEY}" in decision.summary
    assert decision.command.startswith("aws iam update-service-specific-credential")


def test_below_the_automatic_severity_it_only_plans() -> None:
    decision = decide_api_key(check(finding(access_key_id=KEY, severity=Severity.MEDIUM)), settings())

    assert (decision.act, decision.status, decision.reason) == (False, "DRY_RUN", "below-threshold")


def test_approve_mode_acts_only_once_a_person_approves() -> None:
    decision = decide_api_key(check(), settings(mode="approve", approval_timeout_seconds=600))

    assert (decision.act, decision.approval, decision.mode, decision.approval_timeout) == (True, True, "approve", 600)
    assert decision.summary.startswith("Awaiting approval")


def test_a_requested_dry_run_wins_over_auto() -> None:
    request = check().model_copy(update={"requested_mode": "dry-run"})

    assert decide_api_key(request, settings()).status == "DRY_RUN"


def test_the_function_entry_point_dispatches_both_checks() -> None:
    found = finding(access_key_id=KEY)
    raw = {"check": "api-key-target", "playbook": PLAYBOOK, "finding": found.model_dump(mode="json")}

    answer = evaluate(REQUESTS.validate_python(raw), settings(), found.last_seen)

    assert (answer["kind"], answer["name"], answer["credential_id"]) == ("user", USER, KEY)
    decided = evaluate(
        REQUESTS.validate_python(
            {
                "check": "api-key-containment",
                "playbook": PLAYBOOK,
                "finding": found.model_dump(mode="json"),
                "target": answer,
                "principal": user(),
                "credentials": listed((KEY, "Active")),
                "previous_document": None,
            }
        ),
        settings(),
        found.last_seen,
    )
    assert {"act", "status", "reason", "summary", "mode", "approval", "approval_timeout", "approval_default",
            "rate_limit", "action", "undo", "command"} <= set(decided)  # fmt: skip
    assert (decided["act"], decided["action"]) == (True, "deactivate-credential")
