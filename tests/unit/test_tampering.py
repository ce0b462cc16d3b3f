"""warden-tampering: CloudTrail blinded or Warden changed by anyone but its deployment role."""

from __future__ import annotations

import copy
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS, load_json
from tests.fakes import run, service
from warden.detectors import REGISTRY
from warden.detectors import tampering as rule
from warden.models import Family, Severity
from warden.settings import DEFAULT_SETTINGS, Settings

SEQUENCES = EVENTS / "sequences"
POSITIVE = sorted(SEQUENCES.glob("warden-tampering__positive__*.json"))
NEGATIVE = sorted(SEQUENCES.glob("warden-tampering__negative__*.json"))
ACCOUNT = "123456789012"
STOLEN_USER = f"arn:aws:iam::{ACCOUNT}:user/ml-batch-svc"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/warden-deployer"
SETTINGS = Settings(
    account_id=ACCOUNT,
    deployment_principals=frozenset({DEPLOYER}),
    warden_stack_name="warden",
    invocation_log_bucket="warden-invocation-logs-123456789012",
    invocation_log_group="/aws/bedrock/warden-invocations",
)
RULE = "warden-BedrockUsageDetectorFunctionBedrockApiCalls-1T2XQ8KZ9P0LM"
FUNCTION = "warden-BedrockUsageDetectorFunction-Zr4nA8c1LqVe"
EXPECTED_REASON = {
    "warden-tampering__positive__stop_logging": "CloudTrail logging stopped",
    "warden-tampering__positive__detector_rule_disabled": f"Warden's rule {RULE}: rule disabled",
    "warden-tampering__positive__event_selectors_drop_management": "management events no longer logged",
    "warden-tampering__positive__invocation_log_bucket_notifications_removed": (
        "Warden's invocation-log bucket warden-invocation-logs-123456789012: bucket notifications replaced"
    ),
}


def _svc(settings: Settings = SETTINGS) -> Any:
    return service(family=Family.POLICY_CHANGE, settings=settings)


def _only(settings: Settings = SETTINGS) -> Any:
    return service(detectors=[rule.NAME], settings=settings)


def test_there_are_positive_and_negative_samples() -> None:
    assert {p.stem for p in POSITIVE} == set(EXPECTED_REASON)
    assert len(NEGATIVE) >= 2


@pytest.mark.parametrize("path", POSITIVE, ids=lambda p: p.stem)
def test_positive_sequence_raises_one_critical_finding_on_the_actor(path: Path) -> None:
    (finding,) = run(json.loads(path.read_text()), _svc())

    assert finding.detector == "warden-tampering"
    assert finding.family is Family.POLICY_CHANGE
    assert finding.severity is Severity.CRITICAL
    assert finding.principal == STOLEN_USER
    assert finding.access_key_id == "AKIAEXAMPLEBATCHSVC1"
    assert finding.playbook is None
    assert finding.details["reasons"][0] == EXPECTED_REASON[path.stem]
    assert finding.details["by_deployment_principal"] is False


@pytest.mark.parametrize("path", NEGATIVE, ids=lambda p: p.stem)
def test_negative_sequence_raises_nothing(path: Path) -> None:
    assert run(json.loads(path.read_text()), _svc()) == []


def test_the_module_documents_its_playbook_and_registers_in_the_family() -> None:
    assert REGISTRY[rule.NAME].family is Family.POLICY_CHANGE
    for section in ("What it detects", "Why it matters", "When it fires", "Response playbook", "State"):
        assert section in (rule.__doc__ or "")


# --- single events ------------------------------------------------------------------------------------

TEMPLATE = load_json("sequences/warden-tampering__positive__stop_logging.json")[0]
DEPLOYER_SESSION = load_json("sequences/warden-tampering__negative__deployment_role_updates_warden.json")[0]["detail"][
    "userIdentity"
]


