"""Playbooks run by hand: what ``warden playbook list | run | status`` do, on a deployed stack or locally.

Everything here is read from the project, never listed: a playbook is an ``AWS::Serverless::StateMachine``
of template.yaml that findings are routed to (an ``EventBridgeRule`` event named ``FindingRoute``, or one
matching ``detail.playbook`` or the ``Warden Finding`` detail-type). Its description is its definition's
``Comment``; the finding fields it requires are those its definition branches on (a ``Choice`` on
``$.finding.X``); the modes it honours are the ``ResponseMode`` parameter's allowed values when it asks the
response policy for a decision (a check other than ``finding``), none otherwise; its stack output is the
``Outputs`` entry whose value is a ``!Ref`` to it; the families of finding it answers come from the detector
catalogue (docs/detections.md, which ``tests/unit/test_catalogue.py`` holds to the detectors).

A finding made here for a manual run has detector ``manual``, a generated evidence id, the reason in
``details.reason``, and the id its content gives (:meth:`Finding.sealed`), so the playbook's genuineness
check accepts it. On a stack, the execution is named after the finding id: one execution per finding.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from boto3.dynamodb.types import TypeDeserializer
from pydantic import ValidationError

from warden.models import Family, Finding, Severity
from warden.models.finding import FINDING_DETAIL_TYPE
from warden.principals import PrincipalRef
from warden_local.readers import is_access_key_id, is_iam_user_name
from warden_local.stack import _playbook_name
from warden_local.template import load_template

MANUAL_DETECTOR = "manual"
"""The detector of a finding made by hand."""
MODE_PARAMETER = "ResponseMode"
AWAITING_APPROVAL = "AWAITING_APPROVAL"
"""An incident's status while its playbook waits for a person (warden.approvals)."""
INCIDENT_TABLE_OUTPUT = "IncidentTableName"
MANUAL_INPUT_STATE = "ReadManualInput"
"""The state of a gated definition that reads ``{"finding": ..., "mode": ...}`` (scripts/asl_gates.py)."""
DECISIONS_EXCLUDED = {"finding", "incident", "notification", "rate"}
"""Response-policy checks that decide nothing about acting: a playbook asking only these honours no mode."""
ACCOUNT = re.compile(r"\d{12}")
INCIDENT_ID = re.compile(r"[0-9a-f]{32}")
_CHOICE_FIELD = re.compile(r"^\$\.finding\.([A-Za-z_][\w.]*)$")
_CODE = re.compile(r"`([a-z][a-z0-9-]+)`")

Clients = Callable[[str], Any]
"""Makes a boto3 client for a service name (a session's, or the emulator's)."""


class PlaybookError(ValueError):
    """A request refused before anything was started: the message says what to change."""


@dataclass(frozen=True)
class Playbook:
    name: str
    logical_id: str
    description: str
    definition: str
    """The definition file, relative to the project root."""
    output_key: str | None
    """The stack output holding the state machine's ARN, when the template has one."""
    requires: tuple[str, ...]
    """Finding fields the definition branches on (beyond the contract's required ones)."""
    modes: tuple[str, ...]
    families: tuple[str, ...]
    """Families of the findings the catalogue sends here, most frequent first."""
    takes_mode: bool = False
    """Its definition reads a mode a person asks for (input ``{"finding": ..., "mode": ...}``)."""

    def to_json_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# ---------------------------------------------------------------------------------------------- discovery


def _is_playbook(props: Mapping[str, Any]) -> bool:
    for event_name, event in (props.get("Events") or {}).items():
        if event.get("Type") != "EventBridgeRule":
            continue
        pattern = json.dumps(event.get("Properties", {}).get("Pattern", {}))
        if event_name == "FindingRoute" or FINDING_DETAIL_TYPE in pattern or '"playbook"' in pattern:
            return True
    return False


