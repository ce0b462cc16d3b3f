"""revert-policy-change decisions: which change a finding reports, and whether to revert it given what IAM holds.

The sample findings in ``events/findings/revert_policy_change__*.json`` are what the detectors publish for
their sample sequences (one per branch of the playbook).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import load_json
from warden.config import ResponseConfig
from warden.models import Finding
from warden.response import (
    REQUESTS,
    RevertCheck,
    RevertTargetCheck,
    decide_revert,
    evaluate,
    find_revert,
)

ACCOUNT = "123456789012"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
BRANCHES = {
    "detach_managed_policy": "DetachRolePolicy",
    "delete_inline_policy": "DeleteUserPolicy",
    "restore_trust_policy": "UpdateAssumeRolePolicy",
    "delete_access_key": "DeleteAccessKey",
    "delete_login_profile": "DeleteLoginProfile",
}


def settings(**overrides: Any) -> ResponseConfig:
    values: dict[str, Any] = {"account_id": ACCOUNT, "mode": "auto", "protected": (), **overrides}
    return ResponseConfig.model_validate(values)


def sample(branch: str, **changes: Any) -> Finding:
    """The branch's sample finding, with ``changes`` (``details`` merged), sealed again."""
    raw = load_json(f"findings/revert_policy_change__{branch}.json")
    details = {**raw["details"], **changes.pop("details", {})}
    raw.update(changes, details=details)
    raw.pop("id")
    return Finding.build(**raw)


def plan_of(found: Finding, config: ResponseConfig | None = None) -> Any:
    request = RevertTargetCheck(check="revert-target", playbook="revert-policy-change", finding=found)
    return find_revert(request, config or settings())


def target_of(found: Finding, *, path: str = "/", **extra: Any) -> dict[str, Any]:
    """Get{User,Role}'s description of the finding's principal, as the playbook passes it."""
    kind, name = found.principal.split(":", 5)[5].split("/", 1)
    name = name.rsplit("/", 1)[-1]
    return {"Arn": f"arn:aws:iam::{ACCOUNT}:{kind}{path}{name}", "Name": name, "Path": path, **extra}


def in_force(found: Finding, document: str | None = None) -> dict[str, Any]:
    """What IAM holds for the branch when nothing changed since the finding."""
    if found.detector == "external-trust-policy":
        return {"trust": quote(document or found.details["document"])}
    if found.details.get("policy_arn"):
        return {"attached": [{"PolicyName": "AdministratorAccess", "PolicyArn": found.details["policy_arn"]}]}
    if found.details.get("policy_name"):
        return {"document": quote(document or found.details["policy_document"])}
    if found.details.get("credential") == "access key":
        return {"keys": [{"AccessKeyId": "AKIAOTHERKEY00000001"}, {"AccessKeyId": found.access_key_id}]}
    return {"login_profile": True}


def decide(
    found: Finding,
    config: ResponseConfig | None = None,
    *,
    current: dict[str, Any] | None = None,
    tags: list[dict[str, str]] | None = None,
    target: dict[str, Any] | None = None,
    mode: str | None = None,
) -> Any:
    target = target or target_of(found)
    if found.detector == "external-trust-policy":
        target = {**target, "Trust": (current or in_force(found))["trust"]}
    request = RevertCheck(
        check="revert",
        playbook="revert-policy-change",
        requested_mode=mode,
        finding=found,
        target=target,
        tags=tags or [],
        current=in_force(found) if current is None else current,
    )
    return decide_revert(request, config or settings())


@pytest.mark.parametrize(("branch", "change"), sorted(BRANCHES.items()))
def test_each_sample_finding_names_its_revert(branch: str, change: str) -> None:
    found = sample(branch)
    assert found.playbook == "revert-policy-change"

    plan = plan_of(found)

    assert (plan.status, plan.change) == ("FOUND", change)
    assert plan.target_name == found.principal.rsplit("/", 1)[-1]


def test_detach_reverts_in_auto_mode_and_records_how_to_attach_again() -> None:
    found = sample("detach_managed_policy")

    decision = decide(found)

    assert (decision.act, decision.status, decision.change, decision.approval) == (
        True,
        "REVERTED",
        "DetachRolePolicy",
        False,
    )
    assert decision.undo == {
        "M": {
            "api": {"S": "iam:AttachRolePolicy"},
            "RoleName": {"S": "ops-break-glass"},
            "PolicyArn": {"S": ADMIN},
        }
    }
    assert decision.command == f"aws iam detach-role-policy --role-name ops-break-glass --policy-arn {ADMIN}"


