"""The response policy: what a playbook may do with a finding, decided in one place, in plain Python.

Playbooks (Step Functions) make the AWS calls; every decision that needs more than a JSONPath
comparison is made here and handed back to them by the ``response-policy`` function:

* :func:`check_finding`: is the input a genuine Warden finding? It must validate as a :class:`Finding`
  and its id must be the one its content gives (a forged finding cannot borrow a real one's id).
* :func:`decide_containment`: given what AWS says about the credential (its owner, whether it is
  active), may the playbook act? Never on a protected principal, never when the credential's owner is
  not the finding's principal or lives in another account, never automatically below the configured
  severity or outside ``auto`` mode.
* :func:`find_role` and :func:`decide_revocation` (``revoke-role-sessions``): which role a finding's
  principal names, and, once IAM has confirmed that role, whether to cut off its older sessions, with the
  inline policy that does it and the call that undoes it.
* :func:`decide_logging_restore` (``restore-invocation-logging``): which known-good model-invocation
  logging configuration to put back, whether to, and the call that undoes it.

Pure functions: the clock and the configuration come in as arguments.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from warden.config import ResponseConfig
from warden.guard import validation_problems
from warden.models import Finding, Severity
from warden.principals import PrincipalRef, protected_match, same_principal

SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}
FINDING_ID = re.compile(r"[0-9a-f]{32}")


class FindingCheck(BaseModel):
    check: Literal["finding"]
    playbook: str
    finding: Any = None


class ContainmentCheck(BaseModel):
    check: Literal["containment"]
    playbook: str
    finding: Finding
    owner_arn: str
    credential: str
    active: bool


class RoleTargetCheck(BaseModel):
    """Which IAM role does the finding's principal (an assumed-role session or a role) name?"""

    check: Literal["role-target"]
    playbook: str
    finding: Finding


class RevocationCheck(BaseModel):
    """May ``revoke-role-sessions`` cut off the sessions of ``role``, as IAM's GetRole describes it?"""

    check: Literal["revocation"]
    playbook: str
    finding: Finding
    role: dict[str, Any]
    """GetRole's ``Role``: ``Arn``, ``RoleName``, ``Path`` and, when it has any, ``Tags``."""
    previous_document: Any = None
    """The role's inline policy of the revocation's name before acting (a dict, IAM's URL-encoded JSON, or None)."""
    issued_before: datetime
    """Sessions issued before this moment (the execution's start) are cut off."""


class LoggingRestoreCheck(BaseModel):
    """May ``restore-invocation-logging`` put back the known-good configuration, given the one in force?"""

    check: Literal["logging-restore"]
    playbook: str
    finding: Finding
    current: Any = None
    """GetModelInvocationLoggingConfiguration's answer: ``{"loggingConfig": {...}}``, or ``{}`` when none."""
    execution: str = ""
    """The execution's ARN: its region is the one the playbook's Bedrock calls change."""
    known_good: str = ""
    """The stack's KnownGoodInvocationLogging parameter (JSON text, or empty), from the definition."""


class IncidentCheck(BaseModel):
    """Which incident did a playbook execution own? Asked by the failure recorder with the execution's input."""

    check: Literal["incident"]
    input: Any = None
    """The execution's input as Step Functions reports it: a JSON string, or anything at all."""


Request = FindingCheck | ContainmentCheck | IncidentCheck | RoleTargetCheck | RevocationCheck | LoggingRestoreCheck
PolicyRequest = Annotated[Request, Field(discriminator="check")]
REQUESTS: TypeAdapter[Request] = TypeAdapter(PolicyRequest)
"""Validates what a playbook sends: ``REQUESTS.validate_python(event)``."""


class Incident(BaseModel):
    finding_id: str | None
    """The finding id the input carries, when it carries one that could key an incident; else None."""


class Triage(BaseModel):
    valid: bool
    summary: str
    problems: list[str] = []
    opened_at: str
    """This moment, as the incident's ``opened_at``."""
    stale_before: str
    """An incident OPEN since before this moment may be taken over (its owner died unreported)."""


Status = Literal[
    "CONTAINED", "RESTORED", "DRY_RUN", "REFUSED_PROTECTED", "REFUSED_MISMATCH", "NO_ACTION", "NOTHING_TO_RESTORE"
]


class Decision(BaseModel):
    act: bool
    status: Status
    reason: str
    summary: str