def _choice_fields(states: Mapping[str, Any]) -> list[str]:
    """``$.finding.X`` paths tested by the Choice states of a definition (nested branches included)."""
    found: list[str] = []

    def rules(rule: Any) -> None:
        if isinstance(rule, dict):
            match = _CHOICE_FIELD.match(str(rule.get("Variable", "")))
            if match:
                found.append(match[1])
            for key in ("And", "Or"):
                for inner in rule.get(key, []):
                    rules(inner)
            rules(rule.get("Not"))

    for state in states.values():
        for choice in state.get("Choices", []):
            rules(choice)
        for branch in state.get("Branches", []):
            found += _choice_fields(branch.get("States", {}))
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found += _choice_fields(state[key].get("States", {}))
    return found


def _checks(definition: Any) -> set[str]:
    """Every response-policy ``check`` a definition sends."""
    if isinstance(definition, dict):
        own = {str(definition["check"])} if isinstance(definition.get("check"), str) else set()
        return own.union(*(_checks(v) for v in definition.values()))
    if isinstance(definition, list):
        return set().union(*(_checks(v) for v in definition))
    return set()


def _output_keys(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id -> the output whose value is a ``Ref`` to it."""
    keys: dict[str, str] = {}
    for key, output in (template.get("Outputs") or {}).items():
        value = output.get("Value")
        if isinstance(value, dict) and isinstance(value.get("Ref"), str):
            keys.setdefault(value["Ref"], key)
    return keys


def catalogue_families(root: Path) -> dict[str, list[str]]:
    """Playbook name -> the families whose detectors name it in docs/detections.md, most rows first."""
    path = root / "docs" / "detections.md"
    if not path.is_file():
        return {}
    counts: dict[str, dict[str, int]] = {}
    family = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            family = heading if heading in {f.value for f in Family} else None
        elif family and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            for name in _CODE.findall(cells[-1]) if len(cells) > 1 else []:
                per = counts.setdefault(name, {})
                per[family] = per.get(family, 0) + 1
    return {name: sorted(per, key=lambda f: -per[f]) for name, per in counts.items()}


def allowed_modes(template: Mapping[str, Any]) -> tuple[str, ...]:
    """The response modes the template's ``ResponseMode`` parameter allows."""
    return tuple(str(m) for m in template.get("Parameters", {}).get(MODE_PARAMETER, {}).get("AllowedValues", []))


def discover(root: Path, template: Mapping[str, Any] | None = None) -> list[Playbook]:
    """The playbooks of template.yaml (or of ``template``), in template order."""
    template = template if template is not None else load_template(root / "template.yaml")
    modes = allowed_modes(template)
    outputs, families = _output_keys(template), catalogue_families(root)
    found = []
    for logical, spec in template["Resources"].items():
        props = spec.get("Properties", {})
        if spec.get("Type") != "AWS::Serverless::StateMachine" or not _is_playbook(props):
            continue
        uri = str(props["DefinitionUri"])
        definition = json.loads((root / uri).read_text())
        name = _playbook_name(props)
        decides = bool(_checks(definition) - DECISIONS_EXCLUDED)
        found.append(
            Playbook(
                name=name,
                logical_id=logical,
                description=str(definition.get("Comment", "")),
                definition=uri,
                output_key=outputs.get(logical),
                requires=tuple(dict.fromkeys(_choice_fields(definition.get("States", {})))),
                modes=modes if decides else (),
                families=tuple(families.get(name, ())),
                takes_mode=MANUAL_INPUT_STATE in definition.get("States", {}),
            )
        )
    return found


def find(playbooks: Iterable[Playbook], name: str) -> Playbook:
    playbooks = list(playbooks)
    for playbook in playbooks:
        if playbook.name == name:
            return playbook
    raise PlaybookError(f"no playbook {name!r} in template.yaml; known: {', '.join(p.name for p in playbooks)}")


def finding_schema() -> dict[str, Any]:
    """The finding contract as JSON schema: what a playbook takes as input (see docs/findings.md)."""
    return Finding.model_json_schema()


def input_schema(playbook: Playbook) -> dict[str, Any]:
    """The finding schema, with the fields this playbook branches on required and its name as ``playbook``."""
    schema = finding_schema()
    top = [f.split(".")[0] for f in playbook.requires if f.split(".")[0] in schema["properties"]]
    schema["required"] = list(dict.fromkeys([*schema.get("required", []), *top]))
    schema["title"] = f"Finding for {playbook.name}"
    schema["properties"]["playbook"] = {**schema["properties"]["playbook"], "default": playbook.name}
    return schema


def listing(root: Path, template: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What ``warden playbook list --json`` prints."""
    playbooks = discover(root, template)
    return {
        "playbooks": [{**p.to_json_dict(), "input_schema": input_schema(p)} for p in playbooks],
        "finding_contract": "docs/findings.md",
    }


# ---------------------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Principal:
    """An IAM principal named on the command line, with what seeding it locally needs."""

    arn: str
    account: str
    kind: str  # user | role | root
    name: str  # as written (letter case kept), without path
    path: str = "/"

    @classmethod
    def parse(cls, arn: str) -> Principal:
        ref = PrincipalRef.parse(arn)
        if ref is None or not ACCOUNT.fullmatch(ref.account):
            raise PlaybookError(
                f"--principal {arn!r} is not an IAM user, role or root ARN, nor an STS assumed-role ARN with a"
                " 12-digit account (e.g. arn:aws:iam::123456789012:user/ml-batch-svc)"
            )
        resource = arn.strip().split(":", 5)[5]
        if ref.kind == "root":
            return cls(arn.strip(), ref.account, "root", "root")
        kind, _, rest = resource.partition("/")
        if kind == "assumed-role":
            return cls(arn.strip(), ref.account, "role", rest.split("/", 1)[0])
        *folders, name = rest.split("/")
        if kind == "user" and not is_iam_user_name(name):
            raise PlaybookError(f"--principal {arn!r}: {name!r} is not a name IAM gives a user")
        path = "/" + "".join(f"{folder}/" for folder in folders if folder)
        return cls(arn.strip(), ref.account, kind, name, path)


@dataclass(frozen=True)
class RunRequest:
    """What ``warden playbook run`` was asked, before a finding is made of it."""

    playbook: str
    principal: str
    access_key_id: str | None = None
    account: str | None = None
    region: str = "us-east-1"
    severity: str = Severity.HIGH.value
    family: str | None = None
    reason: str | None = None


def manual_finding(playbook: Playbook, request: RunRequest, *, now: datetime | None = None) -> Finding:
    """The sealed finding a manual run of ``playbook`` starts with; :class:`PlaybookError` says what is wrong."""
    principal = Principal.parse(request.principal)
    account = request.account or principal.account
    if not ACCOUNT.fullmatch(account):
        raise PlaybookError(f"--account {account!r} is not a 12-digit AWS account id")
    key = request.access_key_id
    if key is not None and not is_access_key_id(key):
        raise PlaybookError(f"--access-key-id {key!r} is not an access key id (AKIA... or ASIA..., 16-128 characters)")
    if "access_key_id" in playbook.requires and key is None:
        raise PlaybookError(f"{playbook.name} acts on the finding's access key: pass --access-key-id")
    family = request.family or (playbook.families[0] if playbook.families else None)
    if family is None:
        raise PlaybookError(f"no detector family answers to {playbook.name} in docs/detections.md: pass --family")
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    reason = request.reason or "run by hand with warden playbook run"
    target = principal.arn + (f" (key {key})" if key else "")
    try:
        return Finding.sealed(
            {
                "detector": MANUAL_DETECTOR,
                "family": family,
                "severity": request.severity,
                "title": f"Manual {playbook.name} on {target}",
                "principal": principal.arn,
                "access_key_id": key,
                "account": account,
                "region": request.region,
                "first_seen": moment,
                "last_seen": moment,
                "evidence": [f"manual-{uuid.uuid4()}"],
                "playbook": playbook.name,
                "details": {"reason": reason, "source": "warden playbook run"},
            }
        )
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PlaybookError(f"the finding would not be valid: {fields}") from None


# ---------------------------------------------------------------------------------------------- a deployed stack


@dataclass(frozen=True)
class DeployedStack:
    """A stack's outputs and parameters, as ``cloudformation:DescribeStacks`` gives them."""

    name: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    @classmethod
    def describe(cls, clients: Clients, name: str) -> DeployedStack:
        from botocore.exceptions import ClientError

        try:
            stacks = clients("cloudformation").describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            raise PlaybookError(f"stack {name}: {exc.response.get('Error', {}).get('Message', exc)}") from None
        stack = stacks[0]
        return cls(
            name=name,
            outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
            parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
        )

    def output(self, key: str | None, what: str) -> str:
        if key is None or key not in self.outputs:
            raise PlaybookError(
                f"stack {self.name} has no output {key or '(none in template.yaml)'} for {what}: is it deployed from"
                " this version of template.yaml?"
            )
        return self.outputs[key]


def mode_warning(stack: DeployedStack, mode: str | None, playbook: Playbook | None = None) -> str | None:
    """What to tell a caller whose ``--mode`` the playbook will not run in.

    A playbook whose definition reads a requested mode runs in it (:func:`execution_input`); any other runs
    in the stack's ``ResponseMode``. A mode the playbook does not know is refused (:class:`PlaybookError`).
    """
    if playbook is not None and mode is not None and playbook.takes_mode:
        if mode not in playbook.modes:
            raise PlaybookError(f"--mode {mode}: {playbook.name} honours {', '.join(playbook.modes)}")
        return None
    deployed = stack.parameters.get(MODE_PARAMETER)
    if mode is None or mode == deployed:
        return None
    return (
        f"--mode {mode} ignored: stack {stack.name} runs its playbooks in {MODE_PARAMETER}={deployed or 'unknown'};"
        f" change the stack parameter to run in {mode}"
    )


def execution_input(playbook: Playbook, finding: Finding, mode: str | None) -> dict[str, Any]:
    """The execution's input: the finding, wrapped with the requested mode when the playbook reads one."""
    if mode is not None and playbook.takes_mode:
        return {"finding": finding.to_json_dict(), "mode": mode}
    return finding.to_json_dict()


def start_on_stack(
    clients: Clients,
    stack: DeployedStack,
    playbook: Playbook,
    finding: Finding,
    *,
    wait: float | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """``states:StartExecution`` of the playbook's state machine, named after the finding id; optionally wait."""
    from botocore.exceptions import ClientError

    arn = stack.output(playbook.output_key, f"playbook {playbook.name}")
    sfn = clients("stepfunctions")
    document = execution_input(playbook, finding, mode)
    try:
        started = sfn.start_execution(
            stateMachineArn=arn, name=finding.id, input=json.dumps(document, separators=(",", ":"))
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ExecutionAlreadyExists":
            raise PlaybookError(
                f"ExecutionAlreadyExists: finding {finding.id} already has an execution of {arn} (one per finding);"
                f" see warden playbook status {finding.id} --stack {stack.name}"
            ) from None
        raise PlaybookError(f"StartExecution on {arn}: {error.get('Code')}: {error.get('Message')}") from None
    result: dict[str, Any] = {
        "playbook": playbook.name,
        "stack": stack.name,
        "state_machine_arn": arn,
        "execution_arn": started["executionArn"],
        "incident": finding.id,
        "finding": finding.to_json_dict(),
        "requested_mode": mode if playbook.takes_mode else None,
        "status": "RUNNING",
    }
    if wait:
        table = stack.outputs.get(INCIDENT_TABLE_OUTPUT)
        awaiting = _awaiting_approval(clients("dynamodb"), table, finding.id) if table else None
        result["status"] = wait_for(sfn, started["executionArn"], wait, parked=awaiting)
    return result


def _awaiting_approval(dynamodb: Any, table: str, incident: str) -> Callable[[], bool]:
    """Whether the incident waits for a person (its execution then stays RUNNING until someone decides)."""

    def check() -> bool:
        item = dynamodb.get_item(
            TableName=table,
            Key={"pk": {"S": f"INCIDENT#{incident}"}, "sk": {"S": "FINDING"}},
            ConsistentRead=True,
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
        ).get("Item")
        return bool(item) and item.get("status", {}).get("S") == AWAITING_APPROVAL

    return check


def wait_for(sfn: Any, execution_arn: str, timeout: float, *, parked: Callable[[], bool] | None = None) -> str:
    """The execution's status once it ended, or ``AWAITING_APPROVAL`` once ``parked`` says it waits for a
    person, or RUNNING after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
        if status == "RUNNING" and parked is not None and parked():
            return AWAITING_APPROVAL
        if status != "RUNNING" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def incident_items(dynamodb: Any, table: str, incident: str) -> list[dict[str, Any]]:
    """The incident table's items of one incident (sort key order), plain Python values."""
    deserializer, items, start = TypeDeserializer(), [], None
    while True:
        page = dynamodb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"INCIDENT#{incident}"}},
            **({"ExclusiveStartKey": start} if start else {}),
        )
        items += [_plain({k: deserializer.deserialize(v) for k, v in item.items()}) for item in page["Items"]]
        if not (start := page.get("LastEvaluatedKey")):
            return items


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def summarise(items: list[dict[str, Any]], execution: Mapping[str, Any] | None) -> dict[str, Any]:
    """An incident as ``status`` shows it: the finding record, intent and result of each action, the execution."""
    record = next((i for i in items if i.get("sk") == "FINDING"), {})
    actions = [
        {k: v for k, v in item.items() if k != "pk"} for item in items if str(item.get("sk", "")).startswith("ACTION#")
    ]
    return {
        "incident": record.get("finding_id"),
        "playbook": record.get("playbook"),
        "principal": record.get("principal"),
        "severity": record.get("severity"),
        "status": record.get("status"),
        "summary": record.get("summary"),
        "opened_at": record.get("opened_at"),
        "closed_at": record.get("closed_at"),
        "history": record.get("history", []),
        "actions": actions,
        "execution": execution,
    }


def describe_execution(sfn: Any, arn: str | None) -> dict[str, Any] | None:
    if not arn:
        return None
    from botocore.exceptions import ClientError

    try:
        described = sfn.describe_execution(executionArn=arn)
    except ClientError as exc:
        return {"arn": arn, "status": "UNKNOWN", "error": exc.response.get("Error", {}).get("Code")}
    return {
        "arn": arn,
        "status": described["status"],
        "started": str(described.get("startDate", "")),
        "stopped": str(described.get("stopDate", "")) or None,
        "error": described.get("error"),
    }


def status_on_stack(clients: Clients, stack: DeployedStack, incident: str) -> dict[str, Any]:
    """The incident's record in the stack's incident table, with its execution's status."""
    if not INCIDENT_ID.fullmatch(incident):
        raise PlaybookError(f"{incident!r} is not an incident id (a finding id: 32 lower-case hex characters)")
    table = stack.output(INCIDENT_TABLE_OUTPUT, "the incident table")
    items = incident_items(clients("dynamodb"), table, incident)
    if not items:
        raise PlaybookError(f"no incident {incident} in {table} (still starting, refused as input, or another stack?)")
    record = next((i for i in items if i.get("sk") == "FINDING"), {})
    execution = describe_execution(clients("stepfunctions"), record.get("execution"))
    return {"stack": stack.name, "table": table, **summarise(items, execution)}


# ---------------------------------------------------------------------------------------------- the local stack


def _seed_for(principal: Principal, access_key_id: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The users and roles to create locally so that the playbook finds the principal (and its key)."""
    from warden_local.emulator import ACCOUNT_ID

    if principal.account != ACCOUNT_ID:
        return [], []
    if principal.kind == "user":
        keys = [access_key_id] if access_key_id and access_key_id.startswith("AKIA") else []
        return [{"name": principal.name, "path": principal.path, "access_keys": keys, "named_in": "--principal"}], []
    if principal.kind == "role":
        return [], [principal.name]
    return [], []


def run_local(
    root: Path,
    request: RunRequest,
    *,
    mode: str | None,
    scenario: str | None = None,
    workdir: Path | None = None,
    template: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Deploy the local stack in ``mode``, seed the principal, run the playbook by hand and read back what it did."""
    from warden_local.emulator import running_emulator
    from warden_local.run import deploy_parameters, key_states, load_scenario, seed_victim
    from warden_local.stack import LocalStack

    template = template if template is not None else load_template(root / "template.yaml")
    playbook = find(discover(root, template), request.playbook)
    modes = allowed_modes(template)
    if mode is not None and mode not in modes:
        raise PlaybookError(f"--mode {mode}: this template's {MODE_PARAMETER} allows {', '.join(modes)}")
    principal = Principal.parse(request.principal)
    manual_finding(playbook, request)  # refuse a bad request before deploying anything
    users, roles = _seed_for(principal, request.access_key_id)
    if scenario is not None:
        victim = load_scenario(scenario, root)
        known = {u["name"] for u in victim.users}
        users = [*victim.users, *(u for u in users if u["name"] not in known)]
        roles = list(dict.fromkeys([*victim.roles, *roles]))
    parameters = deploy_parameters({MODE_PARAMETER: mode} if mode else {}, root)
    started = time.monotonic()
    with running_emulator() as emulator:
        stack = LocalStack(emulator, root, parameters=parameters, workdir=workdir).deploy()
        seeded = seed_victim(stack, users, roles)
        key = seeded.keys.get(request.access_key_id or "", request.access_key_id)
        finding = manual_finding(playbook, RunRequest(**{**asdict(request), "access_key_id": key}))
        stack.notifications()
        execution = stack.start_playbook(playbook.name, finding.to_json_dict())
        stack.settle()
        items = incident_items(stack.client("dynamodb"), stack.ref("IncidentTable"), finding.id)
        execution_report = {
            "arn": execution.arn,
            "status": execution.status,
            "error": execution.error,
            "states": execution.states,
            "outcome": (execution.output or {}).get("outcome"),
        }
        report = {
            "playbook": playbook.name,
            "mode": stack.parameters.get(MODE_PARAMETER),
            "incident": finding.id,
            "finding": finding.to_json_dict(),
            "seeded": {"users": [u["name"] for u in users], "roles": roles, "not_recreated": seeded.not_recreated},
            **{k: v for k, v in summarise(items, execution_report).items() if k != "incident"},
            "aws_state": {"access_keys": key_states(stack, seeded)},
            "notifications": [n["subject"] for n in stack.notifications()],
            "logs": str(stack.workdir / "logs"),
        }
    report["elapsed_seconds"] = round(time.monotonic() - started, 3)
    return report


# ---------------------------------------------------------------------------------------------- approve, reject, undo


def _incident_id(incident: str) -> str:
    if not INCIDENT_ID.fullmatch(incident):
        raise PlaybookError(f"{incident!r} is not an incident id (a finding id: 32 lower-case hex characters)")
    return incident


def caller_arn(clients: Clients) -> str:
    """Who is calling (``sts:GetCallerIdentity``): the default ``--by`` of a decision or an undo."""
    return str(clients("sts").get_caller_identity()["Arn"])


def _ports(clients: Clients, stack: DeployedStack) -> tuple[Any, Any]:
    from warden.adapters.approvals import DynamoDBIncidentStore, StepFunctionsWorkflow

    table = stack.output(INCIDENT_TABLE_OUTPUT, "the incident table")
    return DynamoDBIncidentStore(clients("dynamodb"), table), StepFunctionsWorkflow(clients("stepfunctions"))


def decide_on_stack(
    clients: Clients,
    stack: DeployedStack,
    incident: str,
    *,
    approve: bool,
    by: str | None = None,
    reason: str | None = None,
    wait: float | None = None,
) -> dict[str, Any]:
    """Approve or reject the playbook waiting on ``incident``, with the caller's clients; optionally wait for it.

    :class:`PlaybookError` when refused before anything changed (unknown incident, not awaiting approval,
    execution not running, no token, someone decided first); :class:`warden.approvals.WorkflowError` when
    Step Functions refused the decision (recorded in the history).
    """
    from warden.approvals import ApprovalRefused, DecisionConflict, decide

    store, workflow = _ports(clients, stack)
    who = by or caller_arn(clients)
    try:
        result = decide(store, workflow, _incident_id(incident), approve=approve, by=who, reason=reason)
    except (ApprovalRefused, DecisionConflict) as exc:
        raise PlaybookError(str(exc)) from None
    report: dict[str, Any] = {"stack": stack.name, **result.to_json_dict()}
    if wait:
        report["execution_status"] = wait_for(clients("stepfunctions"), result.execution, wait)
        report["incident_status"] = status_on_stack(clients, stack, incident)["status"]
    return report


def undo_on_stack(
    clients: Clients, stack: DeployedStack, incident: str, *, by: str | None = None, plan_only: bool = False
) -> dict[str, Any]:
    """Reverse the reversible actions of ``incident`` with the caller's clients (see :func:`warden.approvals.undo`)."""
    from warden.adapters.approvals import BotoUndoCaller
    from warden.approvals import UndoRefused, undo

    store, workflow = _ports(clients, stack)
    who = by or caller_arn(clients)
    try:
        report = undo(store, workflow, BotoUndoCaller(clients), _incident_id(incident), by=who, plan_only=plan_only)
    except UndoRefused as exc:
        raise PlaybookError(str(exc)) from None
    return {"stack": stack.name, **report.to_json_dict()}


# ---------------------------------------------------------------------------------------------- a running local stack

LOCAL_STATE_VARIABLE = "WARDEN_LOCAL_STATE"
"""Environment variable naming the running local stack's file, instead of ``.warden/local.json``."""
LOCAL_CREDENTIALS = {"aws_access_key_id": "warden-local", "aws_secret_access_key": "warden-local"}
"""What a client of the local emulator signs with: the emulator accepts any credential; these are no secret."""
_KEY_TAG = "warden-local:stands-for:"
"""Tag on a user seeded by a manual run: which key the emulator issued for the key id given on the command line."""


def local_state_path(root: Path) -> Path:
    """Where ``warden local up`` describes the running local stack."""
    override = os.environ.get(LOCAL_STATE_VARIABLE)
    return Path(override) if override else root / ".warden" / "local.json"


def local_clients(endpoint: str, region: str) -> Clients:
    """A client factory for the emulator at ``endpoint`` (what ``--stack`` uses for AWS)."""
    import boto3

    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = boto3.client(  # type: ignore[call-overload]
                service, region_name=region, endpoint_url=endpoint, **LOCAL_CREDENTIALS
            )
        return made[service]

    return client


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _listening(endpoint: str) -> bool:
    parsed = urlparse(endpoint)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class RunningLocal:
    """The local stack ``warden local up`` keeps running: its endpoint and outputs (the template's names)."""

    path: Path
    endpoint: str
    region: str
    stack: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    pid: int

    @classmethod
    def read(cls, path: Path) -> RunningLocal | None:
        """The running local stack described at ``path``, or None when there is none (or it has stopped)."""
        try:
            state = json.loads(path.read_text())
            running = cls(
                path=path,
                endpoint=str(state["endpoint"]),
                region=str(state["region"]),
                stack=str(state["stack"]),
                outputs={str(k): str(v) for k, v in state["outputs"].items()},
                parameters={str(k): str(v) for k, v in state["parameters"].items()},
                pid=int(state["pid"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return running if _alive(running.pid) and _listening(running.endpoint) else None

    @classmethod
    def find(cls, path: Path) -> RunningLocal:
        running = cls.read(path)
        if running is None:
            stale = " (the file there names a stack that has stopped)" if path.exists() else ""
            raise PlaybookError(
                f"no running local stack at {path}{stale}: start one with `warden local up` in another terminal"
            )
        return running

    def clients(self) -> Clients:
        return local_clients(self.endpoint, self.region)

    def deployed(self) -> DeployedStack:
        return DeployedStack(name=self.stack, outputs=dict(self.outputs), parameters=dict(self.parameters))


def _seed_running(clients: Clients, principal: Principal, access_key_id: str | None) -> str | None:
    """Create the principal on a running local stack when it is not there; the key id the emulator knows for it.

    The emulator cannot issue a chosen key id, so the key it issued for ``access_key_id`` is remembered as a tag
    on the user: a second run naming the same key finds the same key.
    """
    from warden_local.emulator import ACCOUNT_ID

    iam = clients("iam")
    if principal.account != ACCOUNT_ID or principal.kind == "root":
        return access_key_id
    if principal.kind == "role":
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            trust = {"Version": "2012-10-17", "Statement": []}
            iam.create_role(RoleName=principal.name, Path=principal.path, AssumeRolePolicyDocument=json.dumps(trust))
        return access_key_id
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=principal.name, Path=principal.path)
    if not access_key_id:
        return None
    keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=principal.name)["AccessKeyMetadata"]}
    if access_key_id in keys:
        return access_key_id
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=principal.name)["Tags"]}
    known = tags.get(_KEY_TAG + access_key_id)
    if known in keys:
        return known
    if not access_key_id.startswith("AKIA"):
        return access_key_id
    issued = str(iam.create_access_key(UserName=principal.name)["AccessKey"]["AccessKeyId"])
    iam.tag_user(UserName=principal.name, Tags=[{"Key": _KEY_TAG + access_key_id, "Value": issued}])
    return issued


