"""bedrock-usage / bedrock-first-use and bedrock-call-surge: what a principal has never done, and how much.

Both detectors learn, per principal, how it uses Bedrock, from its own successful invocations on
both endpoints (``bedrock.amazonaws.com`` and ``bedrock-mantle.amazonaws.com``, see
:mod:`warden.detectors._bedrock`), and judge each new invocation against that history. No peer rule
set ships either: the nearest are a first-seen model on *entitlement* calls (Sumo Logic), a fixed
500 calls per hour per model (Elastic) and an hourly outlier over the whole account (Sumo Logic).

Whose baseline
    The state is keyed by the role behind a session (``sessionContext.sessionIssuer.arn``), else by
    the caller's ARN (an IAM user, a root, a Bedrock API key's user). A role's sessions are many and
    short-lived (one per task, pod, Lambda container or person signing in) but run the same code;
    keyed by session, every session would start a baseline of its own and never leave its warm-up.
    The price: the people who share an SSO permission set share a baseline. A finding's
    ``principal`` is the *actor*, the caller's own ARN (the session), which is what is contained;
    ``details.baseline`` names the key its history was learned under.

Warm-up (both detectors)
    A principal is only learned, never alerted on, until :attr:`Settings.baseline_warmup` has passed
    since its first invocation *and* it has made :attr:`Settings.baseline_min_events` of them. A new
    application is new in every way; the first week of its life is history, not evidence.

Response playbook (both detectors)
    ``contain-bedrock-api-key`` for a call signed with a Bedrock API key (bearer token);
    ``contain-access-key`` for an IAM user's long-term access key (``AKIA``); ``revoke-role-sessions``
    for an assumed-role session (``ASIA``); none (notify only) for anything else. The response policy
    decides from the severity whether the playbook acts or only reports.

bedrock-first-use
    What it detects: after warm-up, a successful invocation that uses a model, a region, a source
    network or a client the principal has not used in the last :data:`RETENTION`. The network is the
    caller's IPv4 /24 or IPv6 /48 (an AWS service calling on the principal's behalf logs a host name
    such as ``bedrock.amazonaws.com``, kept as it is); the client is the user agent's product name
    without its version (``Boto3/1.34.34 md/Botocore#1.34.34 ...`` is ``boto3``), so that an SDK
    upgrade is not new. A model is its id without ARN or cross-region prefix (:func:`model_family`).

    Why it matters: a stolen credential is used from the thief's network and tooling, and for the
    models worth reselling, which are rarely the one the application was built for. Any one of these
    alone happens in normal life (a new office, a model upgrade); several at once rarely do.

    When it fires: one new dimension is LOW; two or more in the same call (a new model from a new
    network) MEDIUM; a new model *and* a new network *and* a new client at once HIGH (the shape of
    LLMjacking tooling on a stolen key). The detector keeps learning after it fires, so the same new
    value alerts once; a value unused for :data:`RETENTION` is forgotten and would be new again.

    State: :class:`Profile`: when the principal was first seen, its invocations counted during
    warm-up, and per dimension up to :data:`MAX_VALUES` values, each with its first and last hour
    of use and the number of hours it was used in (a value whose last hour moves is rewritten, so a
    steady workload costs a state write per value and hour, not per call). Past the cap, the value
    unused longest is dropped. Redelivered events are recognised during warm-up (when they would be
    counted twice) by their ids; after it a redelivered call has nothing new left to report.

bedrock-call-surge
    What it detects: successful invocations of one model by one principal, within one clock hour,
    far above what that principal does with that model.

    Why it matters: LLMjacking is paid for per call. Resold access runs thousands of requests an hour
    on a key that an application used a few hundred times a day; a fixed threshold either misses a
    small application's key or fires on every large one.

    When it fires: the calls of the hour exceed :attr:`Settings.baseline_sensitivity` times the
    baseline and reach :data:`MIN_SURGE_CALLS` (so that a baseline of two calls an hour is not
    breached by twenty). The baseline of an established model (used in at least
    :data:`ESTABLISHED_HOURS` earlier hours) is its own busiest hour, decaying with a half-life of
    :data:`HALF_LIFE` (so a daily batch job is its own normal, and an old spike stops masking new
    ones). A model new to the principal, or hardly used before, is measured against the principal's
    busiest established model instead, so that moving an application from one model to the next at
    the same volume stays quiet. MEDIUM; HIGH when the model is new to the principal. One finding
    per model and hour; the surge is learned when its hour closes, so a sustained surge alerts once.

    State: :class:`Usage`: per model (at most :data:`MAX_MODELS`, the least recently used dropped
    first) the decaying peak and its hour, the number of hours folded into it, and the counts of the
    last :data:`OPEN_HOURS` clock hours (late events are counted into their own hour; older hours are
    folded into the peak). Counting needs a write per counted call, so past :data:`EXACT_CALLS` calls
    in an hour only about one call in eight (one in 64 past :data:`SAMPLED_CALLS`) is counted, at that
    weight: which calls are counted is decided by a digest of their event id, so it is deterministic
    and the same on a redelivery, and the recent counted ids are remembered so that a redelivery is
    not counted twice. A busy workload costs a few writes a minute, and its counts stay within a few
    percent where the threshold is decided.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warden.detectors._bedrock import (
    INVOCATIONS,
    baseline_key,
    credential,
    is_invocation,
    model_family,
    model_of,
    playbook,
)
from warden.detectors.registry import Outcome, detector, event_finding, shifted
from warden.models import CloudTrailRecord, Family, Finding, Severity
from warden.models.wire import Name, truncated
from warden.settings import Settings

FIRST_USE = "bedrock-first-use"
SURGE = "bedrock-call-surge"
RETENTION = timedelta(days=30)
"""How long a principal's history is kept after its newest call, and a value after its last use."""

