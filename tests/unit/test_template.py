"""template.yaml and the state machines keep the promises the code relies on.

These read the template itself: the rules must deliver every event the detectors consume (with the
rule state that read-only events need), each to one function of the detector's family and once,
every asynchronous hop must keep what it cannot deliver, and every state machine must be
JSONPath-only with Retry and Catch on every Task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from warden.config import DetectorConfig, ResponseConfig
from warden.detectors import ANY_EVENT, REGISTRY
from warden.detectors.registry import Detector
from warden.models import Family, GuardDutyFinding, ModelInvocationLog
from warden_local.readers import to_eventbridge
from warden_local.stack import ALL_MANAGEMENT_EVENTS, Route, Target
from warden_local.template import Resolver, load_template

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
STATE_MACHINES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::StateMachine"}
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}

ACCOUNT = "123456789012"
STACK = "bedrock-warden-tests"
LOG_BUCKET = "example-bedrock-invocation-logs"
LOG_GROUP = "/example/bedrock/model-invocations"
# Every optional source on: the rules are checked as the fullest deployment has them.
RESOLVER = Resolver(
    TEMPLATE,
    {**{name: str(spec.get("Default", "")) for name, spec in TEMPLATE["Parameters"].items()}}
    | {"InvocationLogBucket": LOG_BUCKET, "InvocationLogGroup": LOG_GROUP},
    pseudo={
        "AWS::StackName": STACK,
        "AWS::Region": "us-east-1",
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    },
)

for _logical, _spec in RESOURCES.items():  # the roles SAM creates for functions and state machines
    if _spec["Type"] in {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"}:
        RESOLVER.attributes.setdefault(
            f"{_logical}Role", {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{_logical}Role-1A2B3C4D5E6F"}
        )
        RESOLVER.refs.setdefault(f"{_logical}Role", f"{STACK}-{_logical}Role-1A2B3C4D5E6F")
    elif _spec["Type"] == "AWS::IAM::Role":  # the template's own roles, named as they say
        _name = RESOLVER.resolve(_spec["Properties"].get("RoleName", f"{STACK}-{_logical}"))
        RESOLVER.attributes.setdefault(_logical, {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{_name}"})
        RESOLVER.refs.setdefault(_logical, _name)

FAMILY_FUNCTIONS: dict[Family, set[str]] = {
    Family.BEDROCK_USAGE: {
        "BedrockUsageDetectorFunction",
        "InvocationDetectorFunction",
        "InvocationLogSubscriptionFunction",
    },
    Family.POLICY_CHANGE: {"PolicyChangeDetectorFunction"},
    Family.CROSS_ACCOUNT: {"CrossAccountDetectorFunction"},
}
"""Which functions run each family's detectors (each function's code names its family; a test checks it)."""
DETECTOR_FUNCTIONS = set().union(*FAMILY_FUNCTIONS.values())
INVOCATIONS = {
    ("bedrock.amazonaws.com", name)
    for name in (
        "InvokeModel",
        "InvokeModelWithResponseStream",
        "InvokeModelWithBidirectionalStream",
        "Converse",
        "ConverseStream",
    )
} | {("bedrock-mantle.amazonaws.com", "CreateInference")}
"""CloudTrail events that run a model: the volume, which goes through InvocationQueue in batches."""
EVENT_PATTERN_MAX_CHARS = 2048
"""EventBridge's default quota on the size of one event pattern."""


