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
import shlex
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from warden.config import ResponseConfig
from warden.guard import validation_problems
from warden.models import Finding, Severity
from warden.notify.compose import NotificationCheck, compose_notification  # the ``notification`` check (H4)
from warden.principals import PrincipalRef, protected_match, same_principal
from warden.routing import MODES, Mode, resolve_mode

SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}
FINDING_ID = re.compile(r"[0-9a-f]{32}")


class PlaybookCheck(BaseModel):
    """What every decision request of a playbook carries."""

    playbook: str
    requested_mode: Mode | None = None
    """The mode a person asked for when starting the playbook by hand (checked by :func:`check_finding`);
    None for a finding delivered by the findings bus, whose mode comes from the routing table."""


class FindingCheck(BaseModel):
    check: Literal["finding"]
    playbook: str
    finding: Any = None
    requested_mode: Any = None
    """As the execution's input gave it: it must be a mode or absent."""


class ContainmentCheck(PlaybookCheck):
    check: Literal["containment"]
    finding: Finding
    owner_arn: str
    credential: str
    active: bool
    user_name: str = ""
    """The key owner's user name, as IAM gave it (for the calls and their undo)."""
    keys: list[Any] = []
    """Every key of the owner with its status (``AKIA...=Active``), as ListAccessKeys gave them."""
    tags: list[Any] = []
    """The owner's tags (ListUserTags): ``warden:protected=true`` protects it."""
    previous_deny: Any = None
    """The owner's inline policy of the deny's name before acting (IAM's URL-encoded JSON), or None."""


class RoleTargetCheck(PlaybookCheck):
    """Which IAM role does the finding's principal (an assumed-role session or a role) name?"""

    check: Literal["role-target"]
    finding: Finding


class RevocationCheck(PlaybookCheck):
    """May ``revoke-role-sessions`` cut off the sessions of ``role``, as IAM's GetRole describes it?"""

    check: Literal["revocation"]
    finding: Finding
    role: dict[str, Any]
    """GetRole's ``Role``: ``Arn``, ``RoleName``, ``Path`` and, when it has any, ``Tags``."""
    previous_document: Any = None
    """The role's inline policy of the revocation's name before acting (a dict, IAM's URL-encoded JSON, or None)."""
    issued_before: datetime
    """Sessions issued before this moment (the execution's start) are cut off."""


class LoggingRestoreCheck(PlaybookCheck):
    """May ``restore-invocation-logging`` put back the known-good configuration, given the one in force?"""

    check: Literal["logging-restore"]
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


class RateCheck(PlaybookCheck):
    """Has automatic containment reached the stack's hourly limit? Asked just before acting in ``auto`` mode."""

    check: Literal["rate"]
    finding: Finding
    counts: list[Any] = []
    """The answers of the two counter updates (this hour's, which counts this containment, and the last
    hour's): DynamoDB UpdateItem results with ``Attributes.containments.N``."""


class RevertTargetCheck(PlaybookCheck):
    """``revert-policy-change``: which change does the finding report, on which IAM user, role or group?"""

    check: Literal["revert-target"]
    finding: Finding


class RevertCheck(PlaybookCheck):
    """``revert-policy-change``: may the change be reverted, given what IAM says about its target now?"""

    check: Literal["revert"]
    finding: Finding
    target: dict[str, Any]
    """Get{User,Role,Group}'s answer, reduced to ``Arn``, ``Name``, ``Path`` (and ``Trust``, a role's trust
    document as IAM returns it, URL-encoded)."""
    tags: Any = None
    """List{User,Role}Tags' ``Tags`` (groups have none)."""
    current: dict[str, Any] = Field(default_factory=dict)
    """What IAM holds now for the change: ``attached`` (List*AttachedPolicies' ``AttachedPolicies``),
    ``document`` (Get*Policy's, or None when the inline policy is gone), ``keys`` (the user's access key ids,
    or ListAccessKeys' ``AccessKeyMetadata``) or ``login_profile`` (whether GetLoginProfile found one)."""


# --- contain-bedrock-api-key (H1): its two requests; the decisions are in their section below ---
class ApiKeyTargetCheck(PlaybookCheck):
    """``contain-bedrock-api-key``: whose Bedrock API key does the finding report, and which credential if known?"""

    check: Literal["api-key-target"]
    finding: Finding


class ApiKeyContainmentCheck(PlaybookCheck):
    """``contain-bedrock-api-key``: may the key be contained, given what IAM says about its principal now?"""

    check: Literal["api-key-containment"]
    finding: Finding
    target: dict[str, Any]
    """:class:`ApiKeyTarget` as ``api-key-target`` answered it (``kind``, ``name``, ``credential_id``)."""
    principal: dict[str, Any]
    """Get{User,Role}'s answer reduced to ``Name``, ``Arn``, ``Path``, with List{User,Role}Tags' ``Tags``."""
    credentials: Any = None
    """The user's Bedrock credentials as ListServiceSpecificCredentials listed them, in two lists of one order:
    ``{"ids": [...], "statuses": [...]}`` (empty for a role)."""
    previous_document: Any = None
    """The principal's inline policy of the deny's name before acting (a dict, IAM's URL-encoded JSON, or None)."""


# --- end of contain-bedrock-api-key (H1) requests ---


Request = (
    FindingCheck
    | ContainmentCheck
    | IncidentCheck
    | RoleTargetCheck
    | RevocationCheck
    | LoggingRestoreCheck
    | RateCheck
    | RevertTargetCheck
    | RevertCheck
    | NotificationCheck
    | ApiKeyTargetCheck
    | ApiKeyContainmentCheck
)
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
    requested_mode: Mode | None = None
    """The mode a person asked for, checked; None when the input asked for none."""
    rate_bucket: str = ""
    """This hour's containment counter key (``RATE#<hour>``)."""
    rate_previous: str = ""
    """The last hour's containment counter key."""
    expires_at: int = 0
    """When a counter item may be deleted (epoch seconds: two days ahead)."""
    responder_role_arn: str = ""
    """The role the playbook's IAM and Bedrock Tasks act as (``Credentials.RoleArn``): see :func:`responder_role`."""