def test_a_policy_no_longer_attached_is_no_action() -> None:
    found = sample("detach_managed_policy")

    decision = decide(found, current={"attached": [{"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]})

    assert (decision.act, decision.status, decision.reason) == (False, "NO_ACTION", "already-detached")


def test_inline_policy_is_deleted_with_the_document_iam_held_as_undo() -> None:
    found = sample("delete_inline_policy")
    held = quote(json.dumps(json.loads(found.details["policy_document"]), indent=2))  # IAM's own spacing

    decision = decide(found, current={"document": held})

    assert (decision.act, decision.change) == (True, "DeleteUserPolicy")
    undo = decision.undo["M"]
    assert undo["api"] == {"S": "iam:PutUserPolicy"}
    assert (undo["UserName"], undo["PolicyName"]) == ({"S": "svc-reporting"}, {"S": "ops-maintenance"})
    assert json.loads(undo["PolicyDocument"]["S"]) == json.loads(found.details["policy_document"])


def test_an_inline_policy_changed_since_the_finding_is_left_to_a_person() -> None:
    found = sample("delete_inline_policy")
    held = quote(found.details["policy_document"])
    narrowed = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
    )

    changed = decide(found, current={"document": quote(narrowed)})
    gone = decide(found, current={"document": None})
    unknown = decide(sample("delete_inline_policy", details={"policy_document": None}), current={"document": held})

    assert (changed.act, changed.status, changed.reason) == (False, "REFUSED_MISMATCH", "changed-since")
    assert (gone.act, gone.status, gone.reason) == (False, "NO_ACTION", "already-deleted")
    assert (unknown.act, unknown.reason) == (False, "changed-since"), "a finding without the document cannot confirm"


def test_trust_policy_is_put_back_and_the_one_replaced_is_the_undo() -> None:
    found = sample("restore_trust_policy")

    decision = decide(found)

    assert (decision.act, decision.status, decision.change) == (True, "REVERTED", "UpdateAssumeRolePolicy")
    assert json.loads(decision.document) == json.loads(found.details["previous_document"])
    undo = decision.undo["M"]
    assert (undo["api"], undo["RoleName"]) == ({"S": "iam:UpdateAssumeRolePolicy"}, {"S": "rag-ingest"})
    assert json.loads(undo["PolicyDocument"]["S"]) == json.loads(found.details["document"])
    assert "update-assume-role-policy --role-name rag-ingest --policy-document" in decision.command


def test_a_trust_policy_already_restored_or_changed_again_is_not_touched() -> None:
    found = sample("restore_trust_policy")
    other = json.dumps({"Version": "2012-10-17", "Statement": []})

    restored = decide(found, current={"trust": quote(found.details["previous_document"])})
    changed = decide(found, current={"trust": quote(other)})

    assert (restored.act, restored.status) == (False, "NO_ACTION")
    assert (changed.act, changed.status, changed.reason) == (False, "REFUSED_MISMATCH", "changed-since")


def test_a_trust_finding_without_the_previous_document_has_nothing_to_restore() -> None:
    found = sample("restore_trust_policy", details={"previous_document": None, "previous_document_known": False})

    plan = plan_of(found)

    assert (plan.status, plan.change) == ("NOTHING_TO_RESTORE", "")
    assert "arn:aws:iam::444455556666:root" in plan.summary


@pytest.mark.parametrize("branch", ["delete_access_key", "delete_login_profile"])
def test_a_credential_is_deleted_only_with_approval_even_in_auto_mode(branch: str) -> None:
    found = sample(branch)  # the password sample is MEDIUM: an SSO session set it
    floor = "MEDIUM"

    auto = decide(found, settings(auto_min_severity=floor, approval_default="approve"))
    approve = decide(found, settings(mode="approve", auto_min_severity=floor))
    dry = decide(found, settings(mode="dry-run", auto_min_severity=floor))

    assert (auto.act, auto.mode, auto.approval) == (True, "approve", True)
    assert auto.summary.startswith("Awaiting approval (deleting a credential cannot be undone")
    assert auto.approval_default == "reject", "an unanswered request never deletes a credential"
    assert (approve.act, approve.mode, approve.approval) == (True, "approve", True)
    assert (dry.act, dry.status) == (False, "DRY_RUN")
    assert auto.undo["M"]["api"] == {"S": "none"}
    assert "cannot be restored" in auto.undo["M"]["reason"]["S"]


def test_an_access_key_the_user_no_longer_holds_is_no_action() -> None:
    found = sample("delete_access_key")

    decision = decide(found, current={"keys": [{"AccessKeyId": "AKIAOTHERKEY00000001"}]})

    assert (decision.act, decision.status) == (False, "NO_ACTION")


def test_a_key_finding_whose_details_name_another_key_is_not_acted_on() -> None:
    found = sample("delete_access_key", details={"created_credential_id": "AKIASOMEOTHERKEY0001"})

    assert plan_of(found).status == "NOT_APPLICABLE"


def test_no_login_profile_is_no_action() -> None:
    assert decide(sample("delete_login_profile"), current={"login_profile": False}).status == "NO_ACTION"


@pytest.mark.parametrize("branch", sorted(BRANCHES))
def test_dry_run_plans_and_gives_the_command(branch: str) -> None:
    decision = decide(sample(branch), settings(mode="dry-run"))

    assert (decision.act, decision.status) == (False, "DRY_RUN")
    assert decision.command.startswith("aws iam ")
    assert decision.change == BRANCHES[branch]


@pytest.mark.parametrize(
    "entry",
    [
        "arn:aws:iam::123456789012:role/ops-break-glass",  # exact
        "arn:aws:iam::*:role/OPS-break*",  # pattern, any account, another letter case
        "arn:aws:iam::123456789012:role/admins/ops-break-glass",  # with a path
    ],
)
def test_a_protected_target_is_refused(entry: str) -> None:
    decision = decide(sample("detach_managed_policy"), settings(protected=(entry,)))

    assert (decision.act, decision.status, decision.reason) == (False, "REFUSED_PROTECTED", "protected-principal")
    assert "Investigate by hand" in decision.summary


def test_a_target_tagged_protected_is_refused() -> None:
    tags = [{"Key": "team", "Value": "ml"}, {"Key": "warden:protected", "Value": "TRUE"}]

    decision = decide(sample("restore_trust_policy"), tags=tags)

    assert (decision.status, decision.reason) == ("REFUSED_PROTECTED", "protected-principal")
    assert "tag warden:protected=true" in decision.summary


def test_a_change_made_by_a_protected_principal_is_for_a_person() -> None:
    found = sample("delete_inline_policy")  # made by user ml-batch-svc
    session = sample(
        "detach_managed_policy", details={"actor": "arn:aws:sts::123456789012:assumed-role/BreakGlass/bob"}
    )

    by_user = decide(found, settings(protected=("arn:aws:iam::123456789012:user/ml-batch-svc",)))
    by_session = decide(session, settings(protected=("arn:aws:iam::*:role/BreakGlass*",)))

    for decision in (by_user, by_session):
        assert (decision.act, decision.status, decision.reason) == (False, "REFUSED_PROTECTED", "protected-actor")


def test_a_protected_group_is_refused_by_arn_or_pattern() -> None:
    found = sample(
        "detach_managed_policy",
        principal=f"arn:aws:iam::{ACCOUNT}:group/Admins",
        details={"target": f"arn:aws:iam::{ACCOUNT}:group/Admins", "target_type": "group"},
    )
    group = {"Arn": f"arn:aws:iam::{ACCOUNT}:group/it/Admins", "Name": "Admins", "Path": "/it/"}

    plain = decide(found, target=group)
    exact = decide(found, settings(protected=(f"arn:aws:iam::{ACCOUNT}:group/admins",)), target=group)
    pattern = decide(found, settings(protected=("arn:aws:iam::*:group/Adm*",)), target=group)

    assert (plain.act, plain.change) == (True, "DetachGroupPolicy")
    assert exact.status == pattern.status == "REFUSED_PROTECTED"


def test_another_account_is_refused_before_asking_iam() -> None:
    found = sample(
        "detach_managed_policy",
        principal="arn:aws:iam::444455556666:role/ops-break-glass",
        details={"target": "arn:aws:iam::444455556666:role/ops-break-glass"},
    )

    plan = plan_of(found)

    assert plan.status == "REFUSED_MISMATCH"
    assert "acts only in its own account" in plan.summary


def test_details_naming_another_target_than_the_sealed_principal_are_refused() -> None:
    found = sample("detach_managed_policy", details={"target": f"arn:aws:iam::{ACCOUNT}:role/someone-else"})

    assert plan_of(found).status == "REFUSED_MISMATCH"


def test_iam_describing_another_identity_is_refused() -> None:
    found = sample("detach_managed_policy")
    other = {"Arn": f"arn:aws:iam::{ACCOUNT}:role/other-role", "Name": "other-role", "Path": "/"}

    decision = decide(found, target=other)

    assert (decision.act, decision.status, decision.reason) == (False, "REFUSED_MISMATCH", "target-mismatch")


@pytest.mark.parametrize(
    ("detector", "principal"),
    [
        ("permissions-boundary-removed", f"arn:aws:iam::{ACCOUNT}:role/r"),
        ("external-resource-policy", "arn:aws:s3:::bucket"),
        ("broad-permissions-granted", f"arn:aws:iam::{ACCOUNT}:policy/Broad"),
    ],
)
def test_changes_it_cannot_revert_are_not_applicable(detector: str, principal: str) -> None:
    found = sample("detach_managed_policy", detector=detector, principal=principal, details={"target": principal})

    plan = plan_of(found)

    assert (plan.status, plan.change) == ("NOT_APPLICABLE", "")
    assert "by hand" in plan.summary


def test_the_lambda_entry_point_takes_both_checks() -> None:
    found = sample("restore_trust_policy").model_dump(mode="json")
    target = {"Arn": f"arn:aws:iam::{ACCOUNT}:role/rag-ingest", "Name": "rag-ingest", "Path": "/"}
    trust = quote(found["details"]["document"])

    plan = evaluate(
        REQUESTS.validate_python({"check": "revert-target", "playbook": "p", "finding": found}), settings(), _now()
    )
    answer = evaluate(
        REQUESTS.validate_python(
            {
                "check": "revert",
                "playbook": "revert-policy-change",
                "finding": found,
                "target": {**target, "Trust": trust},
                "tags": [],
                "current": {"trust": trust},
            }
        ),
        settings(),
        _now(),
    )

    assert plan["change"] == "UpdateAssumeRolePolicy"
    assert (answer["act"], answer["status"], answer["change"]) == (True, "REVERTED", "UpdateAssumeRolePolicy")
    assert json.loads(answer["document"]) == json.loads(found["details"]["previous_document"])


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 26, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------
# The playbook's role in template.yaml: what it may change, and the denies that hold even if the definition errs
# ---------------------------------------------------------------------------------------------------

MUTATING = {
    "iam:DetachUserPolicy",
    "iam:DeleteUserPolicy",
    "iam:DeleteAccessKey",
    "iam:DeleteLoginProfile",
    "iam:DetachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:DetachGroupPolicy",
    "iam:DeleteGroupPolicy",
}


def _role_policies() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from tests.conftest import ROOT
    from warden_local.template import load_template

    role = load_template(ROOT / "template.yaml")["Resources"]["RevertPolicyChangeResponderRole"]["Properties"]
    (document,) = [policy["PolicyDocument"] for policy in role["Policies"]]
    statements = [s for s in document["Statement"] if "Effect" in s]
    (protected,) = [s["Fn::If"][1] for s in document["Statement"] if "Fn::If" in s]
    return statements, protected


def test_the_role_may_only_read_detach_and_delete_never_grant() -> None:
    statements, _ = _role_policies()

    allowed = {a for s in statements if s["Effect"] == "Allow" for a in s["Action"] if a.startswith("iam:")}

    assert allowed >= MUTATING
    assert not {a for a in allowed if a.split(":")[1].startswith(("Attach", "Put", "Create", "Update"))} - {
        "iam:UpdateAssumeRolePolicy"
    }, "nothing that grants"
    assert all(a.split(":")[1].startswith(("Get", "List")) for a in allowed - MUTATING)


def test_the_role_is_denied_every_revert_on_protected_principals_with_any_path_and_on_tagged_ones() -> None:
    statements, protected = _role_policies()

    assert (protected["Effect"], set(protected["Action"])) == ("Deny", MUTATING)
    resources = json.dumps(protected["Resource"])
    for kind in ("user", "role"):
        assert f'"{kind}/*/"' in resources and f'["{kind}/", {{"Ref": "ProtectedPrincipals"}}]' in resources
    (tagged,) = [s for s in statements if s["Effect"] == "Deny" and "Condition" in s]
    assert tagged["Condition"] == {"StringEqualsIgnoreCase": {"aws:ResourceTag/warden:protected": "true"}}
    assert set(tagged["Action"]) == MUTATING - {"iam:DetachGroupPolicy", "iam:DeleteGroupPolicy"}, "groups have no tags"
