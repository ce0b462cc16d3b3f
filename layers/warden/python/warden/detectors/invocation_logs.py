"""bedrock-usage detectors over Bedrock model-invocation logs (prompt, completion, tokens, guardrail).

Invocation logs reach Warden from S3 or CloudWatch Logs, never from EventBridge, one record per
invocation (InvokeModel, InvokeModelWithResponseStream, Converse, ConverseStream). Each record names
the caller (``identity.arn``) and nothing else about the credential: no access key id, no source IP,
no user agent. Every finding here names that identity ARN as its ``principal`` (the caller, who is
the one to look at or contain).

Response playbook (for the findings that warrant containment, see each detector)
    ``revoke-role-sessions`` when the caller is an assumed-role session; ``contain-bedrock-api-key``
    when it is the IAM user behind a long-term Bedrock API key (``user/BedrockAPIKey-...``, which AWS
    creates for the key); otherwise none (notify only): the record carries no access key id, so an
    IAM user's key cannot be told apart from its other keys.

bedrock-token-surge
    **What**: a principal's tokens (input + output) on one model in one clock hour reach
    ``settings.baseline_sensitivity`` times its own usual peak and at least :data:`MIN_SURGE_TOKENS`.
    The usual peak is the highest hourly volume of that model by that principal (outside the hour
    judged and outside hours already reported as surges) over the last :data:`BASELINE_DAYS` days;
    for a model the principal never used before, it is the principal's highest hourly volume over all
    models. **Why**: LLMjacking runs stolen credentials at full throttle, often on the most expensive
    model the victim has enabled: victims report bills of tens of thousands of dollars a day. A
    steady application's hourly volume stays within a small factor of its own peak, and a diurnal one
    peaks every day; both are learned. **When**: only after the principal's baseline has learned for
    ``settings.baseline_warmup`` (from its first record) and ``settings.baseline_min_events`` records;
    until then it only learns. The floor keeps tiny baselines (a developer's few hundred tokens an
    hour) from firing on a modest afternoon of work. MEDIUM; HIGH when the model is new to the
    principal (first used in the hour judged). One finding per model and hour; a surge hour is kept
    out of the baseline, so that an attack is never learned as normal, and a surge that lasts fires
    again each hour (the service merges repeats within an hour). **State**: :class:`TokenBaseline`
    per identity ARN, except that an assumed-role session learns into its role's baseline
    (``arn:aws:sts::ACCOUNT:assumed-role/ROLE``: session names churn, the role is the application; the
    finding still names the session that crossed the line), kept :data:`BASELINE_RETENTION` after the
    principal's newest record: per-model hourly buckets for the last :data:`HOURLY_WINDOW`, folded
    after that into per-day peaks kept :data:`BASELINE_DAYS`; the models seen (first use); the latest
    request ids (a redelivered record is ignored; a whole file redelivered long after can count its
    older records twice, at most doubling an hour, far below any sensitivity). Every list has a cap;
    :func:`shrink_baseline` drops the oldest half when over the byte budget.

bedrock-guardrail-interventions
    **What**: :data:`BURST_THRESHOLD` or more guardrail interventions for one principal within
    :data:`BURST_WINDOW`. **Why**: a guardrail stops one harmful prompt; someone who keeps hitting it
    is probing it (jailbreak attempts, prompt injection through an application, a stolen credential
    used for content the victim's policies forbid). **When**: MEDIUM, once per burst: an alert stays
    open while interventions keep coming within the window. Playbook: the caller's, as above.
    **State**: :class:`InterventionWindow` per identity ARN: recent interventions (capped, kept two
    windows behind the newest) and until when the open alert covers them.

bedrock-guardrail-high-confidence
    **What**: one intervention in which a content filter blocked with HIGH confidence. LOW, notify
    only: the guardrail already stopped it, and a public-facing application sees such prompts from its
    own users every day; a lone block is a lead for triage, not an incident (persistence is the burst
    rule's MEDIUM). It is a separate detector from the burst so that the service's merge of repeats
    (same detector, principal and playbook within an hour) never folds a burst into an earlier lone
    block. Stateless.

bedrock-invocation-without-guardrail
    **What**: a successful invocation with no guardrail, when the deployer requires one
    (``settings.require_guardrail``); silent otherwise. **Why**: the deployer's policy says every
    invocation is guarded; one without is an application bypassing it (or a caller that is not the
    application). **When**: LOW per invocation, notify only; the service merges the repeats of one
    principal within an hour. Failed invocations are not judged (nothing ran). Stateless.

bedrock-secret-in-text
    **What**: credentials or key material in a prompt or a completion (the kinds are in
    :mod:`warden.detectors._text_secrets`). **Why**: invocation logs are stored and read by others; a
    secret in them is exposed, and a secret in a completion means the model, its knowledge base or an
    agent's tool leaked it. **When**: per record; HIGH for a private key or an AWS secret key (paired
    with its key id or labelled as one), MEDIUM otherwise. The finding carries the kind, where (prompt
    or completion), the request id and the SHA-256 of each value, never text: a responder confirms a
    known secret by hashing it. Notify only: the credential to revoke is the leaked one, which the
    finding identifies only by hash; revoking the caller's sessions would not revoke it. Stateless.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from itertools import groupby

from pydantic import BaseModel, ConfigDict, Field

from warden.detectors._text_secrets import SecretMatch, scan
from warden.detectors.registry import Outcome, detector, event_finding, shifted
from warden.models import INVOCATION_LOG_SOURCE, Family, Finding, ModelInvocationLog, Severity
from warden.models.invocation_log import Confidence
from warden.models.wire import Name, truncated
from warden.settings import Settings

INVOCATIONS = frozenset({"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"})
CONSUMES = frozenset((INVOCATION_LOG_SOURCE, operation) for operation in INVOCATIONS)

_ASSUMED_ROLE = re.compile(r"arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/")
_ASSUMED_ROLE_SESSION = re.compile(r"(arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/[^/]+)/.+")
_BEDROCK_API_KEY_USER = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:user/(?:[^/]+/)*BedrockAPIKey-")


def _playbook(principal: str) -> str | None:
    """How to contain the caller of an invocation, from its ARN alone (the record has no key id)."""
    if _ASSUMED_ROLE.match(principal):
        return "revoke-role-sessions"
    if _BEDROCK_API_KEY_USER.match(principal):
        return "contain-bedrock-api-key"
    return None


def _principal_key(record: ModelInvocationLog) -> str:
    return record.identity.arn


def _baseline_key(record: ModelInvocationLog) -> str:
    """Whose usage a baseline learns: the role behind an assumed-role session, else the identity itself.

    Session names churn (an ECS task id, an EC2 instance id, EKS's hourly ``botocore-session-...``), so a
    baseline per session would never finish warming up; the role is the application.
    """
    arn = record.identity.arn
    match = _ASSUMED_ROLE_SESSION.match(arn)
    return match.group(1) if match else arn


# --------------------------------------------------------------------------------------------------
# bedrock-token-surge
# --------------------------------------------------------------------------------------------------

SURGE = "bedrock-token-surge"
MIN_SURGE_TOKENS = 100_000
"""The floor: fewer tokens in a model-hour are never a surge, whatever the baseline (about $1.50 to
$7.50 an hour on the most expensive models)."""
HOURLY_WINDOW = timedelta(hours=48)
"""Hourly buckets are kept this far behind the newest; older ones are folded into per-day peaks."""
BASELINE_DAYS = timedelta(days=30)
BASELINE_RETENTION = timedelta(days=30)
MAX_BUCKETS = 256
MAX_PEAKS = 256
MAX_MODELS = 64
MAX_SEEN = 64
MAX_SURGE_EVIDENCE = 20
MAX_NAME = 256
"""Model ids are stored as :data:`warden.models.wire.Name`: cut (with a digest) past this length."""
ALL_MODELS = "*"
"""The model name of a day peak of the principal's total over all models."""


class HourBucket(BaseModel):
    model_config = ConfigDict(defer_build=True)

    hour: datetime
    model: Name
    tokens: int = 0
    calls: int = 0
    surge: bool = False
    """Reported as a surge: kept out of the baseline."""


class DayPeak(BaseModel):
    model_config = ConfigDict(defer_build=True)

    day: date
    model: Name
    """A model id, or ``*`` for the principal's total over all models."""
    tokens: int


class SeenCall(BaseModel):
    model_config = ConfigDict(defer_build=True)

    request_id: Name
    model: Name
    time: datetime


class TokenBaseline(BaseModel):
    model_config = ConfigDict(defer_build=True)

    first_seen: datetime | None = None
    events: int = 0
    models: dict[Name, datetime] = Field(default_factory=dict)
    """Model id -> when the principal first used it."""
    hours: list[HourBucket] = Field(default_factory=list)
    peaks: list[DayPeak] = Field(default_factory=list)
    seen: list[SeenCall] = Field(default_factory=list)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _fold(hours: list[HourBucket], peaks: list[DayPeak], cutoff: datetime) -> tuple[list[HourBucket], list[DayPeak]]:
    """Buckets before ``cutoff`` folded into per-day peaks (per model, and of the hour's total)."""
    old = [b for b in hours if b.hour < cutoff]
    if not old:
        return hours, peaks
    best = {(p.day, p.model): p.tokens for p in peaks}
    for hour, group in groupby(sorted((b for b in old if not b.surge), key=lambda b: b.hour), key=lambda b: b.hour):
        buckets = list(group)
        for model, tokens in [*((b.model, b.tokens) for b in buckets), (ALL_MODELS, sum(b.tokens for b in buckets))]:
            key = (hour.date(), model)
            best[key] = max(best.get(key, 0), tokens)
    folded = [DayPeak(day=day, model=model, tokens=tokens) for (day, model), tokens in best.items()]
    return [b for b in hours if b.hour >= cutoff], folded


def _trimmed(baseline: TokenBaseline, newest: datetime) -> TokenBaseline:
    """Old buckets folded into peaks, old peaks dropped, every list within its cap."""
    hours, peaks = _fold(baseline.hours, baseline.peaks, shifted(_hour(newest), -HOURLY_WINDOW))
    oldest_day = shifted(newest, -BASELINE_DAYS).date()
    peaks = sorted((p for p in peaks if p.day >= oldest_day), key=lambda p: (p.day, p.model))[-MAX_PEAKS:]
    hours = sorted(hours, key=lambda b: (b.hour, b.model))
    if len(hours) > MAX_BUCKETS:
        keep_from = hours[-MAX_BUCKETS].hour
        hours, peaks = _fold(hours, peaks, keep_from)
        peaks = peaks[-MAX_PEAKS:]
    return baseline.model_copy(update={"hours": hours, "peaks": peaks, "models": _models(baseline, MAX_MODELS)})


def _models(baseline: TokenBaseline, keep: int) -> dict[str, datetime]:
    """At most ``keep`` remembered models: those with usage in the baseline first, then the newest."""
    active = {b.model for b in baseline.hours} | {p.model for p in baseline.peaks}
    ranked = sorted(baseline.models.items(), key=lambda item: (item[0] in active, item[1]))
    return dict(ranked[max(0, len(ranked) - keep) :])


def shrink_baseline(baseline: TokenBaseline) -> TokenBaseline:
    """About half the state: the newest half of the buckets (the rest folded), peaks and request ids."""
    hours = sorted(baseline.hours, key=lambda b: (b.hour, b.model))
    peaks = baseline.peaks
    if len(hours) > 1:
        hours, peaks = _fold(hours, peaks, hours[len(hours) // 2].hour)
    peaks = sorted(peaks, key=lambda p: (p.day, p.model))
    return baseline.model_copy(
        update={
            "hours": hours,
            "peaks": peaks[len(peaks) // 2 :],
            "seen": baseline.seen[len(baseline.seen) // 2 :],
            "models": _models(baseline, len(baseline.models) - len(baseline.models) // 2),
        }
    )


def _model_peak(baseline: TokenBaseline, model: str, hour: datetime) -> int:
    hourly = (b.tokens for b in baseline.hours if b.model == model and b.hour != hour and not b.surge)
    daily = (p.tokens for p in baseline.peaks if p.model == model)
    return max([*hourly, *daily], default=0)


def _total_peak(baseline: TokenBaseline, hour: datetime) -> int:
    totals: dict[datetime, int] = {}
    for b in baseline.hours:
        if b.hour != hour and not b.surge:
            totals[b.hour] = totals.get(b.hour, 0) + b.tokens
    daily = (p.tokens for p in baseline.peaks if p.model == ALL_MODELS)
    return max([*totals.values(), *daily], default=0)


def _warmed_up(baseline: TokenBaseline, now: datetime, settings: Settings) -> bool:
    first = baseline.first_seen or now
    return now - first >= settings.baseline_warmup and baseline.events >= settings.baseline_min_events


@detector(
    name=SURGE,
    family=Family.BEDROCK_USAGE,
    state=TokenBaseline,
    consumes=CONSUMES,
    key=_baseline_key,
    record=ModelInvocationLog,
    retention=BASELINE_RETENTION,
    shrink=shrink_baseline,
)
def token_surge(record: ModelInvocationLog, state: TokenBaseline, settings: Settings) -> Outcome[TokenBaseline]:
    """Tokens per model per hour far above the principal's own learned baseline."""
    tokens = record.total_tokens
    if not record.succeeded or tokens <= 0 or any(s.request_id == record.request_id for s in state.seen):
        return Outcome()
    key, time, hour = truncated(record.model_id, MAX_NAME), record.event_time, _hour(record.event_time)
    first_use = state.models.get(key)
    new_model = first_use is None or first_use >= hour

    hours = list(state.hours)
    index = next((n for n, b in enumerate(hours) if b.hour == hour and b.model == key), None)
    bucket = HourBucket(hour=hour, model=key) if index is None else hours[index].model_copy()
    if index is None:
        hours.append(bucket)
    else:
        hours[index] = bucket
    bucket.tokens = min(bucket.tokens + tokens, 10**12)
    bucket.calls += 1
    seen = [*state.seen, SeenCall(request_id=record.request_id, model=key, time=time)][-MAX_SEEN:]
    newest = max([time, *(b.hour for b in hours)])
    learned = state.model_copy(
        update={
            "first_seen": min(state.first_seen or time, time),
            "events": state.events + 1,
            "models": {**state.models, key: min(first_use or time, time)},
            "hours": hours,
            "seen": seen,
        }
    )
    learned = _trimmed(learned, newest)
    bucket = next((b for b in learned.hours if b.hour == hour and b.model == key), bucket)

    if bucket.surge or not _warmed_up(learned, time, settings):
        return Outcome(state=learned)
    model_peak = _model_peak(learned, key, hour)
    baseline = model_peak or _total_peak(learned, hour)
    if baseline <= 0 or bucket.tokens < max(MIN_SURGE_TOKENS, settings.baseline_sensitivity * baseline):
        return Outcome(state=learned)

    bucket.surge = True
    calls = [s for s in learned.seen if s.model == key and _hour(s.time) == hour][-MAX_SURGE_EVIDENCE:]
    finding = _surge_finding(
        record, bucket, calls, baseline, by_model=bool(model_peak), new=new_model, settings=settings
    )
    return Outcome(findings=(finding,), state=learned)


def _surge_finding(
    record: ModelInvocationLog,
    bucket: HourBucket,
    calls: list[SeenCall],
    baseline: int,
    *,
    by_model: bool,
    new: bool,
    settings: Settings,
) -> Finding:
    principal = record.identity.arn
    ratio = bucket.tokens / baseline
    return Finding.build(
        detector=SURGE,
        evidence=[c.request_id for c in sorted(calls, key=lambda c: (c.time, c.request_id))],
        family=Family.BEDROCK_USAGE,
        severity=Severity.HIGH if new else Severity.MEDIUM,
        title=(
            f"Bedrock token surge: {principal} used {bucket.tokens:,} tokens of "
            f"{'a new model, ' if new else ''}{record.model_id} in one hour, {ratio:.0f}x its usual peak"
        ),
        principal=principal,
        account=record.account,
        region=record.region,
        first_seen=min(c.time for c in calls),
        last_seen=max(c.time for c in calls),
        playbook=_playbook(principal),
        details={
            "model_id": record.model_id,
            "baseline_principal": _baseline_key(record),
            "new_model": new,
            "hour": bucket.hour.isoformat(),
            "tokens_in_hour": bucket.tokens,
            "calls_in_hour": bucket.calls,
            "baseline_tokens_per_hour": baseline,
            "baseline_of": "this model" if by_model else "all models",
            "ratio": round(ratio, 1),
            "sensitivity": settings.baseline_sensitivity,
            "floor_tokens_per_hour": MIN_SURGE_TOKENS,
            "evidence_truncated": len(calls) < bucket.calls,
        },
    )


# --------------------------------------------------------------------------------------------------
# bedrock-guardrail-interventions and bedrock-guardrail-high-confidence
# --------------------------------------------------------------------------------------------------

INTERVENTIONS = "bedrock-guardrail-interventions"
HIGH_CONFIDENCE = "bedrock-guardrail-high-confidence"
BURST_WINDOW = timedelta(minutes=10)
BURST_THRESHOLD = 5
MAX_INTERVENTIONS = 50
MAX_FILTERS = 10


class Intervention(BaseModel):
    model_config = ConfigDict(defer_build=True)

    request_id: Name
    time: datetime
    model: Name
    account: Name
    region: Name
    guardrail_id: Name | None = None
    confidence: Confidence | None = None
    blocked: list[Name] = Field(default_factory=list)


class InterventionWindow(BaseModel):
    model_config = ConfigDict(defer_build=True)

    interventions: list[Intervention] = Field(default_factory=list)
    alerted_until: datetime | None = None
    """Interventions up to this time belong to a burst already reported."""


def _intervention(record: ModelInvocationLog) -> Intervention:
    guardrail = record.guardrail
    return Intervention(
        request_id=record.request_id,
        time=record.event_time,
        model=record.model_id,
        account=record.account,
        region=record.region,
        guardrail_id=guardrail.guardrail_id,
        confidence=guardrail.blocking_confidence,
        blocked=list(guardrail.blocked[:MAX_FILTERS]),
    )


def _burst(interventions: list[Intervention], covered_until: datetime | None) -> list[Intervention] | None:
    """The first window of BURST_WINDOW holding BURST_THRESHOLD interventions, not all already reported."""
    for start, first in enumerate(interventions):
        end = shifted(first.time, BURST_WINDOW)
        window = [i for i in interventions[start:] if i.time <= end]
        if len(window) >= BURST_THRESHOLD and (covered_until is None or window[-1].time > covered_until):
            return window
    return None


def _extended(until: datetime | None, interventions: list[Intervention]) -> datetime | None:
    """An open alert stays open while interventions keep coming within the window: one finding per burst."""
    for i in interventions:
        if until is not None and i.time <= until:
            until = max(until, shifted(i.time, BURST_WINDOW))
    return until


@detector(
    name=INTERVENTIONS,
    family=Family.BEDROCK_USAGE,
    state=InterventionWindow,
    consumes=CONSUMES,
    key=_principal_key,
    record=ModelInvocationLog,
    retention=timedelta(hours=1),
)
def guardrail_interventions(
    record: ModelInvocationLog, state: InterventionWindow, settings: Settings
) -> Outcome[InterventionWindow]:
    """A burst of guardrail interventions by one principal."""
    if not record.guardrail.intervened or any(i.request_id == record.request_id for i in state.interventions):
        return Outcome()
    everything = sorted([*state.interventions, _intervention(record)], key=lambda i: (i.time, i.request_id))
    horizon = shifted(everything[-1].time, -2 * BURST_WINDOW)
    recent = [i for i in everything if i.time >= horizon][-MAX_INTERVENTIONS:]
    until = state.alerted_until if state.alerted_until and state.alerted_until >= horizon else None
    until = _extended(until, recent)
    window = InterventionWindow(interventions=recent, alerted_until=until)

    burst = _burst(recent, until)
    if burst is None:
        return Outcome(state=window)
    reported = [i for i in recent if i.time >= burst[0].time]
    window.alerted_until = shifted(reported[-1].time, BURST_WINDOW)
    return Outcome(findings=(_burst_finding(record.identity.arn, reported),), state=window)


def _burst_finding(principal: str, burst: list[Intervention]) -> Finding:
    confidences = [i.confidence for i in burst if i.confidence]
    return Finding.build(
        detector=INTERVENTIONS,
        evidence=[i.request_id for i in burst],
        family=Family.BEDROCK_USAGE,
        severity=Severity.MEDIUM,
        title=f"Bedrock guardrail burst: {len(burst)} interventions for {principal} within minutes",
        principal=principal,
        account=burst[-1].account,
        region=burst[-1].region,
        first_seen=burst[0].time,
        last_seen=burst[-1].time,
        playbook=_playbook(principal),
        details={
            "interventions": len(burst),
            "window_minutes": int(BURST_WINDOW.total_seconds() // 60),
            "threshold": BURST_THRESHOLD,
            "models": sorted({i.model for i in burst}),
            "guardrails": sorted({i.guardrail_id for i in burst if i.guardrail_id})[:MAX_FILTERS],
            "blocked": sorted({b for i in burst for b in i.blocked})[:MAX_FILTERS],
            "highest_confidence": max(confidences, key=("NONE", "LOW", "MEDIUM", "HIGH").index, default=None),
        },
    )


@detector(
    name=HIGH_CONFIDENCE,
    family=Family.BEDROCK_USAGE,
    state=None,
    consumes=CONSUMES,
    record=ModelInvocationLog,
)
def guardrail_high_confidence(record: ModelInvocationLog, state: None, settings: Settings) -> Outcome[BaseModel]:
    """A guardrail blocked an invocation on a HIGH-confidence content filter."""
    guardrail = record.guardrail
    if guardrail.blocking_confidence != "HIGH":
        return Outcome()
    principal = record.identity.arn
    finding = event_finding(
        record,
        detector=HIGH_CONFIDENCE,
        family=Family.BEDROCK_USAGE,
        severity=Severity.LOW,
        title=f"Bedrock guardrail blocked a high-confidence harmful request or response by {principal}",
        principal=principal,
        playbook=None,
        details={
            "request_id": record.request_id,
            "model_id": record.model_id,
            "operation": record.operation,
            "guardrail_id": guardrail.guardrail_id,
            "guardrail_version": guardrail.guardrail_version,
            "blocked": list(guardrail.blocked),
        },
    )
    return Outcome(findings=(finding,))


# --------------------------------------------------------------------------------------------------
# bedrock-invocation-without-guardrail
# --------------------------------------------------------------------------------------------------

WITHOUT_GUARDRAIL = "bedrock-invocation-without-guardrail"


@detector(
    name=WITHOUT_GUARDRAIL,
    family=Family.BEDROCK_USAGE,
    state=None,
    consumes=CONSUMES,
    record=ModelInvocationLog,
)
def invocation_without_guardrail(record: ModelInvocationLog, state: None, settings: Settings) -> Outcome[BaseModel]:
    """A successful invocation without a guardrail, when the deployer requires one."""
    if not settings.require_guardrail or not record.succeeded or record.guardrail.applied:
        return Outcome()
    principal = record.identity.arn
    finding = event_finding(
        record,
        detector=WITHOUT_GUARDRAIL,
        family=Family.BEDROCK_USAGE,
        severity=Severity.LOW,
        title=f"Bedrock invocation without a guardrail by {principal} ({record.model_id})",
        principal=principal,
        playbook=None,
        details={"request_id": record.request_id, "model_id": record.model_id, "operation": record.operation},
    )
    return Outcome(findings=(finding,))


# --------------------------------------------------------------------------------------------------
# bedrock-secret-in-text
# --------------------------------------------------------------------------------------------------

TEXT_LEAK = "bedrock-secret-in-text"
MAX_SECRETS = 10


@detector(
    name=TEXT_LEAK,
    family=Family.BEDROCK_USAGE,
    state=None,
    consumes=CONSUMES,
    record=ModelInvocationLog,
)
def secret_in_text(record: ModelInvocationLog, state: None, settings: Settings) -> Outcome[BaseModel]:
    """Credentials or key material in a prompt or a completion."""
    found: dict[tuple[str, str, str], SecretMatch] = {}
    for piece in record.texts():
        for match in scan(piece.text, piece.field):
            found.setdefault((match.kind, piece.side, match.sha256), match)
    if not found:
        return Outcome()
    ordered = sorted(found.items(), key=lambda item: (item[1].severity != Severity.HIGH, item[0]))
    kept = ordered[:MAX_SECRETS]
    severity = Severity.HIGH if any(m.severity is Severity.HIGH for _, m in ordered) else Severity.MEDIUM
    kinds = sorted({kind for kind, _, _ in found})
    sides = sorted({side for _, side, _ in found})
    principal = record.identity.arn
    finding = event_finding(
        record,
        detector=TEXT_LEAK,
        family=Family.BEDROCK_USAGE,
        severity=severity,
        title=f"Credentials in a Bedrock {' and '.join(sides)} of {principal}: {', '.join(kinds)}",
        principal=principal,
        playbook=None,
        details={
            "request_id": record.request_id,
            "model_id": record.model_id,
            "operation": record.operation,
            "kinds": kinds,
            "where": sides,
            "secrets": [{"kind": kind, "where": side, "sha256": digest} for (kind, side, digest), _ in kept],
            "secrets_truncated": len(ordered) > len(kept),
        },
    )
    return Outcome(findings=(finding,))
