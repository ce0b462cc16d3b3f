"""Runs events through the local stack and reads back what happened: the pipeline behind the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from warden_local.emulator import running_emulator
from warden_local.faults import FaultPlan
from warden_local.readers import is_access_key_id, is_iam_user_name, read_events
from warden_local.stack import LocalStack

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    events: Path
    parameters: dict[str, str]
    users: list[dict[str, Any]]
    roles: list[str]
    attacker_keys: list[str]
    untouched_keys: list[str]


def scenario_names(root: Path = PROJECT_ROOT) -> list[str]:
    return sorted(p.stem for p in (root / "events" / "scenarios").glob("*.json") if not p.stem.endswith(".events"))


def load_scenario(name: str, root: Path = PROJECT_ROOT) -> Scenario:
    path = root / "events" / "scenarios" / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"no scenario {name!r}; known: {', '.join(scenario_names(root))}")
    spec = json.loads(path.read_text())
    return Scenario(
        name=spec["name"],
        description=spec["description"],
        events=root / spec["events"],
        parameters=spec.get("parameters", {}),
        users=spec.get("victim", {}).get("users", []),
        roles=spec.get("victim", {}).get("roles", []),
        attacker_keys=spec.get("expect", {}).get("attacker_access_keys", []),
        untouched_keys=spec.get("expect", {}).get("untouched_access_keys", []),
    )


@dataclass
class Victim:
    """The simulated account: which access key in the events became which key in the emulator."""

    keys: dict[str, str] = field(default_factory=dict)  # key id in the events -> key id in moto
    users: dict[str, str] = field(default_factory=dict)  # key id in the events -> user name
    not_recreated: list[str] = field(default_factory=list)  # "WHERE: what IAM refused, and why"

    def rewrite(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        text = json.dumps(events)
        for original, real in self.keys.items():
            text = text.replace(original, real)
        return list(json.loads(text))


def seed_victim(stack: LocalStack, users: Iterable[Mapping[str, Any]], roles: Iterable[str] = ()) -> Victim:
    """Create the users, their keys and the roles; what IAM refuses is named in ``not_recreated``, not raised.

    A user's ``named_in`` (and ``keys_named_in``) say where the events named it, for those messages.
    """
    iam, victim = stack.client("iam"), Victim()
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for role in roles:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    for user in users:
        name, where = user["name"], user.get("named_in", "scenario")
        try:
            iam.create_user(UserName=name, Path=user.get("path", "/"))
        except (BotoCoreError, ClientError) as exc:
            victim.not_recreated.append(f"{where}: user {name} not recreated: {_aws_error(exc)}")
            continue
        for original in user.get("access_keys", []):
            try:
                real = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
            except (BotoCoreError, ClientError) as exc:  # IAM allows two keys per user
                key_where = user.get("keys_named_in", {}).get(original, where)
                victim.not_recreated.append(
                    f"{key_where}: access key {original} of user {name} not recreated: {_aws_error(exc)}"
                )
                continue
            victim.keys[original], victim.users[original] = real, name
    return victim


def _aws_error(exc: BotoCoreError | ClientError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


def users_in_events(events: Sequence[Mapping[str, Any]], origins: Sequence[str] = ()) -> list[dict[str, Any]]:
    """IAM users and their long-term keys named in CloudTrail events, to recreate them in the emulator.

    Only names and key ids that IAM could have issued are taken. ``origins`` (where each event was
    read) gives each user's ``named_in`` and each key's ``keys_named_in``; without it, ``"event N"``.
    """
    keys: dict[str, set[str]] = {}
    named_in: dict[str, str] = {}
    for n, event in enumerate(events):
        detail = event.get("detail")
        identity = detail.get("userIdentity") if isinstance(detail, Mapping) else None
        if not isinstance(identity, Mapping) or identity.get("type") != "IAMUser":
            continue
        name, key = identity.get("userName"), identity.get("accessKeyId")
        if is_iam_user_name(name) and is_access_key_id(key) and key.startswith("AKIA"):
            keys.setdefault(name, set()).add(key)
            where = origins[n] if n < len(origins) else f"event {n}"
            named_in.setdefault(name, where)
            named_in.setdefault(key, where)
    return [
        {
            "name": name,
            "access_keys": sorted(found),
            "named_in": named_in[name],
            "keys_named_in": {key: named_in[key] for key in sorted(found)},
        }
        for name, found in sorted(keys.items())
    ]


def key_states(stack: LocalStack, victim: Victim) -> list[dict[str, str]]:
    iam, states = stack.client("iam"), []
    for original, real in victim.keys.items():
        listed = iam.list_access_keys(UserName=victim.users[original])["AccessKeyMetadata"]
        status = next((k["Status"] for k in listed if k["AccessKeyId"] == real), "Deleted")
        states.append(
            {"user": victim.users[original], "access_key_id": real, "as_in_events": original, "status": status}
        )
    return states


def incident_items(stack: LocalStack, finding_id: str) -> list[dict[str, Any]]:
    table = stack.ref("IncidentTable")
    items = stack.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"INCIDENT#{finding_id}"}},
    )["Items"]
    deserializer = TypeDeserializer()
    return [{k: deserializer.deserialize(v) for k, v in item.items()} for item in items]


def _executions(stack: LocalStack) -> list[dict[str, Any]]:
    report = []
    for execution in stack.executions:
        items = incident_items(stack, execution.finding_id) if execution.finding_id else []
        outcome = (execution.output or {}).get("outcome") or {}
        incident = next((i for i in items if i.get("sk") == "FINDING"), {})
        report.append(
            {
                "playbook": execution.playbook,
                "execution_arn": execution.arn,
                "finding_id": execution.finding_id,
                "status": execution.status,
                "outcome": outcome.get("status") or incident.get("status"),
                "summary": outcome.get("summary") or incident.get("summary"),
                "error": execution.error,
                "states": execution.states,
                "actions": [
                    {k: v for k, v in item.items() if k not in {"pk"}}
                    for item in items
                    if str(item.get("sk", "")).startswith("ACTION#")
                ],
            }
        )
    return report


def _key_inactive(finding: Mapping[str, Any], keys: list[dict[str, str]]) -> bool:
    return any(k["access_key_id"] == finding.get("access_key_id") and k["status"] == "Inactive" for k in keys)


CONTAINED_WHEN: dict[str, Callable[[Mapping[str, Any], list[dict[str, str]]], bool]] = {
    "contain-access-key": _key_inactive,
}
"""Per playbook: what the AWS state read back must show for a finding to count as contained."""


def _finding_contained(finding: Mapping[str, Any], keys: list[dict[str, str]]) -> bool:
    check = CONTAINED_WHEN.get(str(finding.get("playbook")))
    return check is not None and check(finding, keys)


def _dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    """What the stack's queues kept: malformed events, failed invocations, undeliverable events."""
    kept = []
    for logical in stack.queues:
        for message in stack.queue_messages(logical):
            body, attributes = message["body"], message["attributes"]
            if "reason" in body:  # kept by a handler (malformed input)
                reason, error, event = body["reason"], body.get("error"), body.get("event")
            elif "requestContext" in body:  # a Lambda failure destination record
                reason, error = (
                    body["requestContext"].get("condition"),
                    body.get("responsePayload", {}).get("errorMessage"),
                )
                event = body.get("requestPayload")
            else:  # an EventBridge rule's dead-letter queue
                reason, error, event = "undeliverable", attributes.get("ERROR_MESSAGE"), body
            event_id = event.get("id") if isinstance(event, dict) else None
            kept.append({"queue": logical, "reason": reason, "error": error, "event_id": event_id})
    return kept


