"""Runs events through the local stack and reads back what happened: the pipeline behind the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from warden.models import Severity
from warden_local.emulator import running_emulator
from warden_local.faults import FaultPlan
from warden_local.readers import INVOCATION_LOG, ReadItem, ReadResult, is_access_key_id, is_iam_user_name, read_events
from warden_local.stack import LocalStack
from warden_local.template import load_template

PROJECT_ROOT = Path(__file__).resolve().parent.parent


INVOCATION_LOG_BUCKET = "InvocationLogBucket"
LOCAL_INVOCATION_LOG_BUCKET = "warden-local-invocation-logs"
"""The invocation-log bucket a local run deploys with when none is given, so that log records have a path in."""
OBJECT_SPAN = timedelta(minutes=5)
OBJECT_RECORDS = 1000
OBJECT_BYTES = 8 * 1024 * 1024
"""How invocation-log records are batched into S3 objects: consecutive records of one account and region,
at most :data:`OBJECT_SPAN` from the object's first record, :data:`OBJECT_RECORDS` records and about
:data:`OBJECT_BYTES` bytes of JSON lines, as Bedrock delivers a few minutes of records per object."""
QUIET_UP_TO = Severity.LOW
"""A scenario's benign activity may give findings up to this severity, never above."""
_SEVERITY_RANK = {severity.value: rank for rank, severity in enumerate(Severity)}


def _above_quiet(finding: Mapping[str, Any]) -> bool:
    """Whether a finding is above :data:`QUIET_UP_TO`; a severity Warden does not know counts as above."""
    return _SEVERITY_RANK.get(str(finding.get("severity")), len(_SEVERITY_RANK)) > _SEVERITY_RANK[QUIET_UP_TO]


@dataclass(frozen=True)
class ExpectedFinding:
    """A finding a scenario must raise; ``severity`` None accepts any."""

    detector: str
    family: str
    principal: str
    severity: str | None = None

    def matches(self, finding: Mapping[str, Any]) -> bool:
        return self.same_subject(finding) and self.severity in (None, finding.get("severity"))

    def same_subject(self, finding: Mapping[str, Any]) -> bool:
        return (finding.get("detector"), finding.get("family"), finding.get("principal")) == (
            self.detector,
            self.family,
            self.principal,
        )


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    events: Path
    parameters: dict[str, str]
    users: list[dict[str, Any]]
    roles: list[str]
    attacker_keys: list[str]
    """Access keys (as named in the events) that must read back Inactive."""
    untouched_keys: list[str]
    expected_findings: list[ExpectedFinding] | None = None
    """Findings the run must raise; any other finding above :data:`QUIET_UP_TO` fails it. None: not judged."""
    contain: bool = True
    """Whether the scenario asks for access keys to be contained (it names ``attacker_access_keys``, even none)."""
    aws_state: dict[str, Any] = field(default_factory=dict)
    """AWS state to read back besides access keys: ``contained`` checks must hold, ``untouched`` ones must not
    (see :func:`state_checks`)."""
    iam_setup: dict[str, Any] = field(default_factory=dict)
    """IAM state to give the victim besides users, keys and role names (see :func:`shape_iam`)."""


def scenario_names(root: Path = PROJECT_ROOT) -> list[str]:
    return sorted(p.stem for p in (root / "events" / "scenarios").glob("*.json") if not p.stem.endswith(".events"))


def load_scenario(name: str, root: Path = PROJECT_ROOT) -> Scenario:
    path = root / "events" / "scenarios" / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"no scenario {name!r}; known: {', '.join(scenario_names(root))}")
    spec = json.loads(path.read_text())
    expect = spec.get("expect", {})
    findings = expect.get("findings")
    victim = spec.get("victim", {})
    roles = victim.get("roles", [])  # a name, or an object with its name and IAM state
    return Scenario(
        name=spec["name"],
        description=spec["description"],
        events=root / spec["events"],
        parameters=spec.get("parameters", {}),
        users=victim.get("users", []),
        roles=[r if isinstance(r, str) else r["name"] for r in roles],
        attacker_keys=expect.get("attacker_access_keys", []),
        untouched_keys=expect.get("untouched_access_keys", []),
        expected_findings=None if findings is None else [ExpectedFinding(**f) for f in findings],
        contain="attacker_access_keys" in expect,
        aws_state=expect.get("aws_state", {}),
        iam_setup={
            "policies": victim.get("policies", []),
            "roles": [r for r in roles if not isinstance(r, str)],
            "users": victim.get("users", []),
        },
    )


