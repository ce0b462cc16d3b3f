"""bedrock-usage / guardduty-ai-finding: GuardDuty AI Protection findings, re-emitted as Warden findings.

What it detects
    Nothing of its own: it takes GuardDuty's findings about model invocations (EventBridge source
    ``aws.guardduty``, detail-type ``GuardDuty Finding``) of the types in :data:`AI_FINDING_TYPES` and
    re-emits each as a Warden finding, so that it reaches the same notifications and playbooks as
    Warden's own. Every other GuardDuty finding type is not consumed.

    * ``Impact:IAMUser/AnomalousModelInvocation``: an identity invoked Bedrock (or SageMaker AI) in a
      way unlike its baseline (new model, API, network or user agent).
    * ``Impact:IAMUser/CostHarvesting``: token volumes far above the identity's baseline.
    * ``Impact:IAMUser/PromptInjection.Direct``: a guardrail's prompt-attack filter intervened with
      high confidence on an identity's invocation.

Why it matters
    GuardDuty's AI Protection learns per-identity baselines from management and data events that
    Warden does not see (data events cost extra), so its findings complement Warden's. Left in the
    GuardDuty console they start no containment.

When it fires
    On every finding of those types, including GuardDuty's updates of a finding (a new ``updatedAt``
    is a new record; the service merges repeats within an hour). Severity follows GuardDuty's number:

    ============  ==========================  =========================================
    GuardDuty     Warden                      GuardDuty's name for the range
    ============  ==========================  =========================================
    9.0 - 10.0    CRITICAL                    Critical (attack sequences)
    7.0 - 8.9     HIGH                        High
    4.0 - 6.9     MEDIUM                      Medium
    1.0 - 3.9     LOW                         Low (the default of all three AI types)
    below 1.0     INFORMATIONAL               reserved by GuardDuty
    ============  ==========================  =========================================

    A sample finding (``service.additionalInfo.sample``, made by CreateSampleFindings) is
    INFORMATIONAL with no playbook: its principal is made up.

    The principal comes from ``resource.accessKeyDetails``: ``IAMUser`` gives the user's ARN
    (``arn:<partition>:iam::<account>:user/<userName>``), ``AssumedRole`` gives **the role's ARN**
    (``userName`` is the role's name; the session is named in ``details.principal_id``), ``Root`` the
    account's root, ``FederatedUser`` the federated user. GuardDuty does not give an IAM path, so none
    is put in the ARN. A finding without access key details names the account root, with no playbook.

Response playbook
    By the credential: ``contain-access-key`` for an IAM user's long-term key (``AKIA``), even a
    ``BedrockAPIKey-*`` user's (an access key added to it signed the call); ``contain-bedrock-api-key``
    for a ``BedrockAPIKey-*`` user otherwise; ``revoke-role-sessions`` for an assumed role; none for
    root, federated users and anything else (the finding is still notified).
    Whether a LOW finding may start a playbook is the response side's decision.

State
    None: each GuardDuty finding is judged alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from warden.detectors.api_keys import is_phantom
from warden.detectors.registry import Outcome, detector
from warden.models import GUARDDUTY_SOURCE, Family, Finding, GuardDutyFinding, Severity
from warden.models.wire import truncated
from warden.settings import Settings

NAME = "guardduty-ai-finding"
AI_FINDING_TYPES = frozenset(
    {
        "Impact:IAMUser/AnomalousModelInvocation",
        "Impact:IAMUser/CostHarvesting",
        "Impact:IAMUser/PromptInjection.Direct",
    }
)
SEVERITY_FLOORS = (
    (9.0, Severity.CRITICAL),
    (7.0, Severity.HIGH),
    (4.0, Severity.MEDIUM),
    (1.0, Severity.LOW),
)
MAX_MODELS = 10


def severity_of(number: float) -> Severity:
    """Warden's severity for GuardDuty's number (see the table in the module docstring)."""
    for floor, severity in SEVERITY_FLOORS:
        if number >= floor:
            return severity
    return Severity.INFORMATIONAL


def _principal(finding: GuardDutyFinding) -> tuple[str, str]:
    """The ARN to contain or look at, and how it was found."""
    details = finding.resource.access_key_details
    partition = finding.partition or "aws"
    account = finding.account_id
    user_type = details.user_type if details else None
    name = details.user_name if details else None
    if name and user_type == "IAMUser":
        return f"arn:{partition}:iam::{account}:user/{name}", "the IAM user in accessKeyDetails"
    if name and user_type == "AssumedRole":
        return f"arn:{partition}:iam::{account}:role/{name}", "the role of the session in accessKeyDetails"
    if name and user_type == "FederatedUser":
        return f"arn:{partition}:sts::{account}:federated-user/{name}", "the federated user in accessKeyDetails"
    if user_type == "Root":
        return f"arn:{partition}:iam::{account}:root", "the account root in accessKeyDetails"
    return f"arn:{partition}:iam::{account}:root", "unknown: the finding names no identity"


def _playbook(finding: GuardDutyFinding, sample: bool) -> str | None:
    details = finding.resource.access_key_details
    if sample or details is None:
        return None
    key = details.access_key_id or ""
    if details.user_type == "IAMUser" and key.startswith("AKIA"):
        return "contain-access-key"  # an access key, even on a BedrockAPIKey-* user: deactivating it stops the calls
    if details.user_type == "IAMUser" and is_phantom(details.user_name):
        return "contain-bedrock-api-key"
    if details.user_type == "AssumedRole":
        return "revoke-role-sessions"
    return None


def _api_call(finding: GuardDutyFinding) -> dict[str, Any]:
    """What GuardDuty says of the call behind the finding, when it says it (``service.action.awsApiCallAction``)."""
    action = (finding.service.action or {}).get("awsApiCallAction")
    if not isinstance(action, dict):
        return {}
    remote = action.get("remoteIpDetails")
    remote = remote if isinstance(remote, dict) else {}
    found = {
        "api": _text(action.get("api")),
        "service_name": _text(action.get("serviceName")),
        "caller_type": _text(action.get("callerType")),
        "source_ip": _text(remote.get("ipAddressV4") or remote.get("ipAddressV6")),
        "user_agent": _text(action.get("userAgent"), 512),
        "error_code": _text(action.get("errorCode")),
    }
    return {k: v for k, v in found.items() if v}


def _text(value: object, limit: int = 256) -> str | None:
    return truncated(value, limit) if isinstance(value, str) and value else None


def _window(finding: GuardDutyFinding) -> tuple[datetime, datetime]:
    first = finding.service.event_first_seen or finding.created_at or finding.updated_at
    last = finding.service.event_last_seen or finding.updated_at
    return min(first, last), max(first, last)


def _sample(finding: GuardDutyFinding) -> bool:
    return (finding.service.additional_info or {}).get("sample") is True


@detector(
    name=NAME,
    family=Family.BEDROCK_USAGE,
    state=None,
    consumes=frozenset({(GUARDDUTY_SOURCE, kind) for kind in AI_FINDING_TYPES}),
    record=GuardDutyFinding,
)
def guardduty_ai_finding(record: GuardDutyFinding, state: None, settings: Settings) -> Outcome[BaseModel]:
    """A GuardDuty AI Protection finding (anomalous invocation, cost harvesting, prompt injection), re-emitted."""
    if record.type not in AI_FINDING_TYPES:
        return Outcome()
    sample = _sample(record)
    principal, basis = _principal(record)
    details = record.resource.access_key_details
    first, last = _window(record)
    severity = Severity.INFORMATIONAL if sample else severity_of(record.severity)
    short_type = record.type.split("/", 1)[-1]
    finding = Finding.build(
        detector=NAME,
        evidence=[record.event_id],
        family=Family.BEDROCK_USAGE,
        severity=severity,
        title=f"{'[SAMPLE] ' if sample else ''}GuardDuty {short_type}: {principal}",
        principal=principal,
        access_key_id=details.access_key_id if details else None,
        account=record.account_id,
        region=record.region,
        first_seen=first,
        last_seen=last,
        playbook=_playbook(record, sample),
        details={
            "guardduty_finding_id": record.id,
            "guardduty_finding_arn": record.arn,
            "guardduty_type": record.type,
            "guardduty_severity": record.severity,
            "guardduty_title": _text(record.title),
            "guardduty_count": record.service.count,
            "sample": sample,
            "principal_basis": basis,
            "identity_type": details.user_type if details else None,
            "user_name": details.user_name if details else None,
            "principal_id": details.principal_id if details else None,
            "models": sorted({m.model_id for m in record.resource.model_details or [] if m.model_id})[:MAX_MODELS],
            **_api_call(record),
        },
    )
    return Outcome(findings=(finding,))
