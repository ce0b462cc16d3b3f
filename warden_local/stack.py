"""The local stack: template.yaml deployed onto the embedded emulator, with EventBridge routing.

moto cannot deliver EventBridge events to Lambda, Step Functions or SNS targets, so this module
does what EventBridge would: it reads every rule of the template (SAM ``EventBridgeRule`` events
and ``AWS::Events::Rule`` resources), matches events with moto's own pattern matcher, honours the
rule state for read-only CloudTrail management events, and delivers to the target: a handler
invoked in-process with a Lambda context, a state-machine execution that moto really runs, an SNS
publish (with the rule's InputTransformer) or an SQS message. Events that functions publish to the
stack's buses are tapped through SQS and routed the same way.

It also does what Lambda's event sources would: a queue that a function reads (SAM ``Events: Type:
SQS``) is drained through the handler in batches of ``BatchSize`` as soon as a message reaches it,
honouring ``ReportBatchItemFailures``; a message that keeps failing is received again at once (not
after its visibility timeout) until moto's redrive policy moves it to the dead-letter queue. A log
group with an ``AWS::Logs::SubscriptionFilter`` delivers what :meth:`LocalStack.put_invocation_log_events`
writes to it as CloudWatch Logs does (gzipped, base64 ``awslogs`` payload, asynchronous invoke).
Buckets named in an S3 ``Object Created`` rule (the deployer's, outside the stack) are created, and
:meth:`LocalStack.put_invocation_log` writes a log object there and emits the event S3 would.
"""

from __future__ import annotations

import base64
import functools
import gzip
import importlib.util
import io
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.events.models import EventPattern
from moto.events.utils import EventTemplateParser

from warden import clock
from warden.models.finding import FINDING_DETAIL_TYPE
from warden_local import lambda_tasks
from warden_local.cloudwatch import LocalCloudWatch
from warden_local.emulator import ACCOUNT_ID, Emulator
from warden_local.template import Resolver, load_template, parameter_values

ALL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
MATCH_ALL = {"source": [{"prefix": ""}]}
_HANDLERS_RUNNING = threading.RLock()
NOT_EMULATED = {
    "AWS::Serverless::LayerVersion",  # handlers import the library from this checkout
    "AWS::SQS::QueuePolicy",  # resource policies are not evaluated by moto
    "AWS::SNS::TopicPolicy",
    "AWS::Events::EventBusPolicy",
    "AWS::Lambda::Permission",  # resource policies again: the runner invokes handlers itself, whoever may
}
LOCAL_RECEIVE_LIMIT = 10
"""Receives of one failing message from a queue without a redrive policy before the drain stops (in AWS
it would be retried until its retention period ends)."""
INVOCATION_LOG_STREAM = "aws/bedrock/modelinvocations"
"""The log stream Bedrock writes model-invocation logs to in the log group."""
_JSON_FILTER = re.compile(r'^\{\s*\$\.([\w.]+)\s*=\s*"([^"]*)"\s*\}$')


@dataclass(frozen=True)
class Target:
    kind: str  # function | state-machine | sns | sqs
    ref: str  # function logical id, or the target's ARN / queue URL
    input_path: str | None = None
    input_transformer: Mapping[str, Any] | None = None
    dead_letter_queue: str | None = None  # URL of the rule target's DeadLetterConfig queue


@dataclass(frozen=True)
class Route:
    rule: str
    bus: str
    pattern: Mapping[str, Any]
    state: str
    target: Target

    def accepts(self, event: Mapping[str, Any]) -> bool:
        if self.state == "DISABLED":
            return False
        if self.state != ALL_MANAGEMENT_EVENTS and is_read_only_management_event(event):
            return False
        return bool(EventPattern.load(json.dumps(self.pattern)).matches_event(dict(event)))  # type: ignore[arg-type]


def is_read_only_management_event(event: Mapping[str, Any]) -> bool:
    """Read-only CloudTrail management events reach only rules in ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS."""
    detail = event.get("detail") or {}
    return (
        event.get("detail-type") == CLOUDTRAIL_DETAIL_TYPE
        and detail.get("readOnly") is True
        and detail.get("managementEvent", True) is not False
    )


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    source: Path
    handler: str
    environment: dict[str, str]
    on_failure_queue: str | None
    retries: int
    memory: int
    timeout: int


@dataclass(frozen=True)
class EventSource:
    """A function's SQS event source mapping (SAM ``Events: Type: SQS``)."""

    function: str  # logical id
    queue_url: str
    queue_arn: str
    batch_size: int
    report_failures: bool


@dataclass(frozen=True)
class SnsSubscription:
    """A function subscribed to a topic (SAM ``Events: Type: SNS``, or an ``AWS::SNS::Subscription`` with
    protocol ``lambda``). Locally the topic delivers to a queue of the runner's, which the runner hands to the
    function as the SNS event Lambda would give it: moto's own lambda delivery drops the message attributes."""

    function: str  # logical id
    topic_arn: str
    queue_url: str
    subscription_arn: str


@dataclass(frozen=True)
class LogSubscription:
    """An ``AWS::Logs::SubscriptionFilter`` to a function of the stack."""

    name: str
    log_group: str
    filter_pattern: str
    function: str  # logical id

    def matches(self, message: str) -> bool:
        """Whether a log event passes the filter: empty, or a JSON equality ``{ $.a.b = "v" }``."""
        pattern = self.filter_pattern.strip()
        if not pattern:
            return True
        match = _JSON_FILTER.match(pattern)
        if match is None:
            raise NotImplementedError(f"subscription filter {self.name}: pattern {pattern!r} is not evaluated locally")
        try:
            value: Any = json.loads(message)
        except ValueError:
            return False
        for part in match[1].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return bool(value == match[2])