def _timestamp(moment: datetime) -> str:
    """Second-resolution UTC time in one fixed-width form, so that two of them compare correctly as text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_finding(request: FindingCheck, settings: ResponseConfig, now: datetime) -> Triage:
    """Whether the playbook's input is a genuine finding; problems name fields, never their values."""
    times = {"opened_at": _timestamp(now), "stale_before": _timestamp(now - settings.incident_lease)}
    try:
        finding = Finding.model_validate(request.finding)
    except ValidationError as exc:
        found = validation_problems(exc)
        summary = f"{request.playbook} refused its input: not a Warden finding ({'; '.join(found)})."
        return Triage(valid=False, summary=summary, problems=found, **times)
    if finding.id != finding.content_id():
        problem = "id: does not match the finding's content (altered or forged)"
        summary = f"{request.playbook} refused finding {finding.id}: its {problem}."
        return Triage(valid=False, summary=summary, problems=[problem], **times)
    return Triage(valid=True, summary=f"finding {finding.id} accepted", **times)


def decide_containment(request: ContainmentCheck, settings: ResponseConfig) -> Decision:
    """May the playbook disable ``request.credential``, which AWS says belongs to ``request.owner_arn``?"""
    finding, owner = request.finding, request.owner_arn
    subject = f"{request.credential} of {owner}"
    mismatch = (
        f"{request.credential} belongs to {owner}, not to the finding's principal {finding.principal}: "
        "the finding is wrong or forged, and nothing was changed."
    )
    refused = _refuse_target(
        owner, finding, settings, acting=f"touch {request.credential}", mismatch=("owner-mismatch", mismatch)
    )
    if refused:
        return refused
    if not request.active:
        return _refuse("NO_ACTION", "already-inactive", f"{subject} was already inactive; nothing was changed.")
    if settings.mode != "auto":
        return _refuse(
            "DRY_RUN", "dry-run", f"Dry run (response mode {settings.mode}): Warden would have disabled {subject}."
        )
    if SEVERITY_RANK[finding.severity] < SEVERITY_RANK[settings.auto_min_severity]:
        return _refuse(
            "DRY_RUN",
            "below-threshold",
            f"Severity {finding.severity} is below {settings.auto_min_severity}, the lowest that is contained "
            f"automatically: Warden would have disabled {subject}.",
        )
    return Decision(act=True, status="CONTAINED", reason="contain", summary=f"Disable {subject}.")


def _refuse(status: Status, reason: str, summary: str) -> Decision:
    return Decision(act=False, status=status, reason=reason, summary=summary)


def _refuse_target(
    target: str,
    finding: Finding,
    settings: ResponseConfig,
    *,
    acting: str,
    mismatch: tuple[str, str],
    tagged: bool = False,
) -> Decision | None:
    """The refusals every containment shares, in order: a protected target (by entry or by the
    ``warden:protected`` tag), a target or finding outside the stack's account, a target that IAM says is
    not the finding's principal. None when none applies."""
    covered = protected_match(target, settings.protected) or protected_match(finding.principal, settings.protected)
    if covered or tagged:
        entry = f"entry {covered}" if covered else "tag warden:protected=true"
        return _refuse(
            "REFUSED_PROTECTED",
            "protected-principal",
            f"{target} is a protected principal ({entry}): Warden refused to {acting}. Investigate by hand.",
        )
    ref = PrincipalRef.parse(target)
    if ref is None or ref.account != settings.account_id or finding.account != settings.account_id:
        return _refuse(
            "REFUSED_MISMATCH",
            "foreign-account",
            f"{target}: the finding (account {finding.account}) or its target is not in this stack's account "
            f"{settings.account_id}; Warden acts only in its own account.",
        )
    if not same_principal(target, finding.principal):
        return _refuse("REFUSED_MISMATCH", *mismatch)
    return None


def _gate(settings: ResponseConfig, severity: Severity, would: str) -> Decision | None:
    """A dry-run decision unless the stack is in ``auto`` mode and ``severity`` reaches the automatic threshold."""
    if settings.mode != "auto":
        return _refuse("DRY_RUN", "dry-run", f"Dry run (response mode {settings.mode}): Warden would have {would}.")
    if SEVERITY_RANK[severity] < SEVERITY_RANK[settings.auto_min_severity]:
        return _refuse(
            "DRY_RUN",
            "below-threshold",
            f"Severity {severity} is below {settings.auto_min_severity}, the lowest that is handled "
            f"automatically: Warden would have {would}.",
        )
    return None


