"""Warden findings in the AWS Security Finding Format (ASFF), for AWS Security Hub. Pure: no I/O.

A finding is imported once when a detector publishes it (``Workflow.Status`` NEW) and re-imported under the
same ``Id`` each time its playbook notifies, with a newer ``UpdatedAt``, its outcome in ``ProductFields``
and ``Note``. The import of a new finding carries ``UpdatedAt`` = the finding's ``last_seen`` (when the
detector had its evidence), so that a late delivery of the finding never overwrites a playbook's update:
Security Hub keeps the version with the later ``UpdatedAt``. Security Hub ignores ``Workflow`` and
``Note`` when a provider re-imports a finding it already holds; they are set with ``BatchUpdateFindings``
(:func:`workflow_update`), as Security Hub expects of the account that works the finding.

``Types`` per family (the ASFF taxonomy: namespace/category/classifier):

* ``bedrock-usage``: ``Effects/Resource Consumption/Bedrock Model Invocation`` and ``Unusual Behaviors/User``
  (LLMjacking: someone else's models run on the account's bill);
* ``policy-change``: ``TTPs/Privilege Escalation/IAM Policy Change``, or ``TTPs/Defense Evasion/Bedrock
  Invocation Logging`` for a detector about invocation logging;
* ``cross-account``: ``TTPs/Initial Access/Cross-Account Access`` and ``Unusual Behaviors/User``.

``Workflow.Status`` after a playbook's outcome: ``NOTIFIED`` (the playbook ran and told someone: contained,
dry run, waiting for approval, refused, failed...), ``RESOLVED`` once its actions were undone
(``REVERTED``/``UNDONE``: a person closed the incident). A finding's ``details`` never go to Security Hub:
only named fields do, and never any prompt or completion text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from warden.models import Finding
from warden.notify.notification import Notification

SCHEMA_VERSION = "2018-10-08"
MAX_TITLE = 256
MAX_DESCRIPTION = 1024
MAX_NOTE = 512
MAX_PRODUCT_FIELD = 2048
RESOLVED_STATUSES = frozenset({"REVERTED", "UNDONE"})
FAMILY_TYPES: dict[str, tuple[str, ...]] = {
    "bedrock-usage": ("Effects/Resource Consumption/Bedrock Model Invocation", "Unusual Behaviors/User"),
    "policy-change": ("TTPs/Privilege Escalation/IAM Policy Change",),
    "cross-account": ("TTPs/Initial Access/Cross-Account Access", "Unusual Behaviors/User"),
}
LOGGING_TYPES = ("TTPs/Defense Evasion/Bedrock Invocation Logging",)
OTHER_TYPES = ("Unusual Behaviors/User",)


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's own ``default`` product: findings Warden imports in its account."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def iso(moment: datetime) -> str:
    """An ASFF timestamp: UTC, milliseconds, ``Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def finding_types(family: str | None, detector: str | None) -> list[str]:
    if family == "policy-change" and detector and "logging" in detector:
        return list(LOGGING_TYPES)
    return list(FAMILY_TYPES.get(family or "", OTHER_TYPES))


def resources(principal: str, access_key_id: str | None, region: str, partition: str) -> list[dict[str, Any]]:
    """The principal as an ``AwsIamUser`` or ``AwsIamRole`` (an assumed-role session as its role), its access
    key as an ``AwsIamAccessKey``, or ``Other`` for any other principal."""
    common = {"Partition": partition, "Region": region}
    found: list[dict[str, Any]] = []
    parts = principal.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if len(parts) == 6 and parts[2] == "iam" and resource.startswith("user/"):
        name = resource.rsplit("/", 1)[1]
        found.append({"Type": "AwsIamUser", "Id": principal, **common, "Details": {"AwsIamUser": {"UserName": name}}})
    elif len(parts) == 6 and parts[2] == "iam" and resource.startswith("role/"):
        name = resource.rsplit("/", 1)[1]
        found.append({"Type": "AwsIamRole", "Id": principal, **common, "Details": {"AwsIamRole": {"RoleName": name}}})
    elif len(parts) == 6 and parts[2] == "sts" and resource.startswith("assumed-role/") and resource.count("/") >= 2:
        name = resource.split("/")[1]
        role = f"arn:{parts[1]}:iam::{parts[4]}:role/{name}"
        found.append({"Type": "AwsIamRole", "Id": role, **common, "Details": {"AwsIamRole": {"RoleName": name}}})
    else:
        found.append({"Type": "Other", "Id": _cut(principal or "unknown principal", 512), **common})
    if access_key_id:
        found.append({"Type": "AwsIamAccessKey", "Id": f"AWS::IAM::AccessKey:{access_key_id}", **common})
    return found