MAX_VALUES = 40
"""Values remembered per dimension and principal."""
MAX_RECENT = 32
"""Event ids remembered to recognise a redelivery."""
MAX_FAMILY_CHARS = 64

MIN_SURGE_CALLS = 50
ESTABLISHED_HOURS = 3
HALF_LIFE = timedelta(days=7)
OPEN_HOURS = 6
"""Clock hours counted before they are folded into the peak: the service refuses older events anyway."""
MAX_MODELS = 32
MAX_SAMPLE = 5
"""Event ids kept per model and hour, as a surge finding's evidence."""
EXACT_CALLS = 64
SAMPLED_CALLS = 512

Dimension = Literal["model", "region", "network", "user_agent"]
DIMENSIONS: tuple[Dimension, ...] = ("model", "region", "network", "user_agent")
ATTACK_SHAPE = frozenset({"model", "network", "user_agent"})
HOUR = timedelta(hours=1)


# ---------------------------------------------------------------------------------------------
# What a call is made of
# ---------------------------------------------------------------------------------------------

_DOTTED_QUAD = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_VERSION_SUFFIX = re.compile(r"[-_.]v?\d+(\.\d+)*$")


def network_of(source: str | None) -> str | None:
    """The caller's network: an IPv4 /24, an IPv6 /48, or a host name (an AWS service) as it is.

    Parsing an address is a third of what this detector costs per call, and callers come back from the
    same few addresses: short values are remembered (bounded; a long one cannot be an address anyway).
    """
    if not source:
        return None
    return _remembered_network(source) if len(source) <= MAX_REMEMBERED_SOURCE else _network(source)


MAX_REMEMBERED_SOURCE = 64
"""Longer than any IPv6 address with a zone; the cache holds at most 4,096 of these."""


def _network(source: str) -> str | None:
    text = source.strip()
    if _DOTTED_QUAD.fullmatch(text):  # CloudTrail can log octets with leading zeros ("035.249.253.232")
        text = ".".join(str(int(octet)) for octet in text.split("."))
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return truncated(text.lower(), MAX_FAMILY_CHARS) or None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


_remembered_network = functools.lru_cache(maxsize=4096)(_network)


def client_of(user_agent: str | None) -> str | None:
    """The product name a user agent starts with, without version: the client family.

    ``Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 ...`` is ``boto3``, ``aws-cli/2.15.0 Python/3.11 ...``
    is ``aws-cli``, ``OpenAI/Python 1.50.0`` is ``openai``, ``stratus-red-team_<uuid>`` is
    ``stratus-red-team``. Later tokens (OS, language, execution environment, command) are left out:
    they change with every deployment and say little about who is calling.
    """
    if not user_agent or not user_agent.strip():
        return None
    first = user_agent.strip().lstrip("[(").split()[0]
    name = re.split(r"[/_#;()\[\]]", first, maxsplit=1)[0].lower()
    name = _VERSION_SUFFIX.sub("", name) or name
    return truncated(name, MAX_FAMILY_CHARS) or None