Status = Literal[
    "CONTAINED",
    "RESTORED",
    "REVERTED",
    "DRY_RUN",
    "REFUSED_PROTECTED",
    "REFUSED_MISMATCH",
    "NO_ACTION",
    "NOTHING_TO_RESTORE",
]


class Decision(BaseModel):
    act: bool
    """Whether the playbook goes on to act: at once in ``auto`` mode, once approved in ``approve`` mode."""
    status: Status
    reason: str
    summary: str
    mode: Mode = "dry-run"
    """The mode the playbook runs in (:func:`warden.routing.resolve_mode`)."""
    approval: bool = False
    """Act only once a person approves: the playbook posts the plan and waits on a task token."""
    approval_timeout: int = 3600
    """Seconds to wait for the approval."""
    approval_default: Literal["approve", "reject"] = "reject"
    """What an unanswered approval becomes."""
    rate_limit: int = 10
    """Automatic containments allowed in any hour (the playbook checks it just before acting)."""


def _timestamp(moment: datetime) -> str:
    """Second-resolution UTC time in one fixed-width form, so that two of them compare correctly as text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def responder_role(settings: ResponseConfig, playbook: str) -> str:
    """The role a playbook acts as: ``<stack>-<playbook>`` in the stack's account.

    The definitions take it from here for every IAM and Bedrock Task (``Credentials.RoleArn``), so that acting
    in another account later means answering with that account's role, not rewriting the definitions.
    """
    return f"{settings.responder_role_prefix}{playbook}" if settings.responder_role_prefix else ""


def check_finding(request: FindingCheck, settings: ResponseConfig, now: datetime) -> Triage:
    """Whether the playbook's input is a genuine finding; problems name fields, never their values."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    times: dict[str, Any] = {
        "opened_at": _timestamp(now),
        "stale_before": _timestamp(now - settings.incident_lease),
        "rate_bucket": f"RATE#{hour:%Y-%m-%dT%H}",
        "rate_previous": f"RATE#{hour - timedelta(hours=1):%Y-%m-%dT%H}",
        "expires_at": int((hour + timedelta(days=2)).timestamp()),
    }
    requested = request.requested_mode
    if requested is not None and requested not in MODES:
        problem = f"mode: must be one of {', '.join(MODES)}"
        summary = f"{request.playbook} refused its input: {problem}."
        return Triage(valid=False, summary=summary, problems=[problem], **times)
    times["requested_mode"] = requested
    times["responder_role_arn"] = responder_role(settings, request.playbook)
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


USER_DENY_POLICY = "warden-deny-bedrock-and-credentials"
"""The inline policy ``contain-access-key`` puts on the key's owner when ``ContainUserDeny`` is on."""
CREDENTIAL_CREATION = (
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:CreateServiceSpecificCredential",
    "iam:UpdateServiceSpecificCredential",
    "iam:ResetServiceSpecificCredential",
    "sts:GetSessionToken",
    "sts:GetFederationToken",
)


class ContainmentDecision(Decision):
    keys: list[dict[str, Any]] = []
    """The keys to deactivate, each ``{"AccessKeyId": ..., "undo": <DynamoDB map>}``: the finding's, and with
    ``ContainAllUserKeys`` every other active key of its owner."""
    deny_policy: bool = False
    """Also put the inline deny of Bedrock invocation and credential creation on the owner."""
    policy_name: str = USER_DENY_POLICY
    policy_document: str = ""
    deny_undo: dict[str, Any] = Field(default_factory=lambda: dynamodb_value({}))
    done_summary: str = ""
    """What the outcome says once the actions are done, with how to undo them."""
    command: str = ""
    """The AWS CLI commands that would contain, for a dry run's notification."""


def user_deny_policy() -> dict[str, Any]:
    """Deny Bedrock invocation and every way to mint new credentials to the user and its session tokens.

    Deactivating a key does not end the temporary credentials already minted from it with GetSessionToken
    or GetFederationToken; the user's policies still apply to those, so this deny reaches them too.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "WardenDenyBedrockInvocation", "Effect": "Deny", "Action": list(BEDROCK_INVOCATION),
             "Resource": "*"},
            {"Sid": "WardenDenyCredentialCreation", "Effect": "Deny", "Action": list(CREDENTIAL_CREATION),
             "Resource": "*"},
        ],
    }  # fmt: skip


def _key_statuses(entries: list[Any]) -> dict[str, str]:
    pairs = (str(entry).partition("=") for entry in entries if isinstance(entry, str))
    return {key: status for key, _, status in pairs if key}


def decide_containment(request: ContainmentCheck, settings: ResponseConfig) -> ContainmentDecision:
    """May the playbook disable ``request.credential``, which AWS says belongs to ``request.owner_arn``? And,
    as the stack configures, the owner's other keys and an inline deny: which, with the undo of each."""
    finding, owner, user = request.finding, request.owner_arn, request.user_name
    subject = f"{request.credential} of {owner}"
    mismatch = (
        f"{request.credential} belongs to {owner}, not to the finding's principal {finding.principal}: "
        "the finding is wrong or forged, and nothing was changed."
    )
    refused = _refuse_target(
        owner,
        finding,
        settings,
        acting=f"touch {request.credential}",
        mismatch=("owner-mismatch", mismatch),
        tagged=_tagged_protected({"Tags": request.tags}),
    )
    if refused:
        return ContainmentDecision(**refused.model_dump())
    statuses = _key_statuses(request.keys)
    chosen = [request.credential] if request.active else []
    if settings.contain_all_keys:
        chosen += [key for key, status in sorted(statuses.items()) if status == "Active" and key != request.credential]
    deny = settings.contain_user_deny
    if not chosen and not deny:
        return ContainmentDecision(
            **_refuse(
                "NO_ACTION", "already-inactive", f"{subject} was already inactive; nothing was changed."
            ).model_dump()
        )
    keys = [
        {"AccessKeyId": key, "undo": dynamodb_value(
            {"api": "iam:UpdateAccessKey", "UserName": user, "AccessKeyId": key, "Status": "Active"})}
        for key in chosen
    ]  # fmt: skip
    document = json.dumps(user_deny_policy(), separators=(",", ":"))
    previous = policy_text(request.previous_deny)
    deny_undo = {"api": "iam:DeleteUserPolicy", "UserName": user, "PolicyName": USER_DENY_POLICY}
    if previous is not None:
        deny_undo = {**deny_undo, "api": "iam:PutUserPolicy", "PolicyDocument": previous}
    plan = [f"disable access key {', '.join(chosen)} of {owner}"] if chosen else []
    if deny:
        plan.append(f"deny Bedrock invocation and credential creation to {owner} (inline policy {USER_DENY_POLICY})")
    commands = [
        f"aws iam update-access-key --user-name {user} --access-key-id {key} --status Inactive" for key in chosen
    ]
    undo_commands = [
        f"aws iam update-access-key --user-name {user} --access-key-id {key} --status Active" for key in chosen
    ]
    if deny:
        commands.append(
            f"aws iam put-user-policy --user-name {user} --policy-name {USER_DENY_POLICY} "
            f"--policy-document '{document}'"
        )
        undo_commands.append(f"aws iam delete-user-policy --user-name {user} --policy-name {USER_DENY_POLICY}"
                             if previous is None else f"aws iam put-user-policy --user-name {user} --policy-name "
                             f"{USER_DENY_POLICY} --policy-document '{previous}'")  # fmt: skip
    extra = {
        "keys": keys,
        "deny_policy": deny,
        "policy_document": document,
        "deny_undo": dynamodb_value(deny_undo),
        "command": " && ".join(commands),
        "done_summary": f"Warden did: {'; '.join(plan)}. Undo: {' && '.join(undo_commands)}",
    }
    would = " and ".join(plan)
    decision = _in_mode(
        settings, request, would=would, status="CONTAINED", reason="contain", summary=f"{would[:1].upper()}{would[1:]}."
    )
    return ContainmentDecision(**decision.model_dump(), **extra)


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


