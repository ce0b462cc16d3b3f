"""bedrock-usage / llmjacking-sequence: model access enabled or models enumerated, then invoked.

What it detects
    A principal that prepares Bedrock for use (enables model access, accepts model agreements,
    probes model availability, checks whether invocation logging is on, checks whose key it holds)
    and then invokes a model, within a sliding window of :data:`WINDOW`.

Why it matters
    This is LLMjacking: stolen credentials used to run models at the victim's expense. Attackers'
    tooling enables every model it can, checks that invocation logging is off, then resells or
    burns the access; victims have reported bills of tens of thousands of dollars a day. A
    production workload rarely does any of the preparation steps: model access is enabled once,
    by an administrator, and applications call the model they were built for.

When it fires (any one suffices; the invocation must succeed and come after the preparation)
    * a model-access enablement call (success or denied) by the same principal, or
    * at least :data:`MIN_DISTINCT_RECON` distinct reconnaissance calls, or
    * at least :data:`MIN_DISTINCT_RECON_LONG_TERM` distinct reconnaissance calls made with a
      long-term access key (``AKIA...``): stolen keys are long-term keys far more often than not.

    A single ``ListFoundationModels`` before an invocation does *not* fire: applications do that at
    start-up. This is deliberately stricter than Elastic's enumeration-then-invoke rule.

Response playbook
    ``contain-access-key`` for a long-term access key of an IAM user (deactivate the key);
    ``revoke-role-sessions`` for an assumed-role session; ``contain-bedrock-api-key`` for a
    Bedrock API key (bearer token); none for anything else (the finding is still notified).

State
    :class:`PrincipalWindow`, keyed by the caller's ARN: the recent relevant calls (bounded by
    :data:`MAX_ACTIVITY` and :data:`WINDOW`) and until when the principal has already been alerted
    on. Events may arrive in any order; the detector reasons over event times, never arrival order,
    and ignores a redelivered event (same eventID).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from warden.detectors.registry import Outcome, detector
from warden.models import CloudTrailRecord, Family, Finding, Severity

NAME = "llmjacking-sequence"
WINDOW = timedelta(minutes=60)
MAX_ACTIVITY = 100
QUIET_INVOCATIONS = 5
"""Invocations remembered for a principal with no preparation in its window; more are not written."""
MAX_EVIDENCE = 50
MIN_DISTINCT_RECON = 3
MIN_DISTINCT_RECON_LONG_TERM = 2

BEDROCK = "bedrock.amazonaws.com"
ENABLEMENT = frozenset({"PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "PutFoundationModelEntitlement"})
BEDROCK_RECON = frozenset(
    {
        "ListFoundationModels",
        "GetFoundationModel",
        "GetFoundationModelAvailability",
        "ListFoundationModelAgreementOffers",
        "GetUseCaseForModelAccess",
        "GetModelInvocationLoggingConfiguration",
        "ListInferenceProfiles",
        "ListProvisionedModelThroughputs",
    }
)
IDENTITY_RECON = frozenset(
    {
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("iam.amazonaws.com", "GetUser"),
        ("iam.amazonaws.com", "ListAttachedUserPolicies"),
        ("iam.amazonaws.com", "ListUserPolicies"),
        ("iam.amazonaws.com", "ListGroupsForUser"),
        ("iam.amazonaws.com", "GetAccountAuthorizationDetails"),
    }
)
INVOCATION = frozenset({"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"})

CONSUMES = frozenset(
    {(BEDROCK, name) for name in ENABLEMENT | BEDROCK_RECON | INVOCATION} | IDENTITY_RECON,
)

Kind = Literal["enable", "recon", "invoke"]


class Activity(BaseModel):
    """One remembered call: just what the finding needs, never request bodies."""

    event_id: str
    event_name: str
    kind: Kind
    time: datetime
    account: str
    region: str
    access_key_id: str | None = None
    bearer_token: bool = False
    source_ip: str | None = None
    user_agent: str | None = None
    model_id: str | None = None


class PrincipalWindow(BaseModel):
    identity_type: str | None = None
    user_name: str | None = None
    issuer_arn: str | None = None
    activity: list[Activity] = Field(default_factory=list)
    alerted_until: datetime | None = None


def _kind(record: CloudTrailRecord) -> Kind | None:
    if record.event_source == BEDROCK:
        if record.event_name in ENABLEMENT:
            return "enable"
        if record.event_name in BEDROCK_RECON:
            return "recon"
        if record.event_name in INVOCATION and record.succeeded:
            return "invoke"
        return None
    if (record.event_source, record.event_name) in IDENTITY_RECON:
        return "recon"
    return None


def _activity(record: CloudTrailRecord, kind: Kind) -> Activity:
    extra = record.additional_event_data or {}
    return Activity(
        event_id=record.event_id,
        event_name=record.event_name,
        kind=kind,
        time=record.event_time,
        account=record.account,
        region=record.aws_region,
        access_key_id=record.user_identity.access_key_id,
        bearer_token=bool(extra.get("callWithBearerToken")),
        source_ip=record.source_ip_address,
        user_agent=record.user_agent,
        model_id=record.model_id,
    )


def _reasons(preparation: list[Activity]) -> list[str]:
    enabled = sorted({a.event_name for a in preparation if a.kind == "enable"})
    distinct = {a.event_name for a in preparation}
    long_term = any((a.access_key_id or "").startswith("AKIA") for a in preparation)
    reasons = []
    if enabled:
        reasons.append("model access enablement: " + ", ".join(enabled))
    if len(distinct) >= MIN_DISTINCT_RECON:
        reasons.append(f"{len(distinct)} distinct preparation calls")
    if long_term and len(distinct) >= MIN_DISTINCT_RECON_LONG_TERM:
        reasons.append("reconnaissance with a long-term access key")
    return reasons


def _playbook(window: PrincipalWindow, trigger: Activity) -> str | None:
    if trigger.bearer_token:
        return "contain-bedrock-api-key"
    key = trigger.access_key_id or ""
    if key.startswith("AKIA") and window.identity_type == "IAMUser":
        return "contain-access-key"
    if key.startswith("ASIA") and window.identity_type == "AssumedRole":
        return "revoke-role-sessions"
    return None


def _first_qualified(window: PrincipalWindow) -> tuple[Activity, list[Activity], list[str]] | None:
    """The earliest invocation, not already alerted on, that follows qualifying preparation."""
    for invocation in (a for a in window.activity if a.kind == "invoke"):
        if window.alerted_until and invocation.time <= window.alerted_until:
            continue
        preparation = [
            a for a in window.activity if a.kind != "invoke" and invocation.time - WINDOW <= a.time <= invocation.time
        ]
        reasons = _reasons(preparation)
        if reasons:
            return invocation, preparation, reasons
    return None


def _finding(
    principal: str, window: PrincipalWindow, trigger: Activity, prep: list[Activity], reasons: list[str]
) -> Finding:
    invocations = [a for a in window.activity if a.kind == "invoke" and a.time >= trigger.time]
    evidence = (prep + invocations)[:MAX_EVIDENCE]
    models = sorted({a.model_id for a in invocations if a.model_id})
    return Finding.build(
        detector=NAME,
        evidence=[a.event_id for a in evidence],
        family=Family.BEDROCK_USAGE,
        severity=Severity.HIGH,
        title=f"LLMjacking: {principal} prepared Bedrock access, then invoked {', '.join(models) or 'a model'}",
        principal=principal,
        access_key_id=trigger.access_key_id,
        account=trigger.account,
        region=trigger.region,
        first_seen=min(a.time for a in evidence),
        last_seen=max(a.time for a in evidence),
        playbook=_playbook(window, trigger),
        details={
            "reasons": reasons,
            "identity_type": window.identity_type,
            "user_name": window.user_name,
            "session_issuer": window.issuer_arn,
            "credential_type": "bedrock-api-key" if trigger.bearer_token else _credential(trigger.access_key_id),
            "preparation_calls": sorted({a.event_name for a in prep}),
            "invocations": len(invocations),
            "models": models,
            "access_keys": sorted({a.access_key_id for a in evidence if a.access_key_id}),
            "source_ips": sorted({a.source_ip for a in evidence if a.source_ip}),
            "user_agents": sorted({a.user_agent for a in evidence if a.user_agent})[:5],
            "regions": sorted({a.region for a in evidence}),
            "window_minutes": int(WINDOW.total_seconds() // 60),
        },
    )


def _credential(key: str | None) -> str:
    if key and key.startswith("AKIA"):
        return "long-term-access-key"
    if key and key.startswith("ASIA"):
        return "temporary-session"
    return "unknown"


def _principal_key(record: CloudTrailRecord) -> str | None:
    return record.user_identity.arn


@detector(name=NAME, family=Family.BEDROCK_USAGE, state=PrincipalWindow, consumes=CONSUMES, key=_principal_key)
def llmjacking_sequence(record: CloudTrailRecord, state: PrincipalWindow) -> Outcome[PrincipalWindow]:
    """LLMjacking: Bedrock model access enabled or models enumerated, then a model invoked."""
    kind = _kind(record)
    principal = record.user_identity.arn
    if kind is None or principal is None or any(a.event_id == record.event_id for a in state.activity):
        return Outcome()

    new = _activity(record, kind)
    latest = max([new.time, *(a.time for a in state.activity)])
    recent = sorted([*state.activity, new], key=lambda a: a.time)
    recent = [a for a in recent if a.time >= latest - WINDOW][-MAX_ACTIVITY:]
    identity = record.user_identity
    window = PrincipalWindow(
        identity_type=identity.type,
        user_name=identity.user_name,
        issuer_arn=identity.issuer_arn,
        activity=recent,
        alerted_until=state.alerted_until,
    )

    qualified = _first_qualified(window)
    if qualified is None:
        quiet = not any(a.kind != "invoke" for a in recent)
        if kind == "invoke" and quiet and sum(a.kind == "invoke" for a in recent) > QUIET_INVOCATIONS:
            return Outcome()
        return Outcome(state=window)

    finding = _finding(principal, window, *qualified)
    alerted = window.model_copy(update={"alerted_until": finding.last_seen + WINDOW})
    return Outcome(findings=(finding,), state=alerted)