def _base(
    *,
    finding_id: str,
    detector: str,
    family: str,
    severity: str,
    title: str,
    principal: str,
    access_key_id: str | None,
    account: str,
    region: str,
    first_seen: str,
    last_seen: str,
    evidence_count: int,
    recommended_playbook: str | None,
    product: str,
) -> dict[str, Any]:
    partition = product.split(":")[1]
    fields = {
        "warden/family": family,
        "warden/detector": detector,
        "warden/evidence_count": str(evidence_count),
        "warden/playbook": recommended_playbook or "none",
    }
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id,
        "ProductArn": product,
        "ProductName": "Bedrock Warden",
        "CompanyName": "Bedrock Warden",
        "GeneratorId": detector,
        "AwsAccountId": account,
        "Region": region,
        "Types": finding_types(family, detector),
        "CreatedAt": last_seen,
        "FirstObservedAt": first_seen,
        "LastObservedAt": last_seen,
        "Severity": {"Label": severity},
        "Title": _cut(title, MAX_TITLE),
        "Description": _cut(
            f"Bedrock Warden detector {detector} ({family}) found {evidence_count} CloudTrail event(s) by "
            f"{principal} in account {account}, {region}. Recommended playbook: {recommended_playbook or 'none'}.",
            MAX_DESCRIPTION,
        ),
        "Resources": resources(principal, access_key_id, region, partition),
        "ProductFields": fields,
        "RecordState": "ACTIVE",
    }


def from_finding(finding: Finding, *, product: str) -> dict[str, Any]:
    """The ASFF of a newly published finding: ``Workflow.Status`` NEW, ``UpdatedAt`` its ``last_seen``."""
    document = _base(
        finding_id=finding.id,
        detector=finding.detector,
        family=finding.family.value,
        severity=finding.severity.value,
        title=finding.title,
        principal=finding.principal,
        access_key_id=finding.access_key_id,
        account=finding.account,
        region=finding.region,
        first_seen=iso(finding.first_seen),
        last_seen=iso(finding.last_seen),
        evidence_count=len(finding.evidence),
        recommended_playbook=finding.playbook,
        product=product,
    )
    document["UpdatedAt"] = document["LastObservedAt"]
    document["Workflow"] = {"Status": "NEW"}
    return document


def workflow_status(status: str | None) -> str:
    return "RESOLVED" if status in RESOLVED_STATUSES else "NOTIFIED"


def _note_text(note: Notification) -> str:
    return _cut(f"{note.status or 'NOTICE'} ({note.playbook or 'playbook'}): {note.summary or ''}".strip(), MAX_NOTE)


class IncompleteNotification(ValueError):
    """The notification does not name what an ASFF finding needs (not a playbook outcome about a finding)."""


def _parse_time(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return iso(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def from_notification(note: Notification, *, product: str, now: datetime) -> dict[str, Any]:
    """The ASFF re-import of a finding after its playbook notified: same ``Id``, ``UpdatedAt`` now, the outcome
    in ``ProductFields`` and ``Note`` (and ``Workflow``, which Security Hub applies only to a new finding)."""
    first, last = _parse_time(note.first_seen), _parse_time(note.last_seen)
    required = (note.finding_id, note.detector, note.family, note.severity, note.principal, note.account, note.region)
    if not all(required) or first is None or last is None:
        raise IncompleteNotification("the notification does not carry the finding's named fields")
    assert note.finding_id and note.detector and note.family and note.severity  # noqa: S101  narrowed above
    assert note.principal and note.account and note.region  # noqa: S101
    document = _base(
        finding_id=note.finding_id,
        detector=note.detector,
        family=note.family,
        severity=note.severity,
        title=note.title or note.subject or f"Bedrock Warden {note.family} finding",
        principal=note.principal,
        access_key_id=note.access_key_id,
        account=note.account,
        region=note.region,
        first_seen=first,
        last_seen=last,
        evidence_count=note.evidence_count or 0,
        recommended_playbook=note.recommended_playbook,
        product=product,
    )
    updated = iso(now)
    document["UpdatedAt"] = max(updated, document["LastObservedAt"])
    outcome: Mapping[str, str | None] = {
        "warden/status": note.status,
        "warden/outcome_playbook": note.playbook,
        "warden/mode": note.mode,
        "warden/execution": note.execution_arn,
        "warden/summary": note.summary,
    }
    document["ProductFields"].update(
        {key: _cut(value, MAX_PRODUCT_FIELD) for key, value in outcome.items() if value is not None}
    )
    document["Workflow"] = {"Status": workflow_status(note.status)}
    document["Note"] = {"Text": _note_text(note), "UpdatedBy": "bedrock-warden", "UpdatedAt": updated}
    return document


def workflow_update(document: Mapping[str, Any]) -> dict[str, Any]:
    """The ``BatchUpdateFindings`` request that sets a re-imported finding's ``Workflow`` and ``Note``."""
    return {
        "FindingIdentifiers": [{"Id": document["Id"], "ProductArn": document["ProductArn"]}],
        "Workflow": {"Status": document["Workflow"]["Status"]},
        "Note": {"Text": document["Note"]["Text"], "UpdatedBy": document["Note"]["UpdatedBy"]},
    }
