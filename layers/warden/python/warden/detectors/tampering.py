"""policy-change / warden-tampering: CloudTrail blinded, or Warden itself disabled, redirected or changed.

What it detects
    * CloudTrail: ``StopLogging``, ``DeleteTrail``; an ``UpdateTrail`` that narrows or moves the trail
      (single region, no global service events, another bucket, log file validation off, another KMS
      key); ``PutEventSelectors`` whose basic or advanced selectors stop logging management events, or
      their writes, reads, or the events of Bedrock, IAM or STS; ``PutInsightSelectors`` that turns
      Insights off. Whoever makes them, the deployment role included.
    * Warden's resources, by anyone not in ``settings.deployment_principals`` (a session matches by its
      role, a path or letter case notwithstanding): its EventBridge rules disabled, deleted, redefined
      (``PutRule``) or retargeted (``RemoveTargets``, ``PutTargets``), its event bus deleted; its
      functions' code, configuration, concurrency, permissions, asynchronous destinations or event
      source mappings changed, or the functions deleted; its layer published or deleted; its state
      machines updated or deleted; its CloudFormation stack updated, deleted, changed by change set or
      stripped of termination protection; its SNS topics deleted, reconfigured or unsubscribed; its
      DynamoDB tables deleted. A resource is Warden's when its name or ARN is in
      ``settings.warden_resources`` or its name starts with ``settings.warden_stack_name + "-"`` (the
      stack itself: equal to it).
    * The invocation-log feed: the notification configuration or policy of
      ``settings.invocation_log_bucket`` changed or deleted, or the bucket deleted; the subscription
      filters of ``settings.invocation_log_group`` changed or deleted, or the group deleted.

Why it matters
    An attacker who knows Warden is there disables it before the loud part of the attack, and stopping
    the trail blinds every detector at once (EventBridge receives CloudTrail's management events only
    while a trail logs them). The finding therefore must not depend on what was tampered with: the
    template's second, Lambda-free rule sends :data:`ALARM_EVENTS` straight to the alarm topic, and
    this detector adds the judgement (whose resource, who did it) where it still runs.

When it fires
    CRITICAL for a successful change, MEDIUM for a failed attempt (denied or invalid: still an attempt
    on Warden). ``UpdateTrail`` that only adds or changes settings without narrowing coverage is LOW.
    A deployment of the Warden stack by its deployment role (``ExecuteChangeSet``, then the function and
    rule updates CloudFormation makes with the role's session) is not a finding; Warden's own roles
    never reach detectors. While ``DeploymentPrincipals`` is not configured, a stack update or change
    set is taken for a deployment and reported LOW once, and the changes CloudFormation makes for it are
    not findings; direct changes and deletions stay CRITICAL.

Response playbook
    None: a playbook runs on what may have been tampered with. ``principal`` is the actor; the
    resource is in ``details``.

State
    None: each call is judged alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from warden.detectors._policy import actor, actor_arn, flag, params, response, strings, text
from warden.detectors.registry import Outcome, detector, event_finding
from warden.models import CloudTrailRecord, Family, Finding, Severity
from warden.principals import protected_match
from warden.settings import Settings

NAME = "warden-tampering"
CLOUDTRAIL = "cloudtrail.amazonaws.com"
EVENTS = "events.amazonaws.com"
LAMBDA = "lambda.amazonaws.com"
STATES = "states.amazonaws.com"
CLOUDFORMATION = "cloudformation.amazonaws.com"
S3 = "s3.amazonaws.com"
LOGS = "logs.amazonaws.com"
SNS = "sns.amazonaws.com"
DYNAMODB = "dynamodb.amazonaws.com"

TRAIL_EVENTS = frozenset({"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors", "PutInsightSelectors"})
WARDEN_EVENTS: dict[str, frozenset[str]] = {
    EVENTS: frozenset({"DisableRule", "DeleteRule", "RemoveTargets", "PutTargets", "PutRule", "DeleteEventBus"}),
    LAMBDA: frozenset(
        {
            "UpdateFunctionCode20150331v2",
            "UpdateFunctionConfiguration20150331v2",
            "DeleteFunction20150331",
            "DeleteFunction",
            "PutFunctionConcurrency20171031",
            "AddPermission20150331v2",
            "RemovePermission20150331v2",
            "PutFunctionEventInvokeConfig",
            "UpdateFunctionEventInvokeConfig",
            "DeleteFunctionEventInvokeConfig",
            "UpdateEventSourceMapping20150331",
            "DeleteEventSourceMapping20150331",
            "PublishLayerVersion20181031",
            "DeleteLayerVersion20181031",
        }
    ),
    STATES: frozenset({"UpdateStateMachine", "DeleteStateMachine"}),
    CLOUDFORMATION: frozenset({"UpdateStack", "DeleteStack", "ExecuteChangeSet", "UpdateTerminationProtection"}),
    SNS: frozenset({"DeleteTopic", "SetTopicAttributes", "Unsubscribe"}),
    DYNAMODB: frozenset({"DeleteTable"}),
    S3: frozenset(
        {
            "PutBucketNotification",
            "PutBucketNotificationConfiguration",
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "DeleteBucket",
        }
    ),
    LOGS: frozenset({"PutSubscriptionFilter", "DeleteSubscriptionFilter", "DeleteLogGroup"}),
}
ALARM_EVENTS: frozenset[tuple[str, str]] = frozenset(
    {(CLOUDTRAIL, name) for name in TRAIL_EVENTS - {"PutInsightSelectors"}}
    | {(source, name) for source, names in WARDEN_EVENTS.items() for name in names}
)
"""What the template's Lambda-free alarm rule must send to the alarm topic (narrowed there by resource
name prefix where EventBridge patterns allow)."""
CONSUMES = frozenset({(CLOUDTRAIL, name) for name in TRAIL_EVENTS}) | ALARM_EVENTS

WATCHED_SOURCES = frozenset({"bedrock.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com", CLOUDTRAIL})
"""Management events whose loss blinds Warden (its detectors, and this one)."""

Reasons = tuple[Severity, list[str]]


# --- CloudTrail -------------------------------------------------------------------------------------


def _trail_change(record: CloudTrailRecord) -> Reasons | None:
    request = params(record)
    if record.event_name == "StopLogging":
        return Severity.CRITICAL, ["CloudTrail logging stopped"]
    if record.event_name == "DeleteTrail":
        return Severity.CRITICAL, ["CloudTrail trail deleted"]
    if record.event_name == "UpdateTrail":
        return _trail_update(request)
    if record.event_name == "PutEventSelectors":
        return _selectors(request)
    insights = request.get("insightSelectors")
    return (Severity.LOW, ["CloudTrail Insights turned off"]) if insights == [] else None


def _trail_update(request: Mapping[str, Any]) -> Reasons:
    critical = []
    if flag(request, "isMultiRegionTrail") is False:
        critical.append("trail limited to one region")
    if flag(request, "includeGlobalServiceEvents") is False:
        critical.append("global service events (IAM, STS) excluded")
    if text(request, "s3BucketName"):
        critical.append("logs moved to another S3 bucket")
    high = []
    if flag(request, "enableLogFileValidation") is False:
        high.append("log file validation turned off")
    if "kmsKeyId" in request:
        high.append("log encryption key changed")
    if critical:
        return Severity.CRITICAL, critical + high
    if high:
        return Severity.HIGH, high
    return Severity.LOW, ["trail settings changed without narrowing what it logs"]


def _selectors(request: Mapping[str, Any]) -> Reasons | None:
    basic, advanced = request.get("eventSelectors"), request.get("advancedEventSelectors")
    if isinstance(advanced, list):
        coverage = [_advanced(item) for item in advanced if isinstance(item, dict)]
    elif isinstance(basic, list):
        coverage = [_basic(item) for item in basic if isinstance(item, dict)]
    else:
        return None
    return _coverage_problems([c for c in coverage if c is not None])


Coverage = tuple[bool, bool, frozenset[str] | None, frozenset[str]]
"""One selector's management events: (writes, reads, only these sources or None for all, excluded sources)."""