def _queue_consumers() -> dict[str, str]:
    """Queue logical id -> the function its SQS event source feeds."""
    consumers = {}
    for logical, spec in FUNCTIONS.items():
        for event in spec["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                consumers[event["Properties"]["Queue"]["Fn::GetAtt"][0]] = logical
    return consumers


def _routes() -> list[Route]:
    """Every rule of the template on the default bus, with the function (or topic) that ends up taking its events."""
    routes = []
    for logical, spec in FUNCTIONS.items():
        for name, event in spec["Properties"].get("Events", {}).items():
            props = event["Properties"]
            if event["Type"] == "EventBridgeRule" and "EventBusName" not in props:
                routes.append(
                    Route(
                        rule=f"{logical}.{name}",
                        bus="default",
                        pattern=RESOLVER.resolve(props["Pattern"]),
                        state=props.get("State", "ENABLED"),
                        target=Target(kind="function", ref=logical),
                    )
                )
    queues = _queue_consumers()
    for logical, spec in RESOURCES.items():
        if spec["Type"] != "AWS::Events::Rule":
            continue
        props = spec["Properties"]
        for target in props["Targets"]:
            arn = target["Arn"]
            referenced = arn.get("Fn::GetAtt", [arn.get("Ref")])[0]
            kind, ref = ("function", queues[referenced]) if referenced in queues else ("other", referenced)
            routes.append(
                Route(
                    rule=logical,
                    bus="default",
                    pattern=RESOLVER.resolve(props["EventPattern"]),
                    state=props.get("State", "ENABLED"),
                    target=Target(kind=kind, ref=ref),
                )
            )
    return routes


ROUTES = _routes()


def _sam_rules(logical: str) -> list[Route]:
    return [route for route in ROUTES if route.target.ref == logical and route.rule.startswith(f"{logical}.")]


def _cloudtrail_event(source: str, name: str, *, read_only: bool = True, **detail: Any) -> dict[str, Any]:
    record = {
        "eventSource": source,
        "eventName": name,
        "eventID": f"{source}-{name}",
        "eventTime": "2026-11-20T14:00:00Z",
        "awsRegion": "us-east-1",
        "recipientAccountId": ACCOUNT,
        "readOnly": read_only,
        "managementEvent": True,
        "userIdentity": {
            "type": "IAMUser",
            "accessKeyId": "AKIAEXAMPLEBATCHSVC1",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/u",
            "accountId": ACCOUNT,
            "userName": "u",
        },
    }
    return to_eventbridge({**record, **detail})


def _identities() -> dict[str, dict[str, Any]]:
    """Who makes a call, as far as rules may narrow by it: the shapes the detectors' rules filter on."""
    session = {
        "type": "AssumedRole",
        "accessKeyId": "ASIAEXAMPLESESSION01",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/session",
        "accountId": ACCOUNT,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/app"}},
    }
    phantom = {
        "type": "IAMUser",
        "accessKeyId": "AKIAEXAMPLEPHANTOM01",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/BedrockAPIKey-x7k2",
        "accountId": ACCOUNT,
        "userName": "BedrockAPIKey-x7k2",
    }
    outsider = {"type": "AWSAccount", "accountId": "999988887777", "principalId": "AIDAEXAMPLEOUTSIDER1"}
    return {
        "long-term key": {},
        "session": {"userIdentity": session},
        "bedrock api key": {
            "additionalEventData": {"callWithBearerToken": True},
            "requestParameters": {"callWithBearerToken": True},
        },
        "phantom user": {"userIdentity": phantom},
        "another account": {"userIdentity": outsider},
    }


def _variants(item: Detector[Any], source: str, name: str) -> dict[str, dict[str, Any]]:
    """Real-shaped events the detector's (source, name) stands for, one per caller shape.

    A named event is sent as read-only (the worst case: only a rule in the all-management-events state
    takes it); ``*`` stands for any write call of the source, under a name no rule lists.
    """
    if item.record is GuardDutyFinding:
        finding_type = "Recon:IAMUser/SomeFutureType" if name == ANY_EVENT else name
        return {"finding": _guardduty_event(finding_type)}
    if name == ANY_EVENT:
        return {
            who: _cloudtrail_event(source, "SomeCallNoRuleNames", read_only=False, **shape)
            for who, shape in _identities().items()
        }
    return {who: _cloudtrail_event(source, name, **shape) for who, shape in _identities().items()}


def _guardduty_event(finding_type: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5c1f4e1a-4f0b-4f8e-9a2e-6b3d2c1a0f9e",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": ACCOUNT,
        "time": "2026-11-20T14:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"type": finding_type, "accountId": ACCOUNT, "region": "us-east-1", "severity": 5.0},
    }


def _consumed() -> Iterator[tuple[Detector[Any], str, str]]:
    for detector in REGISTRY:
        if detector.record is ModelInvocationLog:
            continue  # from S3 objects and a log subscription, not EventBridge rules: tested below
        for source, name in sorted(detector.consumes):
            yield detector, source, name


def _takers(event: dict[str, Any], family: Family) -> list[Route]:
    return [r for r in ROUTES if r.target.ref in FAMILY_FUNCTIONS[family] and r.accepts(event)]


@pytest.mark.parametrize(("detector", "source", "name"), list(_consumed()), ids=lambda v: getattr(v, "name", v))
def test_rules_deliver_every_event_a_detector_consumes_once(detector: Detector[Any], source: str, name: str) -> None:
    delivered = {}
    for who, event in _variants(detector, source, name).items():
        takers = _takers(event, detector.family)
        assert len(takers) <= 1, f"{name} from {source} by {who} reaches {[r.rule for r in takers]}: processed twice"
        if takers:
            delivered[who] = takers[0].rule
    family = detector.family.value
    assert delivered, f"{detector.name} needs {name} from {source}: no rule delivers it to a {family} function"


@pytest.mark.parametrize(("source", "name"), sorted(INVOCATIONS))
def test_model_invocations_go_through_the_invocation_queue(source: str, name: str) -> None:
    for who, event in _variants(REGISTRY["llmjacking-sequence"], source, name).items():
        (taker,) = _takers(event, Family.BEDROCK_USAGE)
        assert (taker.rule, taker.target.ref) == ("InvocationCallsRule", "InvocationDetectorFunction"), who
        assert taker.state == ALL_MANAGEMENT_EVENTS


def test_read_only_events_need_the_all_management_events_rule_state() -> None:
    recon = _cloudtrail_event("bedrock.amazonaws.com", "ListFoundationModels")
    (bedrock,) = [r for r in _sam_rules("BedrockUsageDetectorFunction") if r.rule.endswith(".BedrockCalls")]

    assert bedrock.state == ALL_MANAGEMENT_EVENTS
    assert bedrock.accepts(recon)
    plain = Route(rule=bedrock.rule, bus=bedrock.bus, pattern=bedrock.pattern, state="ENABLED", target=bedrock.target)
    assert not plain.accepts(recon)
    write = {**recon, "detail": {**recon["detail"], "eventName": "PutUseCaseForModelAccess", "readOnly": False}}
    assert plain.accepts(write)


def test_identity_recon_rule_takes_long_term_keys_only() -> None:
    (identity,) = [r for r in _sam_rules("BedrockUsageDetectorFunction") if r.rule.endswith(".IdentityCalls")]
    event = _cloudtrail_event("sts.amazonaws.com", "GetCallerIdentity")
    session = json.loads(json.dumps(event).replace("AKIAEXAMPLE", "ASIAEXAMPLE"))

    assert identity.accepts(event)
    assert not identity.accepts(session)


def test_detector_rules_do_not_take_unrelated_calls() -> None:
    unrelated = [
        _cloudtrail_event("bedrock.amazonaws.com", "ListCustomModels"),
        _cloudtrail_event("ec2.amazonaws.com", "RunInstances", read_only=False),
        _cloudtrail_event("sts.amazonaws.com", "AssumeRole"),  # a caller of the account itself
        _cloudtrail_event("iam.amazonaws.com", "ListRoles"),
    ]
    for event in unrelated:
        takers = [r.rule for r in ROUTES if r.target.ref in DETECTOR_FUNCTIONS and r.accepts(event)]
        assert not takers, f"{event['detail']['eventName']} costs an invocation for nothing: {takers}"


def test_every_event_pattern_fits_eventbridges_size_quota() -> None:
    for route in ROUTES:
        size = len(json.dumps(route.pattern, separators=(",", ":")))
        assert size <= EVENT_PATTERN_MAX_CHARS, f"{route.rule}: {size} characters"


def test_each_function_runs_the_family_its_rules_are_checked_for() -> None:
    for family, logicals in FAMILY_FUNCTIONS.items():
        for logical in logicals:
            props = FUNCTIONS[logical]["Properties"]
            code = (ROOT / props["CodeUri"] / "app.py").read_text()
            handler = props["Handler"].split(".")[1]
            body = code.split(f"def {handler}(", 1)[1].split("\ndef ", 1)[0]
            assert f"Family.{family.name}" in body, f"{logical} ({props['Handler']}) does not run {family.value}"
    wired = {
        logical
        for logical in FUNCTIONS
        if "detection_service" in (ROOT / FUNCTIONS[logical]["Properties"]["CodeUri"] / "app.py").read_text()
    }
    assert wired == DETECTOR_FUNCTIONS


# ------------------------------------------------------------------ invocation logs and the queue


def _object_created(bucket: str, key: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-20T14:05:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 512, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "617f0829"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "bedrock.amazonaws.com",
            "reason": "PutObject",
        },
    }