def dynamodb_value(value: Any) -> dict[str, Any]:
    """``value`` as a DynamoDB attribute value, so that a playbook can store a structured undo record as it is."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): dynamodb_value(v) for k, v in value.items() if v is not None}}
    if isinstance(value, list | tuple):
        return {"L": [dynamodb_value(v) for v in value]}
    return {"NULL": True}


# ---------------------------------------------------------------------------------------------------
# revoke-role-sessions
# ---------------------------------------------------------------------------------------------------

REVOCATION_POLICY = "warden-revoke-sessions"
"""The inline policy ``revoke-role-sessions`` puts on a role (one name, so a later run replaces it)."""
BEDROCK_INVOCATION = ("bedrock:InvokeModel*", "bedrock:Converse*", "bedrock:CallWithBearerToken")
SERVICE_LINKED_PATH = "/aws-service-role/"


class RoleTarget(BaseModel):
    role_name: str | None
    """The role's name (IAM resolves its path), or None when there is no role of this account to ask IAM about."""
    status: Literal["FOUND", "NOT_APPLICABLE", "REFUSED_MISMATCH"]
    summary: str


class RevocationDecision(Decision):
    policy_name: str = REVOCATION_POLICY
    policy_document: str = ""
    """The inline policy to put, as the JSON text ``iam:PutRolePolicy`` takes."""
    undo: dict[str, Any] = Field(default_factory=lambda: dynamodb_value({}))
    """The call that undoes the revocation, as a DynamoDB map for the incident's action record."""
    command: str = ""
    """The AWS CLI command that would revoke, for a dry run's notification."""


def find_role(request: RoleTargetCheck, settings: ResponseConfig) -> RoleTarget:
    """The role an assumed-role session or role ARN names, when it is in this account; IAM confirms it exists."""
    finding, principal = request.finding, request.finding.principal
    parts = principal.strip().split(":", 5)
    resource = parts[5] if len(parts) == 6 and parts[0] == "arn" else ""
    kind, _, rest = resource.partition("/")
    name = None
    if parts[2:3] == ["sts"] and kind == "assumed-role" and rest:
        name = rest.split("/", 1)[0]
    elif parts[2:3] == ["iam"] and kind == "role" and rest:
        name = rest.rsplit("/", 1)[-1]
    if not name:
        return RoleTarget(
            role_name=None,
            status="NOT_APPLICABLE",
            summary=f"The finding's principal {principal} is not an IAM role or a session of one, so "
            f"{request.playbook} changed nothing. Recommended playbook: {finding.playbook}.",
        )
    if parts[4] != settings.account_id or finding.account != settings.account_id:
        return RoleTarget(
            role_name=None,
            status="REFUSED_MISMATCH",
            summary=f"{principal}: the finding (account {finding.account}) or the role is not in this stack's "
            f"account {settings.account_id}; Warden acts only in its own account, and changed nothing.",
        )
    return RoleTarget(role_name=name, status="FOUND", summary=f"role {name}")


def revocation_policy(issued_before: datetime) -> dict[str, Any]:
    """Deny everything, and Bedrock invocation explicitly, to sessions issued before ``issued_before``.

    The condition is the one the IAM console's "revoke active sessions" writes; the Bedrock statement
    says in the policy itself what the revocation is for, and keeps denying invocation if someone trims
    the first statement to let the role's other work resume.
    """
    cutoff = {"DateLessThan": {"aws:TokenIssueTime": _timestamp(_next_second(issued_before))}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "WardenRevokeOlderSessions", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": cutoff},
            {
                "Sid": "WardenDenyBedrockToOlderSessions",
                "Effect": "Deny",
                "Action": list(BEDROCK_INVOCATION),
                "Resource": "*",
                "Condition": cutoff,
            },
        ],
    }