def _mode(settings: ResponseConfig, request: PlaybookCheck, finding: Finding) -> tuple[Mode, str]:
    return resolve_mode(
        settings.routes,
        finding.family,
        finding.severity,
        default_mode=settings.mode,
        auto_min_severity=settings.auto_min_severity,
        requested=request.requested_mode,
    )


def _in_mode(
    settings: ResponseConfig, request: PlaybookCheck, *, would: str, status: Status, reason: str, summary: str
) -> Decision:
    """The decision to act in the finding's mode (:func:`warden.routing.resolve_mode`, resolved once): a dry run
    that says what Warden would have done (``would`` completes "Warden would have ..."), or ``act`` at once
    (``auto``) or once a person approves (``approve``), with ``summary`` saying what it will do."""
    finding: Finding = getattr(request, "finding")  # noqa: B009  every acting request carries one
    mode, why = _mode(settings, request, finding)
    if mode == "dry-run":
        return Decision(
            act=False,
            status="DRY_RUN",
            reason="below-threshold" if why.startswith("severity") else "dry-run",
            summary=f"Dry run ({why}): Warden would have {would}.",
            mode="dry-run",
            rate_limit=settings.rate_limit,
        )
    approval = mode == "approve"
    return Decision(
        act=True,
        status=status,
        reason=reason,
        summary=f"Awaiting approval ({why}): {summary}" if approval else summary,
        mode=mode,
        approval=approval,
        approval_timeout=settings.approval_timeout_seconds,
        approval_default=settings.approval_default,
        rate_limit=settings.rate_limit,
    )


class RateAnswer(BaseModel):
    over: bool
    """More automatic containments than the limit in the last two clock hours: ask a person instead."""
    count: int
    limit: int
    summary: str


def _counted(answer: Any) -> int:
    try:
        return int(answer["Attributes"]["containments"]["N"])
    except (KeyError, TypeError, ValueError):
        return 0


def check_rate(request: RateCheck, settings: ResponseConfig) -> RateAnswer:
    """Whether this automatic containment goes over the hourly limit.

    The playbook has counted it in this clock hour's counter; with the last hour's, the sum bounds the
    containments of any 60 minutes from above, so the limit holds across an hour's boundary too.
    """
    count = sum(_counted(answer) for answer in request.counts)
    limit = settings.rate_limit
    if count > limit:
        return RateAnswer(
            over=True,
            count=count,
            limit=limit,
            summary=f"Rate limit reached: {count} automatic containments in the last hour or two, more than the "
            f"{limit} allowed, so this one waits for a person (an attacker must not be able to use Warden to "
            "lock out a whole team).",
        )
    return RateAnswer(over=False, count=count, limit=limit, summary=f"{count} of {limit} automatic containments")


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
    role = request.role
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
    decision = _revocation(request, role, role_arn, settings, would)
    return RevocationDecision(**decision.model_dump(), **extra)