LOG_KEY = f"AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/us-east-1/2026/11/20/14/20261120T140500Z_a1b2.json.gz"


@pytest.mark.parametrize("detector", [d for d in REGISTRY if d.record is ModelInvocationLog], ids=lambda d: d.name)
def test_invocation_log_detectors_get_both_log_deliveries(detector: Detector[Any]) -> None:
    functions = FAMILY_FUNCTIONS[detector.family]
    (taker,) = [r for r in ROUTES if r.accepts(_object_created(LOG_BUCKET, LOG_KEY))]
    assert (taker.rule, taker.target.ref) == ("InvocationLogObjectsRule", "InvocationDetectorFunction")
    assert taker.target.ref in functions
    assert RESOURCES["InvocationLogObjectsRule"]["Condition"] == "HasInvocationLogBucket"
    (subscription,) = [v for v in RESOURCES.values() if v["Type"] == "AWS::Logs::SubscriptionFilter"]
    assert subscription["Properties"]["DestinationArn"]["Fn::GetAtt"][0] in functions
    assert subscription["Properties"]["LogGroupName"] == {"Ref": "InvocationLogGroup"}
    assert subscription["Condition"] == "HasInvocationLogGroup"


def test_only_the_invocation_log_buckets_log_objects_are_queued() -> None:
    assert not any(r.accepts(_object_created("some-other-bucket", LOG_KEY)) for r in ROUTES)
    assert not any(r.accepts(_object_created(LOG_BUCKET, "exports/2026/report.csv")) for r in ROUTES)


def test_the_invocation_queue_batches_retries_and_keeps_what_keeps_failing() -> None:
    queue = RESOURCES["InvocationQueue"]["Properties"]
    function = FUNCTIONS["InvocationDetectorFunction"]["Properties"]
    ((_, event),) = function["Events"].items()
    source = event["Properties"]
    assert event["Type"] == "SQS" and source["Queue"] == {"Fn::GetAtt": ["InvocationQueue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"], "a failed message must not retry its batch"
    assert source["BatchSize"] >= 10 and 1 <= source["MaximumBatchingWindowInSeconds"] <= 10
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"], "as Lambda advises for an SQS event source"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DetectorDLQ", "Arn"]}
    assert 3 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    assert queue["SqsManagedSseEnabled"] is True
    assert "EventInvokeConfig" not in function, "SQS invokes synchronously: failures go through the redrive policy"


def test_only_this_stacks_rules_may_send_to_the_invocation_queue() -> None:
    allow, deny = RESOURCES["InvocationQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    rules = {
        r
        for r, spec in RESOURCES.items()
        if spec["Type"] == "AWS::Events::Rule" and "InvocationQueue" in json.dumps(spec["Properties"]["Targets"])
    }
    assert (allow["Effect"], allow["Principal"]) == ("Allow", {"Service": "events.amazonaws.com"})
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:SendMessage")
    for statement, condition in ((allow, "ArnEquals"), (deny, "ArnNotEquals")):
        named = set(re.findall(r'"(\w+Rule)", "Arn"', json.dumps(statement["Condition"][condition]["aws:SourceArn"])))
        assert named == rules