def _basic(selector: Mapping[str, Any]) -> Coverage | None:
    if flag(selector, "includeManagementEvents") is False:
        return None
    kind = text(selector, "readWriteType") or "All"
    excluded = frozenset(strings(selector.get("excludeManagementEventSources")))
    return kind in ("All", "WriteOnly"), kind in ("All", "ReadOnly"), None, excluded


def _advanced(selector: Mapping[str, Any]) -> Coverage | None:
    fields: dict[str, Mapping[str, Any]] = {}
    for item in selector.get("fieldSelectors") or []:
        if isinstance(item, dict) and (name := text(item, "field")):
            fields[name] = item
    if "Management" not in strings((fields.get("eventCategory") or {}).get("equals")):
        return None
    read_only = strings((fields.get("readOnly") or {}).get("equals"))
    sources = fields.get("eventSource") or {}
    only = frozenset(strings(sources.get("equals"))) or None
    excluded = frozenset(strings(sources.get("notEquals")))
    return (not read_only or "false" in read_only), (not read_only or "true" in read_only), only, excluded


def _coverage_problems(coverage: list[Coverage]) -> Reasons | None:
    if not coverage:
        return Severity.CRITICAL, ["management events no longer logged"]
    critical, high = [], []
    if not any(writes for writes, _, _, _ in coverage):
        critical.append("write management events no longer logged")
    if not any(reads for _, reads, _, _ in coverage):
        high.append("read-only management events no longer logged")
    missing = [s for s in sorted(WATCHED_SOURCES) if not any(_covers(c, s) for c in coverage)]
    if missing:
        critical.append(f"management events of {', '.join(missing)} no longer logged")
    if critical:
        return Severity.CRITICAL, critical + high
    return (Severity.HIGH, high) if high else None


