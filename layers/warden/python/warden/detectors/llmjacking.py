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

When it fires (the invocation must succeed and come after the preparation)
    * a model-access enablement call (success or denied) by the same principal, or
    * at least :data:`MIN_DISTINCT_RECON` distinct preparation calls, at least one of them
      :data:`STRONG_PREPARATION` (a call that checks or prepares access rather than uses it), or
    * at least :data:`MIN_DISTINCT_RECON_LONG_TERM` distinct preparation calls made with a long-term
      access key (``AKIA...``), at least one of them strong.

    Identity calls (``GetCallerIdentity``, ``GetUser``...) are preparation only when a long-term key
    makes them: sessions make them all the time, and the template's rule delivers them on that
    condition only (declared as the detector's ``where``, so that hunting drops the same records).

    Both Bedrock endpoints count: ``bedrock.amazonaws.com`` (the runtime's ``InvokeModel``,
    ``Converse``... and the control plane) and ``bedrock-mantle.amazonaws.com`` (the OpenAI-compatible
    endpoint: ``ListModels``/``GetModel`` are enumeration, ``CreateInference`` is an invocation; see
    :mod:`warden.detectors._bedrock`). Mantle inference is a CloudTrail *data* event: it is seen
    only where a trail logs ``AWS::BedrockMantle::*`` data events. An attacker who checks that
    invocation logging is off, then invokes through mantle, is caught when those events are logged.

    A failed invocation (``ValidationException``, ``AccessDeniedException``...) counts as a strong
    preparation call: attacker tooling sends deliberately invalid requests to learn which models a key
    may use without paying for them. ``GetCallerIdentity`` then ``ListFoundationModels`` then an
    invocation does *not* fire: a developer's script with a long-term key does exactly that. This is
    deliberately stricter than Elastic's enumeration-then-invoke rule.

Response playbook
    ``contain-access-key`` for a long-term access key of an IAM user (deactivate the key);
    ``revoke-role-sessions`` for an assumed-role session; ``contain-bedrock-api-key`` for a
    Bedrock API key (bearer token); none for anything else (the finding is still notified).

State
    :class:`PrincipalWindow`, keyed by the caller's ARN: the recent relevant calls and, per access
    key, until when its invocations are covered by a finding. Preparation and invocations have
    separate caps (:data:`MAX_PREPARATION`, :data:`MAX_INVOCATIONS`) and are kept for
    :data:`RETENTION` behind the newest event, so that late events still pair. A second key of the
    same principal (attackers create a backup key) gets a finding of its own; an alert stays open while
    its key keeps invoking. Events may arrive in any order: the detector reasons over event times,
    never arrival order, and ignores a redelivered event (same eventID). Remembered strings are cut
    (a user agent at 512 characters); when the state is still over the service's byte budget,
    :func:`shrink` keeps the strongest preparation and the newest invocations.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warden.detectors._bedrock import (
    BEDROCK,
    MANTLE,
    MANTLE_INVOCATIONS,
    MANTLE_RECON,
    RUNTIME_INVOCATIONS,
    model_of,
)
from warden.detectors._bedrock import bearer_token as signed_with_api_key
from warden.detectors.registry import Outcome, Prefix, detector, shifted
from warden.models import CloudTrailRecord, Family, Finding, Severity
from warden.models.wire import Arn, Name, Text
from warden.settings import Settings

NAME = "llmjacking-sequence"
WINDOW = timedelta(minutes=60)
RETENTION = 2 * WINDOW
MAX_PREPARATION = 60
MAX_PER_CALL = 20
MAX_INVOCATIONS = 40
"""Calls remembered per principal. Separate caps, so that a flood of invocations never evicts the
preparation that makes them suspicious, and at most :data:`MAX_PER_CALL` of each preparation call,
so that a flood of one call never evicts the others."""
SAMPLE = timedelta(seconds=60)
"""An invocation within this distance of a remembered one by the same key, that changes no finding,
is not written: a busy workload costs about one write a minute, not one per call."""
MAX_EVIDENCE = 50
MAX_INVOCATION_EVIDENCE = 20
MIN_DISTINCT_RECON = 3
MIN_DISTINCT_RECON_LONG_TERM = 2

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
STRONG_PREPARATION = frozenset(
    {
        "GetModelInvocationLoggingConfiguration",
        "GetFoundationModelAvailability",
        "ListFoundationModelAgreementOffers",
        "GetUseCaseForModelAccess",
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
INVOCATION = RUNTIME_INVOCATIONS

CONSUMES = frozenset(
    {(BEDROCK, name) for name in ENABLEMENT | BEDROCK_RECON | INVOCATION}
    | {(MANTLE, name) for name in MANTLE_RECON | MANTLE_INVOCATIONS}
    | IDENTITY_RECON,
)
LONG_TERM_KEY = Prefix("userIdentity.accessKeyId", "AKIA")
"""Identity calls count as preparation only when a long-term key made them: sessions make them constantly
(the template's rule delivers them on that condition only)."""

Kind = Literal["enable", "recon", "probe", "invoke"]
NO_KEY = "-"


class Activity(BaseModel):
    """One remembered call: just what the finding needs, never request bodies."""

    model_config = ConfigDict(defer_build=True)

    event_id: Name
    event_name: Name
    kind: Kind
    time: datetime
    account: Name
    region: Name
    access_key_id: Name | None = None
    bearer_token: bool = False
    source_ip: Name | None = None
    user_agent: Text | None = None
    model_id: Name | None = None


class PrincipalWindow(BaseModel):
    model_config = ConfigDict(defer_build=True)

    identity_type: Name | None = None
    user_name: Name | None = None
    issuer_arn: Arn | None = None
    activity: list[Activity] = Field(default_factory=list)
    alerted: dict[Name, datetime] = Field(default_factory=dict)
    """Access key id (or ``-``) -> until when its invocations are already covered by a finding."""


def _kind(record: CloudTrailRecord) -> Kind | None:
    if record.event_source == BEDROCK:
        if record.event_name in ENABLEMENT:
            return "enable"
        if record.event_name in BEDROCK_RECON:
            return "recon"
        if record.event_name in INVOCATION:
            return "invoke" if record.succeeded else "probe"
        return None
    if record.event_source == MANTLE:
        if record.event_name in MANTLE_RECON:
            return "recon"
        if record.event_name in MANTLE_INVOCATIONS:
            return "invoke" if record.succeeded else "probe"
        return None
    if (record.event_source, record.event_name) in IDENTITY_RECON:
        return "recon" if (record.user_identity.access_key_id or "").startswith("AKIA") else None
    return None


def _activity(record: CloudTrailRecord, kind: Kind) -> Activity:
    return Activity(
        event_id=record.event_id,
        event_name=record.event_name,
        kind=kind,
        time=record.event_time,
        account=record.account,
        region=record.aws_region,
        access_key_id=record.user_identity.access_key_id,
        bearer_token=signed_with_api_key(record),
        source_ip=record.source_ip_address,
        user_agent=record.user_agent,
        model_id=model_of(record),
    )


def _call(activity: Activity) -> str:
    return f"{activity.event_name} (failed)" if activity.kind == "probe" else activity.event_name


def _rank(activity: Activity) -> int:
    """Which preparation calls evidence keeps first: enablement, probes, strong recon, the rest."""
    if activity.kind == "enable":
        return 0
    if activity.kind == "probe":
        return 1
    return 2 if activity.event_name in STRONG_PREPARATION else 3


def _strong(activity: Activity) -> bool:
    """A call that checks or prepares access rather than uses it."""
    return _rank(activity) < 3


def _priority(activity: Activity) -> tuple[int, float, str]:
    """Keep-first order of preparation calls: strongest, then newest; ties by event id."""
    return _rank(activity), -activity.time.timestamp(), activity.event_id


def _reasons(preparation: list[Activity]) -> list[str]:
    enabled = sorted({a.event_name for a in preparation if a.kind == "enable"})
    distinct = {_call(a) for a in preparation}
    strong = {_call(a) for a in preparation if _strong(a)}
    long_term = any((a.access_key_id or "").startswith("AKIA") for a in preparation)
    reasons = []
    if enabled:
        reasons.append("model access enablement: " + ", ".join(enabled))
    if strong and len(distinct) >= MIN_DISTINCT_RECON:
        reasons.append(
            f"{len(distinct)} distinct preparation calls, {len(strong)} of them checking or preparing access"
        )
    if strong and long_term and len(distinct) >= MIN_DISTINCT_RECON_LONG_TERM:
        reasons.append("preparation with a long-term access key")
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


def _key(activity: Activity) -> str:
    return activity.access_key_id or NO_KEY


def _qualified(window: PrincipalWindow, new: Activity) -> list[tuple[Activity, list[Activity], list[str]]]:
    """Per access key not already alerted on: its earliest invocation that follows qualifying preparation.

    Only invocations whose window ``new`` can change are looked at: ``new`` itself if it is an invocation,
    else the invocations within :data:`WINDOW` after it. An earlier qualifying invocation was found (and
    alerted on) when its own last piece arrived, and trimming the window only ever removes preparation.
    """
    found: list[tuple[Activity, list[Activity], list[str]]] = []
    keys_found: set[str] = set()
    prepared = [a for a in window.activity if a.kind != "invoke"]
    if not prepared:  # an application that only invokes: nothing can qualify (and this runs on every call)
        return found
    until = shifted(new.time, WINDOW)
    affected = [
        a
        for a in window.activity
        if a.kind == "invoke" and (a.event_id == new.event_id if new.kind == "invoke" else new.time <= a.time <= until)
    ]
    for invocation in affected:
        key = _key(invocation)
        covered_until = window.alerted.get(key)
        if key in keys_found or (covered_until and invocation.time <= covered_until):
            continue
        start = shifted(invocation.time, -WINDOW)
        preparation = [a for a in prepared if start <= a.time <= invocation.time]
        reasons = _reasons(preparation)
        if reasons:
            found.append((invocation, preparation, reasons))
            keys_found.add(key)
    return found


def _extended(alerted: dict[str, datetime], activity: list[Activity]) -> dict[str, datetime]:
    """An alert stays open while its key keeps invoking: one finding per continuous attack."""
    extended = dict(alerted)
    for a in activity:
        until = extended.get(_key(a))
        if a.kind == "invoke" and until and a.time <= until:
            extended[_key(a)] = max(until, shifted(a.time, WINDOW))
    return extended


def _finding(
    principal: str, window: PrincipalWindow, trigger: Activity, prep: list[Activity], reasons: list[str]
) -> Finding:
    invocations = [
        a for a in window.activity if a.kind == "invoke" and _key(a) == _key(trigger) and a.time >= trigger.time
    ]
    kept_invocations = invocations[:MAX_INVOCATION_EVIDENCE]  # starts with the trigger
    budget = MAX_EVIDENCE - len(kept_invocations)
    kept_preparation = sorted(prep, key=_priority)[:budget]
    evidence = sorted(kept_preparation + kept_invocations, key=_order)
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
        first_seen=evidence[0].time,
        last_seen=max(a.time for a in invocations),
        playbook=_playbook(window, trigger),
        details={
            "reasons": reasons,
            "identity_type": window.identity_type,
            "user_name": window.user_name,
            "session_issuer": window.issuer_arn,
            "credential_type": "bedrock-api-key" if trigger.bearer_token else _credential(trigger.access_key_id),
            "preparation_calls": sorted({_call(a) for a in prep}),
            "access_checks": sorted({_call(a) for a in prep if _strong(a)}),
            "invocations": len(invocations),
            "models": models,
            "access_keys": sorted({a.access_key_id for a in prep + invocations if a.access_key_id}),
            "source_ips": sorted({a.source_ip for a in prep + invocations if a.source_ip}),
            "user_agents": sorted({a.user_agent for a in prep + invocations if a.user_agent})[:5],
            "regions": sorted({a.region for a in prep + invocations}),
            "evidence_truncated": len(evidence) < len(prep) + len(invocations),
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


def shrink(window: PrincipalWindow) -> PrincipalWindow:
    """About half the remembered calls: the strongest, newest preparation and the newest invocations."""
    preparation = sorted((a for a in window.activity if a.kind != "invoke"), key=_priority)
    invocations = [a for a in window.activity if a.kind == "invoke"]
    kept = preparation[: len(preparation) // 2] + invocations[len(invocations) - len(invocations) // 2 :]
    return window.model_copy(update={"activity": sorted(kept, key=_order)})


@detector(
    name=NAME,
    family=Family.BEDROCK_USAGE,
    state=PrincipalWindow,
    consumes=CONSUMES,
    key=_principal_key,
    shrink=shrink,
    where=dict.fromkeys(IDENTITY_RECON, LONG_TERM_KEY),
)
def llmjacking_sequence(
    record: CloudTrailRecord, state: PrincipalWindow, settings: Settings
) -> Outcome[PrincipalWindow]:
    """LLMjacking: Bedrock model access enabled or models enumerated, then a model invoked."""
    kind = _kind(record)
    principal = record.user_identity.arn
    if kind is None or principal is None or any(a.event_id == record.event_id for a in state.activity):
        return Outcome()

    new = _activity(record, kind)
    latest = max([new.time, *(a.time for a in state.activity)])
    horizon = shifted(latest, -RETENTION)
    fresh = [a for a in sorted([*state.activity, new], key=_order) if a.time >= horizon]
    preparation = _trimmed([a for a in fresh if a.kind != "invoke"])
    invocations = [a for a in fresh if a.kind == "invoke"][-MAX_INVOCATIONS:]
    activity = sorted(preparation + invocations, key=_order)
    still_alerted = {key: until for key, until in state.alerted.items() if until >= horizon}
    identity = record.user_identity
    window = PrincipalWindow(
        identity_type=identity.type,
        user_name=identity.user_name,
        issuer_arn=identity.issuer_arn,
        activity=activity,
        alerted=_extended(still_alerted, activity),
    )

    qualified = _qualified(window, new)
    findings = [_finding(principal, window, *q) for q in qualified]
    if not findings and kind == "invoke" and _sampled(new, state.activity):
        return Outcome()
    for (trigger, _, _), finding in zip(qualified, findings, strict=True):
        window.alerted[_key(trigger)] = shifted(finding.last_seen, WINDOW)
    return Outcome(findings=tuple(findings), state=window)


def _order(activity: Activity) -> tuple[datetime, str]:
    return activity.time, activity.event_id


def _trimmed(preparation: list[Activity]) -> list[Activity]:
    """The newest few of each call, then the strongest and newest up to the cap."""
    per_call: dict[str, list[Activity]] = {}
    for a in preparation:  # in time order
        per_call.setdefault(_call(a), []).append(a)
    kept = [a for calls in per_call.values() for a in calls[-MAX_PER_CALL:]]
    kept = sorted(kept, key=_priority)[:MAX_PREPARATION]
    return sorted(kept, key=_order)


def _sampled(new: Activity, remembered: list[Activity]) -> bool:
    """A remembered invocation of the same key is close enough to stand for this one."""
    return any(a.kind == "invoke" and _key(a) == _key(new) and abs(a.time - new.time) < SAMPLE for a in remembered)