def _send(stack: LocalStack, events: list[dict[str, Any]], origins: Sequence[str]) -> tuple[int, list[str]]:
    """Send events one at a time: (how many no rule of the template routes, the events the local stack failed on).

    The reader hands over only valid events; should the local stack still fail on one, the event is
    named and the run goes on.
    """
    not_routed, failed = 0, []
    for n, event in enumerate(events):
        try:
            not_routed += stack.send([event])
        except Exception as exc:  # the local stack failed, not the input: say so and keep going
            where = origins[n] if n < len(origins) else f"event {n}"
            failed.append(f"{where}: the local stack failed on this event: {type(exc).__name__}: {exc}")
    return not_routed, failed


def run_events(
    events: list[dict[str, Any]],
    *,
    name: str,
    parameters: Mapping[str, str],
    users: list[dict[str, Any]],
    roles: list[str] = (),  # type: ignore[assignment]
    attacker_keys: list[str] | None = None,
    untouched_keys: list[str] = (),  # type: ignore[assignment]
    input_errors: list[str] | None = None,
    origins: Sequence[str] = (),
    root: Path = PROJECT_ROOT,
    workdir: Path | None = None,
    faults: FaultPlan | None = None,
) -> dict[str, Any]:
    """Deploy the stack locally, seed the victim, send the events, and report what happened.

    ``attacker_keys`` (as named in the events) decides ``contained`` for a scenario: all of them
    must read back Inactive. Without it (replay), at least one finding must have needed containment
    (its playbook is deployed) and every such finding must read back as contained: a run with
    nothing to contain is not "contained". ``origins`` (where each event was read) names events in
    ``input_errors``; users IAM refused to recreate are added there too.
    """
    started = time.monotonic()
    with running_emulator(faults=faults) as emulator:
        stack = LocalStack(emulator, root, parameters=parameters, workdir=workdir).deploy()
        victim = seed_victim(stack, users, roles)
        not_routed, undelivered = _send(stack, victim.rewrite(events), origins)
        stack.settle()
        keys = key_states(stack, victim)
        findings = stack.findings
        if attacker_keys is not None:
            attacker = {victim.keys.get(k, k) for k in attacker_keys}
            contained = bool(attacker) and all(
                k["status"] == "Inactive" for k in keys if k["access_key_id"] in attacker
            )
            contained = contained and attacker <= {k["access_key_id"] for k in keys}
        else:
            deployed = set(stack.state_machines.values())
            needing = [f for f in findings if f.get("playbook") in deployed]
            contained = bool(needing) and all(_finding_contained(f, keys) for f in needing)
        collateral = [k for k in keys if k["as_in_events"] in set(untouched_keys) and k["status"] != "Active"]
        report = {
            "scenario": name,
            "events_in": len(events),
            "events_not_routed": not_routed,
            "input_errors": [*(input_errors or []), *victim.not_recreated, *undelivered],
            "findings": findings,
            "executions": _executions(stack),
            "notifications": stack.notifications(),
            "dead_letters": _dead_letters(stack),
            "alarms": stack.alarm_states(),  # logical id -> state, evaluated on the run's metrics
            "aws_state": {"access_keys": keys},
            "collateral_damage": collateral,
            "contained": contained,
            "timeline": [{"at": s.at, "kind": s.kind, "text": s.text} for s in stack.timeline],
            "logs": str(stack.workdir / "logs"),
            "faults": emulator.faults.summary() if faults else None,
        }
    report["elapsed_seconds"] = round(time.monotonic() - started, 3)
    return report