def _covers(coverage: Coverage, source: str) -> bool:
    _, _, only, excluded = coverage
    return (only is None or source in only) and source not in excluded


# --- Warden's resources -----------------------------------------------------------------------------


def resource_name(value: str) -> str:
    """The name in an ARN (``...:function:name:3`` -> ``name``, ``...:stack/name/id`` -> ``name``), or the value."""
    if ":function:" in value:
        return value.split(":function:", 1)[1].split(":")[0]
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return value
    service, resource = parts[2], parts[5]
    if service == "cloudformation":
        return resource.split("/")[1] if "/" in resource else resource
    if service == "s3":
        return resource.split("/")[0]
    if service in ("sns", "sqs"):
        return parts[5].split(":")[0]
    if ":" in resource:
        return resource.split(":")[1]
    return resource.rsplit("/", 1)[-1]


def _topic(subscription: str) -> str:
    return subscription.rsplit(":", 1)[0]


Targets = list[tuple[str, str]]
"""(kind, name or ARN) of what a call changes."""


def _named(kind: str, *values: str | None) -> Targets:
    return [(kind, v) for v in values if v]


TARGETS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Targets]] = {
    EVENTS: lambda p, r: (
        _named("rule", text(p, "name"), text(p, "rule")) + _named("event bus", text(p, "eventBusName"))
    ),
    LAMBDA: lambda p, r: (
        _named("function", text(p, "functionName"), text(r, "functionArn")) + _named("layer", text(p, "layerName"))
    ),
    STATES: lambda p, r: _named("state machine", text(p, "stateMachineArn")),
    CLOUDFORMATION: lambda p, r: _named("stack", text(p, "stackName")),
    SNS: lambda p, r: _named("topic", text(p, "topicArn"), _topic(text(p, "subscriptionArn") or "")),
    DYNAMODB: lambda p, r: _named("table", text(p, "tableName")),
    S3: lambda p, r: _named("invocation-log bucket", text(p, "bucketName")),
    LOGS: lambda p, r: _named("invocation-log group", text(p, "logGroupName")),
}


def _targets(record: CloudTrailRecord) -> Targets:
    if record.event_name == "DeleteEventBus":
        return _named("event bus", text(params(record), "name"))
    return TARGETS[record.event_source](params(record), response(record))


def _wardens(settings: Settings, kind: str, value: str) -> bool:
    name = resource_name(value)
    if kind == "invocation-log bucket":
        return name == settings.invocation_log_bucket
    if kind == "invocation-log group":
        return name == settings.invocation_log_group
    if value in settings.warden_resources or name in {resource_name(r) for r in settings.warden_resources}:
        return True
    stack = settings.warden_stack_name
    return bool(stack) and (name == stack or name.startswith(f"{stack}-"))


def _deployer(record: CloudTrailRecord, settings: Settings) -> str | None:
    return next((m for arn in record.actor_arns if (m := protected_match(arn, settings.deployment_principals))), None)


DEPLOYMENT_CALLS = frozenset({"UpdateStack", "ExecuteChangeSet"})
"""How a deployment starts; the resource changes that follow are made through CloudFormation."""


def _unattributed_deployment(record: CloudTrailRecord, settings: Settings) -> bool:
    """A deployment of the stack while no deployment principal is configured: not tampering, but said (LOW).

    Without ``DeploymentPrincipals`` Warden cannot tell its deployer from anyone else; a stack update, and
    a change CloudFormation makes on someone's behalf, is then taken for a deployment. Changes made
    directly (not through CloudFormation) and deletions stay CRITICAL whoever makes them.
    """
    if settings.deployment_principals:
        return False
    through_cloudformation = record.user_identity.invoked_by == CLOUDFORMATION
    return through_cloudformation or (record.event_source == CLOUDFORMATION and record.event_name in DEPLOYMENT_CALLS)