def test_the_invocation_function_reads_the_invocation_log_bucket_only() -> None:
    policies = FUNCTIONS["InvocationDetectorFunction"]["Properties"]["Policies"]
    reads = [p for p in policies if "s3:GetObject" in json.dumps(p)]
    assert len(reads) == 1
    condition, statements, otherwise = reads[0]["Fn::If"]
    assert condition == "HasInvocationLogBucket" and otherwise == {"Ref": "AWS::NoValue"}
    (statement,) = statements["Statement"]
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${InvocationLogBucket}/AWSLogs/*"}
    others = json.dumps(
        [p for p in policies if p is not reads[0]]
        + [FUNCTIONS[f]["Properties"]["Policies"] for f in FUNCTIONS if f != "InvocationDetectorFunction"]
    )
    assert '"s3:' not in others


def test_the_log_subscription_may_invoke_only_its_function_from_that_group() -> None:
    permission = RESOURCES["InvocationLogSubscriptionPermission"]
    props = permission["Properties"]
    assert permission["Condition"] == "HasInvocationLogGroup"
    assert props["FunctionName"] == {"Ref": "InvocationLogSubscriptionFunction"}
    assert (props["Principal"], props["SourceAccount"]) == ("logs.amazonaws.com", {"Ref": "AWS::AccountId"})
    assert "${InvocationLogGroup}:*" in props["SourceArn"]["Fn::Sub"]
    assert RESOURCES["InvocationLogSubscription"]["DependsOn"] == "InvocationLogSubscriptionPermission"


# ------------------------------------------------------------------ settings


SETTINGS_VARIABLES = {
    field.alias
    for name, field in DetectorConfig.model_fields.items()
    if field.alias and name not in {"region", "endpoint_url", "max_event_age_seconds", "max_clock_skew_seconds"}
}


def _environment(logical: str) -> dict[str, Any]:
    """A function's environment as SAM merges it: Globals, then the function's own variables."""
    merged = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(FUNCTIONS[logical]["Properties"].get("Environment", {}).get("Variables", {}))
    return merged


@pytest.mark.parametrize("logical", sorted(DETECTOR_FUNCTIONS))
def test_every_detector_function_gets_the_deployers_settings(logical: str) -> None:
    environment = _environment(logical)
    assert environment.keys() >= SETTINGS_VARIABLES, SETTINGS_VARIABLES - environment.keys()
    assert environment["WARDEN_STACK_NAME"] == {"Ref": "AWS::StackName"}
    values = RESOLVER.resolve({k: v for k, v in environment.items() if not _needs_resources(v)})
    config = DetectorConfig.from_environ(
        {
            **values,
            "AWS_REGION": "us-east-1",
            "WARDEN_STATE_TABLE": "t",
            "WARDEN_FINDINGS_BUS": "b",
            "WARDEN_DEAD_LETTER_QUEUE_URL": "q",
        }
    )
    settings = config.settings
    assert (settings.account_id, settings.warden_stack_name) == (ACCOUNT, STACK)
    assert (settings.invocation_log_bucket, settings.invocation_log_group) == (LOG_BUCKET, LOG_GROUP)
    assert settings.require_guardrail is False and settings.trusted_accounts == frozenset()


def _needs_resources(value: Any) -> bool:
    return "Fn::GetAtt" in json.dumps(value) or any(
        ref in RESOURCES for ref in re.findall(r'"Ref": "([^"]+)"', json.dumps(value))
    )


def test_every_functions_environment_fits_lambdas_4_kb_with_long_names_and_lists() -> None:
    """Lambda refuses a function whose variables (names and values) exceed 4 KB in all."""
    stack = "s" * 30  # names are generated from it, and truncated to 64 characters
    arn = f"arn:aws:iam::{ACCOUNT}:role/" + "r" * 40
    lists = {"ProtectedPrincipals": ",".join([arn] * 10), "DeploymentPrincipals": ",".join([arn] * 3)}
    lists |= {
        "TrustedAccounts": ",".join(["111122223333"] * 10),
        "ExpectedVpcEndpoints": ",".join(["vpce-0a1b2c3d4e5f67890"] * 4),
    }
    resolver = Resolver(TEMPLATE, {**RESOLVER.parameters, **lists}, pseudo={**RESOLVER.pseudo, "AWS::StackName": stack})
    for logical in RESOURCES:
        resolver.refs[logical] = f"{stack}-{logical}-ABCDEFGHIJKL"[:64]
        resolver.attributes[logical + "Role"] = {
            "Arn": f"arn:aws:iam::{ACCOUNT}:role/{stack}-{logical}Role-ABCDEFGH"[:95]
        }
        resolver.refs[logical + "Role"] = f"{stack}-{logical}Role-ABCDEFGH"[:64]
        if RESOURCES[logical]["Type"] == "AWS::IAM::Role":
            resolver.attributes[logical] = {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{stack}-{logical}"[:95]}
    for logical in FUNCTIONS:
        environment = resolver.resolve(_environment(logical))
        size = sum(len(name) + len(str(value)) for name, value in environment.items())
        assert size <= 4096 - 512, f"{logical}: {size} bytes of 4 KB, with little room left"


DETECTION_PARAMETERS = {
    "TrustedAccounts": ("111122223333,444455556666", "1111222233334"),
    "OrganizationId": ("o-a1b2c3d4e5", "org-1"),
    "DeploymentPrincipals": ("arn:aws:iam::123456789012:role/deploy", "deploy"),
    "ExpectedVpcEndpoints": ("vpce-0a1b2c3d4e5f67890", "vpc-0a1b2c3d"),
    "RequireGuardrail": ("true", "yes"),
    "MinTlsVersion": ("TLSv1.3", "TLSv1.1"),
    "InvocationLogBucket": ("my-bedrock-logs", "My_Bucket"),
    "InvocationLogGroup": ("/aws/bedrock/invocations", "group with spaces"),
}


@pytest.mark.parametrize(("name", "values"), DETECTION_PARAMETERS.items(), ids=list(DETECTION_PARAMETERS))
def test_detection_parameters_are_validated_and_grouped(name: str, values: tuple[str, str]) -> None:
    from warden_local.template import TemplateError, parameter_values

    good, bad = values
    assert parameter_values(TEMPLATE, {name: good})[name] == good
    assert parameter_values(TEMPLATE, {})[name] == str(TEMPLATE["Parameters"][name].get("Default", ""))
    with pytest.raises(TemplateError):
        parameter_values(TEMPLATE, {name: bad})
    groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert sum(name in group["Parameters"] for group in groups) == 1


def test_every_parameter_is_in_one_interface_group() -> None:
    groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(TEMPLATE["Parameters"])


# ------------------------------------------------------------------ tamper alerts


TAMPER_RULES = ("TamperAlertRule", "WardenTamperAlertRule")


def _tamper_routes() -> list[Route]:
    return [r for r in ROUTES if r.rule in TAMPER_RULES]


def _tampering(source: str, event_name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return _cloudtrail_event(source, event_name, read_only=False, requestParameters=parameters or {})


OURS = {
    "name": f"{STACK}-BedrockUsageDetectorFunctionBedrockCalls-1X2Y3Z",
    "rule": f"{STACK}-InvocationCallsRule-1X2Y3Z",
    "functionName": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{STACK}-InvocationDetectorFunction-AbC",
    "layerName": f"{STACK}-warden",
    "stateMachineArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{STACK}-contain-access-key",
    "stackName": STACK,
    "topicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:{STACK}-AlarmTopic-AbC",
    "subscriptionArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:{STACK}-AlarmTopic-AbC:0a1b",
    "tableName": f"{STACK}-DetectorStateTable-AbC",
    "bucketName": LOG_BUCKET,
    "logGroupName": LOG_GROUP,
    "trailName": "management-events",
}
THEIRS = {
    key: value.replace(STACK, "payments-app").replace(LOG_BUCKET, "other-bucket").replace(LOG_GROUP, "/other")
    for key, value in OURS.items()
}
NOT_NARROWABLE = {"UpdateEventSourceMapping20150331", "DeleteEventSourceMapping20150331"}
"""Event source mapping calls name a mapping's UUID, not the function: the detector judges them."""


def _alarm_events() -> list[tuple[str, str]]:
    from warden.detectors import tampering

    return sorted(tampering.ALARM_EVENTS)


@pytest.mark.parametrize(("source", "name"), _alarm_events())
def test_tampering_with_warden_or_its_sources_alerts_without_a_function(source: str, name: str) -> None:
    ours = _tampering(source, name, OURS)
    if name in NOT_NARROWABLE:
        assert not any(r.accepts(ours) for r in _tamper_routes())
        return
    assert [r.target.ref for r in _tamper_routes() if r.accepts(ours)] == ["AlarmTopic"], f"{name} on Warden"
    if source != "cloudtrail.amazonaws.com":  # a trail blinded is Warden blinded, whoever's trail it is
        assert not any(r.accepts(_tampering(source, name, THEIRS)) for r in _tamper_routes()), name


def test_invocation_logging_deleted_alerts_without_a_function() -> None:
    event = _tampering("bedrock.amazonaws.com", "DeleteModelInvocationLoggingConfiguration")
    assert [r.rule for r in _tamper_routes() if r.accepts(event)] == ["TamperAlertRule"]


def test_changes_cloudformation_makes_in_a_deployment_do_not_alert_but_the_stack_update_does() -> None:
    by_deployment = _tampering("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", OURS)
    by_deployment["detail"]["userIdentity"]["invokedBy"] = "cloudformation.amazonaws.com"
    assert not any(r.accepts(by_deployment) for r in _tamper_routes())
    assert any(
        r.accepts(_tampering("cloudformation.amazonaws.com", "ExecuteChangeSet", OURS)) for r in _tamper_routes()
    )


def test_tamper_alerts_are_readable_and_allowed_onto_the_alarm_topic() -> None:
    for logical in TAMPER_RULES:
        ((target),) = RESOURCES[logical]["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": "AlarmTopic"}
        transformer = target["InputTransformer"]
        for field in ("eventName", "userIdentity.arn", "sourceIPAddress", "eventTime", "requestParameters"):
            assert f"$.detail.{field}" in transformer["InputPathsMap"].values()
        assert all(f"<{name}>" in transformer["InputTemplate"] for name in transformer["InputPathsMap"])
    statements = RESOURCES["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (events,) = [s for s in statements if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert sorted(a["Fn::GetAtt"][0] for a in events["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(TAMPER_RULES)
    key = RESOURCES["NotificationKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "events.amazonaws.com"} for s in key), (
        "EventBridge must use the topic's key"
    )


def _definitions() -> Iterator[tuple[str, dict[str, Any], Path]]:
    for logical, spec in STATE_MACHINES.items():
        path = ROOT / spec["Properties"]["DefinitionUri"]
        yield logical, json.loads(path.read_text()), path


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        nested = [state[k] for k in ("Iterator", "ItemProcessor") if k in state]
        for branch in state.get("Branches", []) + nested:
            yield from _states(branch)


@pytest.mark.parametrize(("logical", "definition", "path"), list(_definitions()), ids=lambda v: str(v)[:40])
def test_state_machines_are_jsonpath_with_retry_and_catch_on_every_task(
    logical: str, definition: dict[str, Any], path: Path
) -> None:
    text = path.read_text()
    assert "JSONata" not in text and '"Assign"' not in text, "moto cannot run JSONata or variables"
    assert definition.get("Comment")
    for name, state in _states(definition):
        if state["Type"] == "Task":
            assert state.get("Retry"), f"{logical}.{name} has no Retry"
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), f"{logical}.{name}"


@pytest.mark.parametrize(("logical", "definition", "path"), list(_definitions()), ids=lambda v: str(v)[:40])
def test_every_placeholder_is_substituted_and_nothing_else(
    logical: str, definition: dict[str, Any], path: Path
) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", path.read_text()))
    substitutions = set(STATE_MACHINES[logical]["Properties"]["DefinitionSubstitutions"])
    assert placeholders == substitutions
    assert "arn:aws:" not in json.dumps(definition).replace("arn:aws:states:::", ""), "ARNs come from substitutions"


@pytest.mark.parametrize(("logical", "definition", "path"), list(_definitions()), ids=lambda v: str(v)[:40])
def test_every_failure_path_ends_in_a_notification(logical: str, definition: dict[str, Any], path: Path) -> None:
    """Every Catch leads, through non-Task states or the record step, to an sns:publish Task (a Fail state inside
    a Map ends the Map, whose own Catch must then lead there)."""
    states = dict(_states(definition))
    enclosing = {
        inner: name
        for name, state in states.items()
        for inner in state.get("ItemProcessor", state.get("Iterator", {})).get("States", {})
    }

    def reaches_publish(name: str, seen: frozenset[str] = frozenset()) -> bool:
        state = states[name]
        if state.get("Resource", "").endswith(("sns:publish", "sns:publish.waitForTaskToken")):
            return True
        if state["Type"] == "Fail" and name in enclosing:
            outer = states[enclosing[name]].get("Catch", [])
            return any("States.ALL" in c["ErrorEquals"] and reaches_publish(c["Next"], seen | {name}) for c in outer)
        if name in seen or state["Type"] in {"Succeed", "Fail"}:
            return False
        nexts = [state.get("Next"), state.get("Default")] + [c.get("Next") for c in state.get("Choices", [])]
        return any(reaches_publish(n, seen | {name}) for n in nexts if n)

    for name, state in states.items():
        for catch in state.get("Catch", []):
            if "States.ALL" in catch["ErrorEquals"] and not state.get("Resource", "").endswith("sns:publish"):
                assert reaches_publish(catch["Next"]), f"{logical}.{name} fails silently"


def _rule_targets() -> Iterator[tuple[str, dict[str, Any]]]:
    for logical, spec in RESOURCES.items():
        for name, event in spec.get("Properties", {}).get("Events", {}).items():
            if event["Type"] == "EventBridgeRule":
                yield f"{logical}.{name}", event["Properties"]
        if spec["Type"] == "AWS::Events::Rule":
            for target in spec["Properties"]["Targets"]:
                yield f"{logical}.{target['Id']}", target


@pytest.mark.parametrize(("name", "target"), list(_rule_targets()), ids=lambda v: str(v)[:60])
def test_every_rule_target_retries_and_keeps_what_it_cannot_deliver(name: str, target: dict[str, Any]) -> None:
    assert target.get("DeadLetterConfig"), name
    assert target.get("RetryPolicy"), name


def _subscribed() -> set[str]:
    """Functions a CloudWatch Logs subscription filter invokes."""
    return {
        spec["Properties"]["DestinationArn"]["Fn::GetAtt"][0]
        for spec in RESOURCES.values()
        if spec["Type"] == "AWS::Logs::SubscriptionFilter"
    }


@pytest.mark.parametrize("logical", list(FUNCTIONS))
def test_every_function_keeps_what_fails_and_has_a_log_group_with_retention(logical: str) -> None:
    """Each way a function is invoked keeps what fails, and never the content of invocation logs.

    Rule-invoked (asynchronous): an on-failure destination. Queue-fed: the queue's redrive policy.
    Invoked by a log subscription (records with prompts): retries and no destination, which would keep
    the payload. A Task's function answers its state machine's Catch.
    """
    props = FUNCTIONS[logical]["Properties"]
    kinds = {event["Type"] for event in props.get("Events", {}).values()}
    if kinds == {"SQS"}:
        assert "EventInvokeConfig" not in props
        for event in props["Events"].values():
            queue = RESOURCES[event["Properties"]["Queue"]["Fn::GetAtt"][0]]
            assert queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
    elif logical in _subscribed():
        assert not kinds
        assert props["EventInvokeConfig"]["MaximumRetryAttempts"] >= 1
        assert "DestinationConfig" not in props["EventInvokeConfig"], "it would keep prompts and completions"
    elif kinds:
        assert kinds in ({"EventBridgeRule"}, {"SNS"})
        assert props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    elif "FunctionUrlConfig" in props:  # invoked synchronously over HTTPS only: the caller sees the error
        assert "EventInvokeConfig" not in props
    else:
        assert "EventInvokeConfig" not in props, "a synchronous function has no asynchronous retries"
        assert any(f"{logical}.Arn" in json.dumps(d) or logical in json.dumps(d) for d in _substitutions())
    group = RESOURCES[props["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_runtime_is_python313_on_arm64() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]


def test_deploys_in_dry_run_unless_told_otherwise() -> None:
    assert TEMPLATE["Parameters"]["ResponseMode"]["Default"] == "dry-run"


RESPONDERS = {logical for logical, spec in RESOURCES.items() if spec["Type"] == "AWS::IAM::Role"}


def test_the_stacks_own_roles_are_protected_and_ignored() -> None:
    environment = _environment("ResponsePolicyFunction")
    assert environment["WARDEN_PROTECTED_PRINCIPALS"] == {"Ref": "ProtectedPrincipals"}
    protected = json.dumps(environment["WARDEN_OWN_ROLES"])
    roles = [f"{logical}Role" for logical in [*FUNCTIONS, *STATE_MACHINES]] + sorted(RESPONDERS)
    assert RESPONDERS, "the playbooks act as responder roles"
    for detector in DETECTOR_FUNCTIONS:
        own = json.dumps(_environment(detector)["WARDEN_SELF_PRINCIPALS"])
        for role in roles:
            assert role in own, f"{role}'s calls would reach {detector}'s detectors"
    for role in roles:
        assert f'"{role}"' in protected, f"a finding could make Warden contain its own {role}"
    resolved = ResponseConfig.from_environ(
        {"WARDEN_ACCOUNT_ID": ACCOUNT, "WARDEN_OWN_ROLES": RESOLVER.resolve(environment["WARDEN_OWN_ROLES"])}
    )
    assert f"arn:aws:iam::{ACCOUNT}:role/{STACK}-contain-access-key" in resolved.protected


def _responder(state_machine: str) -> dict[str, Any]:
    """The responder role a playbook's Tasks act as: ``<stack>-<playbook>``, assumable by its role only."""
    name = RESOLVER.resolve(STATE_MACHINES[state_machine]["Properties"]["Name"])
    (role,) = [
        RESOURCES[logical]["Properties"]
        for logical in RESPONDERS
        if RESOLVER.resolve(RESOURCES[logical]["Properties"]["RoleName"]) == name
    ]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Fn::GetAtt": [f"{state_machine}Role", "Arn"]}}
    return dict(role)


def _substitutions() -> list[dict[str, Any]]:
    return [spec["Properties"].get("DefinitionSubstitutions", {}) for spec in STATE_MACHINES.values()]


def _principal_condition(statement: dict[str, Any]) -> str:
    return json.dumps(statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])


def test_only_wardens_detectors_and_named_publishers_may_put_findings() -> None:
    policy = RESOURCES["FindingsBusPolicy"]["Properties"]
    statement = policy["Statement"]
    assert policy["EventBusName"] == {"Ref": "FindingsBus"}
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "events:PutEvents")
    allowed = _principal_condition(statement)
    assert "FindingPublishers" in allowed
    assert set(re.findall(r"(\w+)Role", allowed)) == DETECTOR_FUNCTIONS, "the detectors, and only they, publish"


def test_only_wardens_state_machines_may_publish_notifications() -> None:
    (statement,) = RESOURCES["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "sns:Publish")
    allowed = _principal_condition(statement)
    assert sorted(re.findall(r"(\w+)Role", allowed)) == sorted(STATE_MACHINES)


def test_findings_no_deployed_playbook_answers_go_to_notify_only() -> None:
    routes = {
        logical: spec["Properties"]["Events"]["FindingRoute"]["Properties"]["Pattern"]
        for logical, spec in STATE_MACHINES.items()
        if "FindingRoute" in spec["Properties"].get("Events", {})
    }
    named = {pattern["detail"]["playbook"][0] for pattern in routes.values() if "detail" in pattern}
    catch_all = RESOLVER.resolve(routes["NotifyOnlyStateMachine"]["$or"])
    notified = ["MEDIUM", "HIGH", "CRITICAL"]  # NotifyMinSeverity's default
    assert catch_all[0] == {"detail": {"playbook": [None], "severity": notified}}
    assert catch_all[1] == {"detail": {"playbook": [{"anything-but": sorted(named)}], "severity": notified}}, (
        "each finding: one route"
    )
    assert "FindingNotificationRule" not in RESOURCES, "a direct finding-to-SNS rule would alert once per delivery"


def test_every_failure_has_an_alarm_that_does_not_need_the_notification_topic() -> None:
    alarms = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    watched = json.dumps(alarms)
    for logical in STATE_MACHINES:
        assert f'"Ref": "{logical}"' in watched, f"no alarm on failed {logical} executions"
    for logical in FUNCTIONS:
        assert f'"Ref": "{logical}"' in watched, f"no alarm on {logical} errors"
    for queue in ("DetectorDLQ", "EventDeliveryDLQ", "InvocationQueue"):
        assert f'["{queue}", "QueueName"]' in watched, f"no alarm on {queue} depth or age"
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    heartbeat = alarms["DetectorHeartbeatAlarm"]
    assert (heartbeat["MetricName"], heartbeat["TreatMissingData"]) == ("Invocations", "breaching")
    assert heartbeat["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "InvocationDetectorFunction"}}]
    assert "NotificationFailuresAlarm" in alarms
    for logical in ("DetectorErrorsAlarm", "DetectorThrottlesAlarm"):
        measured = {
            m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
            for m in alarms[logical]["Metrics"]
            if "MetricStat" in m
        }
        assert measured == DETECTOR_FUNCTIONS, logical
    age = alarms["InvocationQueueAgeAlarm"]
    assert (age["MetricName"], age["Statistic"]) == ("ApproximateAgeOfOldestMessage", "Maximum")


@pytest.mark.parametrize(
    ("logical", "kind", "action"),
    [
        ("ContainAccessKeyStateMachine", "user", "iam:UpdateAccessKey"),
        ("RevokeRoleSessionsStateMachine", "role", "iam:PutRolePolicy"),
    ],
)
def test_protected_principals_are_denied_with_any_path_in_iam_too(logical: str, kind: str, action: str) -> None:
    (statements,) = [policy["PolicyDocument"]["Statement"] for policy in _responder(logical)["Policies"]]
    (deny,) = [s["Fn::If"][1] for s in statements if "Fn::If" in s]
    assert deny["Effect"] == "Deny"
    assert action in deny["Action"]
    resources = json.dumps(deny["Resource"])
    assert f'"{kind}/*/"' in resources and f'["{kind}/", {{"Ref": "ProtectedPrincipals"}}]' in resources


