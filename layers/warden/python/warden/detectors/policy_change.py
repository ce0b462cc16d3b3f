"""policy-change: grants that widen access, and changes that switch Bedrock's defences off.

Seven detectors, each documented in its own docstring (What it detects / Why it matters / When it fires
/ Response playbook / State):

========================================  ========  ==========================================================
detector                                  severity  playbook
========================================  ========  ==========================================================
``invocation-logging-disabled``           HIGH/MED  ``restore-invocation-logging`` (previous config in details)
``guardrail-deleted-or-weakened``         HIGH-LOW  none
``broad-permissions-granted``             HIGH/MED  ``revert-policy-change`` (policy ARN or inline name)
``credentials-created-for-another-user``  HIGH-LOW  ``revert-policy-change`` (the created key id)
``aws-compromised-key-quarantine``        HIGH/MED  none (the leaked key's id is not in the event)
``bedrock-knowledge-agent-tampering``     HIGH/LOW  none
``permissions-boundary-removed``          MEDIUM    ``revert-policy-change``
========================================  ========  ==========================================================

Every detector ignores failed calls (``errorCode`` set): nothing changed. A finding's ``principal`` is
the identity to look at: the *target* of a grant (the user, role or group that gained access, whose
grant ``revert-policy-change`` undoes), or the *actor* for a defence switched off (who did it); each
docstring says which. The actor is always in ``details`` (``actor``, ``actor_access_key_id``,
``session_issuer``, ``source_ip``). Stateful detectors reason over event times and remember the event
ids they have judged, so a redelivered event changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from warden.detectors._policy import (
    BEDROCK,
    IAM,
    ORGANIZATIONS,
    IamKind,
    actor,
    actor_arn,
    broad_grant,
    compact_document,
    cut,
    flag,
    iam_arn,
    managed_policy,
    params,
    partition,
    response,
    short_name,
    strings,
    text,
)
from warden.detectors.registry import Outcome, detector, shifted
from warden.models import CloudTrailRecord, Family, Finding, Severity
from warden.models.wire import Arn, Name
from warden.policy_documents import parse
from warden.settings import Settings

MAX_SEEN = 20
"""Event ids a stateful detector remembers, to ignore a redelivered event."""


def _seen(seen: list[str], event_id: str) -> list[str]:
    return [*seen, event_id][-MAX_SEEN:]


def _finding(
    record: CloudTrailRecord,
    *,
    name: str,
    severity: Severity,
    title: str,
    principal: str,
    playbook: str | None,
    details: dict[str, Any],
    access_key_id: str | None = None,
    evidence: list[str] | None = None,
    first_seen: datetime | None = None,
) -> Finding:
    return Finding.build(
        detector=name,
        evidence=evidence or [record.event_id],
        family=Family.POLICY_CHANGE,
        severity=severity,
        title=title,
        principal=principal,
        access_key_id=access_key_id,
        account=record.account,
        region=record.aws_region,
        first_seen=first_seen or record.event_time,
        last_seen=record.event_time,
        playbook=playbook,
        details={"action": record.event_name, **details, **actor(record)},
    )


# ---------------------------------------------------------------------------------------------------
# invocation-logging-disabled
# ---------------------------------------------------------------------------------------------------

LOGGING = "invocation-logging-disabled"
LOGGING_RETENTION = timedelta(days=30)
DELETE_LOGGING = "DeleteModelInvocationLoggingConfiguration"
PUT_LOGGING = "PutModelInvocationLoggingConfiguration"
DELIVERY_FLAGS = (
    "textDataDeliveryEnabled",
    "imageDataDeliveryEnabled",
    "embeddingDataDeliveryEnabled",
    "videoDataDeliveryEnabled",
    "audioDataDeliveryEnabled",
)


class LoggingConfig(BaseModel):
    """A model-invocation logging configuration: where logs go and what they carry (never a log's content)."""

    model_config = ConfigDict(defer_build=True)

    log_group: Name | None = None
    log_role: Arn | None = None
    large_data_bucket: Name | None = None
    large_data_prefix: Name | None = None
    bucket: Name | None = None
    prefix: Name | None = None
    delivery: dict[Name, bool] = Field(default_factory=dict)
    """Only the :data:`DELIVERY_FLAGS` keys, so bounded."""

    @classmethod
    def parse(cls, raw: object) -> LoggingConfig | None:
        """The ``loggingConfig`` of a Put request, or None when it is not an object."""
        if not isinstance(raw, dict):
            return None
        return cls(
            log_group=text(raw, "cloudWatchConfig", "logGroupName"),
            log_role=text(raw, "cloudWatchConfig", "roleArn"),
            large_data_bucket=text(raw, "cloudWatchConfig", "largeDataDeliveryS3Config", "bucketName"),
            large_data_prefix=text(raw, "cloudWatchConfig", "largeDataDeliveryS3Config", "keyPrefix"),
            bucket=text(raw, "s3Config", "bucketName"),
            prefix=text(raw, "s3Config", "keyPrefix"),
            delivery={name: bool(flag(raw, name)) for name in DELIVERY_FLAGS if flag(raw, name) is not None},
        )

    def api(self) -> dict[str, Any]:
        """The configuration as ``PutModelInvocationLoggingConfiguration`` takes it (what a restore sends)."""
        config: dict[str, Any] = dict(self.delivery)
        if self.log_group:
            cloudwatch: dict[str, Any] = {"logGroupName": self.log_group, "roleArn": self.log_role}
            if self.large_data_bucket:
                cloudwatch["largeDataDeliveryS3Config"] = _bucket(self.large_data_bucket, self.large_data_prefix)
            config["cloudWatchConfig"] = cloudwatch
        if self.bucket:
            config["s3Config"] = _bucket(self.bucket, self.prefix)
        return config


def _bucket(name: str, prefix: str | None) -> dict[str, str]:
    return {"bucketName": name, **({"keyPrefix": prefix} if prefix else {})}


class LoggingMemory(BaseModel):
    model_config = ConfigDict(defer_build=True)

    current: LoggingConfig | None = None
    """The configuration in force (None: deleted, or none seen yet)."""
    since: datetime | None = None
    """Event time of the change that put ``current`` in force (or deleted it)."""
    known_good: LoggingConfig | None = None
    """The newest configuration that was not a weakening: what ``restore-invocation-logging`` puts back."""
    seen: list[Name] = Field(default_factory=list)


def _weakening(before: LoggingConfig, after: LoggingConfig) -> list[str]:
    reasons = []
    if before.log_group and not after.log_group:
        reasons.append("CloudWatch Logs delivery removed")
    elif before.log_group and after.log_group != before.log_group:
        reasons.append("CloudWatch Logs destination moved to another log group")
    if before.large_data_bucket and not after.large_data_bucket and after.log_group:
        reasons.append("large-payload S3 delivery of the CloudWatch destination removed")
    if before.bucket and not after.bucket:
        reasons.append("S3 delivery removed")
    elif before.bucket and after.bucket != before.bucket:
        reasons.append("S3 destination moved to another bucket")
    for name in DELIVERY_FLAGS:
        if before.delivery.get(name) and not after.delivery.get(name):
            reasons.append(f"{name} turned off")
    return reasons


def _feed_lost(before: LoggingConfig | None, after: LoggingConfig, settings: Settings) -> list[str]:
    """Warden's own invocation-log sources that the new configuration stops feeding."""
    ours = {"S3 bucket": (settings.invocation_log_bucket, after.bucket, before.bucket if before else None)}
    ours["log group"] = (settings.invocation_log_group, after.log_group, before.log_group if before else None)
    configured = {kind: value for kind, value in ours.items() if value[0]}
    if not configured:
        return []
    if before is None:  # nothing to compare: blind only if none of Warden's sources is fed
        fed = any(new == wanted for wanted, new, _ in configured.values())
        return [] if fed else [f"Warden's invocation-log {kind} is not a destination" for kind in configured]
    return [
        f"Warden's invocation-log {kind} is no longer a destination"
        for kind, (wanted, new, old) in configured.items()
        if old == wanted and new != wanted
    ]


def _region_key(record: CloudTrailRecord) -> str:
    return f"{record.account}/{record.aws_region}"


@detector(
    name=LOGGING,
    family=Family.POLICY_CHANGE,
    state=LoggingMemory,
    consumes=frozenset({(BEDROCK, DELETE_LOGGING), (BEDROCK, PUT_LOGGING)}),
    key=_region_key,
    retention=LOGGING_RETENTION,
)
def invocation_logging_disabled(
    record: CloudTrailRecord, state: LoggingMemory, settings: Settings
) -> Outcome[LoggingMemory]:
    """Bedrock model-invocation logging deleted, or replaced by a weaker configuration.

    What it detects
        ``DeleteModelInvocationLoggingConfiguration`` (HIGH), and a ``PutModelInvocationLoggingConfiguration``
        that is weaker than the configuration in force in that account and region (MEDIUM): a destination
        removed or moved to another bucket or log group, the large-payload bucket removed, or text, image,
        embedding, video or audio delivery turned off. A Put that stops feeding Warden's own invocation-log
        bucket or log group (``settings.invocation_log_bucket`` / ``invocation_log_group``) is HIGH: it
        blinds Warden as surely as a deletion.

    Why it matters
        Attackers who abuse stolen credentials check and switch off invocation logging first, so that the
        prompts they sell and the tokens they burn leave no record (Sysdig's and Permiso's LLMjacking
        reports; every peer rule set has a rule for the deletion).

    When it fires
        Every successful Delete. A Put only when it is weaker than the configuration in force, which the
        detector learns from the Puts it sees: the first Put seen becomes the known-good configuration
        (it is not judged, except against Warden's own feed); after a deletion, the next Put is compared
        with the known-good one. A Put older than the newest change already seen (a late delivery) is
        ignored; a redelivered event (same event id) too.

    Response playbook
        ``restore-invocation-logging``. ``details.previous_configuration`` is the known-good configuration
        in the API's own shape (``loggingConfig``), or null when none was ever seen; the finding's
        ``principal`` is the actor.

    State
        :class:`LoggingMemory` per account and region: the configuration in force, the known-good one and
        the last :data:`MAX_SEEN` event ids; kept :data:`LOGGING_RETENTION` after the newest change.
    """
    if not record.succeeded or record.event_id in state.seen:
        return Outcome()
    seen = _seen(state.seen, record.event_id)
    late = state.since is not None and record.event_time < state.since
    baseline = state.current or state.known_good
    if record.event_name == DELETE_LOGGING:
        finding = _logging_finding(record, Severity.HIGH, ["invocation logging deleted"], state, None)
        if late:
            return Outcome((finding,), state.model_copy(update={"seen": seen}))
        return Outcome((finding,), LoggingMemory(since=record.event_time, known_good=baseline, seen=seen))
    new = LoggingConfig.parse(params(record).get("loggingConfig"))
    if new is None or late:
        return Outcome(state=state.model_copy(update={"seen": seen}))
    feed = _feed_lost(baseline, new, settings)
    reasons = [*feed, *(_weakening(baseline, new) if baseline else [])]
    remembered = LoggingMemory(current=new, since=record.event_time, known_good=baseline if reasons else new, seen=seen)
    if not reasons:
        return Outcome(state=remembered)
    severity = Severity.HIGH if feed else Severity.MEDIUM
    return Outcome((_logging_finding(record, severity, reasons, state, new),), remembered)


def _logging_finding(
    record: CloudTrailRecord,
    severity: Severity,
    reasons: list[str],
    state: LoggingMemory,
    new: LoggingConfig | None,
) -> Finding:
    restore = state.known_good or state.current
    verb = "deleted" if new is None else "weakened"
    return _finding(
        record,
        name=LOGGING,
        severity=severity,
        title=f"Bedrock model-invocation logging {verb} in {record.account}/{record.aws_region}",
        principal=actor_arn(record),
        access_key_id=record.user_identity.access_key_id,
        playbook="restore-invocation-logging",
        details={
            "reasons": reasons,
            "previous_configuration": restore.api() if restore else None,
            "configuration_in_force": state.current.api() if state.current else None,
            "new_configuration": new.api() if new else None,
        },
    )


# ---------------------------------------------------------------------------------------------------
# guardrail-deleted-or-weakened
# ---------------------------------------------------------------------------------------------------

GUARDRAIL = "guardrail-deleted-or-weakened"
GUARDRAIL_RETENTION = timedelta(days=90)
STRENGTH = {"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}
PII_ACTION = {"NONE": 0, "ANONYMIZE": 1, "BLOCK": 2}
POLICY_LABELS = {
    "topicPolicyConfig": "denied-topics policy",
    "contentPolicyConfig": "content filters",
    "wordPolicyConfig": "word filters",
    "sensitiveInformationPolicyConfig": "sensitive-information filters",
    "contextualGroundingPolicyConfig": "contextual-grounding checks",
    "automatedReasoningPolicyConfig": "automated-reasoning checks",
}
MAX_FILTERS = 60
MAX_ENFORCED = 20
MAX_ORG_POLICIES = 50
BEDROCK_POLICY_TYPE = "BEDROCK_POLICY"
GUARDRAIL_EVENTS = frozenset({"CreateGuardrail", "UpdateGuardrail", "DeleteGuardrail"})
ENFORCED_EVENTS = frozenset({"PutEnforcedGuardrailConfiguration", "DeleteEnforcedGuardrailConfiguration"})
ORG_EVENTS = frozenset({"CreatePolicy", "UpdatePolicy", "DeletePolicy", "DetachPolicy", "DisablePolicyType"})


class ContentFilter(BaseModel):
    model_config = ConfigDict(defer_build=True)

    input: int = 0
    output: int = 0
    input_blocks: bool = True
    output_blocks: bool = True


class GuardrailConfig(BaseModel):
    """What a guardrail enforces, as far as CloudTrail recorded it. None in a field: not readable."""

    model_config = ConfigDict(defer_build=True)

    policies: list[Name] = Field(default_factory=list)
    filters: dict[Name, ContentFilter] | None = None
    topics: int | None = None
    words: int | None = None
    managed_word_lists: list[Name] | None = None
    pii: dict[Name, int] | None = None
    regexes: int | None = None
    grounding: dict[Name, float] | None = None

    @classmethod
    def parse(cls, request: object) -> GuardrailConfig | None:
        """The policies of a Create/UpdateGuardrail request; None when CloudTrail recorded none of them."""
        if not isinstance(request, dict):
            return None
        present = [name for name in POLICY_LABELS if name in request]
        if not present:
            return None
        content, pii = request.get("contentPolicyConfig"), request.get("sensitiveInformationPolicyConfig")
        words = request.get("wordPolicyConfig")
        return cls(
            policies=present,
            filters=_content_filters(content),
            topics=_count(request.get("topicPolicyConfig"), "topicsConfig"),
            words=_count(words, "wordsConfig"),
            managed_word_lists=_types(words, "managedWordListsConfig"),
            pii=_pii(pii),
            regexes=_count(pii, "regexesConfig"),
            grounding=_grounding(request.get("contextualGroundingPolicyConfig")),
        )


def _items(policy: object, key: str) -> list[dict[str, Any]] | None:
    value = policy.get(key) if isinstance(policy, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else None


def _count(policy: object, key: str) -> int | None:
    items = _items(policy, key)
    return None if items is None else len(items)


def _types(policy: object, key: str) -> list[str] | None:
    items = _items(policy, key)
    return None if items is None else cut((t for item in items if (t := text(item, "type"))), MAX_FILTERS)


def _content_filters(policy: object) -> dict[str, ContentFilter] | None:
    items = _items(policy, "filtersConfig")
    if items is None:
        return None
    filters = {}
    for item in items[:MAX_FILTERS]:
        kind = text(item, "type")
        if kind:
            filters[kind] = ContentFilter(
                input=STRENGTH.get(text(item, "inputStrength") or "NONE", 0),
                output=STRENGTH.get(text(item, "outputStrength") or "NONE", 0),
                input_blocks=flag(item, "inputEnabled") is not False and text(item, "inputAction") != "NONE",
                output_blocks=flag(item, "outputEnabled") is not False and text(item, "outputAction") != "NONE",
            )
    return filters


def _pii(policy: object) -> dict[str, int] | None:
    items = _items(policy, "piiEntitiesConfig")
    if items is None:
        return None
    return {kind: PII_ACTION.get(text(i, "action") or "", 0) for i in items[:MAX_FILTERS] if (kind := text(i, "type"))}


def _grounding(policy: object) -> dict[str, float] | None:
    items = _items(policy, "filtersConfig")
    if items is None:
        return None
    return {
        kind: float(threshold)
        for item in items[:MAX_FILTERS]
        if (kind := text(item, "type")) and isinstance(threshold := item.get("threshold"), int | float)
    }


def _fewer(label: str, before: int | None, after: int | None) -> list[str]:
    return [f"{before - after} {label} removed"] if before is not None and after is not None and after < before else []


def _guardrail_weakening(before: GuardrailConfig, after: GuardrailConfig) -> list[str]:
    reasons = [f"{POLICY_LABELS[p]} removed" for p in before.policies if p in POLICY_LABELS and p not in after.policies]
    if before.filters is not None and after.filters is not None:
        reasons += _filter_weakening(before.filters, after.filters)
    reasons += _fewer("denied topic(s)", before.topics, after.topics)
    reasons += _fewer("blocked word(s)", before.words, after.words)
    reasons += _fewer("sensitive-information regex(es)", before.regexes, after.regexes)
    if before.managed_word_lists is not None and after.managed_word_lists is not None:
        reasons += [
            f"managed word list {w} removed" for w in before.managed_word_lists if w not in after.managed_word_lists
        ]
    if before.pii is not None and after.pii is not None:
        reasons += [f"{kind} protection weakened" for kind, rank in before.pii.items() if after.pii.get(kind, 0) < rank]
    if before.grounding is not None and after.grounding is not None:
        lowered = [k for k, v in before.grounding.items() if after.grounding.get(k, 0.0) < v]
        reasons += [f"{kind} grounding threshold lowered" for kind in lowered]
    return reasons


def _filter_weakening(before: dict[str, ContentFilter], after: dict[str, ContentFilter]) -> list[str]:
    reasons = []
    for kind, old in before.items():
        new = after.get(kind)
        if new is None:
            reasons.append(f"{kind} content filter removed")
            continue
        if new.input < old.input or (old.input_blocks and not new.input_blocks):
            reasons.append(f"{kind} input filter weakened")
        if new.output < old.output or (old.output_blocks and not new.output_blocks):
            reasons.append(f"{kind} output filter weakened")
    return reasons


class EnforcedConfig(BaseModel):
    """An account-level enforced guardrail configuration (``PutEnforcedGuardrailConfiguration``)."""

    model_config = ConfigDict(defer_build=True)

    guardrail: Name | None = None
    version: Name | None = None
    input_tags: Name | None = None
    included_models: list[Name] | None = None
    excluded_models: list[Name] = Field(default_factory=list)
    system: Name | None = None
    messages: Name | None = None

    @classmethod
    def parse(cls, raw: object) -> EnforcedConfig:
        return cls(
            guardrail=text(raw, "guardrailIdentifier"),
            version=text(raw, "guardrailVersion"),
            input_tags=text(raw, "inputTags"),
            included_models=cut(strings(raw.get("modelEnforcement", {}).get("includedModels")), MAX_FILTERS)
            if isinstance(raw, dict) and isinstance(raw.get("modelEnforcement"), dict)
            else None,
            excluded_models=cut(_excluded(raw), MAX_FILTERS),
            system=text(raw, "selectiveContentGuarding", "system"),
            messages=text(raw, "selectiveContentGuarding", "messages"),
        )


def _excluded(raw: object) -> list[str]:
    enforcement = raw.get("modelEnforcement") if isinstance(raw, dict) else None
    return strings(enforcement.get("excludedModels")) if isinstance(enforcement, dict) else []


def _enforced_weakening(before: EnforcedConfig, after: EnforcedConfig) -> list[str]:
    reasons = []
    if before.guardrail and after.guardrail and short_name(before.guardrail) != short_name(after.guardrail):
        reasons.append("enforced guardrail replaced by another guardrail")
    if (before.input_tags or "").upper() == "IGNORE" and (after.input_tags or "").upper() == "HONOR":
        reasons.append("input tags now honoured: only tagged content is guarded")
    if added := [m for m in after.excluded_models if m not in before.excluded_models]:
        reasons.append(f"{len(added)} model(s) excluded from enforcement")
    if "ALL" in (before.included_models or []) and "ALL" not in (after.included_models or ["ALL"]):
        reasons.append("enforcement no longer covers all models")
    for part in ("system", "messages"):
        if (getattr(before, part) or "").lower() == "comprehensive" and (
            getattr(after, part) or ""
        ).lower() == "selective":
            reasons.append(f"{part} content now guarded selectively")
    return reasons


class GuardrailMemory(BaseModel):
    """Per guardrail, per account and region (enforced configurations), or per account (Organizations)."""

    model_config = ConfigDict(defer_build=True)

    config: GuardrailConfig | None = None
    since: datetime | None = None
    enforced: dict[Name, EnforcedConfig] = Field(default_factory=dict)
    bedrock_policies: dict[Name, Name] = Field(default_factory=dict)
    """Organizations policy id -> name, for the Bedrock policies (``BEDROCK_POLICY``) seen created."""
    seen: list[Name] = Field(default_factory=list)


def _guardrail_id(record: CloudTrailRecord) -> str | None:
    value = text(params(record), "guardrailIdentifier") or text(response(record), "guardrailId")
    return short_name(value) if value else None


def _guardrail_key(record: CloudTrailRecord) -> str:
    if record.event_source == ORGANIZATIONS:
        return f"{record.account}/organizations"
    if record.event_name in ENFORCED_EVENTS:
        return f"{_region_key(record)}/enforced"
    return f"{_region_key(record)}/guardrail/{_guardrail_id(record) or '-'}"


@detector(
    name=GUARDRAIL,
    family=Family.POLICY_CHANGE,
    state=GuardrailMemory,
    consumes=frozenset(
        {(BEDROCK, name) for name in GUARDRAIL_EVENTS | ENFORCED_EVENTS} | {(ORGANIZATIONS, n) for n in ORG_EVENTS}
    ),
    key=_guardrail_key,
    retention=GUARDRAIL_RETENTION,
)
def guardrail_deleted_or_weakened(
    record: CloudTrailRecord, state: GuardrailMemory, settings: Settings
) -> Outcome[GuardrailMemory]:
    """A Bedrock guardrail deleted or weakened, or an enforced guardrail configuration removed.

    What it detects
        * ``DeleteGuardrail`` (MEDIUM).
        * ``UpdateGuardrail`` that removes a policy, lowers a content filter's input or output strength
          (or sets it to detect only), or drops denied topics, words, word lists, PII protections, regexes
          or grounding thresholds, compared with the guardrail's last known configuration (MEDIUM); an
          update with nothing to compare (no earlier Create/Update seen, or CloudTrail recorded none of the
          policies, as it hides sensitive guardrail fields) is LOW.
        * The removal of an account-level enforced guardrail (``DeleteEnforcedGuardrailConfiguration``)
          or of an organization's Bedrock policy (``DisablePolicyType BEDROCK_POLICY``, or ``DetachPolicy``
          / ``DeletePolicy`` / an ``UpdatePolicy`` without ``guardrail_inference`` of a Bedrock policy
          seen created): HIGH. A ``PutEnforcedGuardrailConfiguration`` that swaps the guardrail, excludes
          models, honours input tags or guards selectively, compared with the one it replaces: MEDIUM.

    Why it matters
        Guardrails are the only control between a model and harmful or leaking output; jailbreak
        campaigns and attackers reselling access remove them first. Enforced configurations exist so
        that one application cannot opt out; removing them disables the control for everyone.

    When it fires
        On each such successful call; a creation or an update that strengthens only updates the memory.

    Response playbook
        None (notify): a guardrail's configuration cannot be restored from CloudTrail, whose records hide
        its sensitive fields. ``principal`` is the actor; the guardrail is in ``details``.

    State
        :class:`GuardrailMemory`: the last known configuration of one guardrail (key account/region/id),
        the enforced configurations of an account and region, or the Bedrock policy ids of an
        organization; kept :data:`GUARDRAIL_RETENTION` after the newest change.
    """
    if not record.succeeded or record.event_id in state.seen:
        return Outcome()
    seen = _seen(state.seen, record.event_id)
    if record.event_source == ORGANIZATIONS:
        return _organization_change(record, state, seen)
    if record.event_name in ENFORCED_EVENTS:
        return _enforced_change(record, state, seen)
    return _guardrail_change(record, state, seen)


def _guardrail_finding(record: CloudTrailRecord, severity: Severity, title: str, details: dict[str, Any]) -> Finding:
    return _finding(
        record,
        name=GUARDRAIL,
        severity=severity,
        title=title,
        principal=actor_arn(record),
        access_key_id=record.user_identity.access_key_id,
        playbook=None,
        details=details,
    )


def _guardrail_change(record: CloudTrailRecord, state: GuardrailMemory, seen: list[str]) -> Outcome[GuardrailMemory]:
    guardrail = _guardrail_id(record) or "unknown"
    where = {"guardrail": guardrail, "guardrail_arn": text(response(record), "guardrailArn")}
    late = state.since is not None and record.event_time < state.since
    new = GuardrailConfig.parse(params(record))
    if late:
        remembered = state.model_copy(update={"seen": seen})
    else:
        remembered = GuardrailMemory(config=new, since=record.event_time, seen=seen)
    if record.event_name == "CreateGuardrail":
        return Outcome(state=remembered)
    if record.event_name == "DeleteGuardrail":
        known = {"last_known_policies": state.config.policies if state.config else None}
        title = f"Bedrock guardrail {guardrail} deleted"
        return Outcome((_guardrail_finding(record, Severity.MEDIUM, title, {**where, **known}),), remembered)
    if new is None or state.config is None or late:
        title = f"Bedrock guardrail {guardrail} updated (no earlier configuration to compare)"
        details = {**where, "reasons": ["updated; what changed is unknown"]}
        return Outcome((_guardrail_finding(record, Severity.LOW, title, details),), remembered)
    reasons = _guardrail_weakening(state.config, new)
    if not reasons:
        return Outcome(state=remembered)
    title = f"Bedrock guardrail {guardrail} weakened"
    return Outcome(
        (_guardrail_finding(record, Severity.MEDIUM, title, {**where, "reasons": cut(reasons)}),), remembered
    )


def _enforced_change(record: CloudTrailRecord, state: GuardrailMemory, seen: list[str]) -> Outcome[GuardrailMemory]:
    config_id = text(params(record), "configId") or text(response(record), "configId") or "-"
    enforced = dict(state.enforced)
    before = enforced.pop(config_id, None)
    where = {"enforced_config_id": config_id, "last_known": before.model_dump() if before else None}
    if record.event_name == "DeleteEnforcedGuardrailConfiguration":
        remembered = state.model_copy(update={"enforced": enforced, "seen": seen})
        title = f"Account-enforced Bedrock guardrail removed in {record.account}/{record.aws_region}"
        return Outcome((_guardrail_finding(record, Severity.HIGH, title, where),), remembered)
    after = EnforcedConfig.parse(params(record).get("guardrailInferenceConfig"))
    enforced[config_id] = after
    kept = dict(list(enforced.items())[-MAX_ENFORCED:])
    remembered = state.model_copy(update={"enforced": kept, "seen": seen})
    reasons = _enforced_weakening(before, after) if before else []
    if not reasons:
        return Outcome(state=remembered)
    title = f"Account-enforced Bedrock guardrail weakened in {record.account}/{record.aws_region}"
    return Outcome((_guardrail_finding(record, Severity.MEDIUM, title, {**where, "reasons": reasons}),), remembered)


def _organization_change(record: CloudTrailRecord, state: GuardrailMemory, seen: list[str]) -> Outcome[GuardrailMemory]:
    request, policies = params(record), dict(state.bedrock_policies)
    policy_id = text(request, "policyId") or ""
    removal: str | None = None
    if record.event_name == "CreatePolicy" and text(request, "type") == BEDROCK_POLICY_TYPE:
        created = text(response(record), "policy", "policySummary", "id")
        if created:
            policies[created] = text(request, "name") or created
    elif record.event_name == "DisablePolicyType" and text(request, "policyType") == BEDROCK_POLICY_TYPE:
        removal = "Bedrock policies disabled for the organization root"
    elif policy_id in policies and record.event_name in ("DetachPolicy", "DeletePolicy"):
        verb = "detached" if record.event_name == "DetachPolicy" else "deleted"
        removal = f"organization Bedrock policy {policies[policy_id]} {verb}"
        if record.event_name == "DeletePolicy":
            policies.pop(policy_id)
    elif policy_id in policies and record.event_name == "UpdatePolicy" and _drops_guardrail(request):
        removal = f"organization Bedrock policy {policies[policy_id]} no longer enforces a guardrail"
    remembered = state.model_copy(update={"bedrock_policies": dict(list(policies.items())[-MAX_ORG_POLICIES:])})
    if removal is None:
        changed = remembered.bedrock_policies != state.bedrock_policies
        return Outcome(state=remembered.model_copy(update={"seen": seen}) if changed else None)
    details = {"reasons": [removal], "policy_id": policy_id or None, "target_id": text(request, "targetId")}
    title = f"Organization-enforced Bedrock guardrail removed: {removal}"
    finding = _guardrail_finding(record, Severity.HIGH, title, details)
    return Outcome((finding,), remembered.model_copy(update={"seen": seen}))


def _drops_guardrail(request: object) -> bool:
    content = text(request, "content")
    if content is None:
        return False  # a rename or a new description: the content is unchanged
    try:
        document = json.loads(content)
    except ValueError:
        return False
    return "guardrail_inference" not in json.dumps(document)


# ---------------------------------------------------------------------------------------------------
# broad-permissions-granted
# ---------------------------------------------------------------------------------------------------

BROAD = "broad-permissions-granted"
BROAD_RETENTION = timedelta(days=90)
MAX_POLICIES = 200
MANAGED_BROAD: dict[str, Severity] = {
    "AdministratorAccess": Severity.HIGH,
    "IAMFullAccess": Severity.HIGH,
    "PowerUserAccess": Severity.HIGH,
    "AmazonBedrockFullAccess": Severity.MEDIUM,
    "AWSOrganizationsFullAccess": Severity.MEDIUM,
}
"""AWS managed policies that grant too much to attach quietly:

* ``AdministratorAccess`` (``*`` on ``*``);
* ``IAMFullAccess`` (``iam:*``: its holder attaches ``AdministratorAccess`` to itself in one call, so it
  is admin-equivalent);
* ``PowerUserAccess`` (every action of every service but IAM and Organizations: all of Bedrock, all
  data; for LLMjacking as good as admin);
* ``AmazonBedrockFullAccess`` (``bedrock:*``: switches logging and guardrails off, enables any model);
* ``AWSOrganizationsFullAccess`` (detaches the organization's SCPs and Bedrock policies).

``ReadOnlyAccess``, ``AmazonBedrockReadOnly`` and ``AmazonBedrockLimitedAccess`` (what Bedrock itself
attaches to an API key's user) are not findings."""
ATTACH: dict[str, IamKind] = {"AttachUserPolicy": "user", "AttachRolePolicy": "role", "AttachGroupPolicy": "group"}
PUT_INLINE: dict[str, IamKind] = {"PutUserPolicy": "user", "PutRolePolicy": "role", "PutGroupPolicy": "group"}
POLICY_EVENTS = frozenset({"CreatePolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion", "DeletePolicy"})
GRANT_SEVERITY = {"admin": Severity.HIGH, "iam": Severity.HIGH, "bedrock": Severity.MEDIUM}
TARGET_NAME = {"user": "userName", "role": "roleName", "group": "groupName"}


class BroadPolicy(BaseModel):
    """A customer managed policy seen created (or versioned) with a broad document."""

    model_config = ConfigDict(defer_build=True)

    level: Name
    actions: list[Name] = Field(default_factory=list)
    conditional: bool = False
    default_broad: bool = True
    """Its default version is broad (attaching it grants the broad document)."""
    broad_versions: list[Name] = Field(default_factory=list)
    time: datetime


class PolicyMemory(BaseModel):
    model_config = ConfigDict(defer_build=True)

    policies: dict[Arn, BroadPolicy] = Field(default_factory=dict)
    seen: list[Name] = Field(default_factory=list)


def shrink_policies(memory: PolicyMemory) -> PolicyMemory:
    """The newest half of the remembered broad policies."""
    newest = sorted(memory.policies.items(), key=lambda item: item[1].time)[len(memory.policies) // 2 :]
    return memory.model_copy(update={"policies": dict(newest)})


def _account_key(record: CloudTrailRecord) -> str:
    return record.account


@detector(
    name=BROAD,
    family=Family.POLICY_CHANGE,
    state=PolicyMemory,
    consumes=frozenset({(IAM, name) for name in {*ATTACH, *PUT_INLINE, *POLICY_EVENTS}}),
    key=_account_key,
    retention=BROAD_RETENTION,
    shrink=shrink_policies,
)
def broad_permissions_granted(
    record: CloudTrailRecord, state: PolicyMemory, settings: Settings
) -> Outcome[PolicyMemory]:
    """Admin-equivalent, IAM-wide or Bedrock-wide permissions granted to a user, role or group.

    What it detects
        * ``Attach{User,Role,Group}Policy`` of a broad AWS managed policy (:data:`MANAGED_BROAD`), or of
          a customer managed policy this detector saw created or versioned with a broad document.
        * ``Put{User,Role,Group}Policy`` whose inline document is broad.
        * ``CreatePolicyVersion`` with ``setAsDefault``, or ``SetDefaultPolicyVersion``, that makes a
          policy's default version broad (its attachments gain it at once).

        A document is broad when an Allow statement on an unbounded resource (``*``, or every resource
        of a kind such as ``arn:aws:iam::123456789012:role/*``) allows every action (``*``, ``*:*``, or
        ``NotAction``: everything but a list), a *wildcard* IAM pattern that covers a privilege-escalation
        action (``iam:*``, ``iam:Attach*``, ``iam:Pass*``, ``iam:Create*``...: admin in one more call),
        or a wildcard Bedrock pattern that covers one of Bedrock's controls (``bedrock:*``,
        ``bedrock:Delete*``...). Named actions without a wildcard (``iam:PassRole`` for a deployer) and
        ``bedrock:Invoke*`` (an application's grant) are not broad.

    Why it matters
        Attaching ``AdministratorAccess`` to a backdoor user or role is the commonest persistence step
        after a credential theft (Stratus Red Team ``iam-create-admin-user``, ``iam-create-backdoor-role``).

    When it fires
        HIGH for every action or IAM escalation, MEDIUM for Bedrock-wide, on each successful grant.
        ``details.conditional`` says when every broad statement carries a Condition.

    Response playbook
        ``revert-policy-change``: ``principal`` is the *target* (user, role or group ARN built from the
        account and name; for a policy version change, the policy ARN), ``details`` name the policy ARN
        (``policy_arn``, ``version_id``) or the inline policy (``policy_name``, and ``policy_document``: the
        document that was put, as compact JSON, so that the playbook deletes the policy only while IAM still
        holds that document) to remove; the actor is in ``details.actor``. A policy version change names
        the policy as its target: the previous default version is not in the event, so the playbook only
        notifies it.

    State
        :class:`PolicyMemory` per account: up to :data:`MAX_POLICIES` broad customer managed policies,
        kept :data:`BROAD_RETENTION` after the newest IAM policy event; :func:`shrink_policies` keeps the
        newest half. An attachment delivered before the creation of its policy is not paired.
    """
    if not record.succeeded or record.event_id in state.seen:
        return Outcome()
    if record.event_name in ATTACH:
        return _attached(record, state)
    if record.event_name in PUT_INLINE:
        return _inline(record)
    return _policy_version(record, state)


def _target(record: CloudTrailRecord, kind: IamKind) -> tuple[str, str]:
    name = text(params(record), TARGET_NAME[kind]) or "unknown"
    return name, iam_arn(record, kind, name)


def _grant_finding(
    record: CloudTrailRecord, severity: Severity, principal: str, subject: str, details: dict[str, Any]
) -> Finding:
    return _finding(
        record,
        name=BROAD,
        severity=severity,
        title=f"Broad permissions granted to {subject}: {details['grant']}",
        principal=principal,
        playbook="revert-policy-change",
        details=details,
    )


def _attached(record: CloudTrailRecord, state: PolicyMemory) -> Outcome[PolicyMemory]:
    kind = ATTACH[record.event_name]
    policy_arn = text(params(record), "policyArn") or ""
    managed = managed_policy(policy_arn)
    remembered = state.policies.get(policy_arn)
    if managed in MANAGED_BROAD:
        severity, grant = MANAGED_BROAD[managed], f"AWS managed policy {managed}"
        details: dict[str, Any] = {"broad_actions": [], "conditional": False}
    elif remembered and remembered.default_broad:
        severity, grant = GRANT_SEVERITY.get(remembered.level, Severity.MEDIUM), f"{remembered.level}-wide policy"
        details = {"broad_actions": remembered.actions, "conditional": remembered.conditional}
    else:
        return Outcome()
    name, target = _target(record, kind)
    details |= {"grant": grant, "policy_arn": policy_arn, "target": target, "target_type": kind}
    finding = _grant_finding(record, severity, target, f"{kind} {name}", details)
    return Outcome((finding,), state.model_copy(update={"seen": _seen(state.seen, record.event_id)}))


def _inline(record: CloudTrailRecord) -> Outcome[PolicyMemory]:
    kind = PUT_INLINE[record.event_name]
    grant = broad_grant(parse(params(record).get("policyDocument")) or [])
    if grant is None:
        return Outcome()
    name, target = _target(record, kind)
    details = {
        "grant": f"{grant.level}-wide inline policy",
        "policy_name": text(params(record), "policyName"),
        "policy_document": compact_document(params(record).get("policyDocument")),
        "broad_actions": list(grant.actions),
        "conditional": grant.conditional,
        "target": target,
        "target_type": kind,
    }
    return Outcome((_grant_finding(record, GRANT_SEVERITY[grant.level], target, f"{kind} {name}", details),))


def _policy_version(record: CloudTrailRecord, state: PolicyMemory) -> Outcome[PolicyMemory]:
    request = params(record)
    policy_arn = text(request, "policyArn") or text(response(record), "policy", "arn") or ""
    policies = dict(state.policies)
    known = policies.get(policy_arn)
    version = text(request, "versionId") or text(response(record), "policyVersion", "versionId")
    made_default = False
    if record.event_name == "DeletePolicy":
        policies.pop(policy_arn, None)
    elif record.event_name == "SetDefaultPolicyVersion" and known:
        made_default = version in known.broad_versions
        policies[policy_arn] = known.model_copy(update={"default_broad": made_default})
    elif record.event_name in ("CreatePolicy", "CreatePolicyVersion"):
        made_default = _remember_version(record, policies, policy_arn, version)
    kept = dict(sorted(policies.items(), key=lambda item: item[1].time)[-MAX_POLICIES:])
    remembered = PolicyMemory(policies=kept, seen=_seen(state.seen, record.event_id))
    broad = kept.get(policy_arn)
    if not (made_default and broad and record.event_name != "CreatePolicy"):
        return Outcome(state=remembered)
    details = {
        "grant": f"{broad.level}-wide default policy version",
        "policy_arn": policy_arn,
        "version_id": version,
        "broad_actions": broad.actions,
        "conditional": broad.conditional,
        "target": policy_arn,
        "target_type": "policy",
    }
    severity = GRANT_SEVERITY.get(broad.level, Severity.MEDIUM)
    finding = _grant_finding(record, severity, policy_arn, f"policy {short_name(policy_arn)}", details)
    return Outcome((finding,), remembered)


def _remember_version(
    record: CloudTrailRecord, policies: dict[str, BroadPolicy], policy_arn: str, version: str | None
) -> bool:
    """Remember a broad document; return whether it became the policy's default version and is broad."""
    grant = broad_grant(parse(params(record).get("policyDocument")) or [])
    default = record.event_name == "CreatePolicy" or bool(flag(params(record), "setAsDefault"))
    known = policies.get(policy_arn)
    if grant is None:
        if known and default:
            policies[policy_arn] = known.model_copy(update={"default_broad": False, "time": record.event_time})
        return False
    versions = [*(known.broad_versions if known else []), version or "v1"][-MAX_SEEN:]
    policies[policy_arn] = BroadPolicy(
        level=grant.level,
        actions=list(grant.actions),
        conditional=grant.conditional,
        default_broad=default or bool(known and known.default_broad),
        broad_versions=versions,
        time=record.event_time,
    )
    return default


# ---------------------------------------------------------------------------------------------------
# credentials-created-for-another-user
# ---------------------------------------------------------------------------------------------------

CREDENTIALS = "credentials-created-for-another-user"
CREDENTIAL_EVENTS = {
    "CreateAccessKey": ("accessKey", "access key"),
    "CreateLoginProfile": ("loginProfile", "console password"),
    "UpdateLoginProfile": ("loginProfile", "console password"),
}
PHANTOM_PREFIX = "bedrockapikey-"
"""Bedrock creates a user named ``BedrockAPIKey-...`` for each long-term API key; credentials given to such a
user are ``bedrock-api-key-for-another-user``'s findings (bedrock-usage), not this detector's."""


@detector(
    name=CREDENTIALS,
    family=Family.POLICY_CHANGE,
    state=None,
    consumes=frozenset({(IAM, name) for name in CREDENTIAL_EVENTS}),
)
def credentials_created_for_another_user(
    record: CloudTrailRecord, state: None, settings: Settings
) -> Outcome[BaseModel]:
    """An access key or console password created for an IAM user other than the caller.

    What it detects
        ``CreateAccessKey``, ``CreateLoginProfile`` and ``UpdateLoginProfile`` whose
        ``requestParameters.userName`` is not the calling IAM user (without it, IAM acts on the caller). Rotating
        one's own key or password is not a finding; a role session, an SSO administrator or the root
        user acting on a user always is. Credentials for a ``BedrockAPIKey-*`` user, and Bedrock API keys
        (``CreateServiceSpecificCredential``), are left to ``bedrock-api-key-for-another-user``.

    Why it matters
        A key created for another (often a new, or a forgotten) user is the classic persistence step of
        a stolen credential: it survives the rotation of the stolen one (Stratus Red Team
        ``iam-backdoor-user``; Panther, Elastic, Splunk and Sigma all alert on it).

    When it fires
        * HIGH when the caller is an IAM user signing with a long-term key (``AKIA``), or the root user:
          the shape of a stolen key planting a second one;
        * MEDIUM for a role, SSO, federated or console session: administrators and pipelines provision
          users this way, and the session traces back to a person or pipeline.

    Response playbook
        ``revert-policy-change``: ``principal`` is the *target* user's ARN, ``access_key_id`` the created
        key (also ``details.created_credential_id``; null for a password); the actor is in
        ``details.actor``.

    State
        None: each call is judged alone.
    """
    if not record.succeeded:
        return Outcome()
    field, kind = CREDENTIAL_EVENTS[record.event_name]
    created = response(record).get(field)
    user = text(params(record), "userName")  # without it, IAM acts on the caller's own user
    identity = record.user_identity
    own = identity.user_name or (short_name(identity.arn) if identity.arn else None)
    if user is None or user.lower().startswith(PHANTOM_PREFIX):
        return Outcome()
    if identity.type == "IAMUser" and own and own.lower() == user.lower():
        return Outcome()
    long_term = identity.type == "IAMUser" and identity.credential_type == "long-term-access-key"
    severity = Severity.HIGH if long_term or identity.type == "Root" else Severity.MEDIUM
    key = text(created, "accessKeyId")
    target = iam_arn(record, "user", user)
    finding = _finding(
        record,
        name=CREDENTIALS,
        severity=severity,
        title=f"{kind.capitalize()} created for another user: {user}",
        principal=target,
        access_key_id=key,
        playbook="revert-policy-change",
        details={
            "target": target,
            "target_user": user,
            "credential": kind,
            "created_credential_id": key,
            "password_reset_required": flag(params(record), "passwordResetRequired"),
        },
    )
    return Outcome((finding,))


# ---------------------------------------------------------------------------------------------------
# aws-compromised-key-quarantine
# ---------------------------------------------------------------------------------------------------

QUARANTINE = "aws-compromised-key-quarantine"
QUARANTINE_MANAGED = frozenset(
    {"AWSCompromisedKeyQuarantine", "AWSCompromisedKeyQuarantineV2", "AWSCompromisedKeyQuarantineV3"}
)
QUARANTINE_INLINE = "AWSExposedCredentialPolicy_DO_NOT_REMOVE"
QUARANTINE_EVENTS: dict[str, tuple[IamKind, bool]] = {
    "AttachUserPolicy": ("user", True),
    "AttachRolePolicy": ("role", True),
    "PutUserPolicy": ("user", True),
    "DetachUserPolicy": ("user", False),
    "DetachRolePolicy": ("role", False),
    "DeleteUserPolicy": ("user", False),
}


@detector(
    name=QUARANTINE,
    family=Family.POLICY_CHANGE,
    state=None,
    consumes=frozenset({(IAM, name) for name in QUARANTINE_EVENTS}),
)
def aws_compromised_key_quarantine(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
    """AWS quarantined an identity whose access key it found exposed, or someone lifted the quarantine.

    What it detects
        ``AttachUserPolicy`` / ``AttachRolePolicy`` of ``AWSCompromisedKeyQuarantine`` (V2, V3) and
        ``PutUserPolicy`` of the inline ``AWSExposedCredentialPolicy_DO_NOT_REMOVE`` (HIGH), and their
        removal (``Detach...`` / ``DeleteUserPolicy``, MEDIUM).

    Why it matters
        AWS attaches these when it finds a key in a public place (a GitHub commit, a paste): the key is
        known to be leaked and is still active; the policy only denies a few actions. Removing the
        quarantine before the key is rotated hands the leaked key its permissions back.

    When it fires
        On each successful attachment or removal.

    Response playbook
        None: the event does not say which of the user's keys leaked, so ``contain-access-key`` cannot
        be given a key id (AWS names it in the support case and the Health event). ``principal`` is the
        *target* user or role; the actor (AWS, or whoever lifted the quarantine) is in ``details.actor``.

    State
        None.
    """
    if not record.succeeded:
        return Outcome()
    kind, attached = QUARANTINE_EVENTS[record.event_name]
    request = params(record)
    policy = managed_policy(text(request, "policyArn")) or text(request, "policyName")
    if policy not in QUARANTINE_MANAGED and policy != QUARANTINE_INLINE:
        return Outcome()
    name, target = _target(record, kind)
    verb = "quarantined by AWS (exposed access key)" if attached else "released from AWS's exposed-key quarantine"
    finding = _finding(
        record,
        name=QUARANTINE,
        severity=Severity.HIGH if attached else Severity.MEDIUM,
        title=f"IAM {kind} {name} {verb}",
        principal=target,
        playbook=None,
        details={"target": target, "target_type": kind, "quarantine_policy": policy, "quarantined": attached},
    )
    return Outcome((finding,))


# ---------------------------------------------------------------------------------------------------
# bedrock-knowledge-agent-tampering
# ---------------------------------------------------------------------------------------------------

TAMPERING = "bedrock-knowledge-agent-tampering"
MASS_WINDOW = timedelta(minutes=60)
MASS_DELETIONS = 3
MAX_DELETIONS = 50
KNOWLEDGE_EVENTS = frozenset(
    {
        "CreateKnowledgeBase",
        "UpdateKnowledgeBase",
        "DeleteKnowledgeBase",
        "CreateDataSource",
        "UpdateDataSource",
        "DeleteDataSource",
        "StartIngestionJob",
        "IngestKnowledgeBaseDocuments",
        "DeleteKnowledgeBaseDocuments",
    }
)
AGENT_EVENTS = frozenset(
    {
        "CreateAgent",
        "UpdateAgent",
        "DeleteAgent",
        "CreateAgentActionGroup",
        "UpdateAgentActionGroup",
        "DeleteAgentActionGroup",
        "CreateAgentAlias",
        "UpdateAgentAlias",
        "DeleteAgentAlias",
        "DeleteAgentVersion",
        "AssociateAgentKnowledgeBase",
        "UpdateAgentKnowledgeBase",
        "DisassociateAgentKnowledgeBase",
        "AssociateAgentCollaborator",
        "UpdateAgentCollaborator",
        "DisassociateAgentCollaborator",
    }
)
DELETIONS = frozenset(
    {
        "DeleteKnowledgeBase",
        "DeleteDataSource",
        "DeleteAgent",
        "DeleteAgentActionGroup",
        "DeleteAgentAlias",
        "DeleteAgentVersion",
        "DisassociateAgentKnowledgeBase",
        "DisassociateAgentCollaborator",
    }
)


class Deletion(BaseModel):
    model_config = ConfigDict(defer_build=True)

    event_id: Name
    time: datetime
    event_name: Name
    root: Arn
    """The knowledge base or agent the deletion belongs to: a mass deletion counts these, not calls."""


class DeletionWindow(BaseModel):
    model_config = ConfigDict(defer_build=True)

    deletions: list[Deletion] = Field(default_factory=list)
    alerted_until: datetime | None = None


def _root(record: CloudTrailRecord) -> str | None:
    """The ARN of the agent or knowledge base a call changes (an alias, action group or data source's parent)."""
    request, answer = params(record), response(record)
    where = f"arn:{partition(record)}:bedrock:{record.aws_region}:{record.account}"
    if record.event_name in AGENT_EVENTS:
        arn = text(answer, "agent", "agentArn")
        agent = text(request, "agentId") or text(answer, "agent", "agentId") or text(answer, "agentId")
        return arn or (f"{where}:agent/{agent}" if agent else None)
    arn = text(answer, "knowledgeBase", "knowledgeBaseArn")
    base = (
        text(request, "knowledgeBaseId")
        or text(answer, "knowledgeBase", "knowledgeBaseId")
        or text(answer, "dataSource", "knowledgeBaseId")
        or text(answer, "knowledgeBaseId")
    )
    return arn or (f"{where}:knowledge-base/{base}" if base else None)


def _actor_key(record: CloudTrailRecord) -> str:
    return actor_arn(record)


@detector(
    name=TAMPERING,
    family=Family.POLICY_CHANGE,
    state=DeletionWindow,
    consumes=frozenset({(BEDROCK, name) for name in KNOWLEDGE_EVENTS | AGENT_EVENTS}),
    key=_actor_key,
    retention=2 * MASS_WINDOW,
)
def bedrock_knowledge_agent_tampering(
    record: CloudTrailRecord, state: DeletionWindow, settings: Settings
) -> Outcome[DeletionWindow]:
    """Bedrock knowledge bases, data sources, ingestion or agents changed; many of them deleted at once.

    What it detects
        Every successful write to a knowledge base, its data sources and ingestion, an agent, its action
        groups, aliases, versions, collaborators and knowledge-base associations (LOW, one finding per
        change; the service merges repeats on one resource within the hour). And a mass deletion: at
        least :data:`MASS_DELETIONS` distinct agents or knowledge bases losing a part or being deleted by
        one principal within :data:`MASS_WINDOW` (HIGH).

    Why it matters
        A RAG corpus or an agent's action group is code and data the model trusts: a poisoned data
        source or a new action group changes what the application answers or does (Elastic's knowledge
        base poisoning and agent manipulation rules). A burst of deletions is sabotage or cover-up
        (Sumo Logic's knowledge-base mass-deletion threshold is 3 in 60 minutes).

    When it fires
        LOW on each change, ``principal`` the *resource* (agent or knowledge base ARN), so that one
        resource's churn merges into one finding. HIGH once per burst, ``principal`` the *actor*;
        deleting one agent with its aliases and action groups counts once.

    Response playbook
        None (notify).

    State
        :class:`DeletionWindow` per actor: its deletions of the last :data:`MASS_WINDOW` (at most
        :data:`MAX_DELETIONS`) and until when a burst is already reported; kept two windows.
    """
    if not record.succeeded or any(d.event_id == record.event_id for d in state.deletions):
        return Outcome()
    root = _root(record)
    low = _finding(
        record,
        name=TAMPERING,
        severity=Severity.LOW,
        title=f"Bedrock {'agent' if record.event_name in AGENT_EVENTS else 'knowledge base'} changed: "
        f"{record.event_name}",
        principal=root or actor_arn(record),
        playbook=None,
        details={"resource": root},
    )
    if record.event_name not in DELETIONS:
        return Outcome((low,))
    deletion = Deletion(
        event_id=record.event_id, time=record.event_time, event_name=record.event_name, root=root or record.event_id
    )
    latest = max([record.event_time, *(d.time for d in state.deletions)])
    kept = [d for d in [*state.deletions, deletion] if d.time >= shifted(latest, -MASS_WINDOW)]
    kept = sorted(kept, key=lambda d: (d.time, d.event_id))[-MAX_DELETIONS:]
    window = DeletionWindow(deletions=kept, alerted_until=state.alerted_until)
    burst = _burst(window)
    if burst is None:
        return Outcome((low,), window)
    window.alerted_until = shifted(burst[-1].time, MASS_WINDOW)
    return Outcome((low, _mass_finding(record, burst)), window)


def _burst(window: DeletionWindow) -> list[Deletion] | None:
    """The first run of deletions within one window that touches enough roots and is not yet reported."""
    for start, first in enumerate(window.deletions):
        run = [d for d in window.deletions[start:] if d.time <= shifted(first.time, MASS_WINDOW)]
        fresh = window.alerted_until is None or run[-1].time > window.alerted_until
        if fresh and len({d.root for d in run}) >= MASS_DELETIONS:
            return run
    return None


def _mass_finding(record: CloudTrailRecord, burst: list[Deletion]) -> Finding:
    roots = cut((d.root for d in burst), MAX_DELETIONS)
    return _finding(
        record,
        name=TAMPERING,
        severity=Severity.HIGH,
        title=f"Mass deletion of Bedrock agents or knowledge bases: {len(roots)} in "
        f"{int(MASS_WINDOW.total_seconds() // 60)} minutes",
        principal=actor_arn(record),
        access_key_id=record.user_identity.access_key_id,
        playbook=None,
        evidence=[d.event_id for d in burst],
        first_seen=burst[0].time,
        details={"resources": roots, "deletions": len(burst), "calls": cut(d.event_name for d in burst)},
    )


# ---------------------------------------------------------------------------------------------------
# permissions-boundary-removed
# ---------------------------------------------------------------------------------------------------

BOUNDARY = "permissions-boundary-removed"
BOUNDARY_EVENTS: dict[str, IamKind] = {
    "DeleteUserPermissionsBoundary": "user",
    "DeleteRolePermissionsBoundary": "role",
    "PutUserPermissionsBoundary": "user",
    "PutRolePermissionsBoundary": "role",
}
PERMISSIVE_BOUNDARIES = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"})


@detector(
    name=BOUNDARY,
    family=Family.POLICY_CHANGE,
    state=None,
    consumes=frozenset({(IAM, name) for name in BOUNDARY_EVENTS}),
)
def permissions_boundary_removed(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
    """A user's or role's permissions boundary removed, or replaced by one that bounds nothing.

    What it detects
        ``DeleteUserPermissionsBoundary`` / ``DeleteRolePermissionsBoundary``, and
        ``Put...PermissionsBoundary`` with ``AdministratorAccess``, ``PowerUserAccess`` or
        ``IAMFullAccess`` as the boundary (MEDIUM).

    Why it matters
        Boundaries are how delegated administrators and pipelines are kept from granting more than
        they hold; removing one turns every policy the identity has, or is later given, into real
        permissions. (The corpus's backdoor role is created with ``AWSDenyAll`` as its boundary: the
        boundary's removal is what arms it.)

    When it fires
        On each successful removal or permissive replacement.

    Response playbook
        ``revert-policy-change``: ``principal`` is the *target* user or role; the actor is in
        ``details.actor``. The removed boundary is not in the event; the playbook must take it from its
        own records or the account's configuration history.

    State
        None.
    """
    if not record.succeeded:
        return Outcome()
    kind = BOUNDARY_EVENTS[record.event_name]
    boundary = text(params(record), "permissionsBoundary")
    replaced = record.event_name.startswith("Put")
    if replaced and managed_policy(boundary) not in PERMISSIVE_BOUNDARIES:
        return Outcome()
    name, target = _target(record, kind)
    what = f"replaced by {managed_policy(boundary)}" if replaced else "removed"
    finding = _finding(
        record,
        name=BOUNDARY,
        severity=Severity.MEDIUM,
        title=f"Permissions boundary of IAM {kind} {name} {what}",
        principal=target,
        playbook="revert-policy-change",
        details={"target": target, "target_type": kind, "new_boundary": boundary if replaced else None},
    )
    return Outcome((finding,))