def _dimensions(record: CloudTrailRecord) -> dict[Dimension, str]:
    model = model_of(record)
    values: dict[Dimension, str | None] = {
        "model": model_family(model) if model else None,
        "region": record.aws_region,
        "network": network_of(record.source_ip_address),
        "user_agent": client_of(record.user_agent),
    }
    return {dimension: value for dimension, value in values.items() if value}


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _warm(first_seen: datetime | None, calls: int, now: datetime, settings: Settings) -> bool:
    return (
        first_seen is not None
        and now - first_seen >= settings.baseline_warmup
        and calls >= settings.baseline_min_events
    )


def _principal_details(record: CloudTrailRecord) -> dict[str, object]:
    identity = record.user_identity
    return {
        "baseline": baseline_key(record),
        "identity_type": identity.type,
        "user_name": identity.user_name,
        "session_issuer": identity.issuer_arn,
        "credential_type": credential(record),
        "endpoint": record.event_source,
        "event_name": record.event_name,
    }


# ---------------------------------------------------------------------------------------------
# bedrock-first-use
# ---------------------------------------------------------------------------------------------


class Seen(BaseModel):
    """One remembered value: the hours of its first and last use, and how many hours it was used in."""

    model_config = ConfigDict(defer_build=True)

    first: datetime
    last: datetime
    hours: int = 1


class Profile(BaseModel):
    model_config = ConfigDict(defer_build=True)

    first_seen: datetime | None = None
    calls: int = 0
    """Invocations counted while warming up (counting stops once the warm-up is satisfied)."""
    values: dict[Dimension, dict[Name, Seen]] = Field(default_factory=dict)
    recent: list[Name] = Field(default_factory=list)
    """Ids of the calls counted during warm-up, newest last: a redelivery is not counted twice."""


def _learn(seen: Seen | None, hour: datetime) -> Seen:
    if seen is None:
        return Seen(first=hour, last=hour)
    if hour > seen.last:
        return Seen(first=seen.first, last=hour, hours=seen.hours + 1)
    if hour < seen.first:
        return Seen(first=hour, last=seen.last, hours=seen.hours + 1)
    return seen


def _evict(values: dict[str, Seen], cap: int, keep: str | None = None) -> dict[str, Seen]:
    """At most ``cap`` values: ``keep`` (the value just used), then those used most recently, then in most hours."""
    if len(values) <= cap:
        return values
    ranked = sorted(
        values.items(), key=lambda item: (item[0] == keep, item[1].last, item[1].hours, item[0]), reverse=True
    )
    return dict(ranked[:cap])


def _remembered(profile: Profile, hour: datetime, newest: datetime, learned: dict[Dimension, str]) -> Profile:
    horizon = shifted(newest, -RETENTION)
    values: dict[Dimension, dict[Name, Seen]] = {}
    for dimension in DIMENSIONS:
        known = {value: seen for value, seen in profile.values.get(dimension, {}).items() if seen.last >= horizon}
        current = learned.get(dimension)
        if current is not None:
            known[current] = _learn(known.get(current), hour)
        if known:
            values[dimension] = _evict(known, MAX_VALUES, keep=current)
    return profile.model_copy(update={"values": values})


def _newest(profile: Profile) -> datetime | None:
    lasts = [seen.last for values in profile.values.values() for seen in values.values()]
    return max(lasts) if lasts else None


def _first_use_severity(new: set[Dimension]) -> Severity:
    if new >= ATTACK_SHAPE:
        return Severity.HIGH
    return Severity.MEDIUM if len(new) >= 2 else Severity.LOW