NO_RESOURCE_TYPE = {"bedrock:GetModelInvocationLoggingConfiguration", "bedrock:PutModelInvocationLoggingConfiguration"}
"""Actions IAM authorizes on "*" only (the service defines no resource type for them)."""


def test_no_policy_grants_a_wildcard_resource_except_log_delivery() -> None:
    for logical, spec in {**FUNCTIONS, **STATE_MACHINES, **{r: RESOURCES[r] for r in RESPONDERS}}.items():
        for policy in spec["Properties"].get("Policies", []):
            document = policy.get("PolicyDocument", policy) if isinstance(policy, dict) else {}
            for statement in document.get("Statement", []):
                if "Fn::If" in statement:
                    continue
                if statement.get("Resource") == "*" and not all(a.startswith("logs:") for a in statement["Action"]):
                    assert set(statement["Action"]) <= NO_RESOURCE_TYPE, logical
                    assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}


def test_the_logging_restore_may_pass_only_a_role_of_this_account_and_only_to_bedrock() -> None:
    (statements,) = [
        p["PolicyDocument"]["Statement"] for p in _responder("RestoreInvocationLoggingStateMachine")["Policies"]
    ]
    (passing,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    assert RESOLVER.resolve(passing["Resource"]) == f"arn:aws:iam::{ACCOUNT}:role/*"


def test_parameters_are_checked_as_cloudformation_checks_them() -> None:
    from warden_local.template import TemplateError, parameter_values

    assert parameter_values(TEMPLATE, {})["ResponseMode"] == "dry-run"
    for bad in ({"ResponseMode": "yolo"}, {"ProtectedPrincipals": "arn:aws:iam::1:user/a,"}, {"Unknown": "x"}):
        with pytest.raises(TemplateError):
            parameter_values(TEMPLATE, bad)


IAM_PREFIX = {"sfn": "states"}  # the SDK's service name where IAM's action prefix differs
IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}  # optimized integrations whose action is named otherwise