def run_scenario(
    name: str, *, root: Path = PROJECT_ROOT, workdir: Path | None = None, faults: FaultPlan | None = None
) -> dict[str, Any]:
    scenario = load_scenario(name, root)
    read = read_events([scenario.events])
    if read.errors:
        raise ValueError(f"scenario {name} has unreadable events: {'; '.join(read.errors)}")
    report = run_events(
        read.events,
        name=scenario.name,
        parameters=scenario.parameters,
        users=scenario.users,
        roles=scenario.roles,
        attacker_keys=scenario.attacker_keys,
        untouched_keys=scenario.untouched_keys,
        root=root,
        workdir=workdir,
        faults=faults,
    )
    return {"description": scenario.description, **report}


def run_replay(
    paths: list[Path],
    *,
    parameters: Mapping[str, str],
    seed: bool = True,
    root: Path = PROJECT_ROOT,
    workdir: Path | None = None,
    faults: FaultPlan | None = None,
) -> dict[str, Any]:
    read = read_events(paths)
    report = run_events(
        read.events,
        name="replay",
        parameters=parameters,
        users=users_in_events(read.events, read.origins) if seed else [],
        input_errors=read.errors,
        origins=read.origins,
        root=root,
        workdir=workdir,
        faults=faults,
    )
    report["inputs"] = [str(p) for p in paths]
    return report