def _first_use_finding(record: CloudTrailRecord, profile: Profile, new: dict[Dimension, str]) -> Finding:
    principal = record.user_identity.arn or "unknown"
    known = {dimension: len(profile.values.get(dimension, {})) for dimension in DIMENSIONS}
    described = ", ".join(f"{dimension} {value}" for dimension, value in new.items())
    return event_finding(
        record,
        detector=FIRST_USE,
        family=Family.BEDROCK_USAGE,
        severity=_first_use_severity(set(new)),
        title=f"First use by {principal} of Bedrock {described}",
        principal=principal,
        access_key_id=record.user_identity.access_key_id,
        playbook=playbook(record),
        details={
            **_principal_details(record),
            "new": dict(new),
            "known_values": known,
            "source_ip": record.source_ip_address,
            "user_agent": truncated(record.user_agent, 512) if record.user_agent else None,
            "baseline_since": profile.first_seen.isoformat() if profile.first_seen else None,
            "retention_days": RETENTION.days,
        },
    )


def shrink_profile(profile: Profile) -> Profile:
    """About half: the most recently used half of each dimension's values, and no redelivery memory."""
    values = {dimension: _evict(known, max(1, len(known) // 2)) for dimension, known in profile.values.items()}
    return profile.model_copy(update={"values": values, "recent": []})


def _successful_invocation(record: CloudTrailRecord) -> bool:
    return is_invocation(record) and record.succeeded


@detector(
    name=FIRST_USE,
    family=Family.BEDROCK_USAGE,
    state=Profile,
    consumes=INVOCATIONS,
    key=lambda record: baseline_key(record) if _successful_invocation(record) else None,
    retention=RETENTION,
    shrink=shrink_profile,
)
def bedrock_first_use(record: CloudTrailRecord, state: Profile, settings: Settings) -> Outcome[Profile]:
    """First use by a principal of a Bedrock model, region, network or client, after its warm-up."""
    if not _successful_invocation(record) or record.user_identity.arn is None:
        return Outcome()
    now = record.event_time
    warm = _warm(state.first_seen, state.calls, now, settings)
    profile = state.model_copy(update={"first_seen": min(now, state.first_seen) if state.first_seen else now})
    if state.calls < settings.baseline_min_events:  # still counting: a redelivery must not count twice
        if record.event_id in state.recent:
            return Outcome()
        recent = [*state.recent, record.event_id][-MAX_RECENT:]
        profile = profile.model_copy(update={"calls": state.calls + 1, "recent": recent})
    elif state.recent:
        profile = profile.model_copy(update={"recent": []})

    dimensions = _dimensions(record)
    hour = _hour(now)
    newest = max(hour, _newest(state) or hour)
    findings: tuple[Finding, ...] = ()
    if warm:
        new = {d: v for d, v in dimensions.items() if _fresh(state, d, v, newest)}
        if new:
            findings = (_first_use_finding(record, state, new),)
    learned = _remembered(profile, hour, newest, dimensions)
    return Outcome(findings=findings, state=None if learned == state else learned)


def _fresh(profile: Profile, dimension: Dimension, value: str, newest: datetime) -> bool:
    """``value`` is not remembered (or only as a use older than the retention)."""
    seen = profile.values.get(dimension, {}).get(value)
    return seen is None or seen.last < shifted(newest, -RETENTION)


# ---------------------------------------------------------------------------------------------
# bedrock-call-surge
# ---------------------------------------------------------------------------------------------


class HourCount(BaseModel):
    """The (estimated) calls of one model in one clock hour."""

    model_config = ConfigDict(defer_build=True)

    hour: datetime
    calls: int = 0
    first: datetime
    sample: list[Name] = Field(default_factory=list)
    alerted: bool = False


class ModelRate(BaseModel):
    model_config = ConfigDict(defer_build=True)

    first_seen: datetime
    last_seen: datetime
    peak: float = 0.0
    """The busiest folded hour's calls, as of :attr:`peak_hour` (it decays from there)."""
    peak_hour: datetime | None = None
    folded: int = 0
    """Hours folded into the peak."""
    open: list[HourCount] = Field(default_factory=list)
    """The last :data:`OPEN_HOURS` clock hours with calls, oldest first."""


class Usage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    first_seen: datetime | None = None
    calls: int = 0
    """Invocations counted (estimated past :data:`EXACT_CALLS` an hour), all models."""
    models: dict[Name, ModelRate] = Field(default_factory=dict)
    recent: list[Name] = Field(default_factory=list)
    """Ids of the most recent counted calls, newest last: a redelivery is not counted twice."""


def _decayed(peak: float, since: datetime | None, at: datetime) -> float:
    if since is None or peak <= 0:
        return 0.0
    hours = max((at - since).total_seconds() / 3600, 0.0)
    return float(peak * 0.5 ** (hours / (HALF_LIFE.total_seconds() / 3600)))


def _fold(rate: ModelRate, count: HourCount) -> ModelRate:
    """``rate`` with a closed hour folded into its decaying peak."""
    later = max(count.hour, rate.peak_hour or count.hour)
    keep_old = _decayed(rate.peak, rate.peak_hour, later) >= _decayed(count.calls, count.hour, later)
    peak, peak_hour = (rate.peak, rate.peak_hour) if keep_old else (float(count.calls), count.hour)
    return rate.model_copy(update={"peak": peak, "peak_hour": peak_hour, "folded": rate.folded + 1})


def _closed(rate: ModelRate, newest: datetime) -> ModelRate:
    """``rate`` with the hours that are no longer open folded into its peak."""
    cutoff = shifted(newest, -OPEN_HOURS * HOUR)
    for count in (c for c in rate.open if c.hour <= cutoff):
        rate = _fold(rate, count)
    return rate.model_copy(update={"open": [c for c in rate.open if c.hour > cutoff]})


def _earlier_hours(rate: ModelRate, hour: datetime) -> int:
    return rate.folded + sum(1 for c in rate.open if c.hour < hour)


def _own_baseline(rate: ModelRate, hour: datetime) -> float:
    """The busiest earlier hour of this model, the folded peak decayed to ``hour``."""
    open_before = [c.calls for c in rate.open if c.hour < hour]
    return max([_decayed(rate.peak, rate.peak_hour, hour), *open_before])


def _baseline(usage: Usage, model: str, hour: datetime) -> tuple[float | None, bool]:
    """The baseline ``model``'s hour is measured against (None: nothing to measure by), and whether it is new."""
    rate = usage.models.get(model)
    earlier = _earlier_hours(rate, hour) if rate else 0
    if rate is not None and earlier >= ESTABLISHED_HOURS:
        return _own_baseline(rate, hour), earlier == 0
    candidates = [
        _own_baseline(other, hour)
        for name, other in usage.models.items()
        if name != model and _earlier_hours(other, hour) >= ESTABLISHED_HOURS
    ]
    if rate is not None and earlier:
        candidates.append(_own_baseline(rate, hour))  # a surge already learned is not a surge again
    return (max(candidates) if candidates else None), earlier == 0


def _weight(calls: int) -> int:
    if calls < EXACT_CALLS:
        return 1
    return 8 if calls < SAMPLED_CALLS else 64


def _digest(event_id: str) -> int:
    return int.from_bytes(hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def _counted(rate: ModelRate | None, hour: datetime, event_id: str) -> int:
    """The weight this call is counted with (0: not counted, another call of the sample stands for it)."""
    current = next((c.calls for c in rate.open if c.hour == hour), 0) if rate else 0
    weight = _weight(current)
    return weight if _digest(event_id) % weight == 0 else 0


def _add(rate: ModelRate, record: CloudTrailRecord, hour: datetime, weight: int) -> tuple[ModelRate, HourCount]:
    now = record.event_time
    count = next((c for c in rate.open if c.hour == hour), None) or HourCount(hour=hour, first=now)
    sample = count.sample if len(count.sample) >= MAX_SAMPLE else [*count.sample, record.event_id]
    count = count.model_copy(update={"calls": count.calls + weight, "first": min(count.first, now), "sample": sample})
    hours = sorted([c for c in rate.open if c.hour != hour] + [count], key=lambda c: c.hour)
    updated = rate.model_copy(
        update={"open": hours, "first_seen": min(rate.first_seen, now), "last_seen": max(rate.last_seen, now)}
    )
    return updated, count


def _bounded(models: dict[str, ModelRate], keep: str) -> dict[str, ModelRate]:
    """At most :data:`MAX_MODELS`: ``keep`` (the model just called), then the most recently called."""
    if len(models) <= MAX_MODELS:
        return models
    ranked = sorted(models.items(), key=lambda item: (item[0] == keep, item[1].last_seen, item[0]), reverse=True)
    return dict(ranked[:MAX_MODELS])


def _surge_finding(
    record: CloudTrailRecord, model: str, count: HourCount, baseline: float, new: bool, settings: Settings
) -> Finding:
    principal = record.user_identity.arn or "unknown"
    evidence = [*count.sample, record.event_id]
    ratio = count.calls / baseline if baseline > 0 else None
    return Finding.build(
        detector=SURGE,
        evidence=evidence,
        family=Family.BEDROCK_USAGE,
        severity=Severity.HIGH if new else Severity.MEDIUM,
        title=f"Bedrock call surge: {principal} called {model} {count.calls} times in an hour"
        + (", a model it never used before" if new else ""),
        principal=principal,
        access_key_id=record.user_identity.access_key_id,
        account=record.account,
        region=record.aws_region,
        first_seen=count.first,
        last_seen=record.event_time,
        playbook=playbook(record),
        details={
            **_principal_details(record),
            "model": model,
            "new_model": new,
            "hour": count.hour.isoformat(),
            "calls_this_hour": count.calls,
            "baseline_calls_per_hour": round(baseline, 2),
            "ratio": round(ratio, 1) if ratio is not None else None,
            "sensitivity": settings.baseline_sensitivity,
            "minimum_calls": MIN_SURGE_CALLS,
            "source_ip": record.source_ip_address,
        },
    )


def shrink_usage(usage: Usage) -> Usage:
    """About half: the most recently used half of the models, without evidence samples or redelivery memory."""
    kept = sorted(usage.models.items(), key=lambda item: (item[1].last_seen, item[0]), reverse=True)
    models = {
        name: rate.model_copy(update={"open": [c.model_copy(update={"sample": []}) for c in rate.open]})
        for name, rate in kept[: max(1, len(kept) // 2)]
    }
    return usage.model_copy(update={"models": models, "recent": []})


def _surges(calls: int, baseline: float, settings: Settings) -> bool:
    return calls >= MIN_SURGE_CALLS and calls > settings.baseline_sensitivity * baseline


@detector(
    name=SURGE,
    family=Family.BEDROCK_USAGE,
    state=Usage,
    consumes=INVOCATIONS,
    key=lambda record: baseline_key(record) if _successful_invocation(record) else None,
    retention=RETENTION,
    shrink=shrink_usage,
)
def bedrock_call_surge(record: CloudTrailRecord, state: Usage, settings: Settings) -> Outcome[Usage]:
    """A principal calling one Bedrock model far more often in an hour than it ever does."""
    if not _successful_invocation(record) or record.user_identity.arn is None or record.event_id in state.recent:
        return Outcome()
    now, hour = record.event_time, _hour(record.event_time)
    model = model_family(model_of(record) or "unknown")
    newest = max([hour, *(c.hour for rate in state.models.values() for c in rate.open)])
    if hour <= shifted(newest, -OPEN_HOURS * HOUR):
        return Outcome()  # its hour is folded already; the service refuses events this late anyway
    weight = _counted(state.models.get(model), hour, record.event_id)
    if not weight:
        return Outcome()

    models = {name: _closed(rate, newest) for name, rate in state.models.items()}
    usage = state.model_copy(update={"models": models})
    baseline, new = _baseline(usage, model, hour)
    warm = _warm(state.first_seen, state.calls, now, settings)
    rate, count = _add(models.get(model) or ModelRate(first_seen=now, last_seen=now), record, hour, weight)

    findings: tuple[Finding, ...] = ()
    if warm and baseline is not None and not count.alerted and _surges(count.calls, baseline, settings):
        findings = (_surge_finding(record, model, count, baseline, new, settings),)
        count = count.model_copy(update={"alerted": True})
        rate = rate.model_copy(update={"open": [count if c.hour == hour else c for c in rate.open]})

    updated = Usage(
        first_seen=min(now, state.first_seen) if state.first_seen else now,
        calls=state.calls + weight,
        models=_bounded({**models, model: rate}, keep=model),
        recent=[*state.recent, record.event_id][-MAX_RECENT:],
    )
    return Outcome(findings=findings, state=updated)