@pytest.mark.parametrize(("logical", "definition", "path"), list(_definitions()), ids=lambda v: str(v)[:40])
def test_the_state_machine_role_allows_every_call_its_tasks_make(
    logical: str, definition: dict[str, Any], path: Path
) -> None:
    """moto does not enforce IAM, so this is the check that a deployed playbook is not AccessDenied: a Task
    with ``Credentials`` acts as the playbook's responder role, which its own role may assume."""

    def allowed(statements: list[Any]) -> dict[str, Any]:
        return {
            action: statement.get("Resource")
            for statement in statements
            if "Effect" in statement and statement["Effect"] == "Allow"
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        }

    own = allowed([s for p in STATE_MACHINES[logical]["Properties"]["Policies"] if isinstance(p, dict)
                   for s in p.get("Statement", [])])  # fmt: skip
    for name, state in _states(definition):
        resource = state.get("Resource", "")
        if state["Type"] != "Task":
            continue
        service, api = resource.removeprefix("arn:aws:states:::").removeprefix("aws-sdk:").split(":", 1)
        action = f"{IAM_PREFIX.get(service, service)}:{api[0].upper()}{api[1:]}".removesuffix(".waitForTaskToken")
        action = IAM_ACTION.get(action, action)
        if "Credentials" in state:
            assert state["Credentials"] == {"RoleArn.$": "$.triage.responder_role_arn"} or state["Credentials"] == {
                "RoleArn.$": "$.responder"
            }, f"{logical}.{name} acts as a role the response policy did not name"
            role = _responder(logical)
            assert RESOLVER.resolve(own["sts:AssumeRole"]) == f"arn:aws:iam::{ACCOUNT}:role/" + RESOLVER.resolve(
                role["RoleName"]
            ), f"{logical} may not assume its responder role"
            granted = allowed([s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]])
            assert action in granted, f"{logical}.{name} calls {action}, which its responder role does not allow"
        else:
            assert action in own, f"{logical}.{name} calls {action}, which its role does not allow"