def _revocation(
    request: RevocationCheck, role: dict[str, Any], role_arn: str, settings: ResponseConfig, would: str
) -> Decision:
    finding = request.finding
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
    return _in_mode(
        settings,
        request,
        would=would,
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


def _recased(value: Any, first: Any) -> Any:
    """``value`` with the first letter of every member name passed through ``first``, recursively."""
    if isinstance(value, dict):
        return {first(str(k)[:1]) + str(k)[1:]: _recased(v, first) for k, v in value.items()}
    if isinstance(value, list):
        return [_recased(v, first) for v in value]
    return value


def api_case(value: Any) -> Any:
    """A Step Functions aws-sdk result (PascalCase members) in the service API's camelCase, recursively."""
    return _recased(value, str.lower)


def sfn_case(value: Any) -> Any:
    """A camelCase API structure with PascalCase members, as a Step Functions aws-sdk Task takes it."""
    return _recased(value, str.upper)


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
        decision = _in_mode(
            settings, request, would=would, status="RESTORED", reason="restore", summary=f"Warden will {would}."
        )
    return LoggingDecision(**decision.model_dump(), **extra)


# ---------------------------------------------------------------------------------------------------
# revert-policy-change
# ---------------------------------------------------------------------------------------------------

IamTargetKind = Literal["user", "role", "group"]
KIND_PASCAL: dict[str, str] = {"user": "User", "role": "Role", "group": "Group"}
REVERTING_DETECTORS = ("broad-permissions-granted", "external-trust-policy", "credentials-created-for-another-user")
CREDENTIAL_CHANGES = ("DeleteAccessKey", "DeleteLoginProfile")


class RevertPlan(BaseModel):
    """What ``revert-policy-change`` would undo, read from the finding alone (IAM confirms it next)."""

    status: Literal["FOUND", "NOT_APPLICABLE", "REFUSED_MISMATCH", "NOTHING_TO_RESTORE"]
    summary: str
    change: str = ""
    """The IAM operation that reverts (``DetachRolePolicy``, ``DeleteUserPolicy``, ``UpdateAssumeRolePolicy``,
    ``DeleteAccessKey``, ``DeleteLoginProfile``...); the playbook's branches are chosen on it."""
    target_type: str = ""
    """``user``, ``role`` or ``group``."""
    target_name: str = ""
    policy_arn: str = ""
    policy_name: str = ""
    access_key_id: str = ""


class RevertDecision(Decision):
    change: str = ""
    target_name: str = ""
    document: str = ""
    """``UpdateAssumeRolePolicy``: the trust document to put back (JSON text)."""
    undo: dict[str, Any] = Field(default_factory=lambda: dynamodb_value({}))
    """The call that undoes the revert, as a DynamoDB map; ``{"api": "none", "reason": ...}`` for a deleted
    credential, which nothing can bring back (:mod:`warden.approvals` refuses to undo it)."""
    command: str = ""
    """The AWS CLI command that reverts, for a dry run's or an approval's notification."""


def _iam_identity(arn: str) -> tuple[str, IamTargetKind, str] | None:
    """``(account, kind, name)`` of an IAM user, role or group ARN (any path; the name as written)."""
    parts = arn.strip().split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam":
        return None
    kind, _, rest = parts[5].partition("/")
    name = rest.rsplit("/", 1)[-1]
    if kind not in KIND_PASCAL or not name:
        return None
    return parts[4], kind, name  # type: ignore[return-value]


def _detail(finding: Finding, key: str) -> str:
    value = finding.details.get(key)
    return value.strip() if isinstance(value, str) else ""


def _not_applicable(finding: Finding, why: str) -> RevertPlan:
    return RevertPlan(
        status="NOT_APPLICABLE",
        summary=f"{why} revert-policy-change changed nothing; a person must judge finding {finding.id} "
        f"({finding.detector}) by hand.",
    )


def find_revert(request: RevertTargetCheck, settings: ResponseConfig) -> RevertPlan:
    """The change a finding reports, as the IAM call that reverts it, on the identity the finding names.

    The identity is always the finding's ``principal`` (sealed into the finding's id); ``details`` only say
    what was changed on it, and must name the same identity. What IAM holds now is checked afterwards by
    :func:`decide_revert`.
    """
    finding = request.finding
    identity = _iam_identity(finding.principal)
    if finding.detector not in REVERTING_DETECTORS:
        return _not_applicable(finding, f"{finding.detector} findings name no change Warden can revert safely.")
    if identity is None:
        return _not_applicable(
            finding,
            f"The finding's principal {finding.principal} is not an IAM user, role or group (for a "
            "policy version, the previous default version is not known).",
        )
    account, kind, name = identity
    if account != settings.account_id or finding.account != settings.account_id:
        return RevertPlan(
            status="REFUSED_MISMATCH",
            summary=f"{finding.principal}: the finding (account {finding.account}) or its target is not in this "
            f"stack's account {settings.account_id}; Warden acts only in its own account, and changed nothing.",
        )
    described = _detail(finding, "target") or _detail(finding, "role")
    if described and not _same_identity(described, finding.principal):
        return RevertPlan(
            status="REFUSED_MISMATCH",
            summary=f"The finding's details name {described}, not its principal {finding.principal}: it is "
            "wrong or forged, and nothing was changed.",
        )
    planned = {
        "broad-permissions-granted": _grant_revert,
        "external-trust-policy": _trust_revert,
        "credentials-created-for-another-user": _credential_revert,
    }[finding.detector]
    return planned(finding, kind, name)


def _grant_revert(finding: Finding, kind: IamTargetKind, name: str) -> RevertPlan:
    policy_arn, policy_name = _detail(finding, "policy_arn"), _detail(finding, "policy_name")
    plan = {"target_type": kind, "target_name": name}
    if policy_arn:
        summary = f"detach {policy_arn} from {kind} {name}"
        change = f"Detach{KIND_PASCAL[kind]}Policy"
        return RevertPlan(status="FOUND", summary=summary, change=change, policy_arn=policy_arn, **plan)
    if policy_name:
        summary = f"delete inline policy {policy_name} of {kind} {name}"
        change = f"Delete{KIND_PASCAL[kind]}Policy"
        return RevertPlan(status="FOUND", summary=summary, change=change, policy_name=policy_name, **plan)
    return _not_applicable(finding, "The finding names neither the policy attached nor the inline policy put.")


def _trust_revert(finding: Finding, kind: IamTargetKind, name: str) -> RevertPlan:
    if kind != "role":
        return _not_applicable(finding, f"{finding.principal} is not a role.")
    if not policy_text(finding.details.get("previous_document")):
        outside = ", ".join(map(str, finding.details.get("outside_principals") or [])) or "see the finding"
        return RevertPlan(
            status="NOTHING_TO_RESTORE",
            summary=f"Nothing to restore for role {name}: Warden never saw its trust policy before this change "
            "(the role was created with it, or before Warden's memory of it). Remove the outside principals "
            f"from its trust policy by hand ({outside}).",
        )
    summary = f"put back the previous trust policy of role {name}"
    return RevertPlan(
        status="FOUND", summary=summary, change="UpdateAssumeRolePolicy", target_type=kind, target_name=name
    )


def _credential_revert(finding: Finding, kind: IamTargetKind, name: str) -> RevertPlan:
    if kind != "user":
        return _not_applicable(finding, f"{finding.principal} is not a user.")
    credential = _detail(finding, "credential")
    if credential == "access key":
        key = finding.access_key_id or ""
        if not key or _detail(finding, "created_credential_id") not in ("", key):
            return _not_applicable(finding, "The finding does not name the access key that was created.")
        summary = f"delete access key {key} of user {name}"
        return RevertPlan(
            status="FOUND",
            summary=summary,
            change="DeleteAccessKey",
            access_key_id=key,
            target_type=kind,
            target_name=name,
        )
    if credential == "console password":
        summary = f"delete the console password of user {name}"
        return RevertPlan(
            status="FOUND", summary=summary, change="DeleteLoginProfile", target_type=kind, target_name=name
        )
    return _not_applicable(finding, "The finding does not say which credential was created.")


def _same_identity(a: str, b: str) -> bool:
    left, right = _iam_identity(a), _iam_identity(b)
    return (
        left is not None
        and right is not None
        and (left[0], left[1], left[2].lower()) == (right[0], right[1], right[2].lower())
    )


def _protected_entry(arn: str, protected: tuple[str, ...]) -> str | None:
    """The protected entry covering a user, role, session or group ARN; groups by ARN or pattern like the rest."""
    identity = _iam_identity(arn)
    if identity is None or identity[1] != "group":
        return protected_match(arn, protected)
    account, _, name = identity
    for entry in protected:
        parts = entry.strip().split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("group/"):
            continue
        wanted = parts[5].rsplit("/", 1)[-1].lower()
        if fnmatchcase(account, parts[4] or "*") and fnmatchcase(name.lower(), wanted):
            return entry
    return None


def _same_document(a: Any, b: Any) -> bool:
    """Whether two policy documents (dicts, JSON text, IAM's URL-encoded JSON) say the same thing, as JSON."""
    left, right = policy_text(a), policy_text(b)
    if left is None or right is None:
        return False
    try:
        return bool(json.loads(left) == json.loads(right))
    except ValueError:
        return left == right


def _revert_state(
    plan: RevertPlan, finding: Finding, current: dict[str, Any], target: dict[str, Any]
) -> Decision | None:
    """Refusals from what IAM holds now: already reverted (``NO_ACTION``) or changed since the finding."""
    change, name = plan.change, plan.target_name
    if change.startswith("Detach"):
        attached = [p.get("PolicyArn") for p in current.get("attached") or [] if isinstance(p, dict)]
        if plan.policy_arn not in attached:
            return _refuse(
                "NO_ACTION",
                "already-detached",
                f"{plan.policy_arn} is no longer attached to {plan.target_type} {name}; nothing was changed.",
            )
    elif change.startswith("Delete") and change.endswith("Policy"):
        document = current.get("document")
        if policy_text(document) is None:
            return _refuse(
                "NO_ACTION",
                "already-deleted",
                f"Inline policy {plan.policy_name} of {plan.target_type} {name} no longer exists; nothing was changed.",
            )
        put = finding.details.get("policy_document")
        if not _same_document(document, put):
            return _refuse(
                "REFUSED_MISMATCH",
                "changed-since",
                f"Inline policy {plan.policy_name} of "
                f"{plan.target_type} {name} is not the document the finding reports (it changed since, or "
                "the finding does not carry it): Warden changed nothing. Review it by hand.",
            )
    elif change == "UpdateAssumeRolePolicy":
        in_force = target.get("Trust")
        if _same_document(in_force, finding.details.get("previous_document")):
            return _refuse(
                "NO_ACTION",
                "already-restored",
                f"Role {name} already has its previous trust policy; nothing was changed.",
            )
        if not _same_document(in_force, finding.details.get("document")):
            return _refuse(
                "REFUSED_MISMATCH",
                "changed-since",
                f"The trust policy of role {name} is not the one the "
                "finding reports (it changed since, or the finding does not carry it): Warden changed "
                "nothing. Review it by hand.",
            )
    elif change == "DeleteAccessKey":
        keys = [k.get("AccessKeyId") if isinstance(k, dict) else k for k in current.get("keys") or []]
        if plan.access_key_id not in keys:
            return _refuse(
                "NO_ACTION",
                "already-deleted",
                f"User {name} no longer holds access key {plan.access_key_id}; nothing was changed.",
            )
    elif change == "DeleteLoginProfile" and not current.get("login_profile"):
        return _refuse("NO_ACTION", "already-deleted", f"User {name} has no console password; nothing was changed.")
    return None


def _revert_call(
    plan: RevertPlan, finding: Finding, target: dict[str, Any], current: dict[str, Any]
) -> tuple[str, dict[str, Any], str]:
    """What the revert does: (its summary, the undo record, the AWS CLI command)."""
    kind, name, change = plan.target_type, plan.target_name, plan.change
    undo: dict[str, Any]
    param = f"{KIND_PASCAL.get(kind, 'User')}Name"
    flag = f"--{kind}-name {shlex.quote(name)}"
    if change.startswith("Detach"):
        undo = {"api": f"iam:Attach{KIND_PASCAL[kind]}Policy", param: name, "PolicyArn": plan.policy_arn}
        command = f"aws iam detach-{kind}-policy {flag} --policy-arn {shlex.quote(plan.policy_arn)}"
        return f"detach {plan.policy_arn} from {kind} {name}", undo, command
    if change == "UpdateAssumeRolePolicy":
        previous = policy_text(finding.details.get("previous_document")) or ""
        undo = {
            "api": "iam:UpdateAssumeRolePolicy",
            "RoleName": name,
            "PolicyDocument": policy_text(target.get("Trust")),
        }
        command = (
            f"aws iam update-assume-role-policy --role-name {shlex.quote(name)} "
            f"--policy-document {shlex.quote(previous)}"
        )
        return f"put back the previous trust policy of role {name}", undo, command
    if change == "DeleteAccessKey":
        undo = {
            "api": "none",
            "UserName": name,
            "AccessKeyId": plan.access_key_id,
            "reason": "a deleted access key cannot be restored; create a new one if the user needs one.",
        }
        command = f"aws iam delete-access-key {flag} --access-key-id {shlex.quote(plan.access_key_id)}"
        return f"delete access key {plan.access_key_id} of user {name}", undo, command
    if change == "DeleteLoginProfile":
        undo = {
            "api": "none",
            "UserName": name,
            "reason": "a deleted console password cannot be restored; create a new one if the user needs one.",
        }
        return f"delete the console password of user {name}", undo, f"aws iam delete-login-profile {flag}"
    undo = {
        "api": f"iam:Put{KIND_PASCAL.get(kind, 'User')}Policy",
        param: name,
        "PolicyName": plan.policy_name,
        "PolicyDocument": policy_text(current.get("document")),
    }
    command = f"aws iam delete-{kind}-policy {flag} --policy-name {shlex.quote(plan.policy_name)}"
    return f"delete inline policy {plan.policy_name} of {kind} {name}", undo, command


def decide_revert(request: RevertCheck, settings: ResponseConfig) -> RevertDecision:
    """May ``revert-policy-change`` undo the change, now that IAM has described its target? With the undo.

    Protection applies to both ends of a change: a protected *target* (by entry, pattern or the
    ``warden:protected`` tag) is never touched, and a change *made by* a protected principal (or by
    Warden itself) is not undone automatically either: a break-glass administrator's grant is for a person
    to judge. Deleting a credential cannot be undone, so it is done only once a person approves: in
    ``auto`` mode the decision asks for approval instead.
    """
    finding, target = request.finding, request.target
    plan = find_revert(RevertTargetCheck(check="revert-target", playbook=request.playbook, finding=finding), settings)
    if plan.status != "FOUND":
        decision = _refuse(
            "NO_ACTION" if plan.status == "NOT_APPLICABLE" else plan.status, plan.status.lower(), plan.summary
        )
        return RevertDecision(**decision.model_dump(), change=plan.change, target_name=plan.target_name)
    target_arn = str(target.get("Arn", ""))
    what, undo, command = _revert_call(plan, finding, target, request.current)
    extra: dict[str, Any] = {
        "change": plan.change,
        "target_name": plan.target_name,
        "undo": dynamodb_value(undo),
        "command": command,
        "document": (policy_text(finding.details.get("previous_document")) or "")
        if plan.change == "UpdateAssumeRolePolicy"
        else "",
    }
    decision = (
        _revert_refusal(request, plan, target_arn, settings)
        or _revert_state(plan, finding, request.current, target)
        or _revert_mode(settings, request, plan, what)
    )
    return RevertDecision(**decision.model_dump(), **extra)


def _revert_refusal(
    request: RevertCheck, plan: RevertPlan, target_arn: str, settings: ResponseConfig
) -> Decision | None:
    finding = request.finding
    actor = _detail(finding, "actor")
    by_actor = _protected_entry(actor, settings.protected) if actor else None
    if by_actor:
        return _refuse(
            "REFUSED_PROTECTED",
            "protected-actor",
            f"The change was made by {actor}, a protected principal (entry {by_actor}): Warden does not undo a "
            "protected principal's change. A person must judge it.",
        )
    covered = _protected_entry(target_arn, settings.protected) or _protected_entry(
        finding.principal, settings.protected
    )
    if covered or _tagged_protected({"Tags": request.tags}):
        entry = f"entry {covered}" if covered else "tag warden:protected=true"
        return _refuse(
            "REFUSED_PROTECTED",
            "protected-principal",
            f"{target_arn or finding.principal} is a protected principal ({entry}): Warden refused to "
            f"{plan.summary}. Investigate by hand.",
        )
    identity = _iam_identity(target_arn)
    if identity is None or identity[0] != settings.account_id or not _same_identity(target_arn, finding.principal):
        return _refuse(
            "REFUSED_MISMATCH",
            "target-mismatch",
            f"IAM's {plan.target_type} {target_arn or plan.target_name} is not the finding's principal "
            f"{finding.principal} in this stack's account {settings.account_id}: nothing was changed.",
        )
    return None


def _revert_mode(settings: ResponseConfig, request: RevertCheck, plan: RevertPlan, what: str) -> Decision:
    """The mode's decision; a credential is deleted only with a person's approval, whatever the mode says.

    An unanswered approval to delete a credential is a rejection even when ``ApprovalDefault`` is ``approve``:
    that default is for reversible containment.
    """
    summary = f"Warden will {what}."
    decision = _in_mode(settings, request, would=what, status="REVERTED", reason="revert", summary=summary)
    if not decision.act or plan.change not in CREDENTIAL_CHANGES:
        return decision
    if not decision.approval:
        summary = (
            "Awaiting approval (deleting a credential cannot be undone, so Warden never does it without a "
            f"person, whatever the mode): {summary}"
        )
        decision = decision.model_copy(update={"mode": "approve", "approval": True, "summary": summary})
    return decision.model_copy(update={"approval_default": "reject"})


# ---------------------------------------------------------------------------------------------------
# contain-bedrock-api-key (H1)
# ---------------------------------------------------------------------------------------------------

BEARER_DENY_POLICY = "warden-deny-bedrock-bearer"
"""The inline policy ``contain-bedrock-api-key`` puts on a principal whose short-term keys must stop working."""
BEARER_ACTIONS = ("bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken")
"""What every call signed with a Bedrock API key needs, on the runtime and on the OpenAI-compatible endpoint."""
BEDROCK_SERVICE = "bedrock.amazonaws.com"
CREDENTIAL_PREFIX = "ACCA"
"""IAM's prefix of a service-specific credential id."""
API_KEY_PLAYBOOK = "contain-bedrock-api-key"
DEACTIVATE = "deactivate-credential"
DENY_USER = "deny-bearer-user"
DENY_ROLE = "deny-bearer-role"


class ApiKeyTarget(BaseModel):
    kind: Literal["user", "role"] | None
    """Which IAM principal holds or minted the key (None: nothing of this account for the playbook to ask IAM)."""
    name: str | None
    """The user's or role's name (IAM resolves its path)."""
    credential_id: str | None = None
    """The service-specific credential (``ACCA...``) the finding names; None when it names none (a short-term
    key, or a long-term key's use, which CloudTrail does not tie to a credential id)."""
    status: Literal["FOUND", "NOT_APPLICABLE", "REFUSED_MISMATCH"]
    summary: str


class ApiKeyDecision(Decision):
    action: Literal["deactivate-credential", "deny-bearer-user", "deny-bearer-role", ""] = ""
    """What the playbook does when it acts: deactivate ``credential_id``, or put the deny on the user or role."""
    user_name: str = ""
    """The IAM user whose credential is deactivated or who gets the deny (empty for a role)."""
    role_name: str = ""
    credential_id: str = ""
    policy_name: str = BEARER_DENY_POLICY
    policy_document: str = ""
    """The deny, as the JSON text ``iam:Put{User,Role}Policy`` takes (empty when the action is a deactivation)."""
    had_previous_policy: bool = False
    target_arn: str = ""
    """The principal as IAM names it (path included)."""
    undo: dict[str, Any] = Field(default_factory=lambda: dynamodb_value({}))
    """The call that undoes the action, as a DynamoDB map for the incident's action record."""
    command: str = ""
    """The AWS CLI command that would act, for a dry run's notification."""


def api_key_credential(finding: Finding) -> str | None:
    """The service-specific credential id a finding names: its ``access_key_id``, else ``details``'."""
    for candidate in (finding.access_key_id, finding.details.get("service_specific_credential_id")):
        if isinstance(candidate, str) and candidate.startswith(CREDENTIAL_PREFIX):
            return candidate
    return None


def find_api_key(request: ApiKeyTargetCheck, settings: ResponseConfig) -> ApiKeyTarget:
    """Whose Bedrock API key a finding reports: a user (long-term keys live on users; a user can also mint
    short-term ones) or a role (an assumed-role session mints short-term keys only), in this account."""
    finding, principal = request.finding, request.finding.principal
    credential = api_key_credential(finding)
    if credential is None and finding.playbook != API_KEY_PLAYBOOK:
        return ApiKeyTarget(
            kind=None,
            name=None,
            status="NOT_APPLICABLE",
            summary=f"The finding is not about a Bedrock API key, so {request.playbook} changed nothing. "
            f"Recommended playbook: {finding.playbook}.",
        )
    ref = PrincipalRef.parse(principal)
    parts = principal.strip().split(":", 5)
    kind = ref.kind if ref is not None and ref.kind != "root" else None
    if kind is None or (kind == "role" and credential is not None):
        what = "a service-specific credential belongs to an IAM user" if kind else "it names no IAM user or role"
        return ApiKeyTarget(
            kind=None,
            name=None,
            status="NOT_APPLICABLE",
            summary=f"The finding's principal {principal} cannot be contained by {request.playbook} ({what}); "
            f"nothing was changed. Recommended playbook: {finding.playbook}. Investigate by hand.",
        )
    if parts[4] != settings.account_id or finding.account != settings.account_id:
        return ApiKeyTarget(
            kind=None,
            name=None,
            status="REFUSED_MISMATCH",
            summary=f"{principal}: the finding (account {finding.account}) or its principal is not in this stack's "
            f"account {settings.account_id}; Warden acts only in its own account, and changed nothing.",
        )
    resource = parts[5].partition("/")[2]
    name = resource.split("/", 1)[0] if parts[2] == "sts" else resource.rsplit("/", 1)[-1]
    return ApiKeyTarget(kind=kind, name=name, credential_id=credential, status="FOUND", summary=f"{kind} {name}")


def bearer_deny_policy() -> dict[str, Any]:
    """Deny every call signed with a Bedrock API key: the principal's other permissions are untouched."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "WardenDenyBedrockApiKeys", "Effect": "Deny", "Action": list(BEARER_ACTIONS), "Resource": "*"}
        ],
    }


def _bedrock_credentials(listed: Any) -> list[dict[str, Any]]:
    """The user's Bedrock credentials (``ServiceSpecificCredentialId``, ``Status``) from the playbook's two lists.

    The playbook keeps only ids and statuses of ListServiceSpecificCredentials' answer (listed for the user and
    Bedrock alone): lists that do not pair up are read as no credential, so nothing is deactivated on a guess.
    """
    lists = listed if isinstance(listed, dict) else {}
    ids, statuses = lists.get("ids"), lists.get("statuses")
    if not isinstance(ids, list) or not isinstance(statuses, list) or len(ids) != len(statuses):
        return []
    return [{"ServiceSpecificCredentialId": str(i), "Status": str(s)} for i, s in zip(ids, statuses, strict=True)]


def decide_api_key(request: ApiKeyContainmentCheck, settings: ResponseConfig) -> ApiKeyDecision:
    """May the playbook contain the key, and how? With the call that undoes it.

    A long-term key named by the finding is deactivated; without an id, a user's one active Bedrock
    credential is. Otherwise (a role's or a user's short-term keys, or several active credentials of which
    CloudTrail does not say which one was used) every call signed with an API key is denied to the principal.
    """
    finding, principal = request.finding, request.principal
    kind = str(request.target.get("kind"))
    arn, name = str(principal.get("Arn", "")), str(principal.get("Name", ""))
    refused = _refuse_target(
        arn,
        finding,
        settings,
        acting="contain its Bedrock API keys",
        tagged=_tagged_protected(principal),
        mismatch=("principal-mismatch", f"IAM's {kind} {arn} is not the finding's principal {finding.principal}: "
                  "nothing was changed."),
    )  # fmt: skip
    if refused:
        return ApiKeyDecision(**refused.model_dump(), target_arn=arn)
    if kind == "role" and str(principal.get("Path", "/")).startswith(SERVICE_LINKED_PATH):
        decision = _refuse(
            "REFUSED_PROTECTED",
            "service-linked-role",
            f"{arn} is a service-linked role, which takes no inline policy: Warden changed nothing. "
            "Investigate by hand.",
        )
        return ApiKeyDecision(**decision.model_dump(), target_arn=arn)
    if kind == "user":
        credentials = _bedrock_credentials(request.credentials)
        named = request.target.get("credential_id")
        if isinstance(named, str) and named:
            return _deactivation(request, settings, name, arn, named, credentials)
        active = [c for c in credentials if c.get("Status") == "Active"]
        if len(active) == 1:
            only = str(active[0].get("ServiceSpecificCredentialId"))
            return _deactivation(request, settings, name, arn, only, active)
        why = (
            f"it holds {len(active)} active Bedrock API keys and CloudTrail does not say which one was used"
            if active
            else "it holds no active long-term Bedrock API key, so the key was a short-term one it minted"
        )
        return _bearer_deny(request, settings, kind, name, arn, why)
    why = "its sessions mint short-term keys, which IAM cannot revoke one by one"
    return _bearer_deny(request, settings, "role", name, arn, why)


def _deactivation(
    request: ApiKeyContainmentCheck,
    settings: ResponseConfig,
    user: str,
    arn: str,
    credential_id: str,
    credentials: list[dict[str, Any]],
) -> ApiKeyDecision:
    finding = request.finding
    undo = {
        "api": "iam:UpdateServiceSpecificCredential",
        "UserName": user,
        "ServiceSpecificCredentialId": credential_id,
        "Status": "Active",
    }
    extra: dict[str, Any] = {
        "action": DEACTIVATE,
        "user_name": user,
        "credential_id": credential_id,
        "target_arn": arn,
        "undo": dynamodb_value(undo),
        "command": f"aws iam update-service-specific-credential --user-name {user} "
        f"--service-specific-credential-id {credential_id} --status Inactive",
    }
    subject = f"Bedrock API key {credential_id} of {arn}"
    found = next((c for c in credentials if c.get("ServiceSpecificCredentialId") == credential_id), None)
    if found is None:
        decision = _refuse(
            "REFUSED_MISMATCH",
            "credential-mismatch",
            f"IAM lists no Bedrock API key {credential_id} for {arn}, the finding's principal "
            f"{finding.principal}: it belongs to another user or no longer exists. The finding is wrong or "
            "forged, and nothing was changed.",
        )
    elif found.get("Status") != "Active":
        decision = _refuse(
            "NO_ACTION", "already-inactive", f"{subject} was already {found.get('Status')}; nothing was changed."
        )
    else:
        decision = _in_mode(
            settings,
            request,
            would=f"deactivated {subject}",
            status="CONTAINED",
            reason="deactivate",
            summary=f"Deactivate {subject}: calls signed with it are refused. The key is not deleted.",
        )
    return ApiKeyDecision(**decision.model_dump(), **extra)


def _bearer_deny(
    request: ApiKeyContainmentCheck,
    settings: ResponseConfig,
    kind: str,
    name: str,
    arn: str,
    why: str,
) -> ApiKeyDecision:
    document = json.dumps(bearer_deny_policy(), separators=(",", ":"))
    previous = policy_text(request.previous_document)
    key = "UserName" if kind == "user" else "RoleName"
    undo: dict[str, Any] = {"api": f"iam:Delete{kind.title()}Policy", key: name, "PolicyName": BEARER_DENY_POLICY}
    if previous is not None:
        undo = {**undo, "api": f"iam:Put{kind.title()}Policy", "PolicyDocument": previous}
    extra: dict[str, Any] = {
        "action": DENY_USER if kind == "user" else DENY_ROLE,
        "user_name": name if kind == "user" else "",
        "role_name": name if kind == "role" else "",
        "policy_document": document,
        "had_previous_policy": previous is not None,
        "target_arn": arn,
        "undo": dynamodb_value(undo),
        "command": f"aws iam put-{kind}-policy --{kind}-name {name} --policy-name {BEARER_DENY_POLICY} "
        f"--policy-document '{document}'",
    }
    if previous is not None and _same_document(previous, bearer_deny_policy()):
        decision = _refuse(
            "NO_ACTION",
            "already-denied",
            f"{arn} already holds {BEARER_DENY_POLICY}: its Bedrock API keys are refused; nothing was changed.",
        )
        return ApiKeyDecision(**decision.model_dump(), **extra)
    would = f"denied every Bedrock API key call to {arn} ({why})"
    decision = _in_mode(
        settings,
        request,
        would=would,
        status="CONTAINED",
        reason="deny-bearer",
        summary=f"Deny every call signed with a Bedrock API key to {arn} ({why}): its short-term keys die with "
        "this deny, legitimate ones included; its other permissions are untouched.",
    )
    return ApiKeyDecision(**decision.model_dump(), **extra)


# --- end of contain-bedrock-api-key (H1) ---


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
    elif isinstance(request, RateCheck):
        answer = check_rate(request, settings)
    elif isinstance(request, RevertTargetCheck):
        answer = find_revert(request, settings)
    elif isinstance(request, RevertCheck):
        answer = decide_revert(request, settings)
    # --- Notifications (H4): what a Notify state publishes, composed in warden.notify.compose ---
    elif isinstance(request, NotificationCheck):
        answer = compose_notification(request)
    # --- end of Notifications (H4) ---
    # --- contain-bedrock-api-key (H1) ---
    elif isinstance(request, ApiKeyTargetCheck):
        answer = find_api_key(request, settings)
    elif isinstance(request, ApiKeyContainmentCheck):
        answer = decide_api_key(request, settings)
    # --- end of contain-bedrock-api-key (H1) ---
    else:
        answer = decide_containment(request, settings)
    return answer.model_dump(mode="json")
