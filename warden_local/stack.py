"""The local stack: template.yaml deployed onto the embedded emulator, with EventBridge routing.

moto cannot deliver EventBridge events to Lambda, Step Functions or SNS targets, so this module
does what EventBridge would: it reads every rule of the template (SAM ``EventBridgeRule`` events
and ``AWS::Events::Rule`` resources), matches events with moto's own pattern matcher, honours the
rule state for read-only CloudTrail management events, and delivers to the target: a handler
invoked in-process with a Lambda context, a state-machine execution that moto really runs, an SNS
publish (with the rule's InputTransformer) or an SQS message. Events that functions publish to the
stack's buses are tapped through SQS and routed the same way.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime
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
}


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
            "AWS::SNS::Subscription",
            "AWS::Serverless::Function",
            "AWS::Serverless::StateMachine",
            "AWS::Events::Rule",
            "AWS::CloudWatch::Alarm",
            "AWS::CloudWatch::Dashboard",
        ]
        unknown = {spec["Type"] for spec in resources.values()} - set(order) - NOT_EMULATED
        if unknown:
            raise ValueError(f"template.yaml uses resource types the local stack cannot create: {sorted(unknown)}")
        self._create_implicit_roles(resources)
        for kind in order:
            for logical, spec in resources.items():
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
        url = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
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
        self.client("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"])

    def _create_function(self, logical: str, props: Mapping[str, Any]) -> None:
        globals_ = self.template.get("Globals", {}).get("Function", {})
        name = self.resolver.resolve(props.get("FunctionName")) or self._physical(logical)
        arn = self._arn("lambda", f"function:{name}")
        self.resolver.refs[logical] = name
        self.resolver.attributes[logical] = {"Arn": arn}
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
        lambda_tasks.register(arn, functools.partial(self.invoke_sync, self.functions[logical]))

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
            log_path = self.workdir / "logs" / f"{fn.logical_id}.log"
            service = fn.environment.get("POWERTOOLS_SERVICE_NAME", "service_undefined")
            with log_path.open("a") as log_file, redirect_stdout(log_file):
                streams = _point_log_handlers(log_file, service)
                try:
                    yield
                finally:
                    _restore_log_handlers(streams)
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

    def settle(self, timeout: float = 60.0) -> None:
        """Wait for every execution to end, including those that failures start; report failures as AWS would."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while running := [e for e in self.executions if e.status == "RUNNING"]:
            for execution in running:
                self._settle_one(sfn, execution, deadline)
            if time.monotonic() > deadline:
                return

    def _settle_one(self, sfn: Any, execution: Execution, deadline: float) -> None:
        """Wait for one execution, read its history, and emit its status change if it did not succeed."""
        while True:
            described = sfn.describe_execution(executionArn=execution.arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                break
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
                    found.append(
                        {
                            "topic": envelope.get("TopicArn"),
                            "subject": envelope.get("Subject"),
                            "message": envelope.get("Message"),
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
        self.cloudwatch.sample_queues(queues, self.client("sqs"))
        return self.cloudwatch.evaluate(self.alarms)

    def ref(self, logical: str) -> str:
        return self.resolver.refs[logical]

    def _note(self, kind: str, text: str, data: dict[str, Any] | None = None) -> None:
        self.timeline.append(Step(at=round(time.monotonic() - self._started, 3), kind=kind, text=text, data=data or {}))


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
    if not transformer:
        return json.dumps(event)
    result = EventTemplateParser.parse(
        input_template=transformer.get("InputTemplate", ""),
        input_paths_map=dict(transformer.get("InputPathsMap", {})),
        event={**event, "ingestion-time": event.get("time")},  # type: ignore[typeddict-item]
    )
    return result if isinstance(result, str) else json.dumps(result)


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