def test_every_playbook_that_dies_is_recorded_and_notified() -> None:
    recorder = STATE_MACHINES["RecordPlaybookFailureStateMachine"]["Properties"]["Events"]["PlaybookDidNotFinish"]
    watched = recorder["Properties"]["Pattern"]["detail"]["stateMachineArn"]
    playbooks = [name for name in STATE_MACHINES if name != "RecordPlaybookFailureStateMachine"]
    assert sorted(ref["Ref"] for ref in watched) == sorted(playbooks)


def test_the_playbooks_own_iam_calls_are_dropped_by_the_rule_and_others_sessions_are_not() -> None:
    """Warden's own roles are excluded where a pattern can say so (and always in the service)."""
    (iam_rule,) = [r for r in _sam_rules("PolicyChangeDetectorFunction") if r.rule.endswith(".IamChanges")]

    def by(role: str) -> dict[str, Any]:
        session = {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/x",
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}"}},
        }
        return _cloudtrail_event("iam.amazonaws.com", "PutUserPolicy", read_only=False, userIdentity=session)

    for playbook in ("ContainAccessKey", "RevokeRoleSessions", "RestoreInvocationLogging"):
        playbook_role = RESOLVER.attributes[f"{playbook}StateMachineRole"]["Arn"].split("/")[-1]
        assert not iam_rule.accepts(by(playbook_role)), playbook
    assert iam_rule.accepts(by("platform-admin"))
    assert iam_rule.accepts(_cloudtrail_event("iam.amazonaws.com", "PutUserPolicy", read_only=False))