def _event(
    source: str,
    name: str,
    request: dict[str, Any] | None,
    answer: dict[str, Any] | None = None,
    *,
    identity: dict[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(TEMPLATE)
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{name}/{json.dumps(request)}/{error}"))
    event["detail"].update(
        eventSource=source, eventName=name, eventID=event_id, requestParameters=request, responseElements=answer
    )
    if identity:
        event["detail"]["userIdentity"] = copy.deepcopy(identity)
    if error:
        event["detail"]["errorCode"] = error
    event.update(id=f"eb-{event_id}", source=f"aws.{source.split('.')[0]}")
    return event


def _judge(event: dict[str, Any], settings: Settings = SETTINGS) -> tuple[Severity, list[str]] | None:
    findings = run([event], _only(settings))
    assert len(findings) <= 1
    return (findings[0].severity, findings[0].details["reasons"]) if findings else None


def test_trail_changes_count_whoever_makes_them() -> None:
    stop = _event(rule.CLOUDTRAIL, "StopLogging", {"name": "management-events"}, identity=DEPLOYER_SESSION)

    judged = _judge(stop)

    assert judged == (Severity.CRITICAL, ["CloudTrail logging stopped"])


def test_the_deployment_role_may_change_wardens_rule_but_nobody_else() -> None:
    disable = {"name": RULE}

    assert _judge(_event(rule.EVENTS, "DisableRule", disable, identity=DEPLOYER_SESSION)) is None
    assert _judge(_event(rule.EVENTS, "DisableRule", disable)) == (
        Severity.CRITICAL,
        [f"Warden's rule {RULE}: rule disabled"],
    )


def test_a_denied_attempt_is_medium() -> None:
    event = _event(rule.LAMBDA, "DeleteFunction20150331", {"functionName": FUNCTION}, error="AccessDeniedException")

    judged = _judge(event)

    assert judged == (
        Severity.MEDIUM,
        [f"attempted (AccessDeniedException): Warden's function {FUNCTION}: function deleted"],
    )


@pytest.mark.parametrize(
    ("source", "name", "request_parameters", "answer"),
    [
        (
            rule.LAMBDA,
            "UpdateFunctionCode20150331v2",
            {"functionName": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}:7"},
            None,
        ),
        (
            rule.LAMBDA,
            "PutFunctionConcurrency20171031",
            {"functionName": FUNCTION, "reservedConcurrentExecutions": 0},
            None,
        ),
        (
            rule.LAMBDA,
            "DeleteEventSourceMapping20150331",
            {"uuid": "a1b2"},
            {"functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}"},
        ),
        (rule.LAMBDA, "DeleteLayerVersion20181031", {"layerName": "warden-WardenLayer", "versionNumber": 7}, None),
        (rule.EVENTS, "RemoveTargets", {"rule": RULE, "ids": ["DetectorTarget"]}, None),
        (rule.EVENTS, "PutRule", {"name": RULE, "state": "DISABLED", "eventPattern": "{}"}, None),
        (rule.EVENTS, "DeleteEventBus", {"name": "warden-FindingsBus"}, None),
        (
            rule.STATES,
            "UpdateStateMachine",
            {"stateMachineArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:warden-ContainAccessKey"},
            None,
        ),
        (
            rule.CLOUDFORMATION,
            "DeleteStack",
            {"stackName": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/warden/6b1e2f10"},
            None,
        ),
        (
            rule.CLOUDFORMATION,
            "UpdateTerminationProtection",
            {"stackName": "warden", "enableTerminationProtection": False},
            None,
        ),
        (
            rule.SNS,
            "Unsubscribe",
            {"subscriptionArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:warden-AlarmTopic-9KQ:0b1c2d3e"},
            None,
        ),
        (rule.DYNAMODB, "DeleteTable", {"tableName": "warden-DetectorStateTable-1XYZ"}, None),
        (
            rule.LOGS,
            "DeleteSubscriptionFilter",
            {"logGroupName": "/aws/bedrock/warden-invocations", "filterName": "warden"},
            None,
        ),
        (rule.S3, "DeleteBucketPolicy", {"bucketName": "warden-invocation-logs-123456789012"}, None),
    ],
)
def test_changes_to_wardens_resources_are_critical(
    source: str, name: str, request_parameters: dict[str, Any], answer: dict[str, Any] | None
) -> None:
    assert (source, name) in rule.ALARM_EVENTS
    judged = _judge(_event(source, name, request_parameters, answer))

    assert judged is not None
    assert judged[0] is Severity.CRITICAL


@pytest.mark.parametrize(
    ("source", "name", "request_parameters"),
    [
        (
            rule.CLOUDFORMATION,
            "UpdateTerminationProtection",
            {"stackName": "warden", "enableTerminationProtection": True},
        ),
        (rule.CLOUDFORMATION, "DeleteStack", {"stackName": "wardenette"}),
        (rule.LAMBDA, "DeleteFunction20150331", {"functionName": "orders-api"}),
        (rule.S3, "DeleteBucketPolicy", {"bucketName": "team-logs"}),
        (rule.LOGS, "DeleteLogGroup", {"logGroupName": "/aws/lambda/orders-api"}),
    ],
)
def test_other_resources_and_protective_changes_are_not_findings(
    source: str, name: str, request_parameters: dict[str, Any]
) -> None:
    assert _judge(_event(source, name, request_parameters)) is None


def test_named_resources_match_by_name_or_arn_without_a_stack_name() -> None:
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bedrock-guard-detector"
    settings = Settings(warden_resources=frozenset({arn}))
    event = _event(rule.LAMBDA, "UpdateFunctionConfiguration20150331v2", {"functionName": "bedrock-guard-detector"})

    assert _judge(event, settings) is not None
    assert _judge(event, DEFAULT_SETTINGS) is None


@pytest.mark.parametrize(
    ("request_parameters", "severity", "reason"),
    [
        ({"name": "t", "isMultiRegionTrail": False}, Severity.CRITICAL, "trail limited to one region"),
        ({"name": "t", "s3BucketName": "elsewhere"}, Severity.CRITICAL, "logs moved to another S3 bucket"),
        ({"name": "t", "enableLogFileValidation": False}, Severity.HIGH, "log file validation turned off"),
        (
            {"name": "t", "snsTopicName": "trail-deliveries"},
            Severity.LOW,
            "trail settings changed without narrowing what it logs",
        ),
    ],
)
def test_trail_updates_are_judged_by_what_they_narrow(
    request_parameters: dict[str, Any], severity: Severity, reason: str
) -> None:
    judged = _judge(_event(rule.CLOUDTRAIL, "UpdateTrail", request_parameters))

    assert judged is not None
    assert judged[0] is severity
    assert judged[1][0] == reason


def _advanced(*selectors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"trailName": "t", "advancedEventSelectors": [{"name": "s", "fieldSelectors": f} for f in selectors]}


MANAGEMENT = {"field": "eventCategory", "equals": ["Management"]}


@pytest.mark.parametrize(
    ("request_parameters", "expected"),
    [
        (
            {"trailName": "t", "eventSelectors": [{"readWriteType": "WriteOnly"}]},
            (Severity.HIGH, "read-only management events no longer logged"),
        ),
        (
            {"trailName": "t", "eventSelectors": [{"readWriteType": "ReadOnly"}]},
            (Severity.CRITICAL, "write management events no longer logged"),
        ),
        (
            {
                "trailName": "t",
                "eventSelectors": [{"readWriteType": "All", "excludeManagementEventSources": ["kms.amazonaws.com"]}],
            },
            None,
        ),
        (
            _advanced([MANAGEMENT, {"field": "readOnly", "equals": ["true"]}]),
            (Severity.CRITICAL, "write management events no longer logged"),
        ),
        (
            _advanced([MANAGEMENT, {"field": "eventSource", "notEquals": ["bedrock.amazonaws.com"]}]),
            (Severity.CRITICAL, "management events of bedrock.amazonaws.com no longer logged"),
        ),
        (
            _advanced([{"field": "eventCategory", "equals": ["Data"]}]),
            (Severity.CRITICAL, "management events no longer logged"),
        ),
        (
            _advanced(
                [MANAGEMENT, {"field": "readOnly", "equals": ["true"]}],
                [MANAGEMENT, {"field": "readOnly", "equals": ["false"]}],
            ),
            None,
        ),
    ],
)
def test_event_selectors_are_judged_by_the_management_events_they_keep(
    request_parameters: dict[str, Any], expected: tuple[Severity, str] | None
) -> None:
    judged = _judge(_event(rule.CLOUDTRAIL, "PutEventSelectors", request_parameters))

    assert ((judged[0], judged[1][0]) if judged else None) == expected


def test_insights_turned_off_is_low_and_turned_on_is_nothing() -> None:
    off = _event(rule.CLOUDTRAIL, "PutInsightSelectors", {"trailName": "t", "insightSelectors": []})
    on = _event(
        rule.CLOUDTRAIL,
        "PutInsightSelectors",
        {"trailName": "t", "insightSelectors": [{"insightType": "ApiCallRateInsight"}]},
    )

    assert _judge(off) == (Severity.LOW, ["CloudTrail Insights turned off"])
    assert _judge(on) is None


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("orders-api", "orders-api"),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders-api:3", "orders-api"),
        (f"{ACCOUNT}:function:orders-api", "orders-api"),
        (f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/warden/6b1e2f10", "warden"),
        (f"arn:aws:events:us-east-1:{ACCOUNT}:rule/warden-findings/warden-Route-1", "warden-Route-1"),
        (f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:warden-Contain", "warden-Contain"),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:warden-WardenLayer:7", "warden-WardenLayer"),
        (f"arn:aws:sns:us-east-1:{ACCOUNT}:warden-AlarmTopic", "warden-AlarmTopic"),
        ("arn:aws:s3:::warden-invocation-logs", "warden-invocation-logs"),
        (f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/warden-State", "warden-State"),
    ],
)
def test_resource_names_are_read_from_names_and_arns(value: str, name: str) -> None:
    assert rule.resource_name(value) == name


def test_alarm_events_are_exact_consumed_pairs_with_lambdas_versioned_names() -> None:
    assert REGISTRY[rule.NAME].consumes >= rule.ALARM_EVENTS
    lambda_names = {name for source, name in rule.ALARM_EVENTS if source == rule.LAMBDA}
    versioned = {"UpdateFunctionCode20150331v2", "UpdateFunctionConfiguration20150331v2", "DeleteFunction20150331"}
    assert versioned <= lambda_names
    assert all(re.fullmatch(r"[A-Za-z0-9]+", name) for _, name in rule.ALARM_EVENTS)
    assert (rule.CLOUDTRAIL, "PutInsightSelectors") not in rule.ALARM_EVENTS, "too benign to page anyone"


def test_without_deployment_principals_a_stack_deployment_is_low_once_and_direct_changes_stay_critical() -> None:
    unset = SETTINGS.model_copy(update={"deployment_principals": frozenset()})
    admin = {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/platform-admin", "accountId": "123456789012"}
    through_cfn = {**admin, "invokedBy": "cloudformation.amazonaws.com"}
    stack = SETTINGS.warden_stack_name

    deploy = _judge(_event(rule.CLOUDFORMATION, "ExecuteChangeSet", {"stackName": stack}, identity=admin), unset)
    by_cfn = _judge(
        _event(rule.LAMBDA, "UpdateFunctionCode20150331v2", {"functionName": FUNCTION}, identity=through_cfn), unset
    )
    direct = _judge(
        _event(rule.LAMBDA, "UpdateFunctionCode20150331v2", {"functionName": FUNCTION}, identity=admin), unset
    )
    deleted = _judge(_event(rule.CLOUDFORMATION, "DeleteStack", {"stackName": stack}, identity=admin), unset)

    assert deploy is not None and deploy[0] is Severity.LOW
    assert by_cfn is None
    assert direct is not None and direct[0] is Severity.CRITICAL
    assert deleted is not None and deleted[0] is Severity.CRITICAL