def _next_second(moment: datetime) -> datetime:
    """``moment`` rounded up to a whole second, so that no session issued before it escapes the cutoff."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def policy_text(document: Any) -> str | None:
    """An inline policy document as IAM returns it (a dict, or URL-encoded JSON text) as plain JSON text."""
    if isinstance(document, dict):
        return json.dumps(document, separators=(",", ":"))
    if isinstance(document, str) and document.strip():
        return document if document.lstrip().startswith("{") else unquote(document)
    return None


def decide_revocation(request: RevocationCheck, settings: ResponseConfig) -> RevocationDecision:
    """May the playbook put the revocation policy on ``request.role``? With the policy and its undo."""
    finding, role = request.finding, request.role
    role_arn, role_name = str(role.get("Arn", "")), str(role.get("RoleName", ""))
    previous = policy_text(request.previous_document)
    undo = {"api": "iam:DeleteRolePolicy", "RoleName": role_name, "PolicyName": REVOCATION_POLICY}
    if previous is not None:
        undo = {**undo, "api": "iam:PutRolePolicy", "PolicyDocument": previous}
    document = json.dumps(revocation_policy(request.issued_before), separators=(",", ":"))
    extra = {
        "policy_document": document,
        "undo": dynamodb_value(undo),
        "command": f"aws iam put-role-policy --role-name {role_name} --policy-name {REVOCATION_POLICY} "
        f"--policy-document '{document}'",
    }
    would = f"cut off every session of {role_arn} issued before {_timestamp(_next_second(request.issued_before))}"
    decision = _revocation(finding, role, role_arn, settings, would)
    return RevocationDecision(**decision.model_dump(), **extra)


def _revocation(
    finding: Finding, role: dict[str, Any], role_arn: str, settings: ResponseConfig, would: str
) -> Decision:
    refused = _refuse_target(
        role_arn,
        finding,
        settings,
        acting="revoke its sessions",
        tagged=_tagged_protected(role),
        mismatch=("role-mismatch", f"IAM's role {role_arn} is not the finding's principal {finding.principal}: "
                  "nothing was changed."),
    )  # fmt: skip
    if refused:
        return refused
    if str(role.get("Path", "/")).startswith(SERVICE_LINKED_PATH):
        return _refuse(
            "REFUSED_PROTECTED",
            "service-linked-role",
            f"{role_arn} is a service-linked role, which takes no inline policy: Warden changed nothing. "
            "Investigate by hand.",
        )
    gated = _gate(settings, finding.severity, would)
    if gated:
        return gated
    return Decision(
        act=True,
        status="CONTAINED",
        reason="revoke",
        summary=f"Sessions of {role_arn} {would.split(' issued ', 1)[-1].join(['issued ', ''])} are cut off: all "
        "their calls are denied, Bedrock invocation explicitly.",
    )


def _tagged_protected(role: dict[str, Any]) -> bool:
    tags = role.get("Tags") or []
    return any(
        isinstance(tag, dict) and tag.get("Key") == "warden:protected" and str(tag.get("Value")).lower() == "true"
        for tag in tags
    )


# ---------------------------------------------------------------------------------------------------
# restore-invocation-logging
# ---------------------------------------------------------------------------------------------------

LOGGING_DESTINATIONS = ("cloudWatchConfig", "s3Config")


class LoggingDecision(Decision):
    logging_config: dict[str, Any] = Field(default_factory=dict)
    """The known-good configuration to put back, in ``PutModelInvocationLoggingConfiguration``'s shape."""
    parameters: dict[str, Any] = Field(default_factory=dict)
    """The same with every member in PascalCase, as a Step Functions aws-sdk Task passes it."""
    previous: str = "null"
    """The configuration in force before, as JSON text in the API's shape (``null``: logging was off)."""
    source: str = ""
    """Where the known-good configuration came from: the finding, or the stack parameter."""
    undo: dict[str, Any] = Field(default_factory=lambda: dynamodb_value({}))
    """The call that undoes the restore, as a DynamoDB map for the incident's action record."""
    command: str = ""


def known_good_logging(finding: Finding, parameter: str) -> tuple[dict[str, Any] | None, str]:
    """The configuration to restore: the finding's ``previous_configuration``, else the stack parameter's JSON."""
    carried = finding.details.get("previous_configuration")
    if _is_logging_config(carried):
        return carried, "the finding's last known good configuration"
    try:
        configured = json.loads(parameter) if parameter.strip() else None
    except ValueError:
        configured = None
    if isinstance(configured, dict) and isinstance(configured.get("loggingConfig"), dict):
        configured = configured["loggingConfig"]
    if _is_logging_config(configured):
        return configured, "the stack's KnownGoodInvocationLogging parameter"
    return None, ""