@pytest.mark.parametrize(
    ("minimum", "notified"),
    [
        ("LOW", ["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
        ("MEDIUM", ["MEDIUM", "HIGH", "CRITICAL"]),
        ("HIGH", ["HIGH", "CRITICAL"]),
    ],
)
def test_findings_no_playbook_answers_are_notified_from_the_configured_severity(
    minimum: str, notified: list[str]
) -> None:
    resolver = Resolver(TEMPLATE, {**RESOLVER.parameters, "NotifyMinSeverity": minimum}, pseudo=RESOLVER.pseudo)
    pattern = STATE_MACHINES["NotifyOnlyStateMachine"]["Properties"]["Events"]["FindingRoute"]["Properties"]["Pattern"]

    assert [branch["detail"]["severity"] for branch in resolver.resolve(pattern["$or"])] == [notified, notified]


def test_every_finding_is_archived_whoever_answers_it() -> None:
    (archive,) = [v["Properties"] for v in RESOURCES.values() if v["Type"] == "AWS::Events::Archive"]
    assert archive["SourceArn"] == {"Fn::GetAtt": ["FindingsBus", "Arn"]}
    assert archive["EventPattern"] == {"source": ["bedrock-warden"]}
    assert archive["RetentionDays"] == {"Ref": "LogRetentionInDays"}


def test_the_known_good_logging_parameter_reaches_the_definition_as_the_same_json() -> None:
    """The parameter is substituted inside a JSON string: its quotes are escaped, anything else is refused."""
    from warden_local.template import TemplateError, parameter_values

    config = {"s3Config": {"bucketName": "logs", "keyPrefix": "a b/"}, "textDataDeliveryEnabled": True}
    text = json.dumps(config)
    assert parameter_values(TEMPLATE, {"KnownGoodInvocationLogging": text})["KnownGoodInvocationLogging"] == text
    for bad in ('{"a": "\\u0022"}', '{"a":\n1}', "[1]", "logs"):
        with pytest.raises(TemplateError):
            parameter_values(TEMPLATE, {"KnownGoodInvocationLogging": bad})
    for value, expected in ((text, config), ("", None)):
        resolver = Resolver(
            TEMPLATE, {**RESOLVER.parameters, "KnownGoodInvocationLogging": value}, pseudo=RESOLVER.pseudo
        )
        spec = STATE_MACHINES["RestoreInvocationLoggingStateMachine"]["Properties"]
        substituted = resolver.resolve(spec["DefinitionSubstitutions"]["KnownGoodInvocationLogging"])
        definition = (ROOT / spec["DefinitionUri"]).read_text().replace("${KnownGoodInvocationLogging}", substituted)
        known_good = json.loads(definition)["States"]["Decide"]["Parameters"]["Payload"]["known_good"]
        assert (json.loads(known_good) if known_good else None) == expected