def _warden_change(record: CloudTrailRecord, settings: Settings) -> tuple[Reasons, list[str]] | None:
    touched = [f"{kind} {value}" for kind, value in _targets(record) if _wardens(settings, kind, value)]
    if not touched or _deployer(record, settings):
        return None
    if _unattributed_deployment(record, settings):
        if record.event_source != CLOUDFORMATION:
            return None  # one LOW finding per deployment (its UpdateStack or ExecuteChangeSet), not per resource
        return (
            Severity.LOW,
            [f"Warden's {touched[0]}: deployed (set DeploymentPrincipals to tell deployers apart)"],
        ), touched
    request = params(record)
    if record.event_name == "PutRule" and (text(request, "state") or "").upper() == "DISABLED":
        what = "rule disabled"
    elif record.event_name == "UpdateTerminationProtection" and flag(request, "enableTerminationProtection"):
        return None  # protection turned on
    else:
        what = _VERBS.get(record.event_name, record.event_name)
    return (Severity.CRITICAL, [f"Warden's {touched[0]}: {what}"]), touched


_VERBS = {
    "DisableRule": "rule disabled",
    "DeleteRule": "rule deleted",
    "RemoveTargets": "targets removed",
    "PutTargets": "targets replaced",
    "PutRule": "rule redefined",
    "DeleteEventBus": "event bus deleted",
    "DeleteFunction20150331": "function deleted",
    "DeleteFunction": "function deleted",
    "UpdateFunctionCode20150331v2": "function code replaced",
    "UpdateFunctionConfiguration20150331v2": "function configuration changed",
    "PutFunctionConcurrency20171031": "function concurrency changed (0 stops it)",
    "AddPermission20150331v2": "function opened to another invoker",
    "RemovePermission20150331v2": "function invoke permission removed",
    "DeleteEventSourceMapping20150331": "function's event source removed",
    "UpdateEventSourceMapping20150331": "function's event source changed",
    "DeleteStateMachine": "state machine deleted",
    "UpdateStateMachine": "state machine changed",
    "DeleteStack": "stack deleted",
    "UpdateStack": "stack updated",
    "ExecuteChangeSet": "stack changed by change set",
    "UpdateTerminationProtection": "stack termination protection turned off",
    "DeleteTopic": "topic deleted",
    "Unsubscribe": "subscription removed",
    "DeleteTable": "table deleted",
    "DeleteBucket": "bucket deleted",
    "DeleteBucketPolicy": "bucket policy deleted",
    "PutBucketPolicy": "bucket policy replaced",
    "PutBucketNotification": "bucket notifications replaced",
    "PutBucketNotificationConfiguration": "bucket notifications replaced",
    "DeleteSubscriptionFilter": "subscription filter deleted",
    "PutSubscriptionFilter": "subscription filter replaced",
    "DeleteLogGroup": "log group deleted",
}


@detector(name=NAME, family=Family.POLICY_CHANGE, state=None, consumes=CONSUMES)
def warden_tampering(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
    """CloudTrail blinded, or Warden's rules, functions, state machines, stack or log feed changed by others."""
    if record.event_source == CLOUDTRAIL:
        change = _trail_change(record)
        resources = [f"trail {text(params(record), 'name') or text(params(record), 'trailName') or 'unknown'}"]
    else:
        judged = _warden_change(record, settings)
        change, resources = judged if judged else (None, [])
    if change is None:
        return Outcome()
    return Outcome((_tampering_finding(record, change, resources, settings),))


def _tampering_finding(
    record: CloudTrailRecord, change: Reasons, resources: Iterable[str], settings: Settings
) -> Finding:
    severity, reasons = change
    if not record.succeeded:
        severity, reasons = Severity.MEDIUM, [f"attempted ({record.error_code}): {r}" for r in reasons]
    return event_finding(
        record,
        detector=NAME,
        family=Family.POLICY_CHANGE,
        severity=severity,
        title=f"Tampering with Warden's visibility: {reasons[0]}",
        principal=actor_arn(record),
        access_key_id=record.user_identity.access_key_id,
        playbook=None,
        details={
            "action": record.event_name,
            "event_source": record.event_source,
            "reasons": reasons,
            "resources": list(resources),
            "by_deployment_principal": _deployer(record, settings) is not None,
            "error_code": record.error_code,
            **actor(record),
        },
    )
