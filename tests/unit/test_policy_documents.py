"""IAM policy documents as CloudTrail records them, and how broad a grant they make."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from warden.detectors._policy import broad_grant, managed_policy, short_name, statement_level, unbounded
from warden.policy_documents import MAX_DOCUMENT_CHARS, action_matches, parse, principal_account


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def test_a_document_reads_the_same_as_a_json_string_url_encoded_or_an_object() -> None:
    document = _document(ADMIN)
    as_text = json.dumps(document, indent=2)

    parsed = [parse(document), parse(as_text), parse(quote(as_text, safe=""))]

    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[0] is not None
    (statement,) = parsed[0]
    assert statement.allows and statement.actions == ("*",) and statement.resources == ("*",)


def test_a_single_statement_object_and_string_or_list_elements_are_normalised() -> None:
    statements = parse({"Statement": {"Effect": "Deny", "NotAction": ["s3:*", 7], "NotResource": "arn:aws:s3:::x"}})

    assert statements is not None
    (statement,) = statements
    assert not statement.allows
    assert statement.not_actions == ("s3:*",)
    assert statement.not_resources == ("arn:aws:s3:::x",)


@pytest.mark.parametrize(
    "document",
    ["not json", "[]", json.dumps({"Statement": "x"}), 42, None, "{" + " " * MAX_DOCUMENT_CHARS + "}", "[" * 100_000],
)
def test_an_unreadable_document_is_none_and_never_raises(document: object) -> None:
    assert parse(document) is None


def test_statements_without_a_valid_effect_are_dropped() -> None:
    assert parse(_document({"Effect": "Maybe", "Action": "*", "Resource": "*"}, ADMIN)) == parse(_document(ADMIN))


def test_conditions_are_read_case_insensitively_by_key() -> None:
    statements = parse(_document({**ADMIN, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}))

    assert statements is not None
    assert statements[0].condition_values("AWS:PrincipalOrgId") == ("o-abc123",)


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("*", "bedrock:InvokeModel", True),
        ("iam:*", "IAM:PassRole", True),
        ("iam:Pass*", "iam:PassRole", True),
        ("iam:Get*", "iam:PassRole", False),
        ("bedrock:Invoke?odel", "bedrock:InvokeModel", True),
        ("s3:Get*", "s3:PutObject", False),
    ],
)
def test_action_patterns_match_as_iam_matches_them(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


def test_principal_accounts_come_from_ids_and_iam_or_sts_arns() -> None:
    assert principal_account("193672423079") == "193672423079"
    assert principal_account("arn:aws:iam::193672423079:root") == "193672423079"
    assert principal_account("arn:aws:sts::193672423079:assumed-role/r/s") == "193672423079"
    assert principal_account("*") is None


# --- breadth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "wide"),
    [
        ("*", True),
        ("arn:aws:iam::123456789012:role/*", True),
        ("arn:aws:bedrock:*:*:*", True),
        ("arn:aws:iam::123456789012:role/app-*", False),
        ("arn:aws:iam::123456789012:role/ci/*", False),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", False),
        ("arn:aws:lambda:us-east-1:123456789012:function:*", True),
        ("arn:aws:lambda:us-east-1:123456789012:function:orders-api:*", False),
        ("arn:aws:s3:::reports/*", False),
        ("arn:aws:s3:::*", True),
        ("not-an-arn", False),
    ],
)
def test_an_unbounded_resource_is_everything_or_every_resource_of_a_kind(resource: str, wide: bool) -> None:
    assert unbounded(resource) is wide


@pytest.mark.parametrize(
    ("statement", "level"),
    [
        (ADMIN, "admin"),
        ({"Effect": "Allow", "Action": "*:*", "Resource": "*"}, "admin"),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "admin"),
        ({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::vault/*"}, "admin"),
        ({"Effect": "Allow", "Action": ["iam:Pass*"], "Resource": "*"}, "iam"),
        ({"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::123456789012:role/*"}, "iam"),
        ({"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}, "bedrock"),
        ({"Effect": "Allow", "Action": "bedrock:Delete*", "Resource": "*"}, "bedrock"),
        ({"Effect": "Allow", "Action": "bedrock:Invoke*", "Resource": "*"}, None),
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}, None),
        ({"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}, None),
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::reports/*"}, None),
        ({"Effect": "Deny", "Action": "*", "Resource": "*"}, None),
    ],
)
def test_how_broad_a_statement_is(statement: dict[str, Any], level: str | None) -> None:
    parsed = parse(_document(statement))
    assert parsed is not None

    judged = statement_level(parsed[0])

    assert (judged[0] if judged else None) == level


def test_the_broadest_statement_wins_and_conditions_are_reported() -> None:
    parsed = parse(
        _document(
            {"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"},
            {**ADMIN, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
        )
    )
    assert parsed is not None

    grant = broad_grant(parsed)

    assert grant is not None
    assert (grant.level, grant.actions, grant.conditional) == ("admin", ("*",), True)
    assert broad_grant([]) is None


def test_managed_policy_names_and_short_names() -> None:
    assert managed_policy("arn:aws:iam::aws:policy/AdministratorAccess") == "AdministratorAccess"
    assert managed_policy("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess") == "ViewOnlyAccess"
    assert managed_policy("arn:aws-cn:iam::aws:policy/IAMFullAccess") == "IAMFullAccess"
    assert managed_policy("arn:aws:iam::123456789012:policy/AdministratorAccess") is None
    assert managed_policy(None) is None
    assert short_name("arn:aws:bedrock:us-east-1:123456789012:guardrail/cmy5azq5koeo") == "cmy5azq5koeo"
    assert short_name("cmy5azq5koeo") == "cmy5azq5koeo"
    assert short_name("arn:aws:iam::123456789012:user/team/alice") == "alice"
