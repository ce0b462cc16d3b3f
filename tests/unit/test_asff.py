"""Warden findings in ASFF (warden.notify.asff): the import of a new finding and its updates by playbooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import load_json
from warden.models import Finding
from warden.notify import asff
from warden.notify.compose import Outcome, compose
from warden.notify.notification import Notification, parse_notification

PRODUCT = asff.product_arn("aws", "us-east-1", "123456789012")
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
CANARY = "PROMPT-CANARY-0b7e"
REQUIRED = {
    "SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt", "UpdatedAt",
    "Severity", "Title", "Description", "Resources",
}  # fmt: skip


def sample(**changes: Any) -> Finding:
    document = load_json("findings/contain_access_key__llmjacking.json")
    document.update(changes)
    return Finding.sealed(document)


def outcome_note(finding: Finding, status: str = "CONTAINED", summary: str = "Key deactivated.") -> Notification:
    """What the exporter reads from the topic: the composed structured body, as the notifier reads it."""
    result = compose(finding, Outcome(status=status, summary=summary), playbook="contain-access-key", mode="auto")
    attributes = {name: {"Type": "String", "Value": v["StringValue"]} for name, v in result.attributes.items()}
    return parse_notification(json.loads(result.message)["lambda"], subject=result.subject, attributes=attributes)


def test_a_new_finding_is_imported_new_and_active_as_of_its_last_evidence() -> None:
    finding = sample(details={"prompt": CANARY})

    document = asff.from_finding(finding, product=PRODUCT)

    assert set(document) >= REQUIRED
    assert (document["SchemaVersion"], document["Id"], document["GeneratorId"]) == (
        "2018-10-08",
        finding.id,
        finding.detector,
    )
    assert document["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    assert document["AwsAccountId"] == finding.account
    assert document["Severity"] == {"Label": "HIGH"}
    assert (document["Workflow"], document["RecordState"]) == ({"Status": "NEW"}, "ACTIVE")
    assert document["FirstObservedAt"] == "2026-11-20T14:02:11.000Z"
    assert document["CreatedAt"] == document["UpdatedAt"] == document["LastObservedAt"] == "2026-11-20T14:03:55.000Z"
    assert document["ProductFields"] == {
        "warden/family": "bedrock-usage",
        "warden/detector": "llmjacking-sequence",
        "warden/evidence_count": str(len(finding.evidence)),
        "warden/playbook": "contain-access-key",
    }
    assert len(document["Title"]) <= 256 and len(document["Description"]) <= 1024
    assert CANARY not in json.dumps(document), "details never go to Security Hub"


@pytest.mark.parametrize(
    ("principal", "key", "expected"),
    [
        (
            "arn:aws:iam::123456789012:user/ml-batch-svc",
            "AKIAEXAMPLE",
            [
                ("AwsIamUser", "arn:aws:iam::123456789012:user/ml-batch-svc"),
                ("AwsIamAccessKey", "AWS::IAM::AccessKey:AKIAEXAMPLE"),
            ],
        ),
        ("arn:aws:iam::123456789012:role/path/app", None, [("AwsIamRole", "arn:aws:iam::123456789012:role/path/app")]),
        (
            "arn:aws:sts::123456789012:assumed-role/app/i-0abc",
            "ASIAEXAMPLE",
            [
                ("AwsIamRole", "arn:aws:iam::123456789012:role/app"),
                ("AwsIamAccessKey", "AWS::IAM::AccessKey:ASIAEXAMPLE"),
            ],
        ),
        ("arn:aws:iam::123456789012:root", None, [("Other", "arn:aws:iam::123456789012:root")]),
    ],
    ids=["user-and-key", "role", "assumed-role-session", "root"],
)
def test_the_principal_is_a_typed_resource(principal: str, key: str | None, expected: list[tuple[str, str]]) -> None:
    found = asff.resources(principal, key, "us-east-1", "aws")

    assert [(r["Type"], r["Id"]) for r in found] == expected
    assert all(r["Region"] == "us-east-1" and r["Partition"] == "aws" for r in found)


@pytest.mark.parametrize(
    ("family", "detector", "types"),
    [
        (
            "bedrock-usage",
            "llmjacking-sequence",
            ["Effects/Resource Consumption/Bedrock Model Invocation", "Unusual Behaviors/User"],
        ),
        ("policy-change", "admin-policy-attached", ["TTPs/Privilege Escalation/IAM Policy Change"]),
        ("policy-change", "invocation-logging-disabled", ["TTPs/Defense Evasion/Bedrock Invocation Logging"]),
        ("cross-account", "foreign-principal", ["TTPs/Initial Access/Cross-Account Access", "Unusual Behaviors/User"]),
        ("something-new", "x", ["Unusual Behaviors/User"]),
    ],
)
def test_types_follow_the_family(family: str, detector: str, types: list[str]) -> None:
    assert asff.finding_types(family, detector) == types
    assert all(len(t.split("/")) in {2, 3} for t in types), "namespace/category[/classifier]"


def test_an_outcome_reimports_the_same_finding_newer_with_its_status() -> None:
    finding = sample()
    created = asff.from_finding(finding, product=PRODUCT)

    updated = asff.from_notification(outcome_note(finding), product=PRODUCT, now=NOW)

    for same in (
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "FirstObservedAt",
        "Resources",
        "Severity",
    ):
        assert updated[same] == created[same], same
    assert updated["UpdatedAt"] == "2026-11-21T09:30:00.000Z" > created["UpdatedAt"]
    assert updated["Workflow"] == {"Status": "NOTIFIED"}
    assert updated["ProductFields"]["warden/status"] == "CONTAINED"
    assert updated["ProductFields"]["warden/mode"] == "auto"
    assert updated["Note"] == {
        "Text": "CONTAINED (contain-access-key): Key deactivated.",
        "UpdatedBy": "bedrock-warden",
        "UpdatedAt": "2026-11-21T09:30:00.000Z",
    }
    assert asff.workflow_update(updated) == {
        "FindingIdentifiers": [{"Id": finding.id, "ProductArn": PRODUCT}],
        "Workflow": {"Status": "NOTIFIED"},
        "Note": {"Text": "CONTAINED (contain-access-key): Key deactivated.", "UpdatedBy": "bedrock-warden"},
    }


@pytest.mark.parametrize(
    ("status", "workflow"),
    [("CONTAINED", "NOTIFIED"), ("AWAITING_APPROVAL", "NOTIFIED"), ("DRY_RUN", "NOTIFIED"), ("FAILED", "NOTIFIED"),
     ("REJECTED", "NOTIFIED"), ("REVERTED", "RESOLVED"), ("UNDONE", "RESOLVED")],
)  # fmt: skip
def test_the_workflow_status_of_each_outcome(status: str, workflow: str) -> None:
    document = asff.from_notification(outcome_note(sample(), status=status), product=PRODUCT, now=NOW)

    assert document["Workflow"]["Status"] == workflow


def test_the_playbooks_plain_text_is_read_too() -> None:
    text = (
        "LLMjacking: someone\n\nOutcome: DRY_RUN\nNothing was changed.\n\n"
        "Finding: 4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90\nDetector: llmjacking-sequence (bedrock-usage, severity HIGH)\n"
        "Principal: arn:aws:iam::123456789012:user/ml-batch-svc\nAccount / region: 123456789012 / us-east-1\n"
        "First seen: 2026-11-20T14:02:11Z\nLast seen: 2026-11-20T14:03:55Z\nEvidence: 2 event(s)\n"
        "Recommended playbook: contain-access-key"
    )
    note = parse_notification(text, subject="[Bedrock Warden] HIGH bedrock-usage finding: DRY_RUN",
                              attributes={"playbook": {"Type": "String", "Value": "contain-access-key"}})  # fmt: skip

    document = asff.from_notification(note, product=PRODUCT, now=NOW)

    assert (document["Id"], document["Title"], document["ProductFields"]["warden/status"]) == (
        "4c1f0a8e2b7d4e6f9a3c5b1d7e2f8a90", "LLMjacking: someone", "DRY_RUN",
    )  # fmt: skip


def test_a_notification_without_the_findings_fields_is_not_exported() -> None:
    note = parse_notification("contain-access-key refused its input.", subject="input refused",
                              attributes={"outcome": {"Type": "String", "Value": "INVALID_INPUT"}})  # fmt: skip

    with pytest.raises(asff.IncompleteNotification):
        asff.from_notification(note, product=PRODUCT, now=NOW)


def test_long_values_are_cut_to_asff_limits() -> None:
    finding = sample(title="T" * 600)

    document = asff.from_notification(outcome_note(finding, summary="S" * 5000), product=PRODUCT, now=NOW)

    assert len(document["Title"]) <= 256 and len(document["Note"]["Text"]) == 512
    assert all(len(value) <= 2048 for value in document["ProductFields"].values())