def api_case(value: Any) -> Any:
    """A Step Functions aws-sdk result (PascalCase members) in the service API's camelCase, recursively."""
    if isinstance(value, dict):
        return {str(k)[:1].lower() + str(k)[1:]: api_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_case(v) for v in value]
    return value


def sfn_case(value: Any) -> Any:
    """A camelCase API structure with PascalCase members, as a Step Functions aws-sdk Task takes it."""
    if isinstance(value, dict):
        return {str(k)[:1].upper() + str(k)[1:]: sfn_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sfn_case(v) for v in value]
    return value


def _is_logging_config(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(value.get(key), dict) for key in LOGGING_DESTINATIONS)


def decide_logging_restore(request: LoggingRestoreCheck, settings: ResponseConfig) -> LoggingDecision:
    """May the playbook put back the known-good logging configuration? With the configuration and the undo."""
    finding = request.finding
    target, source = known_good_logging(finding, request.known_good)
    answer = api_case(request.current) if isinstance(request.current, dict) else {}
    current = answer.get("loggingConfig") if isinstance(answer.get("loggingConfig"), dict) else None
    current = current or None
    undo: dict[str, Any] = {"api": "bedrock:DeleteModelInvocationLoggingConfiguration"}
    if current is not None:
        undo = {"api": "bedrock:PutModelInvocationLoggingConfiguration", "loggingConfig": current}
    region = request.execution.split(":")[3] if request.execution.count(":") >= 4 else ""
    where = f"{finding.account}/{finding.region}"
    extra: dict[str, Any] = {"undo": dynamodb_value(undo), "source": source, "previous": json.dumps(current)}
    if target is None:
        decision = _refuse(
            "NOTHING_TO_RESTORE",
            "nothing-to-restore",
            f"Nothing to restore in {where}: the finding carries no previous logging configuration and the "
            "stack's KnownGoodInvocationLogging parameter is empty or not a configuration. Re-enable "
            "model-invocation logging by hand, and set the parameter so that Warden can next time.",
        )
        return LoggingDecision(**decision.model_dump(), **extra)
    text = json.dumps(target, separators=(",", ":"), sort_keys=True)
    extra |= {
        "logging_config": target,
        "parameters": sfn_case(target),
        "command": f"aws bedrock put-model-invocation-logging-configuration --region {finding.region} "
        f"--logging-config '{text}'",
    }
    would = f"put back model-invocation logging in {where} from {source}"
    if finding.account != settings.account_id or (region and finding.region != region):
        decision = _refuse(
            "REFUSED_MISMATCH",
            "foreign-account",
            f"The finding is about {where}, not this stack's account {settings.account_id} and region "
            f"{region or 'unknown'}; Warden acts only where it is deployed.",
        )
    elif current == target:
        decision = _refuse(
            "NO_ACTION", "already-restored", f"Model-invocation logging in {where} is already the known-good one."
        )
    else:
        decision = _gate(settings, finding.severity, would) or Decision(
            act=True, status="RESTORED", reason="restore", summary=f"Warden will {would}."
        )
    return LoggingDecision(**decision.model_dump(), **extra)


def identify_incident(request: IncidentCheck) -> Incident:
    """The incident key in a failed execution's input, without trusting the input to be JSON at all.

    JSONPath's ``States.StringToJson`` fails uncatchably on a string that is not JSON, which would make
    the failure recorder itself die unheard; here any input gives an answer.
    """
    document = request.input
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            return Incident(finding_id=None)
    candidate = document.get("id") if isinstance(document, dict) else None
    return Incident(finding_id=candidate if isinstance(candidate, str) and FINDING_ID.fullmatch(candidate) else None)


def evaluate(request: Request, settings: ResponseConfig, now: datetime) -> dict[str, Any]:
    """The response-policy function's one entry point: dispatch a request to its check."""
    answer: BaseModel
    if isinstance(request, FindingCheck):
        answer = check_finding(request, settings, now)
    elif isinstance(request, IncidentCheck):
        answer = identify_incident(request)
    elif isinstance(request, RoleTargetCheck):
        answer = find_role(request, settings)
    elif isinstance(request, RevocationCheck):
        answer = decide_revocation(request, settings)
    elif isinstance(request, LoggingRestoreCheck):
        answer = decide_logging_restore(request, settings)
    else:
        answer = decide_containment(request, settings)
    return answer.model_dump(mode="json")