@dataclass
class LocalContext:
    """The parts of the Lambda context object that Powertools and handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class Step:
    at: float
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Execution:
    playbook: str
    arn: str
    finding_id: str | None
    status: str = "RUNNING"
    output: dict[str, Any] | None = None
    error: str | None = None
    states: list[str] = field(default_factory=list)
    awaiting_approval: bool = False
    """Seen waiting on a task token for a person (``AwaitApproval``) by a settle that does not wait for one."""


def _awaits_approval(sfn: Any, execution_arn: str) -> bool:
    """Whether the execution's newest event is its approval request, published and waiting for a person.

    Read from the whole history: moto ignores ``reverseOrder``.
    """
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"][-6:]
    return (
        bool(events)
        and events[-1]["type"] == "TaskSubmitted"
        and any(
            e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "AwaitApproval" for e in events
        )
    )


def _readable(message: Any) -> tuple[Any, dict[str, Any] | None]:
    """A notification as a person reads it (the e-mail text) and, for a composed one, its structured document
    (what the queue subscription receives: the ``sqs`` body of the message)."""
    if isinstance(message, str) and message.startswith("{"):
        try:
            document = json.loads(message)
        except ValueError:
            return message, None
        if isinstance(document, dict) and document.get("format") == "warden-notification/1":
            return document.get("text", message), document
    return message, None


class LocalStack:
    """A deployment of template.yaml onto the emulator."""

    def __init__(
        self,
        emulator: Emulator,
        root: Path,
        *,
        stack_name: str = "warden-local",
        parameters: Mapping[str, str] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.emulator = emulator
        self.root = root
        self.stack_name = stack_name
        self.template = load_template(root / "template.yaml")
        self.parameters = parameter_values(self.template, parameters or {})
        self.workdir = workdir or root / ".warden"
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.resolver = Resolver(
            self.template,
            self.parameters,
            pseudo={
                "AWS::StackName": stack_name,
                "AWS::Region": emulator.region,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            },
        )
        self.functions: dict[str, FunctionSpec] = {}
        self.routes: list[Route] = []
        self.state_machines: dict[str, str] = {}  # ARN -> playbook name
        self.queues: dict[str, str] = {}  # logical id -> URL
        self.alarms: dict[str, str] = {}  # logical id -> alarm name
        self.inboxes: list[str] = []
        self.taps: dict[str, str] = {}  # bus name -> tap queue URL
        self.timeline: list[Step] = []
        self.findings: list[dict[str, Any]] = []
        self.executions: list[Execution] = []
        self.invocations: list[dict[str, Any]] = []
        self.event_sources: dict[str, EventSource] = {}  # queue URL -> the function that reads it
        self.log_subscriptions: list[LogSubscription] = []
        self.sns_subscriptions: list[SnsSubscription] = []
        self.watched_buckets: list[str] = []  # buckets named by the template's S3 Object Created rules
        self._modules: dict[str, ModuleType] = {}
        self._started = time.monotonic()
        self._clients: dict[str, Any] = {}
        self.cloudwatch = LocalCloudWatch(self.client("cloudwatch"))  # AWS-vended metrics, alarm evaluation

    # ------------------------------------------------------------------ deployment

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.emulator.client(service)
        return self._clients[service]

    def deploy(self) -> LocalStack:
        resources = {
            logical: spec
            for logical, spec in self.template["Resources"].items()
            if "Condition" not in spec or self.resolver.condition(spec["Condition"])
        }
        order = [
            "AWS::KMS::Key",
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::SNS::Topic",
            "AWS::Events::EventBus",
            "AWS::Logs::LogGroup",
            "AWS::IAM::Role",
            "AWS::Serverless::Function",
            "AWS::SNS::Subscription",
            "AWS::Serverless::StateMachine",
            "AWS::Events::Rule",
            "AWS::Events::Archive",
            "AWS::Logs::SubscriptionFilter",
            "AWS::CloudWatch::Alarm",
            "AWS::CloudWatch::Dashboard",
        ]
        unknown = {spec["Type"] for spec in resources.values()} - set(order) - NOT_EMULATED
        if unknown:
            raise ValueError(f"template.yaml uses resource types the local stack cannot create: {sorted(unknown)}")
        self._create_implicit_roles(resources)
        ordered = _dependencies_first(resources)
        for kind in order:
            for logical, spec in ordered:
                if spec["Type"] == kind:
                    getattr(self, "_create_" + kind.split("::")[-1].lower())(logical, spec.get("Properties", {}))
        self._tap("default")
        self._note("deploy", f"stack {self.stack_name} created from template.yaml on {self.emulator.endpoint}")
        return self

    def _physical(self, logical: str) -> str:
        return f"{self.stack_name}-{logical}"[:64]

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.emulator.region}:{ACCOUNT_ID}:{resource}"

    def _create_implicit_roles(self, resources: Mapping[str, Any]) -> None:
        iam = self.client("iam")
        trust: dict[str, Any] = {"Version": "2012-10-17", "Statement": []}
        for logical, spec in resources.items():
            if spec["Type"] in {
                "AWS::Serverless::Function",
                "AWS::Serverless::StateMachine",
            } and "Role" not in spec.get("Properties", {}):
                role = iam.create_role(
                    RoleName=self._physical(logical + "Role"), AssumeRolePolicyDocument=json.dumps(trust)
                )
                self.resolver.refs[logical + "Role"] = role["Role"]["RoleName"]
                self.resolver.attributes[logical + "Role"] = {"Arn": role["Role"]["Arn"]}

    def _create_role(self, logical: str, props: Mapping[str, Any]) -> None:
        """An explicit role, with its trust and inline policies (moto keeps them; it does not evaluate them)."""
        props = self.resolver.resolve(props)
        iam = self.client("iam")
        name = props.get("RoleName") or self._physical(logical)
        role = iam.create_role(
            RoleName=name,
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {})),
        )["Role"]
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )
        self.resolver.refs[logical] = name
        self.resolver.attributes[logical] = {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    def _create_key(self, logical: str, props: Mapping[str, Any]) -> None:
        key = self.client("kms").create_key(Description=str(props.get("Description", logical)))["KeyMetadata"]
        self.resolver.refs[logical] = key["KeyId"]
        self.resolver.attributes[logical] = {"Arn": key["Arn"], "KeyId": key["KeyId"]}

    def _create_table(self, logical: str, props: Mapping[str, Any]) -> None:
        props = self.resolver.resolve(props)
        name = props.get("TableName") or self._physical(logical)
        args = {k: props[k] for k in ("AttributeDefinitions", "KeySchema") if k in props}
        self.client("dynamodb").create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **args)
        self.resolver.refs[logical] = name
        self.resolver.attributes[logical] = {"Arn": self._arn("dynamodb", f"table/{name}")}

    def _create_queue(self, logical: str, props: Mapping[str, Any]) -> None:
        name = self._physical(logical)
        spec = self.resolver.resolve(props)
        attributes = {
            k: str(spec[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds") if k in spec
        }
        if "RedrivePolicy" in spec:  # the dead-letter queue exists: queues are created dependencies first
            attributes["RedrivePolicy"] = json.dumps(spec["RedrivePolicy"])
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.queues[logical] = url
        self.resolver.refs[logical] = url
        self.resolver.attributes[logical] = {"Arn": self._arn("sqs", name), "QueueName": name, "QueueUrl": url}

    def _create_topic(self, logical: str, props: Mapping[str, Any]) -> None:
        name = self._physical(logical)
        arn = self.client("sns").create_topic(Name=name)["TopicArn"]
        self.resolver.refs[logical] = arn
        self.resolver.attributes[logical] = {"TopicArn": arn, "TopicName": name}
        inbox = self.client("sqs").create_queue(QueueName=f"{name}-local-inbox")["QueueUrl"]
        self.client("sns").subscribe(TopicArn=arn, Protocol="sqs", Endpoint=self._arn("sqs", f"{name}-local-inbox"))
        self.inboxes.append(inbox)

    def _create_eventbus(self, logical: str, props: Mapping[str, Any]) -> None:
        name = self.resolver.resolve(props)["Name"]
        arn = self.client("events").create_event_bus(Name=name)["EventBusArn"]
        self.resolver.refs[logical] = name
        self.resolver.attributes[logical] = {"Arn": arn, "Name": name}
        self._tap(name)

    def _create_loggroup(self, logical: str, props: Mapping[str, Any]) -> None:
        name = self.resolver.resolve(props).get("LogGroupName") or self._physical(logical)
        self.resolver.refs[logical] = name
        self.resolver.attributes[logical] = {"Arn": self._arn("logs", f"log-group:{name}:*")}

    def _create_archive(self, logical: str, props: Mapping[str, Any]) -> None:
        spec = self.resolver.resolve(props)
        name = spec.get("ArchiveName") or self._physical(logical)
        self.client("events").create_archive(
            ArchiveName=name,
            EventSourceArn=spec["SourceArn"],
            EventPattern=json.dumps(spec["EventPattern"]),
            RetentionDays=int(spec.get("RetentionDays", 0)),
        )
        self.resolver.refs[logical] = name

    def _create_alarm(self, logical: str, props: Mapping[str, Any]) -> None:
        spec = dict(self.resolver.resolve(props))
        for number in ("EvaluationPeriods", "Period", "DatapointsToAlarm"):  # parameters resolve to strings
            if number in spec:
                spec[number] = int(spec[number])
        spec["Threshold"] = float(spec["Threshold"])
        name = spec.setdefault("AlarmName", self._physical(logical))
        self.client("cloudwatch").put_metric_alarm(**spec)
        self.alarms[logical] = name
        self.resolver.refs[logical] = name

    def _create_dashboard(self, logical: str, props: Mapping[str, Any]) -> None:
        spec = self.resolver.resolve(props)
        name = spec.get("DashboardName") or self._physical(logical)
        self.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=spec["DashboardBody"])
        self.resolver.refs[logical] = name

    def _create_subscription(self, logical: str, props: Mapping[str, Any]) -> None:
        props = self.resolver.resolve(props)
        if props["Protocol"] == "lambda":
            function = next((f.logical_id for f in self.functions.values() if f.arn == props["Endpoint"]), None)
            if function is None:
                raise ValueError(f"{logical}: only lambda subscriptions to the stack's functions are emulated")
            self._subscribe_function(function, props["TopicArn"], props)
            return
        self.client("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"])

    def _subscribe_function(self, function: str, topic_arn: str, spec: Mapping[str, Any]) -> None:
        """Subscribe ``function`` to the topic through a delivery queue of the runner's (see :class:`SnsSubscription`).

        The filter policy and its scope apply as SNS applies them. The queue receives the ``sqs`` body of a
        ``MessageStructure=json`` message, where Lambda would receive the ``lambda`` one.
        """
        name = f"{self.stack_name}-sns-{len(self.sns_subscriptions)}-{function}"[:80]
        url = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        attributes = {}
        if "FilterPolicy" in spec:
            policy = spec["FilterPolicy"]
            attributes["FilterPolicy"] = policy if isinstance(policy, str) else json.dumps(policy)
            if "FilterPolicyScope" in spec:
                attributes["FilterPolicyScope"] = str(spec["FilterPolicyScope"])
        subscription = self.client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=self._arn("sqs", name), Attributes=attributes
        )["SubscriptionArn"]
        self.sns_subscriptions.append(
            SnsSubscription(function=function, topic_arn=topic_arn, queue_url=url, subscription_arn=subscription)
        )
        self._note("deploy", f"{function} subscribed to {topic_arn.split(':')[-1]}")

    def _create_function(self, logical: str, props: Mapping[str, Any]) -> None:
        globals_ = self.template.get("Globals", {}).get("Function", {})
        name = self.resolver.resolve(props.get("FunctionName")) or self._physical(logical)
        arn = self._arn("lambda", f"function:{name}")
        self.resolver.refs[logical] = name
        self.resolver.attributes[logical] = {"Arn": arn}
        if "FunctionUrlConfig" in props:  # SAM's <Logical>Url; the runner calls handlers itself, not over HTTPS
            self.resolver.attributes[logical + "Url"] = {
                "FunctionUrl": f"https://{name}.lambda-url.{self.emulator.region}.on.aws/"
            }
        environment = {
            **self.resolver.resolve(globals_.get("Environment", {}).get("Variables", {})),
            **self.resolver.resolve(props.get("Environment", {}).get("Variables", {})),
        }
        invoke_config = self.resolver.resolve(props.get("EventInvokeConfig", {}))
        failure_arn = invoke_config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        self.functions[logical] = FunctionSpec(
            logical_id=logical,
            name=name,
            arn=arn,
            source=self.root / props["CodeUri"],
            handler=props.get("Handler", globals_.get("Handler", "")),
            environment={k: str(v) for k, v in environment.items()},
            on_failure_queue=self._queue_url(failure_arn) if failure_arn else None,
            retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
            memory=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            timeout=int(props.get("Timeout", globals_.get("Timeout", 3))),
        )
        self._add_sam_rules(logical, props, Target(kind="function", ref=logical))
        self._add_event_sources(logical, props)
        lambda_tasks.register(arn, functools.partial(self.invoke_sync, self.functions[logical]))

    def _add_event_sources(self, logical: str, props: Mapping[str, Any]) -> None:
        """SAM ``Events: Type: SQS``: the function reads the queue in batches; ``Type: SNS``: it is subscribed."""
        for event_name, event in props.get("Events", {}).items():
            if event.get("Type") == "SNS":
                sns = self.resolver.resolve(event["Properties"])
                self._subscribe_function(logical, sns["Topic"], sns)
                continue
            if event.get("Type") != "SQS":
                continue
            spec = self.resolver.resolve(event["Properties"])
            if spec.get("Enabled") is False:
                continue
            url = self._queue_url(spec["Queue"])
            self.event_sources[url] = EventSource(
                function=logical,
                queue_url=url,
                queue_arn=spec["Queue"],
                batch_size=int(spec.get("BatchSize", 10)),
                report_failures="ReportBatchItemFailures" in spec.get("FunctionResponseTypes", []),
            )
            self._note("deploy", f"{logical}.{event_name} reads {spec['Queue'].split(':')[-1]}")

    def _create_subscriptionfilter(self, logical: str, props: Mapping[str, Any]) -> None:
        """A subscription of a log group (the deployer's: created here if missing) to a function of the stack."""
        spec = self.resolver.resolve(props)
        function = next((f.logical_id for f in self.functions.values() if f.arn == spec["DestinationArn"]), None)
        if function is None:
            raise ValueError(f"{logical}: only subscriptions to the stack's functions are emulated")
        group = spec["LogGroupName"]
        logs = self.client("logs")
        if not logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups"):
            logs.create_log_group(logGroupName=group)
        self.log_subscriptions.append(
            LogSubscription(
                name=spec.get("FilterName") or self._physical(logical),
                log_group=group,
                filter_pattern=str(spec.get("FilterPattern", "")),
                function=function,
            )
        )
        self.resolver.refs[logical] = spec.get("FilterName") or self._physical(logical)

    def _create_statemachine(self, logical: str, props: Mapping[str, Any]) -> None:
        definition = (self.root / props["DefinitionUri"]).read_text()
        for key, value in self.resolver.resolve(props.get("DefinitionSubstitutions", {})).items():
            definition = definition.replace("${" + key + "}", str(value))
        json.loads(definition)  # a substitution must never break the document
        playbook = _playbook_name(props)
        name = self.resolver.resolve(props.get("Name")) or self._physical(logical)
        arn = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=self.resolver.attributes[logical + "Role"]["Arn"],
            type=props.get("Type", "STANDARD"),
        )["stateMachineArn"]
        self.state_machines[arn] = playbook
        self.resolver.refs[logical] = arn
        self.resolver.attributes[logical] = {"Arn": arn, "Name": name}
        self._add_sam_rules(logical, props, Target(kind="state-machine", ref=arn))

    def _add_sam_rules(self, logical: str, props: Mapping[str, Any], target: Target) -> None:
        for event_name, event in props.get("Events", {}).items():
            if event.get("Type") != "EventBridgeRule":
                continue
            spec = self.resolver.resolve(event["Properties"])
            routed = Target(
                kind=target.kind,
                ref=target.ref,
                input_path=spec.get("InputPath"),
                dead_letter_queue=self._dead_letter_url(spec),
            )
            self.routes.append(
                Route(
                    rule=f"{logical}.{event_name}",
                    bus=spec.get("EventBusName", "default"),
                    pattern=spec["Pattern"],
                    state=spec.get("State", "ENABLED"),
                    target=routed,
                )
            )

    def _create_rule(self, logical: str, props: Mapping[str, Any]) -> None:
        spec = self.resolver.resolve(props)
        self._create_watched_buckets(spec["EventPattern"])
        for target in spec.get("Targets", []):
            service = target["Arn"].split(":")[2]
            kind = {"sns": "sns", "sqs": "sqs", "states": "state-machine"}.get(service)
            if kind is None:
                raise ValueError(f"rule {logical}: target service {service} is not emulated locally")
            ref = self._queue_url(target["Arn"]) if kind == "sqs" else target["Arn"]
            self.routes.append(
                Route(
                    rule=logical,
                    bus=spec.get("EventBusName", "default"),
                    pattern=spec["EventPattern"],
                    state=spec.get("State", "ENABLED"),
                    target=Target(
                        kind=kind,
                        ref=ref,
                        input_path=target.get("InputPath"),
                        input_transformer=target.get("InputTransformer"),
                        dead_letter_queue=self._dead_letter_url(target),
                    ),
                )
            )

    def _create_watched_buckets(self, pattern: Mapping[str, Any]) -> None:
        """Buckets an S3 Object Created rule names are the deployer's, outside the stack: create them here."""
        if "aws.s3" not in pattern.get("source", []) or "Object Created" not in pattern.get("detail-type", []):
            return
        s3 = self.client("s3")
        for bucket in pattern.get("detail", {}).get("bucket", {}).get("name", []):
            if isinstance(bucket, str) and bucket and bucket not in self.watched_buckets:
                kwargs = (
                    {}
                    if self.emulator.region == "us-east-1"
                    else {"CreateBucketConfiguration": {"LocationConstraint": self.emulator.region}}
                )
                with suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # another local stack watches it too
                    s3.create_bucket(Bucket=bucket, **kwargs)
                self.watched_buckets.append(bucket)

    def _dead_letter_url(self, target: Mapping[str, Any]) -> str | None:
        """The URL of a rule target's DeadLetterConfig queue, if it has one."""
        arn = target.get("DeadLetterConfig", {}).get("Arn")
        return self._queue_url(arn) if arn else None

    def _queue_url(self, arn: str) -> str:
        name = arn.split(":")[-1]
        return str(self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    def _tap(self, bus: str) -> None:
        """Copy every event on ``bus`` to an SQS queue so that this runner can route it."""
        sqs, events = self.client("sqs"), self.client("events")
        queue = f"{self.stack_name}-tap-{len(self.taps)}"
        url = sqs.create_queue(QueueName=queue)["QueueUrl"]
        events.put_rule(Name=f"{queue}", EventBusName=bus, EventPattern=json.dumps(MATCH_ALL))
        events.put_targets(Rule=queue, EventBusName=bus, Targets=[{"Id": "tap", "Arn": self._arn("sqs", queue)}])
        self.taps[bus] = url

    # ------------------------------------------------------------------ event flow

    def send(self, events: list[dict[str, Any]]) -> int:
        """Deliver events to the default bus, as CloudTrail does, and route everything that follows.

        Each event arrives at its envelope ``time`` (Warden's clock reads that time while it is routed),
        so that a capture is judged as it would have been when it arrived. Returns how many events no
        rule of the template took.
        """
        not_routed = 0
        for event in events:
            detail: dict[str, Any] = event["detail"] if isinstance(event.get("detail"), dict) else {}
            self._note(
                "event",
                f"{detail.get('eventSource', event.get('source'))} {detail.get('eventName', event.get('detail-type'))}"
                f" by {identity.get('arn', '?') if isinstance(identity := detail.get('userIdentity'), dict) else '?'}",
                {"id": event.get("id")},
            )
            with _arriving(event):
                not_routed += not self.route("default", event)
        return not_routed

    def route(self, bus: str, event: dict[str, Any]) -> int:
        """Deliver ``event`` to every route of ``bus`` that accepts it; how many did."""
        accepted = [route for route in self.routes if route.bus == bus and route.accepts(event)]
        for route in accepted:
            self._deliver(route, event)
        return len(accepted)

    def _deliver(self, route: Route, event: dict[str, Any]) -> None:
        target = route.target
        payload = _input_path(event, target.input_path)
        if target.kind == "function":  # asynchronous invoke: failures go to the function's destination
            self.invoke(self.functions[target.ref], payload)
            self._drain_taps()
            return
        try:
            if target.kind == "state-machine":
                self._start_execution(target.ref, payload)
            elif target.kind == "sns":
                message = _transform(event, target.input_transformer)
                self.client("sns").publish(TopicArn=target.ref, Message=message)
            elif target.kind == "sqs":
                self.client("sqs").send_message(QueueUrl=target.ref, MessageBody=json.dumps(payload))
        except Exception as exc:  # what EventBridge does once retries are spent: keep it in the rule's DLQ
            self._note("error", f"rule {route.rule} could not deliver to {target.ref}: {exc}")
            self.cloudwatch.delivery_failed(self._physical(route.rule.replace(".", "")))
            if target.dead_letter_queue is None:
                raise
            self.client("sqs").send_message(
                QueueUrl=target.dead_letter_queue,
                MessageBody=json.dumps(event),
                MessageAttributes={
                    "RULE_ARN": {"DataType": "String", "StringValue": route.rule},
                    "TARGET_ARN": {"DataType": "String", "StringValue": target.ref},
                    "ERROR_MESSAGE": {"DataType": "String", "StringValue": str(exc)[:256]},
                },
            )
            return
        if target.kind == "sqs" and target.ref in self.event_sources:
            self.drain(target.ref)

    # ------------------------------------------------------------------ Lambda's SQS event sources

    def drain(self, queue_url: str | None = None) -> int:
        """Hand what waits in the queues functions read (or in one of them) to their functions; how many batches.

        As Lambda's pollers do: batches of up to ``BatchSize`` messages; with ``ReportBatchItemFailures``
        only the messages the handler names are retried, without it (or when the handler raises, or
        answers with an identifier not in the batch) the whole batch is. Locally a failed message is
        received again at once instead of after its visibility timeout; moto moves it to the queue's
        dead-letter queue once it has been received ``maxReceiveCount`` times.
        """
        sources = [self.event_sources[queue_url]] if queue_url else list(self.event_sources.values())
        return sum(self._drain(source) for source in sources)

    def _drain(self, source: EventSource) -> int:
        sqs, fn = self.client("sqs"), self.functions[source.function]
        attributes = sqs.get_queue_attributes(QueueUrl=source.queue_url, AttributeNames=["RedrivePolicy"])
        redriven = "RedrivePolicy" in attributes.get("Attributes", {})
        batches = 0
        while True:
            messages: list[dict[str, Any]] = []
            while len(messages) < source.batch_size:
                received = sqs.receive_message(
                    QueueUrl=source.queue_url,
                    MaxNumberOfMessages=min(10, source.batch_size - len(messages)),
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not received:
                    break
                messages.extend(received)
            if not messages:
                return batches
            batches += 1
            failed = self._invoke_batch(fn, source, messages)
            for message in messages:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    continue
                received_count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                if not redriven and received_count >= LOCAL_RECEIVE_LIMIT:
                    self._note(
                        "error", f"{source.function}: message {message['MessageId']} keeps failing; left in flight"
                    )
                    continue
                sqs.change_message_visibility(
                    QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )

    def _invoke_batch(self, fn: FunctionSpec, source: EventSource, messages: list[dict[str, Any]]) -> set[str]:
        """Run the handler on one batch, as the event source mapping invokes it (synchronously); the failed ids."""
        ids = {m["MessageId"] for m in messages}
        event = {"Records": [self._sqs_record(m, source) for m in messages]}
        request_id = str(uuid.uuid4())
        batch = {"function": fn.logical_id, "request_id": request_id, "batch": [_message_ids(m) for m in messages]}
        with self._function_environment(fn):
            try:
                result = self._call_handler(fn, event, request_id)
            except Exception as exc:
                self._note(
                    "error",
                    f"{fn.logical_id} request {request_id} (batch of {len(ids)}) failed: {type(exc).__name__}: {exc}",
                )
                self.invocations.append({**batch, "error": repr(exc), "failed": sorted(ids)})
                return ids
        self._drain_taps()
        failed = self._failed_messages(source, ids, result)
        self.invocations.append({**batch, "result": result, "failed": sorted(failed)})
        if failed:
            self._note("error", f"{fn.logical_id} request {request_id}: {len(failed)} of {len(ids)} messages failed")
        return failed

    @staticmethod
    def _failed_messages(source: EventSource, ids: set[str], result: Any) -> set[str]:
        """The messages a batch response names as failed, as Lambda reads it: no response or no list is
        success; a list naming anything but the batch's message ids fails the whole batch."""
        if not source.report_failures or result is None:
            return set()
        items = result.get("batchItemFailures") if isinstance(result, dict) else []
        if items is None:
            return set()
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            return ids
        failed = {item.get("itemIdentifier") for item in items}
        return {str(item) for item in failed} if failed <= ids else ids

    def _sqs_record(self, message: Mapping[str, Any], source: EventSource) -> dict[str, Any]:
        """One record of the event Lambda's SQS poller hands a function."""
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                key: attributes[key]
                for key in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
                if key in attributes
            },
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": source.queue_arn,
            "awsRegion": self.emulator.region,
        }

    # ------------------------------------------------------------------ model-invocation logs

    def put_invocation_log(self, records: list[dict[str, Any]], *, key: str | None = None) -> int:
        """Write ``records`` as Bedrock writes an invocation-log object, then deliver what S3 and EventBridge would.

        The object is gzipped JSON lines in the bucket the template's S3 rule watches (the
        InvocationLogBucket parameter), under ``AWSLogs/<account>/BedrockModelInvocationLogs/<region>/
        YYYY/MM/DD/HH/`` of the newest record's time unless ``key`` is given. S3's ``Object Created``
        event (as S3 sends it to EventBridge; moto's own lacks fields and dates it as a number) goes to
        the default bus at that time, on Warden's clock, and everything it leads to is routed and
        drained. Returns how many routes took the event.
        """
        if not self.watched_buckets:
            raise ValueError("this stack reads no invocation-log bucket: deploy it with InvocationLogBucket=<bucket>")
        bucket = self.watched_buckets[0]
        at = max((t for t in map(_record_time, records) if t is not None), default=None) or clock.now()
        account = next((r["accountId"] for r in records if isinstance(r.get("accountId"), str)), ACCOUNT_ID)
        region = next((r["region"] for r in records if isinstance(r.get("region"), str)), self.emulator.region)
        key = key or (
            f"AWSLogs/{account}/BedrockModelInvocationLogs/{region}/{at:%Y/%m/%d/%H}/"
            f"{at:%Y%m%dT%H%M%S}Z_{uuid.uuid4().hex[:16]}.json.gz"
        )
        body = gzip.compress("".join(json.dumps(record) + "\n" for record in records).encode())
        put = self.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        event = object_created_event(bucket, key, len(body), put, account=account, region=self.emulator.region, at=at)
        self._note(
            "event",
            f"s3 Object Created s3://{bucket}/{key}: {len(records)} invocation-log records",
            {"id": event["id"]},
        )
        with clock.frozen(at):
            return self.route("default", event)

    def put_invocation_log_events(self, records: list[dict[str, Any]]) -> int:
        """Write ``records`` to the invocation-log group and deliver them as its subscription filter would.

        Only for a stack deployed with InvocationLogGroup (it has the subscription). The records are put
        in the group's ``aws/bedrock/modelinvocations`` stream; those the filter pattern passes reach
        the subscribed function in one ``awslogs`` payload (gzipped, base64), invoked asynchronously at
        the newest record's time. Returns how many subscriptions delivered.
        """
        if not self.log_subscriptions:
            raise ValueError(
                "this stack subscribes to no invocation-log group: deploy it with InvocationLogGroup=<group>"
            )
        at = max((t for t in map(_record_time, records) if t is not None), default=None) or clock.now()
        stamped = sorted(
            ((int(((_record_time(r) or at).timestamp()) * 1000), json.dumps(r)) for r in records), key=lambda e: e[0]
        )
        logs, written, delivered = self.client("logs"), set(), 0
        for subscription in self.log_subscriptions:
            if subscription.log_group not in written:
                self._write_log_events(logs, subscription.log_group, stamped)
                written.add(subscription.log_group)
            events = [
                {"id": _log_event_id(), "timestamp": ts, "message": message}
                for ts, message in stamped
                if subscription.matches(message)
            ]
            if not events:
                continue
            payload = {
                "messageType": "DATA_MESSAGE",
                "owner": ACCOUNT_ID,
                "logGroup": subscription.log_group,
                "logStream": INVOCATION_LOG_STREAM,
                "subscriptionFilters": [subscription.name],
                "logEvents": events,
            }
            data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
            self._note(
                "event",
                f"logs {subscription.log_group}: {len(events)} invocation-log events to {subscription.function}",
            )
            with clock.frozen(at):
                self.invoke(self.functions[subscription.function], {"awslogs": {"data": data}})
                self._drain_taps()
            delivered += 1
        return delivered

    def _write_log_events(self, logs: Any, group: str, stamped: list[tuple[int, str]]) -> None:
        """Keep the records in the log group too (CloudWatch refuses events over 14 days old; so does moto)."""
        with suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=group, logStreamName=INVOCATION_LOG_STREAM)
        if stamped:
            logs.put_log_events(
                logGroupName=group,
                logStreamName=INVOCATION_LOG_STREAM,
                logEvents=[{"timestamp": ts, "message": message} for ts, message in stamped],
            )

    def invoke(self, fn: FunctionSpec, event: Any) -> Any:
        """Run a handler in-process as Lambda runs an asynchronous invocation.

        A failing invocation is retried ``MaximumRetryAttempts`` times (the template's
        EventInvokeConfig; no back-off locally); then the event goes to the on-failure destination.
        """
        request_id = str(uuid.uuid4())
        error: Exception | None = None
        for attempt in range(1, fn.retries + 2):
            with self._function_environment(fn):
                try:
                    result = self._call_handler(fn, event, request_id)
                except Exception as exc:
                    error = exc
                    self._note(
                        "error",
                        f"{fn.logical_id} request {request_id} attempt {attempt} failed: {type(exc).__name__}: {exc}",
                    )
                    continue
            self.invocations.append({"function": fn.logical_id, "request_id": request_id, "result": result})
            return result
        assert error is not None  # noqa: S101  narrows the type for mypy: every failed attempt set it
        self.invocations.append({"function": fn.logical_id, "request_id": request_id, "error": repr(error)})
        if fn.on_failure_queue:
            self.client("sqs").send_message(
                QueueUrl=fn.on_failure_queue,
                MessageBody=json.dumps(
                    {
                        "version": "1.0",
                        "requestContext": {
                            "requestId": request_id,
                            "functionArn": fn.arn,
                            "condition": "RetriesExhausted",
                            "approximateInvokeCount": fn.retries + 1,
                        },
                        "requestPayload": event,
                        "responsePayload": {"errorType": type(error).__name__, "errorMessage": str(error)},
                    },
                    default=str,
                ),
            )
        return None

    def invoke_sync(self, fn: FunctionSpec, event: Any) -> Any:
        """Run a handler as a synchronous (RequestResponse) invocation, e.g. a Step Functions Lambda task.

        No retries and no destination: the caller sees the error, as Step Functions' Retry and Catch do.
        """
        request_id = str(uuid.uuid4())
        with self._function_environment(fn):
            try:
                result = self._call_handler(fn, event, request_id)
            except Exception as exc:
                self.invocations.append({"function": fn.logical_id, "request_id": request_id, "error": repr(exc)})
                raise
        self.invocations.append({"function": fn.logical_id, "request_id": request_id, "result": result})
        return result

    def _call_handler(self, fn: FunctionSpec, event: Any, request_id: str) -> Any:
        handler: Callable[[Any, Any], Any] = getattr(self._handler_module(fn), fn.handler.rsplit(".", 1)[1])
        context = LocalContext(
            function_name=fn.name,
            invoked_function_arn=fn.arn,
            memory_limit_in_mb=fn.memory,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{fn.name}",
            log_stream_name="local",
            deadline=time.monotonic() + fn.timeout,
        )
        with self.cloudwatch.invocation(fn.name, self.workdir / "logs" / f"{fn.logical_id}.log"):
            return handler(event, context)

    def _handler_module(self, fn: FunctionSpec) -> ModuleType:
        if fn.logical_id not in self._modules:
            module_file = fn.source / (fn.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
            name = f"warden_function_{fn.logical_id}"
            spec = importlib.util.spec_from_file_location(name, module_file)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load handler {fn.handler} from {fn.source}")
            module = importlib.util.module_from_spec(spec)
            with self._function_environment(fn, capture_output=False):
                spec.loader.exec_module(module)
            self._modules[fn.logical_id] = module
        return self._modules[fn.logical_id]

    @contextmanager
    def _function_environment(self, fn: FunctionSpec, *, capture_output: bool = True) -> Iterator[None]:
        """The function's environment variables and, while it runs, its stdout (logs, metrics) in a log file."""
        env = {**fn.environment, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_LAMBDA_FUNCTION_NAME": fn.name}
        _HANDLERS_RUNNING.acquire()  # handlers share this process's environment and stdout: one at a time
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            if not capture_output:
                yield
                return
            log_file = FunctionLog(self.workdir / "logs" / f"{fn.logical_id}.log")
            service = fn.environment.get("POWERTOOLS_SERVICE_NAME", "service_undefined")
            saved_stdout, sys.stdout = sys.stdout, log_file
            streams = _point_log_handlers(log_file, service)
            try:
                yield
            finally:
                _restore_log_handlers(streams)
                if sys.stdout is log_file:  # else another thread (a CLI test's runner) set its own since: keep it
                    sys.stdout = saved_stdout
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _HANDLERS_RUNNING.release()

    def _drain_taps(self) -> None:
        sqs = self.client("sqs")
        for bus, url in self.taps.items():
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for message in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    event = json.loads(message["Body"])
                    if event.get("detail-type") == FINDING_DETAIL_TYPE:
                        self.findings.append(event["detail"])
                        detail = event["detail"]
                        self._note(
                            "finding",
                            f"{detail['severity']} {detail['family']} {detail['detector']}: {detail['title']}",
                            {"id": detail["id"], "playbook": detail.get("playbook")},
                        )
                    self.route(bus, event)

    def playbook_arn(self, playbook: str) -> str:
        arn = next((arn for arn, name in self.state_machines.items() if name == playbook), None)
        if arn is None:
            raise ValueError(f"no playbook {playbook!r}; deployed: {', '.join(sorted(self.state_machines.values()))}")
        return arn

    def start_playbook(self, playbook: str, payload: Any) -> Execution:
        """Run a playbook by hand, as security staff would with StartExecution."""
        return self._start_execution(self.playbook_arn(playbook), payload)

    def _start_execution(self, arn: str, payload: Any) -> Execution:
        finding_id = payload.get("id") if isinstance(payload, dict) else None
        name = f"{finding_id or 'manual'}-{uuid.uuid4().hex[:8]}"
        execution = self.client("stepfunctions").start_execution(
            stateMachineArn=arn, name=name, input=json.dumps(payload)
        )["executionArn"]
        started = Execution(playbook=self.state_machines[arn], arn=execution, finding_id=finding_id)
        self.executions.append(started)
        self._note("playbook", f"{self.state_machines[arn]} started for finding {finding_id}", {"execution": execution})
        return started

    def settle(
        self, timeout: float = 60.0, *, only: Iterable[Execution] | None = None, until_approval: bool = False
    ) -> None:
        """Wait for every execution (or ``only`` these) to end, including those that failures start; report
        failures as AWS would. With ``until_approval``, an execution waiting for a person's approval counts as
        settled (a demo does not wait an hour for one).

        What the executions published to topics with subscribed functions is then delivered to them.
        """
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        chosen = None if only is None else {e.arn for e in only}

        def pending(e: Execution) -> bool:
            waived = until_approval and e.awaiting_approval
            return e.status == "RUNNING" and not waived and (chosen is None or e.arn in chosen)

        while running := [e for e in self.executions if pending(e)]:
            for execution in running:
                self._settle_one(sfn, execution, deadline, until_approval=until_approval)
            self.deliver_sns()
            if time.monotonic() > deadline:
                return
        self.deliver_sns()

    def deliver_sns(self) -> int:
        """Hand what the topics delivered to subscribed functions to them, one asynchronous invocation per
        message as SNS invokes Lambda (retries, then the on-failure destination); how many were delivered."""
        sqs, delivered = self.client("sqs"), 0
        for subscription in self.sns_subscriptions:
            while messages := sqs.receive_message(QueueUrl=subscription.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for message in messages:
                    sqs.delete_message(QueueUrl=subscription.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    event = _sns_event(json.loads(message["Body"]), subscription)
                    self.invoke(self.functions[subscription.function], event)
                    self._drain_taps()
                    delivered += 1
        return delivered

    def _settle_one(self, sfn: Any, execution: Execution, deadline: float, *, until_approval: bool = False) -> None:
        """Wait for one execution, read its history, and emit its status change if it did not succeed."""
        polls = 0
        while True:
            described = sfn.describe_execution(executionArn=execution.arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            polls += 1
            if until_approval and polls % 10 == 0 and _awaits_approval(sfn, execution.arn):
                execution.awaiting_approval = True
                self._note("playbook", f"{execution.playbook} waiting for approval", {"execution": execution.arn})
                return
            time.sleep(0.02)
        execution.status = described["status"]
        execution.output = json.loads(described["output"]) if described.get("output") else None
        execution.error = described.get("error")
        history = sfn.get_execution_history(executionArn=execution.arn, maxResults=1000)["events"]
        execution.states = [
            e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")
        ]
        outcome = (execution.output or {}).get("outcome", {}).get("status")
        self._note(
            "playbook",
            f"{execution.playbook} {execution.status}"
            + (f" ({outcome})" if outcome else "")
            + (f" error {execution.error}" if execution.error else ""),
            {"execution": execution.arn, "states": execution.states},
        )
        self.cloudwatch.execution_ended(described["stateMachineArn"], execution.status)
        if execution.status in {"FAILED", "TIMED_OUT", "ABORTED"}:
            self.route("default", self._status_change_event(execution, described))

    def _status_change_event(self, execution: Execution, described: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": EXECUTION_STATUS_CHANGE,
            "source": "aws.states",
            "account": ACCOUNT_ID,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.emulator.region,
            "resources": [execution.arn],
            "detail": {
                "executionArn": execution.arn,
                "stateMachineArn": described["stateMachineArn"],
                "name": described.get("name"),
                "status": execution.status,
                "input": described.get("input"),
                "error": described.get("error"),
                "cause": described.get("cause"),
            },
        }

    # ------------------------------------------------------------------ reading back

    def notifications(self) -> list[dict[str, Any]]:
        sqs, found = self.client("sqs"), []
        for url in self.inboxes:
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for message in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    envelope = json.loads(message["Body"])
                    text, document = _readable(envelope.get("Message"))
                    found.append(
                        {
                            "topic": envelope.get("TopicArn"),
                            "subject": envelope.get("Subject"),
                            "message": text,
                            "document": document,
                            "attributes": {
                                k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()
                            },
                        }
                    )
        return found

    def queue_messages(self, logical: str) -> list[dict[str, Any]]:
        """Messages waiting in one of the template's queues, as {body, attributes} (read without deleting)."""
        sqs, seen = self.client("sqs"), set()
        found: list[dict[str, Any]] = []
        while True:
            response = sqs.receive_message(
                QueueUrl=self.queues[logical],
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                MessageAttributeNames=["All"],
            )
            fresh = [m for m in response.get("Messages", []) if m["MessageId"] not in seen]
            if not fresh:
                return found
            for message in fresh:
                seen.add(message["MessageId"])
                attributes = {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()}
                found.append({"body": json.loads(message["Body"]), "attributes": attributes})

    def alarm_states(self) -> dict[str, str]:
        """Evaluate the template's alarms now (logical id -> OK | ALARM | INSUFFICIENT_DATA), as set in the emulator."""
        queues = {self.resolver.attributes[logical]["QueueName"]: url for logical, url in self.queues.items()}
        self.cloudwatch.sample_queues(queues, self.client("sqs"), ages=self._oldest_message_ages(queues))
        return self.cloudwatch.evaluate(self.alarms)

    def _oldest_message_ages(self, names: Mapping[str, str]) -> dict[str, float]:
        """Seconds the oldest message of each queue has waited (SQS's ApproximateAgeOfOldestMessage), read from
        moto's in-process backend: the API does not report it."""
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[ACCOUNT_ID][self.emulator.region]
        now_ms, ages = time.time() * 1000, {}
        for name in names:
            queue = backend.queues.get(name)
            sent = [m.sent_timestamp for m in getattr(queue, "_messages", []) if m.sent_timestamp]
            ages[name] = max(0.0, (now_ms - min(sent)) / 1000) if sent else 0.0
        return ages

    def ref(self, logical: str) -> str:
        return self.resolver.refs[logical]

    def _note(self, kind: str, text: str, data: dict[str, Any] | None = None) -> None:
        self.timeline.append(Step(at=round(time.monotonic() - self._started, 3), kind=kind, text=text, data=data or {}))


def _sns_event(envelope: Mapping[str, Any], subscription: SnsSubscription) -> dict[str, Any]:
    """The event Lambda gives a function subscribed to a topic, from the notification SNS delivered to a queue."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.subscription_arn,
                "Sns": {
                    "Type": envelope.get("Type", "Notification"),
                    "MessageId": envelope.get("MessageId"),
                    "TopicArn": envelope.get("TopicArn", subscription.topic_arn),
                    "Subject": envelope.get("Subject"),
                    "Message": envelope.get("Message"),
                    "Timestamp": envelope.get("Timestamp"),
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", "EXAMPLE"),
                    "SigningCertUrl": envelope.get("SigningCertURL", "EXAMPLE"),
                    "UnsubscribeUrl": envelope.get("UnsubscribeURL", "EXAMPLE"),
                    "MessageAttributes": envelope.get("MessageAttributes") or {},
                },
            }
        ]
    }


def _dependencies_first(resources: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The resources in template order, except that one naming another of its own type comes after it
    (a queue's redrive policy names its dead-letter queue)."""
    names = {
        logical: {
            other
            for other in resources
            if other != logical
            and resources[other]["Type"] == spec["Type"]
            and f'"{other}"' in json.dumps(spec.get("Properties", {}))
        }
        for logical, spec in resources.items()
    }
    placed: list[str] = []
    pending = list(resources)
    while pending:
        ready = [logical for logical in pending if names[logical] <= set(placed)]
        if not ready:  # a cycle: CloudFormation would refuse it; keep template order
            placed.extend(pending)
            break
        placed.extend(ready)
        pending = [logical for logical in pending if logical not in ready]
    return [(logical, resources[logical]) for logical in placed]


def _message_ids(message: Mapping[str, Any]) -> dict[str, Any]:
    """A queued message's id and, when its body is an EventBridge event, the event's id (for reports)."""
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = None
    return {"message_id": message["MessageId"], "event_id": body.get("id") if isinstance(body, dict) else None}


def _record_time(record: Mapping[str, Any]) -> datetime | None:
    """An invocation-log record's ``timestamp`` as an aware datetime, or None."""
    stamp = record.get("timestamp") if isinstance(record, Mapping) else None
    try:
        parsed = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _log_event_id() -> str:
    """A CloudWatch Logs event id: 56 decimal digits."""
    return f"{uuid.uuid4().int:039d}{uuid.uuid4().int % 10**17:017d}"


def object_created_event(
    bucket: str, key: str, size: int, put: Mapping[str, Any], *, account: str, region: str, at: datetime
) -> dict[str, Any]:
    """The ``Object Created`` event S3 sends EventBridge for a PutObject (Amazon S3 User Guide, "EventBridge
    event message structure")."""
    obj: dict[str, Any] = {
        "key": key,
        "size": size,
        "etag": str(put.get("ETag", "")).strip('"'),
        "sequencer": f"{int(at.timestamp() * 1000):X}{uuid.uuid4().hex[:6].upper()}",
    }
    if put.get("VersionId"):
        obj["version-id"] = put["VersionId"]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account,
            "reason": "PutObject",
        },
    }


@contextmanager
def _arriving(event: Mapping[str, Any]) -> Iterator[None]:
    """Warden's clock at the event's arrival (its envelope ``time``), when that is an aware timestamp."""
    stamp = event.get("time")
    try:
        arrival = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        arrival = None
    if arrival is None or arrival.tzinfo is None:
        yield
        return
    with clock.frozen(arrival):
        yield


def _playbook_name(props: Mapping[str, Any]) -> str:
    """The name findings use for this state machine: its route's ``detail.playbook``, else its file name."""
    for event in props.get("Events", {}).values():
        named = event.get("Properties", {}).get("Pattern", {}).get("detail", {}).get("playbook")
        if event.get("Type") == "EventBridgeRule" and named:
            return str(named[0])
    return Path(props["DefinitionUri"]).name.split(".")[0].replace("_", "-")


def _input_path(event: dict[str, Any], path: str | None) -> Any:
    if not path or path == "$":
        return event
    value: Any = event
    for part in path.removeprefix("$.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _transform(event: dict[str, Any], transformer: Mapping[str, Any] | None) -> str:
    """The target input an InputTransformer makes of ``event``.

    A JSON template (an object, array or quoted string) goes through moto's parser. A plain-text
    template, which EventBridge accepts too (``"<instance> is in state <status>"``) and moto refuses
    (it parses every result as JSON), is filled here: each variable with its value as text (objects and
    arrays as compact JSON), and with nothing when the event has no such path.
    """
    if not transformer:
        return json.dumps(event)
    template = str(transformer.get("InputTemplate", ""))
    if template.lstrip()[:1] not in {"{", "[", '"'}:
        values = {name: _input_path(event, path) for name, path in dict(transformer.get("InputPathsMap", {})).items()}
        return re.sub(
            r"<([A-Za-z0-9_.-]+)>",
            lambda match: _as_text(values[match[1]]) if match[1] in values else match[0],
            template,
        )
    result = EventTemplateParser.parse(
        input_template=transformer.get("InputTemplate", ""),
        input_paths_map=dict(transformer.get("InputPathsMap", {})),
        event={**event, "ingestion-time": event.get("time")},  # type: ignore[typeddict-item]
    )
    return result if isinstance(result, str) else json.dumps(result)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class FunctionLog(io.TextIOBase):
    """A function's log file as a text stream that is never closed: each write opens, appends and closes it.

    Handlers run in the emulator's threads while the main thread may be running a command (a test's
    CliRunner swaps ``sys.stdout`` too). Whoever keeps a reference to this stream after the invocation (a
    logger first built during it, a runner restoring what it saw) keeps writing to the function's log
    instead of failing on a closed file; and ``sys.stdout`` is put back only if it is still this stream, so
    that a runner's own stream is never dropped (its buffer would be closed when collected).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self.path.open("a") as file:
            file.write(text)
        return len(text)


def _point_log_handlers(stream: Any, service: str) -> list[tuple[logging.StreamHandler[Any], Any]]:
    """Send the Powertools logger's stream handlers to ``stream``; returns what to restore."""
    changed = []
    for handler in logging.getLogger(service).handlers:
        if isinstance(handler, logging.StreamHandler):
            changed.append((handler, handler.stream))
            handler.stream = stream  # no flush of the old stream: it may belong to a finished caller
    return changed


def _restore_log_handlers(changed: list[tuple[logging.StreamHandler[Any], Any]]) -> None:
    for handler, old in changed:
        handler.stream = old
