"""bedrock-usage / bedrock-denied-burst: a credential failing to use several models in a few minutes.

What it detects
    Failed model invocations (``AccessDenied*``, ``ValidationException``, ``ResourceNotFound*``) by
    one principal, across several models, within a sliding :data:`WINDOW`, on either Bedrock endpoint
    (``bedrock.amazonaws.com`` and ``bedrock-mantle.amazonaws.com``, see
    :mod:`warden.detectors._bedrock`). Denied model-access checks (``ListFoundationModels``,
    ``GetFoundationModelAvailability``, mantle's ``ListModels``/``GetModel``) count as failures too:
    checking tools ask those before they invoke. A failure that names a model adds it to the models
    tried; ``ListFoundationModels``/``ListModels`` name none and only add to the count.

Why it matters
    This is the key-checking step of LLMjacking tooling: with a freshly stolen key it walks a list of
    models, sending requests that are denied (no access to that model), invalid on purpose (so that
    nothing is billed while the answer still tells whether the model is enabled) or addressed to a
    model the region does not serve. An application fails the same way on its *one* model when it is
    misconfigured, and retries; it does not fail on many models within minutes.

When it fires (thresholds chosen to stay quiet on a normal account)
    * at least :data:`MIN_FAILURES` failures across at least :data:`MIN_MODELS` distinct models
      within :data:`WINDOW`: MEDIUM (an application with a model and its fallback both misconfigured
      can look like this once; an operator should look);
    * the same with at least :data:`HIGH_MODELS` distinct models: HIGH (no application tries three
      models it cannot use within ten minutes; tooling does).

    One finding per burst: it stays open while failures keep coming within a window of each other; a
    burst that grows from MEDIUM to HIGH gives a second, HIGH finding. Throttling, quota, timeout and
    model errors are load, not probing, and are not counted. Models are compared without ARN or
    cross-region prefix, so ``us.anthropic.claude-...`` and ``anthropic.claude-...`` are one model.
    Peers: Elastic counts ValidationException (>3 a minute) and AccessDeniedException (>3 an hour per
    model) in invocation logs, Splunk counts denied ListFoundationModels; none of them require the
    failures to span models, which is what tells probing from a broken application.

Response playbook
    ``contain-bedrock-api-key`` for a Bedrock API key (bearer token); ``contain-access-key`` for an
    IAM user's long-term access key; ``revoke-role-sessions`` for an assumed-role session; none
    (notify only) otherwise. A probe that was denied cost nothing, but the key that was probed is in
    someone else's hands. The finding's ``principal`` is the actor: the caller's ARN.

State
    :class:`FailureWindow`, keyed by the caller's ARN: the failures of the last :data:`RETENTION`
    behind the newest one (at most :data:`MAX_FAILURES`, the newest kept), and until when, at which
    severity, the principal's failures are covered by a finding. Successful calls are not stored.
    Events may arrive in any order (windows are judged on event times) and be redelivered (a known
    event id is ignored).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from warden.detectors._bedrock import (
    INVOCATIONS,
    MODEL_ACCESS_CHECKS,
    bearer_token,
    credential_of,
    model_family,
    model_of,
    playbook_for,
    probing_error,
)
from warden.detectors.registry import Outcome, detector, shifted
from warden.models import CloudTrailRecord, Family, Finding, Severity
from warden.models.wire import Arn, Name, Text
from warden.settings import Settings

NAME = "bedrock-denied-burst"
WINDOW = timedelta(minutes=10)
RETENTION = 2 * WINDOW
MIN_FAILURES = 5
MIN_MODELS = 2
HIGH_MODELS = 3
MAX_FAILURES = 60
MAX_LISTED = 20

CONSUMES = INVOCATIONS | MODEL_ACCESS_CHECKS
RANK = {severity: rank for rank, severity in enumerate(Severity)}


class Failure(BaseModel):
    """One failed call: what the finding needs, never request bodies."""

    model_config = ConfigDict(defer_build=True)

    event_id: Name
    event_name: Name
    event_source: Name
    time: datetime
    error_code: Name
    model: Name | None = None
    account: Name
    region: Name
    access_key_id: Name | None = None
    bearer_token: bool = False
    source_ip: Name | None = None
    user_agent: Text | None = None


class FailureWindow(BaseModel):
    model_config = ConfigDict(defer_build=True)

    identity_type: Name | None = None
    user_name: Name | None = None
    issuer_arn: Arn | None = None
    failures: list[Failure] = Field(default_factory=list)
    alerted_until: datetime | None = None
    alerted_severity: Severity | None = None


def _failure(record: CloudTrailRecord, error: str) -> Failure:
    model = model_of(record)
    return Failure(
        event_id=record.event_id,
        event_name=record.event_name,
        event_source=record.event_source,
        time=record.event_time,
        error_code=error,
        model=model_family(model) if model else None,
        account=record.account,
        region=record.aws_region,
        access_key_id=record.user_identity.access_key_id,
        bearer_token=bearer_token(record),
        source_ip=record.source_ip_address,
        user_agent=record.user_agent,
    )


def _order(failure: Failure) -> tuple[datetime, str]:
    return failure.time, failure.event_id


def _severity(window: list[Failure]) -> Severity | None:
    models = {f.model for f in window if f.model}
    if len(window) < MIN_FAILURES or len(models) < MIN_MODELS:
        return None
    return Severity.HIGH if len(models) >= HIGH_MODELS else Severity.MEDIUM


def _window_ending(failures: list[Failure], end: Failure) -> list[Failure]:
    start = shifted(end.time, -WINDOW)
    return [f for f in failures if start <= f.time <= end.time]


def _burst(state: FailureWindow) -> tuple[list[Failure], Severity] | None:
    """The earliest window that deserves a finding: a new burst, or a covered one that grew more severe."""
    for end in state.failures:
        window = _window_ending(state.failures, end)
        severity = _severity(window)
        if severity is None:
            continue
        covered = state.alerted_until is not None and window[0].time <= state.alerted_until
        if not covered or RANK[severity] > RANK[state.alerted_severity or Severity.INFORMATIONAL]:
            return window, severity
    return None


def _extended(until: datetime | None, failures: list[Failure]) -> datetime | None:
    """An alert stays open while failures keep coming within a window of each other."""
    if until is None:
        return None
    for failure in failures:  # in time order
        if failure.time <= until:
            until = max(until, shifted(failure.time, WINDOW))
    return until


def _finding(principal: str, state: FailureWindow, window: list[Failure], severity: Severity) -> Finding:
    trigger = window[-1]
    models = sorted({f.model for f in window if f.model})
    return Finding.build(
        detector=NAME,
        evidence=[f.event_id for f in window],
        family=Family.BEDROCK_USAGE,
        severity=severity,
        title=f"Bedrock key probing: {principal} failed {len(window)} calls across {len(models)} models",
        principal=principal,
        access_key_id=trigger.access_key_id,
        account=trigger.account,
        region=trigger.region,
        first_seen=window[0].time,
        last_seen=trigger.time,
        playbook=playbook_for(
            bearer=trigger.bearer_token, access_key_id=trigger.access_key_id, identity_type=state.identity_type
        ),
        details={
            "failures": len(window),
            "models": models[:MAX_LISTED],
            "model_count": len(models),
            "error_codes": sorted({f.error_code for f in window})[:MAX_LISTED],
            "calls": sorted({f"{f.event_source}:{f.event_name}" for f in window})[:MAX_LISTED],
            "identity_type": state.identity_type,
            "user_name": state.user_name,
            "session_issuer": state.issuer_arn,
            "credential_type": credential_of(bearer=trigger.bearer_token, access_key_id=trigger.access_key_id),
            "access_keys": sorted({f.access_key_id for f in window if f.access_key_id})[:MAX_LISTED],
            "source_ips": sorted({f.source_ip for f in window if f.source_ip})[:MAX_LISTED],
            "user_agents": sorted({f.user_agent for f in window if f.user_agent})[:5],
            "regions": sorted({f.region for f in window})[:MAX_LISTED],
            "window_minutes": int(WINDOW.total_seconds() // 60),
        },
    )


def _key(record: CloudTrailRecord) -> str | None:
    return record.user_identity.arn if probing_error(record) else None


@detector(
    name=NAME,
    family=Family.BEDROCK_USAGE,
    state=FailureWindow,
    consumes=CONSUMES,
    key=_key,
    retention=timedelta(hours=1),
)
def bedrock_denied_burst(record: CloudTrailRecord, state: FailureWindow, settings: Settings) -> Outcome[FailureWindow]:
    """Bedrock key probing: failed invocations or model-access checks across several models in minutes."""
    error = probing_error(record)
    principal = record.user_identity.arn
    if error is None or principal is None or any(f.event_id == record.event_id for f in state.failures):
        return Outcome()

    new = _failure(record, error)
    latest = max([new.time, *(f.time for f in state.failures)])
    horizon = shifted(latest, -RETENTION)
    failures = [f for f in sorted([*state.failures, new], key=_order) if f.time >= horizon][-MAX_FAILURES:]
    still_alerted = state.alerted_until if state.alerted_until and state.alerted_until >= horizon else None
    identity = record.user_identity
    window = FailureWindow(
        identity_type=identity.type,
        user_name=identity.user_name,
        issuer_arn=identity.issuer_arn,
        failures=failures,
        alerted_until=_extended(still_alerted, failures),
        alerted_severity=state.alerted_severity if still_alerted else None,
    )
    burst = _burst(window)
    if burst is None:
        return Outcome(state=window)
    failed, severity = burst
    finding = _finding(principal, window, failed, severity)
    window.alerted_until = _extended(shifted(failed[-1].time, WINDOW), failures)
    window.alerted_severity = severity
    return Outcome(findings=(finding,), state=window)