def start_on_local(
    running: RunningLocal, playbook: Playbook, request: RunRequest, *, mode: str | None, wait: float | None
) -> dict[str, Any]:
    """Start ``playbook`` on the running local stack, exactly as on a deployed stack (the principal seeded)."""
    manual_finding(playbook, request)  # refuse a bad request before creating anything
    clients = running.clients()
    key = _seed_running(clients, Principal.parse(request.principal), request.access_key_id)
    finding = manual_finding(playbook, replace(request, access_key_id=key))
    report = start_on_stack(clients, running.deployed(), playbook, finding, wait=wait, mode=mode)
    return {**report, "local": str(running.path), "endpoint": running.endpoint}


def local_outputs(stack: Any) -> dict[str, str]:
    """A local stack's outputs under the template's output names, as ``DescribeStacks`` would give them."""
    outputs: dict[str, str] = {}
    for key, output in (stack.template.get("Outputs") or {}).items():
        condition = output.get("Condition")
        if condition and not stack.resolver.condition(condition):
            continue
        with contextlib.suppress(KeyError, TypeError, ValueError):
            value = stack.resolver.resolve(output.get("Value"))
            if isinstance(value, str | int):
                outputs[key] = str(value)
    return outputs


def _watch_executions(stack: Any, seen: set[str]) -> None:
    """Hand every playbook execution that ended since the last look to the local stack, as EventBridge would
    deliver its status change (so that ``record-playbook-failure`` marks and notifies a failed one)."""
    from warden_local.stack import Execution

    sfn = stack.client("stepfunctions")
    seen.update(execution.arn for execution in stack.executions)  # those the local stack started itself
    for arn, playbook in list(stack.state_machines.items()):
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for listed in page["executions"]:
                if listed["status"] == "RUNNING" or listed["executionArn"] in seen:
                    continue
                seen.add(listed["executionArn"])
                stack.executions.append(Execution(playbook=playbook, arn=listed["executionArn"], finding_id=None))
    stack.settle(timeout=10)