def judge(expected: Sequence[ExpectedFinding], findings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Whether each expected finding was raised, and the findings above :data:`QUIET_UP_TO` nobody expected.

    A finding on an expected subject (detector, family, principal) with another severity is not
    unexpected, but does not meet the expectation either: ``severities_seen`` shows what it had.
    """
    judged = []
    for want in expected:
        raised = [f for f in findings if want.matches(f)]
        judged.append(
            {
                "detector": want.detector,
                "family": want.family,
                "principal": want.principal,
                "severity": want.severity,
                "raised": bool(raised),
                "finding_ids": [f.get("id") for f in raised],
                "severities_seen": sorted({str(f.get("severity")) for f in findings if want.same_subject(f)}),
            }
        )
    unexpected = [
        {k: f.get(k) for k in ("id", "detector", "family", "severity", "principal", "title")}
        for f in findings
        if _above_quiet(f) and not any(want.same_subject(f) for want in expected)
    ]
    return {
        "findings": judged,
        "unexpected": unexpected,
        "met": all(j["raised"] for j in judged) and not unexpected,
    }


@dataclass
class LogObject:
    """Invocation-log records delivered together as one S3 object."""

    records: list[ReadItem] = field(default_factory=list)
    size: int = 0
    """Bytes of its JSON lines."""

    @property
    def where(self) -> str:
        first, last = self.records[0].origin, self.records[-1].origin
        return first if len(self.records) == 1 else f"{first} .. {last} ({len(self.records)} records)"

    def takes(self, item: ReadItem, size: int, span: timedelta, max_records: int, max_bytes: int) -> bool:
        first = self.records[0]
        return (
            _log_place(first) == _log_place(item)
            and item.time - first.time < span
            and len(self.records) < max_records
            and self.size + size <= max_bytes
        )


def deliveries(
    items: Sequence[ReadItem],
    *,
    span: timedelta = OBJECT_SPAN,
    max_records: int = OBJECT_RECORDS,
    max_bytes: int = OBJECT_BYTES,
) -> list[ReadItem | LogObject]:
    """What a run delivers, in time order: each event alone, and runs of invocation-log records as S3 objects.

    A log object takes consecutive records (no event between them) of one account and region, from its
    first record's time to less than ``span`` later, up to ``max_records`` records and ``max_bytes``
    bytes (an object holds at least one record, whatever its size).
    """
    planned: list[ReadItem | LogObject] = []
    for item in items:
        if item.kind != INVOCATION_LOG:
            planned.append(item)
            continue
        size = len(json.dumps(item.value, ensure_ascii=False).encode("utf-8")) + 1
        last = planned[-1] if planned else None
        if not (isinstance(last, LogObject) and last.takes(item, size, span, max_records, max_bytes)):
            last = LogObject()
            planned.append(last)
        last.records.append(item)
        last.size += size
    return planned


def _log_place(item: ReadItem) -> tuple[Any, Any]:
    return item.value.get("accountId"), item.value.get("region")


def deploy_parameters(parameters: Mapping[str, str], root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The parameters a local run deploys with: the caller's, and a local invocation-log bucket unless given."""
    values = dict(parameters)
    declared = load_template(root / "template.yaml").get("Parameters", {})
    if INVOCATION_LOG_BUCKET in declared and INVOCATION_LOG_BUCKET not in values:
        values[INVOCATION_LOG_BUCKET] = LOCAL_INVOCATION_LOG_BUCKET
    return values


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

    A user's ``named_in`` (and ``keys_named_in``) say where the events named it, for those messages; its
    ``service_specific_credentials`` name services (``bedrock.amazonaws.com``: a Bedrock long-term API key) it
    holds a credential for. CloudTrail never names such a credential's id, so none is mapped.
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
        for service in user.get("service_specific_credentials", []):  # e.g. a Bedrock long-term API key
            try:
                iam.create_service_specific_credential(UserName=name, ServiceName=service)
            except (BotoCoreError, ClientError) as exc:
                victim.not_recreated.append(
                    f"{where}: {service} credential of user {name} not created: {_aws_error(exc)}"
                )
    return victim


def shape_iam(stack: LocalStack, setup: Mapping[str, Any], victim: Victim) -> None:
    """Give the seeded victim the IAM state a scenario describes: the account as the events left it.

    ``setup`` has ``policies`` (customer managed policies to create: ``name`` and ``document``), and ``roles``
    and ``users`` entries (created by :func:`seed_victim`) that may carry ``trust_policy`` (a role's),
    ``managed_policies`` (ARNs to attach) and ``inline_policies`` (name -> document). What IAM refuses is
    named in ``victim.not_recreated``, not raised.
    """
    iam = stack.client("iam")
    calls: list[tuple[str, str, dict[str, Any]]] = [
        (f"policy {p['name']}", "create_policy", {"PolicyName": p["name"], "PolicyDocument": json.dumps(p["document"])})
        for p in setup.get("policies", [])
    ]
    for kind in ("role", "user"):
        for entry in setup.get(f"{kind}s", []):
            name, where = {f"{kind.capitalize()}Name": entry["name"]}, f"{kind} {entry['name']}"
            if kind == "role" and "trust_policy" in entry:
                calls.append(
                    (where, "update_assume_role_policy", {**name, "PolicyDocument": json.dumps(entry["trust_policy"])})
                )
            for arn in entry.get("managed_policies", []):
                calls.append((where, f"attach_{kind}_policy", {**name, "PolicyArn": arn}))
            for policy, document in entry.get("inline_policies", {}).items():
                calls.append(
                    (
                        where,
                        f"put_{kind}_policy",
                        {**name, "PolicyName": policy, "PolicyDocument": json.dumps(document)},
                    )
                )
    for where, operation, parameters in calls:
        try:
            getattr(iam, operation)(**parameters)
        except (BotoCoreError, ClientError) as exc:
            victim.not_recreated.append(f"scenario: {where} not set up ({operation}): {_aws_error(exc)}")


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


REVOCATION_POLICY = "warden-revoke-sessions"
"""The inline policy revoke-role-sessions puts on a role (warden.response.REVOCATION_POLICY)."""


def role_has_policy(stack: LocalStack, role: str, policy: str) -> bool:
    """Whether IAM in the emulator shows inline policy ``policy`` on role ``role`` (a missing role: no)."""
    try:
        return policy in stack.client("iam").list_role_policies(RoleName=role)["PolicyNames"]
    except (BotoCoreError, ClientError):
        return False


def logging_configuration(stack: LocalStack) -> dict[str, Any] | None:
    """Bedrock's model-invocation logging configuration in the emulator, or None when there is none."""
    try:
        answer = stack.client("bedrock").get_model_invocation_logging_configuration()
    except (BotoCoreError, ClientError):
        return None
    return answer.get("loggingConfig") or None


def credential_statuses(stack: LocalStack, user: str, service: str | None = None) -> dict[str, str]:
    """The user's service-specific credentials (of ``service``, or all) and their status; a missing user: none."""
    narrowed = {"ServiceName": service} if service else {}
    try:
        listed = stack.client("iam").list_service_specific_credentials(UserName=user, **narrowed)
    except (BotoCoreError, ClientError):
        return {}
    return {c["ServiceSpecificCredentialId"]: c["Status"] for c in listed["ServiceSpecificCredentials"]}


def trust_policy(stack: LocalStack, role: str) -> dict[str, Any] | None:
    """Role ``role``'s trust policy as IAM in the emulator holds it (None: no such role)."""
    try:
        document = stack.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    except (BotoCoreError, ClientError):
        return None
    return document if isinstance(document, dict) else json.loads(unquote(document))


def attached_policies(stack: LocalStack, kind: str, name: str) -> list[str] | None:
    """The managed policy ARNs attached to user, role or group ``name`` (None: no such identity)."""
    iam = stack.client("iam")
    listing = {
        "user": iam.list_attached_user_policies,
        "role": iam.list_attached_role_policies,
        "group": iam.list_attached_group_policies,
    }[kind]
    try:
        listed = listing(**{f"{kind.capitalize()}Name": name})["AttachedPolicies"]
    except (BotoCoreError, ClientError):
        return None
    return [p["PolicyArn"] for p in listed]


def state_checks(stack: LocalStack, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A scenario's ``expect.aws_state`` read back from the emulator, one result per check.

    ``spec`` has ``contained`` checks, which must hold after the run, and ``untouched`` checks, which
    must not (the same kind of change on someone else). A check is one of
    ``{"role_inline_policy": {"role": NAME, "policy": NAME}}`` (the role holds that inline policy),
    ``{"invocation_logging": CONFIG}`` (Bedrock's logging configuration equals CONFIG, in the API's shape),
    ``{"service_specific_credentials": {"user": NAME, "status": STATUS}}`` (the user holds such credentials,
    and every one reads back with that status; ``service`` narrows them to one service),
    ``{"role_trust_policy": {"role": NAME, "document": DOCUMENT}}`` (the role's trust policy is DOCUMENT) and
    ``{"attached_policies": {"role" | "user" | "group": NAME, "policies": [ARN, ...]}}`` (exactly these managed
    policies are attached).
    """
    results = []
    for expect in ("contained", "untouched"):
        for check in spec.get(expect, []):
            if "role_inline_policy" in check:
                want = check["role_inline_policy"]
                holds = role_has_policy(stack, want["role"], want["policy"])
                seen: Any = {"role": want["role"], "policy": want["policy"], "present": holds}
            elif "invocation_logging" in check:
                seen = logging_configuration(stack)
                holds = seen == check["invocation_logging"]
            elif "service_specific_credentials" in check:
                want = check["service_specific_credentials"]
                seen = credential_statuses(stack, want["user"], want.get("service"))
                holds = bool(seen) and all(status == want["status"] for status in seen.values())
            elif "role_trust_policy" in check:
                want = check["role_trust_policy"]
                seen = {"role": want["role"], "document": trust_policy(stack, want["role"])}
                holds = seen["document"] == want["document"]
            elif "attached_policies" in check:
                want = check["attached_policies"]
                kind = next(k for k in ("role", "user", "group") if k in want)
                found = attached_policies(stack, kind, want[kind])
                seen = {kind: want[kind], "policies": found}
                holds = found is not None and sorted(found) == sorted(want["policies"])
            else:
                raise ValueError(
                    f"unknown aws_state check {sorted(check)}; known: role_inline_policy, invocation_logging, "
                    "service_specific_credentials, role_trust_policy, attached_policies"
                )
            ok = holds if expect == "contained" else not holds
            results.append({"expect": expect, "check": check, "seen": seen, "ok": ok})
    return results


def _key_inactive(stack: LocalStack, finding: Mapping[str, Any], keys: list[dict[str, str]]) -> bool:
    return any(k["access_key_id"] == finding.get("access_key_id") and k["status"] == "Inactive" for k in keys)


def _role_revoked(stack: LocalStack, finding: Mapping[str, Any], keys: list[dict[str, str]]) -> bool:
    principal = str(finding.get("principal", ""))
    kind, _, rest = principal.partition(":assumed-role/") if ":assumed-role/" in principal else ("", "", "")
    role = rest.split("/", 1)[0] if kind else principal.rsplit("/", 1)[-1] if ":role/" in principal else ""
    return bool(role) and role_has_policy(stack, role, REVOCATION_POLICY)


def _logging_restored(stack: LocalStack, finding: Mapping[str, Any], keys: list[dict[str, str]]) -> bool:
    previous = (finding.get("details") or {}).get("previous_configuration")
    current = logging_configuration(stack)
    return current is not None and (previous is None or current == previous)


BEARER_DENY_POLICY = "warden-deny-bedrock-bearer"
"""The inline policy contain-bedrock-api-key puts on a user or role (warden.response.BEARER_DENY_POLICY)."""


def _api_key_contained(stack: LocalStack, finding: Mapping[str, Any], keys: list[dict[str, str]]) -> bool:
    """A Bedrock API key: the user's Bedrock credentials all read back not Active, or the user or the role (of a
    session) holds the deny of bearer-token calls."""
    principal = str(finding.get("principal", ""))
    if ":user/" in principal:
        user = principal.rsplit("/", 1)[-1]
        statuses = credential_statuses(stack, user, "bedrock.amazonaws.com")
        if statuses and "Active" not in statuses.values():
            return True
        try:
            return BEARER_DENY_POLICY in stack.client("iam").list_user_policies(UserName=user)["PolicyNames"]
        except (BotoCoreError, ClientError):
            return False
    _, _, rest = principal.partition(":assumed-role/")
    role = rest.split("/", 1)[0] if rest else principal.rsplit("/", 1)[-1] if ":role/" in principal else ""
    return bool(role) and role_has_policy(stack, role, BEARER_DENY_POLICY)


CONTAINED_WHEN: dict[str, Callable[[LocalStack, Mapping[str, Any], list[dict[str, str]]], bool]] = {
    "contain-access-key": _key_inactive,
    "revoke-role-sessions": _role_revoked,
    "restore-invocation-logging": _logging_restored,
    "contain-bedrock-api-key": _api_key_contained,
}
"""Per playbook: what the AWS state read back must show for a finding to count as contained."""


def _finding_contained(stack: LocalStack, finding: Mapping[str, Any], keys: list[dict[str, str]]) -> bool:
    check = CONTAINED_WHEN.get(str(finding.get("playbook")))
    return check is not None and check(stack, finding, keys)


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


def _send(stack: LocalStack, planned: Sequence[ReadItem | LogObject], victim: Victim) -> tuple[int, list[str]]:
    """Deliver in order: (how many events or objects no rule of the template routes, what the local stack failed on).

    Events go one at a time to the default bus, as CloudTrail delivers them; invocation-log records
    go to the invocation-log bucket one object at a time, as Bedrock writes them. The reader hands
    over only valid items; should the local stack still fail on one, it is named and the run goes on.
    """
    not_routed, failed = 0, []
    for delivery in planned:
        try:
            if isinstance(delivery, LogObject):  # put_invocation_log says how many routes took the object's event
                not_routed += not stack.put_invocation_log([r.value for r in delivery.records])
            else:
                not_routed += stack.send(victim.rewrite([delivery.value]))
        except Exception as exc:  # the local stack failed, not the input: say so and keep going
            if isinstance(delivery, LogObject):
                what, where = "invocation-log object", delivery.where
            else:
                what, where = "event", delivery.origin
            failed.append(f"{where}: the local stack failed on this {what}: {type(exc).__name__}: {exc}")
    return not_routed, failed


def run_events(
    read: ReadResult,
    *,
    name: str,
    parameters: Mapping[str, str],
    users: list[dict[str, Any]],
    roles: list[str] = (),  # type: ignore[assignment]
    attacker_keys: list[str] | None = None,
    untouched_keys: list[str] = (),  # type: ignore[assignment]
    expected_findings: Sequence[ExpectedFinding] | None = None,
    aws_state: Mapping[str, Any] | None = None,
    iam_setup: Mapping[str, Any] | None = None,
    root: Path = PROJECT_ROOT,
    workdir: Path | None = None,
    faults: FaultPlan | None = None,
) -> dict[str, Any]:
    """Deploy the stack locally, seed the victim, deliver what was read in time order, and report what happened.

    The victim is its users, keys and roles, then the IAM state ``iam_setup`` describes (:func:`shape_iam`).

    ``attacker_keys`` (as named in the events) and ``aws_state`` (see :func:`state_checks`) decide
    ``contained`` for a scenario: all the keys must read back Inactive and every ``contained`` check
    hold, and at least one of the two must ask for something; an ``untouched`` check that fails is
    collateral damage. Without it (replay), at least one finding must have needed containment
    (its playbook is deployed) and every such finding must read back as contained: a run with
    nothing to contain is not "contained". ``expected_findings`` are judged (see :func:`judge`) into
    ``expectations``. ``passed`` holds when whatever was asked (containment, expected findings) holds
    and nothing else was touched. The reader's errors and users IAM refused to recreate are in
    ``input_errors``.
    """
    started = time.monotonic()
    parameters = deploy_parameters(parameters, root)
    planned = deliveries(read.items)
    with running_emulator(faults=faults) as emulator:
        stack = LocalStack(emulator, root, parameters=parameters, workdir=workdir).deploy()
        victim = seed_victim(stack, users, roles)
        shape_iam(stack, iam_setup or {}, victim)
        not_routed, undelivered = _send(stack, planned, victim)
        stack.settle(until_approval=True)
        keys = key_states(stack, victim)
        checks = state_checks(stack, aws_state or {})
        wanted = [c for c in checks if c["expect"] == "contained"]
        findings = stack.findings
        if attacker_keys is not None:
            attacker = {victim.keys.get(k, k) for k in attacker_keys}
            contained = bool(attacker or wanted) and all(
                k["status"] == "Inactive" for k in keys if k["access_key_id"] in attacker
            )
            contained = contained and attacker <= {k["access_key_id"] for k in keys}
            contained = contained and all(c["ok"] for c in wanted)
        else:
            deployed = set(stack.state_machines.values())
            needing = [f for f in findings if f.get("playbook") in deployed]
            contained = bool(needing) and all(_finding_contained(stack, f, keys) for f in needing)
        collateral: list[dict[str, Any]] = [
            k for k in keys if k["as_in_events"] in set(untouched_keys) and k["status"] != "Active"
        ]
        collateral += [c for c in checks if c["expect"] == "untouched" and not c["ok"]]
        expectations = None if expected_findings is None else judge(expected_findings, findings)
        asked = [contained] if attacker_keys is not None else []
        asked += [expectations["met"]] if expectations is not None else []
        passed = all(asked or [contained]) and not collateral
        report = {
            "scenario": name,
            "parameters": parameters,
            "events_in": len(read.events),
            "invocation_logs_in": len(read.invocation_logs),
            "invocation_log_objects": sum(isinstance(d, LogObject) for d in planned),
            "events_not_routed": not_routed,
            "input_errors": [*read.errors, *victim.not_recreated, *undelivered],
            "findings": findings,
            "executions": _executions(stack),
            "notifications": stack.notifications(),
            "dead_letters": _dead_letters(stack),
            "alarms": stack.alarm_states(),  # logical id -> state, evaluated on the run's metrics
            "aws_state": {"access_keys": keys, "checks": checks},
            "collateral_damage": collateral,
            "contained": contained,
            "containment_expected": attacker_keys is not None or expectations is None,
            "expectations": expectations,
            "passed": passed,
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
        read,
        name=scenario.name,
        parameters=scenario.parameters,
        users=scenario.users,
        roles=scenario.roles,
        attacker_keys=scenario.attacker_keys if scenario.contain or scenario.aws_state else None,
        untouched_keys=scenario.untouched_keys,
        expected_findings=scenario.expected_findings,
        aws_state=scenario.aws_state,
        iam_setup=scenario.iam_setup,
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
        read,
        name="replay",
        parameters=parameters,
        users=users_in_events(read.events, read.origins) if seed else [],
        root=root,
        workdir=workdir,
        faults=faults,
    )
    report["inputs"] = [str(p) for p in paths]
    return report