def local_up(
    root: Path,
    parameters: Mapping[str, str],
    *,
    path: Path,
    workdir: Path | None = None,
    ready: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
    poll: float = 1.0,
) -> None:
    """Deploy the local stack on the embedded emulator and keep it running until ``stop`` (or Ctrl-C).

    Writes ``path`` (endpoint, region, stack name, outputs under the template's names, parameters, pid) for the
    ``--local`` commands, and removes it when it stops. Every ``poll`` seconds, executions that ended are
    reported as EventBridge reports them.
    """
    from warden_local.emulator import running_emulator
    from warden_local.run import deploy_parameters
    from warden_local.stack import LocalStack

    if (other := RunningLocal.read(path)) is not None:
        raise PlaybookError(f"a local stack is already running (pid {other.pid}, {other.endpoint}); see {path}")
    stop = stop or threading.Event()
    with running_emulator() as emulator:
        stack = LocalStack(emulator, root, parameters=deploy_parameters(parameters, root), workdir=workdir).deploy()
        state = {
            "endpoint": emulator.endpoint,
            "region": emulator.region,
            "stack": stack.stack_name,
            "outputs": local_outputs(stack),
            "parameters": dict(stack.parameters),
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "logs": str(stack.workdir / "logs"),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=2) + "\n")
        seen: set[str] = set()
        try:
            if ready is not None:
                ready(state)
            while not stop.wait(poll):
                _watch_executions(stack, seen)
        except KeyboardInterrupt:
            pass
        finally:
            path.unlink(missing_ok=True)
