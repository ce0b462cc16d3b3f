"""cross-account: access to this account's roles, resources and models from outside the deployer's trust.

"Trusted" (see :mod:`warden.detectors._trust`): the deployer's account (``settings.account_id``, or the
record's own account), ``settings.trusted_accounts``, AWS service principals acting for a trusted
account, and any principal a statement restricts to ``settings.organization_id``
(``aws:PrincipalOrgID``/``aws:PrincipalOrgPaths``) or to trusted accounts. A named outside account counts
as much as ``*``. Failed calls change nothing and are ignored.

external-trust-policy
    *What*: a role trust policy created or replaced (iam ``CreateRole``, ``UpdateAssumeRolePolicy``) so
    that a principal outside the trusted set may assume the role: ``*``, an outside account, a user or
    role of one, a service acting for one, or a federated provider anyone can get a token from (an OIDC
    provider of a shared issuer such as GitHub Actions with no ``sub`` condition, Google or Cognito
    without an audience).
    *Why*: it is the classic persistence backdoor (Stratus ``iam-backdoor-role``): it survives the
    rotation of every key, and the attacker then assumes the role from their own account. Panther's rule
    catches ``*`` only and so misses a named account, which is what attackers use.
    *When*: on each such call whose policy lets in an outsider that the role's previous trust policy,
    when Warden saw it, did not already let in. Severity CRITICAL when anyone can assume the role with
    no condition at all (``*``, or a shared OIDC issuer without ``sub``); HIGH for an outside account,
    a service acting for one, or ``*`` behind a condition that does not restore trust (``sts:ExternalId``,
    a source IP); MEDIUM for a private OIDC provider without a ``sub`` condition (any workload of that
    issuer, e.g. any pod of an EKS cluster).
    *Principal*: the role (its ARN); the caller is ``details.actor``.
    *Playbook*: ``revert-policy-change``; ``details.previous_document`` is the trust policy to restore
    when Warden saw one (None otherwise: the playbook then changes nothing and asks a person to remove the
    listed principals), ``details.document`` the one this call set (compact JSON), which the playbook
    checks is still in force before restoring.
    *State*: :class:`TrustHistory` per role (keyed by ``arn:...:role/<lower-case name>``, so the path and
    letter case do not matter): the last :data:`MAX_VERSIONS` trust documents by event time, each
    compacted and kept only up to :data:`MAX_DOCUMENT_CHARS`, for :data:`BASELINE_RETENTION`.

assume-role-from-new-account
    *What*: sts ``AssumeRole`` into a role of this account by a principal of an outside account that
    never assumed that role before. In the role's account CloudTrail records the caller as
    ``userIdentity.type: AWSAccount`` with the caller's ``accountId`` and ``principalId`` (no ARN),
    ``requestParameters.roleArn``, ``responseElements.assumedRoleUser``, a ``sharedEventID``, and
    ``readOnly: true``: the EventBridge rule must be in state ``ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS``.
    ``AssumeRoleWithWebIdentity`` and ``AssumeRoleWithSAML`` carry no caller account and are not read
    (their holes are in the trust policy, which external-trust-policy judges).
    *Why*: the use of a backdoor, or a vendor's or partner's role used from an account it was not
    meant for. Only Splunk's deprecated search covers it among the peers.
    *When*: the first successful assumption of a role by an account outside the trusted set, once the
    role's baseline is warm: a role Warden saw created has no warm-up; for another role, assumptions in
    the first ``settings.baseline_warmup`` after Warden first saw the role only learn. Trusted accounts
    never count, nor does an outside account that can only have come in through an organization
    condition of the role's trust policy (org-wide trust, the account not named), when Warden saw that
    policy. An assumption that arrives before the role's creation is reported when the creation
    arrives; assumptions dated before the role's latest creation were of a deleted namesake and are
    forgotten. Only successful calls count (a refused cross-account attempt need not be logged in the
    role's account). MEDIUM: HIGH when the role holds broad permissions would need a lookup of its
    policies, which a pure detector cannot make.
    *Principal*: the role; the caller's account and principal id are in ``details``.
    *Playbook*: ``revoke-role-sessions`` (revoke the role's sessions issued so far).
    *State*: :class:`RoleCallers` per role: when Warden first saw it and saw it created, a summary of its
    trust policy, and per outside account first and last seen (at most :data:`MAX_CALLERS`, the least
    recently seen evicted first), for :data:`BASELINE_RETENTION` after the role's newest event.

external-resource-policy
    *What*: a resource policy or grant letting an outside account or everyone in: S3 ``PutBucketPolicy``
    and ``PutBucketAcl`` (AllUsers, AuthenticatedUsers, or a canonical user other than the owner); KMS
    ``PutKeyPolicy``, ``CreateKey`` with a policy, and ``CreateGrant`` to an outside principal; Bedrock
    ``PutResourcePolicy`` (guardrails and guardrail profiles, ``requestParameters.resourceArn`` and
    ``resourcePolicy``). A Deny-only policy, an organization- or account-conditioned grant, and a service
    principal whose ``aws:SourceAccount``/``aws:SourceArn`` name a trusted account are fine; a service
    principal whose source condition names an outside account is not.
    *Why*: the way data leaves without anyone's credentials: the bucket of model-invocation logs (prompts
    and completions), the keys that decrypt them, a guardrail's configuration.
    *When*: on each such call that lets in an outsider. HIGH for the invocation-log bucket
    (``settings.invocation_log_bucket``) or for anyone with no condition at all (public); MEDIUM otherwise.
    *Principal*: the resource (bucket, key or Bedrock resource ARN); the caller is ``details.actor``.
    *Playbook*: ``revert-policy-change``. *State*: none.

untrusted-model-or-data-source
    *What*: Bedrock reading content from a bucket owned by an untrusted account: a knowledge-base data
    source (``CreateDataSource``/``UpdateDataSource``, ``s3Configuration.bucketOwnerAccountId``), a
    custom-model import (``CreateModelImportJob``), a customization job (``CreateModelCustomizationJob``:
    training and validation data, or a base model ARN of another account).
    *Why*: an outside bucket's owner decides what the knowledge base retrieves (RAG poisoning), what the
    model is trained on, or which weights run in this account.
    *When*: HIGH for a knowledge-base source or an imported model from an untrusted owner, MEDIUM for
    customization data or a base model of one. An S3 URI names a bucket, not its owner: unless it is an
    access-point ARN (which names the account), Warden does not guess. An import or customization job
    whose source owner the event does not reveal is a LOW finding saying what is needed to judge it
    (the bucket's owner: ``s3:GetBucketAcl`` or a ``HeadBucket`` with ``x-amz-expected-bucket-owner``,
    or an allow-list of the account's buckets). A data source without ``bucketOwnerAccountId`` is in
    the account's own bucket (Bedrock asks for the owner only for another account's bucket).
    *Principal*: the knowledge base or the job; the caller is ``details.actor``.
    *Playbook*: none (notify only). *State*: none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from warden.detectors._policy import compact_document
from warden.detectors._trust import ASSUME_ACTIONS, Exposure, Trust, exposures, organization_admission
from warden.detectors.registry import Differs, Outcome, detector, event_finding, shifted
from warden.models import CloudTrailRecord, Family, Finding, Severity
from warden.models.wire import Name, truncated
from warden.policy_documents import ACCOUNT_ID, Statement, parse, principal_account
from warden.settings import Settings

IAM = "iam.amazonaws.com"
STS = "sts.amazonaws.com"
S3 = "s3.amazonaws.com"
KMS = "kms.amazonaws.com"
BEDROCK = "bedrock.amazonaws.com"

TRUST_DOCUMENT_FIELDS = {"CreateRole": "assumeRolePolicyDocument", "UpdateAssumeRolePolicy": "policyDocument"}
TRUST_CHANGES = frozenset({(IAM, name) for name in TRUST_DOCUMENT_FIELDS})
BASELINE_RETENTION = timedelta(days=90)
MAX_VERSIONS = 4
MAX_DOCUMENT_CHARS = 10_240
"""A trust policy is at most 4,096 characters without whitespace (IAM's raised quota): compacted, it fits."""
MAX_CALLERS = 200
MAX_NAMED_ACCOUNTS = 50
RESOLUTION = timedelta(days=1)
"""A known caller's last-seen time is written again only when it moved by this much: a cross-account
job assuming a role every minute costs a write a day, not one per call."""
MAX_LISTED = 20
ASSUME_ROLE_DETECTOR = "assume-role-from-new-account"
ROLE_PERMISSIONS = "not evaluated: a detector makes no lookups, so a broadly privileged role is not ranked higher"
MAX_TITLE_LABELS = 5

Document = Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)]


# ------------------------------------------------------------------------------------------ helpers


def _get(value: object, *path: str) -> object:
    """``value[path[0]][path[1]]...``, or None as soon as a step is not an object or lacks the key."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: object, limit: int = 256) -> str | None:
    return truncated(value, limit) if isinstance(value, str) and value else None


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _arn_parts(arn: object) -> list[str] | None:
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    return parts if len(parts) == 6 and parts[0] == "arn" else None


def _parse(document: object) -> list[Statement] | None:
    """The statements of a policy document; None if unreadable (a nesting too deep for ``json`` too)."""
    try:
        return parse(document)
    except RecursionError:
        return None


def _compact(document: object) -> str | None:
    """The document as compact JSON to keep, or None when unreadable or too long to keep."""
    kept = compact_document(document)
    return kept if kept is not None and len(kept) <= MAX_DOCUMENT_CHARS else None


def _actor(record: CloudTrailRecord) -> dict[str, Any]:
    identity = record.user_identity
    return {
        "actor": identity.arn or identity.issuer_arn or identity.principal_id or identity.invoked_by,
        "actor_type": identity.type,
        "actor_access_key_id": identity.access_key_id,
        "source_ip": _text(record.source_ip_address),
        "user_agent": _text(record.user_agent, 512),
    }


def _labels(found: Iterable[Exposure]) -> list[str]:
    return sorted({truncated(e.label, 256) for e in found})[:MAX_LISTED]


def _listed(labels: list[str]) -> str:
    shown = ", ".join(labels[:MAX_TITLE_LABELS])
    return shown + (f" and {len(labels) - MAX_TITLE_LABELS} more" if len(labels) > MAX_TITLE_LABELS else "")


def _exposure_details(found: list[Exposure]) -> dict[str, Any]:
    return {
        "outside_principals": sorted({truncated(e.principal, 256) for e in found})[:MAX_LISTED],
        "outside_accounts": sorted({e.account for e in found if e.account})[:MAX_LISTED],
        "public": any(e.open for e in found),
        "exposures": [
            {"reach": e.reach, "principal": truncated(e.principal, 256), "account": e.account, "conditions": e.guarded}
            for e in found[:MAX_LISTED]
        ],
    }


def _finding(record: CloudTrailRecord, **fields: Any) -> Finding:
    return event_finding(
        record,
        family=Family.CROSS_ACCOUNT,
        **fields,
    )


# ------------------------------------------------------------------------------- role trust policies


@dataclass(frozen=True)
class TrustChange:
    """A role's trust policy as a CreateRole or UpdateAssumeRolePolicy call sets it."""

    role_arn: str
    key: str
    role_name: str
    document: object
    created: bool


def _role_key(partition: str, account: str, name: str) -> str:
    """The state key of a role: IAM role names are unique per account whatever their path and letter case."""
    return f"arn:{partition}:iam::{account}:role/{name.lower()}"


def _trust_change(record: CloudTrailRecord) -> TrustChange | None:
    document_field = TRUST_DOCUMENT_FIELDS.get(record.event_name) if record.event_source == IAM else None
    params = record.request_parameters or {}
    name = params.get("roleName")
    if document_field is None or not isinstance(name, str) or not name:
        return None
    partition = _partition(record.aws_region)
    arn = _get(record.response_elements, "role", "arn")
    role_arn = arn if _arn_parts(arn) else f"arn:{partition}:iam::{record.account}:role/{name}"
    return TrustChange(
        role_arn=str(role_arn),
        key=_role_key(partition, record.account, name),
        role_name=name,
        document=params.get(document_field),
        created=record.event_name == "CreateRole",
    )


class TrustVersion(BaseModel):
    model_config = ConfigDict(defer_build=True)

    event_id: Name
    time: datetime
    created: bool = False
    document: Document | None = None
    """Compact JSON; None when unreadable or too long to keep."""


class TrustHistory(BaseModel):
    model_config = ConfigDict(defer_build=True)

    versions: list[TrustVersion] = Field(default_factory=list)
    """In event-time order (a CreateRole before a change of the same second)."""


def _version_order(version: TrustVersion) -> tuple[datetime, int, str]:
    return version.time, 0 if version.created else 1, version.event_id


def shrink_history(history: TrustHistory) -> TrustHistory:
    """The newest half of the remembered trust documents (at least one)."""
    keep = max(1, len(history.versions) // 2)
    return history.model_copy(update={"versions": history.versions[-keep:]})


def _trust_key(record: CloudTrailRecord) -> str | None:
    change = _trust_change(record)
    return change.key if change else None


def _trust_severity(found: list[Exposure]) -> Severity:
    if any(e.open for e in found):
        return Severity.CRITICAL
    if any(e.reach != "federated" for e in found):
        return Severity.HIGH
    return Severity.MEDIUM


@detector(
    name="external-trust-policy",
    family=Family.CROSS_ACCOUNT,
    state=TrustHistory,
    consumes=TRUST_CHANGES,
    key=_trust_key,
    retention=BASELINE_RETENTION,
    shrink=shrink_history,
)
def external_trust_policy(record: CloudTrailRecord, state: TrustHistory, settings: Settings) -> Outcome[TrustHistory]:
    """A role trust policy now lets in a principal outside the trusted accounts and organization."""
    change = _trust_change(record)
    if change is None or not record.succeeded or any(v.event_id == record.event_id for v in state.versions):
        return Outcome()
    version = TrustVersion(
        event_id=record.event_id, time=record.event_time, created=change.created, document=_compact(change.document)
    )
    previous = [v for v in state.versions if _version_order(v) < _version_order(version)]
    versions = sorted([*state.versions, version], key=_version_order)[-MAX_VERSIONS:]
    remembered = TrustHistory(versions=versions)
    statements = _parse(change.document)
    if statements is None:
        return Outcome(state=remembered)
    trust = Trust.of(settings, record.account)
    found = exposures(statements, trust, ASSUME_ACTIONS)
    before = previous[-1].document if previous else None
    before_statements = _parse(before) if before else None
    if before_statements is not None:
        known = {(e.reach, e.principal) for e in exposures(before_statements, trust, ASSUME_ACTIONS)}
        found = [e for e in found if (e.reach, e.principal) not in known]
    if not found:
        return Outcome(state=remembered)
    labels = _labels(found)
    finding = _finding(
        record,
        detector="external-trust-policy",
        severity=_trust_severity(found),
        title=f"Role {truncated(change.role_name, 64)} can now be assumed from outside: {_listed(labels)}",
        principal=change.role_arn,
        playbook="revert-policy-change",
        details={
            "role": change.role_arn,
            "change": record.event_name,
            **_exposure_details(found),
            **_actor(record),
            "previous_document": before,
            "previous_document_known": before is not None,
            "document": version.document,
        },
    )
    return Outcome(findings=(finding,), state=remembered)


# -------------------------------------------------------------------------- AssumeRole from outside


@dataclass(frozen=True)
class Assumption:
    role_arn: str
    key: str
    caller_account: str


def _assumption(record: CloudTrailRecord) -> Assumption | None:
    """An AssumeRole into a role of the record's account by a caller of another account."""
    if record.event_source != STS or record.event_name != "AssumeRole":
        return None
    role_arn = (record.request_parameters or {}).get("roleArn")
    parts = _arn_parts(role_arn)
    if parts is None or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    account, name = parts[4], parts[5].rsplit("/", 1)[-1]
    caller = record.user_identity.account_id
    if account != record.account or not caller or caller == account or not name:
        return None
    return Assumption(role_arn=str(role_arn), key=_role_key(parts[1], account, name), caller_account=caller)


OUTSIDE_CALLER = Differs("userIdentity.accountId", "recipientAccountId")
"""What :func:`_assumption` requires: a caller account, a recipient account, and not the same one."""


class Caller(BaseModel):
    model_config = ConfigDict(defer_build=True)

    first_seen: datetime
    last_seen: datetime
    event_id: Name
    alerted: bool = False
    """False: learned while the role's baseline was warming up."""


class RoleCallers(BaseModel):
    model_config = ConfigDict(defer_build=True)

    observed_since: datetime | None = None
    """The earliest event of the role Warden saw: the warm-up runs from here."""
    created_at: datetime | None = None
    """When Warden saw the role (its latest namesake) created: a new role has no history to learn, so no
    warm-up; assumptions dated before it were of a deleted role of the same name and are forgotten."""
    trust_time: datetime | None = None
    trust_org_wide: bool = False
    trust_named: list[Name] = Field(default_factory=list)
    callers: dict[Name, Caller] = Field(default_factory=dict)


def shrink_callers(state: RoleCallers) -> RoleCallers:
    """The most recently seen half of the outside accounts."""
    ranked = sorted(state.callers.items(), key=lambda item: (item[1].last_seen, item[0]))
    kept = dict(ranked[len(ranked) // 2 :])
    return state.model_copy(update={"callers": kept})


def _callers_key(record: CloudTrailRecord) -> str | None:
    if record.event_source == IAM:
        return _trust_key(record)
    assumption = _assumption(record)
    return assumption.key if assumption else None


def _earliest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None else min(current, at)


def _learn_trust(record: CloudTrailRecord, state: RoleCallers, settings: Settings) -> Outcome[RoleCallers]:
    """Learn the role's creation and trust policy; report assumptions that were learned only for want of them."""
    change = _trust_change(record)
    if change is None or not record.succeeded:
        return Outcome()
    trust = Trust.of(settings, record.account)
    update: dict[str, Any] = {"observed_since": _earliest(state.observed_since, record.event_time)}
    if change.created and (state.created_at is None or record.event_time > state.created_at):
        # The role's latest incarnation: callers seen only before it assumed a deleted namesake (or nothing).
        callers = {a: c for a, c in state.callers.items() if c.last_seen >= record.event_time}
        update |= {"created_at": record.event_time, "callers": callers}
    if state.trust_time is None or record.event_time >= state.trust_time:
        org_wide, named = organization_admission(_parse(change.document) or [], trust)
        update |= {"trust_time": record.event_time, "trust_org_wide": org_wide}
        update["trust_named"] = sorted(named)[:MAX_NAMED_ACCOUNTS]
    updated = state.model_copy(update=update)
    if updated == state:
        return Outcome()
    late = [
        (account, caller)
        for account, caller in updated.callers.items()
        if not caller.alerted
        and not _learning(updated, caller.first_seen, settings)
        and not trust.account(account)
        and not _in_organization(updated, account)
    ]
    if not late:
        return Outcome(state=updated)
    callers = {**updated.callers, **{account: c.model_copy(update={"alerted": True}) for account, c in late}}
    findings = tuple(_late_finding(record, change.role_arn, account, caller, updated) for account, caller in late)
    return Outcome(findings=findings, state=updated.model_copy(update={"callers": callers}))


def _late_finding(record: CloudTrailRecord, role_arn: str, account: str, caller: Caller, state: RoleCallers) -> Finding:
    """An assumption learned only because the role's creation arrived after it: reported now, from memory."""
    return Finding.build(
        detector=ASSUME_ROLE_DETECTOR,
        evidence=[caller.event_id],
        family=Family.CROSS_ACCOUNT,
        severity=Severity.MEDIUM,
        title=_assumption_title(role_arn, account),
        principal=role_arn,
        account=record.account,
        region=record.aws_region,
        first_seen=caller.first_seen,
        last_seen=caller.last_seen,
        playbook="revoke-role-sessions",
        details={
            "role": role_arn,
            "caller_account": account,
            "known_outside_accounts": len(state.callers) - 1,
            "role_created_after_warden": True,
            "reported_late": "the role's creation arrived after its assumption; session details are in the evidence",
            "role_permissions": ROLE_PERMISSIONS,
        },
    )


def _assumption_title(role_arn: str, account: str) -> str:
    role_name = role_arn.rsplit("/", 1)[-1]
    return f"Role {truncated(role_name, 64)} assumed from account {account} for the first time"


def _learning(state: RoleCallers, at: datetime, settings: Settings) -> bool:
    if state.created_at is not None and at >= state.created_at:
        return False
    since = state.observed_since or at
    return at < shifted(since, settings.baseline_warmup)


def _in_organization(state: RoleCallers, account: str) -> bool:
    """The role admits outside accounts only through an organization condition, and does not name this one."""
    return state.trust_time is not None and state.trust_org_wide and account not in state.trust_named


def _seen_again(state: RoleCallers, account: str, record: CloudTrailRecord, since: datetime) -> Outcome[RoleCallers]:
    known = state.callers[account]
    at = record.event_time
    first, last = min(known.first_seen, at), max(known.last_seen, at)
    if first == known.first_seen and last - known.last_seen < RESOLUTION and since == state.observed_since:
        return Outcome()  # nothing worth a write (a redelivery, or a caller seen recently)
    event_id = record.event_id if at < known.first_seen else known.event_id
    caller = known.model_copy(update={"first_seen": first, "last_seen": last, "event_id": event_id})
    callers = {**state.callers, account: caller}
    return Outcome(state=state.model_copy(update={"observed_since": since, "callers": callers}))


def _evicted(callers: dict[str, Caller]) -> dict[str, Caller]:
    if len(callers) <= MAX_CALLERS:
        return callers
    ranked = sorted(callers.items(), key=lambda item: (item[1].last_seen, item[0]))
    return dict(ranked[len(ranked) - MAX_CALLERS :])


@detector(
    name=ASSUME_ROLE_DETECTOR,
    family=Family.CROSS_ACCOUNT,
    state=RoleCallers,
    consumes=frozenset({(STS, "AssumeRole"), *TRUST_CHANGES}),
    key=_callers_key,
    retention=BASELINE_RETENTION,
    shrink=shrink_callers,
    where={(STS, "AssumeRole"): OUTSIDE_CALLER},
)
def assume_role_from_new_account(
    record: CloudTrailRecord, state: RoleCallers, settings: Settings
) -> Outcome[RoleCallers]:
    """A role of this account assumed by an outside account that never assumed it before."""
    if record.event_source == IAM:
        return _learn_trust(record, state, settings)
    assumption = _assumption(record)
    if assumption is None or not record.succeeded:
        return Outcome()
    account = assumption.caller_account
    if Trust.of(settings, record.account).account(account) or _in_organization(state, account):
        return Outcome()
    if state.created_at is not None and record.event_time < state.created_at:
        return Outcome()  # an assumption of a deleted namesake of the role, arriving late
    since = _earliest(state.observed_since, record.event_time)
    if account in state.callers:
        return _seen_again(state, account, record, since)
    warming = _learning(state.model_copy(update={"observed_since": since}), record.event_time, settings)
    caller = Caller(
        first_seen=record.event_time, last_seen=record.event_time, event_id=record.event_id, alerted=not warming
    )
    updated = state.model_copy(
        update={"observed_since": since, "callers": _evicted({**state.callers, account: caller})}
    )
    if warming:
        return Outcome(state=updated)
    return Outcome(findings=(_assumption_finding(record, assumption, state),), state=updated)


def _assumption_finding(record: CloudTrailRecord, assumption: Assumption, state: RoleCallers) -> Finding:
    params = record.request_parameters or {}
    identity = record.user_identity
    return _finding(
        record,
        detector=ASSUME_ROLE_DETECTOR,
        severity=Severity.MEDIUM,
        title=_assumption_title(assumption.role_arn, assumption.caller_account),
        principal=assumption.role_arn,
        playbook="revoke-role-sessions",
        details={
            "role": assumption.role_arn,
            "caller_account": assumption.caller_account,
            "caller_principal_id": identity.principal_id,
            "caller_identity_type": identity.type,
            "session_name": _text(params.get("roleSessionName"), 64),
            "source_identity": _text(params.get("sourceIdentity"), 64),
            "external_id_given": bool(params.get("externalId")),
            "assumed_role_session": _text(_get(record.response_elements, "assumedRoleUser", "arn"), 2048),
            "session_access_key_id": _text(_get(record.response_elements, "credentials", "accessKeyId"), 128),
            "source_ip": _text(record.source_ip_address),
            "user_agent": _text(record.user_agent, 512),
            "known_outside_accounts": len(state.callers),
            "role_created_after_warden": state.created_at is not None,
            "role_permissions": ROLE_PERMISSIONS,
        },
    )


# ---------------------------------------------------------------------------- resource policies


@dataclass(frozen=True)
class ResourceGrant:
    """What a resource-policy call lets in."""

    kind: str
    arn: str
    name: str
    found: list[Exposure]
    extra: dict[str, Any] = field(default_factory=dict)


ACL_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
}
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
GRANT_HEADERS = ("x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp")
GRANT_HEADERS_FULL = (*GRANT_HEADERS, "x-amz-grant-full-control")


def _strings(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _bucket(record: CloudTrailRecord) -> tuple[str, str] | None:
    name = (record.request_parameters or {}).get("bucketName")
    if not isinstance(name, str) or not name:
        return None
    return f"arn:{_partition(record.aws_region)}:s3:::{name}", name


def _bucket_policy(record: CloudTrailRecord, trust: Trust) -> ResourceGrant | None:
    bucket = _bucket(record)
    statements = _parse((record.request_parameters or {}).get("bucketPolicy"))
    if bucket is None or statements is None:
        return None
    return ResourceGrant("S3 bucket", *bucket, exposures(statements, trust))


def _acl_grantee(grantee: object, owner: object) -> Exposure | None:
    if not isinstance(grantee, dict):
        return None
    group = ACL_GROUPS.get(str(grantee.get("URI")))
    grantee_type = str(grantee.get("xsi:type") or grantee.get("Type") or "")
    if group:
        return Exposure("everyone", group, open=True)
    if grantee_type == "AmazonCustomerByEmail":
        return Exposure("grantee", "AmazonCustomerByEmail")
    grantee_id = grantee.get("ID")
    if (
        grantee_type == "CanonicalUser"
        and isinstance(grantee_id, str)
        and isinstance(owner, str)
        and grantee_id != owner
    ):
        return Exposure("grantee", f"canonical-user:{truncated(grantee_id, 80)}")
    return None


def _acl_exposures(params: Mapping[str, Any]) -> list[Exposure]:
    found = [Exposure("everyone", f"canned:{acl}", open=True) for acl in _strings(params.get("x-amz-acl"))]
    found = [e for e in found if e.principal.removeprefix("canned:") in PUBLIC_CANNED_ACLS]
    for header in GRANT_HEADERS_FULL:
        for value in _strings(params.get(header)):
            found += [Exposure("everyone", group, open=True) for uri, group in ACL_GROUPS.items() if uri in value]
    policy = params.get("AccessControlPolicy")
    grants = _get(policy, "AccessControlList", "Grant")
    owner = _get(policy, "Owner", "ID")
    for grant in grants if isinstance(grants, list) else [grants]:
        if (exposure := _acl_grantee(_get(grant, "Grantee"), owner)) is not None:
            found.append(exposure)
    return list({(e.reach, e.principal): e for e in found}.values())


def _bucket_acl(record: CloudTrailRecord, trust: Trust) -> ResourceGrant | None:
    bucket = _bucket(record)
    if bucket is None:
        return None
    return ResourceGrant("S3 bucket", *bucket, _acl_exposures(record.request_parameters or {}))


def _key_arn(record: CloudTrailRecord) -> str | None:
    """The key's ARN, if the key belongs to the record's account (a grant on another account's key is theirs)."""
    key_id = (record.request_parameters or {}).get("keyId")
    candidates = [
        key_id,
        _get(record.response_elements, "keyId"),
        _get(record.response_elements, "keyMetadata", "arn"),
        *[_get(r, "ARN") for r in record.resources or []],
    ]
    arn = next((c for c in candidates if _arn_parts(c)), None)
    if arn is None and isinstance(key_id, str) and key_id and not key_id.startswith("alias/"):
        arn = f"arn:{_partition(record.aws_region)}:kms:{record.aws_region}:{record.account}:key/{key_id}"
    parts = _arn_parts(arn)
    return str(arn) if parts and parts[4] == record.account else None


def _key_policy(record: CloudTrailRecord, trust: Trust) -> ResourceGrant | None:
    arn = _key_arn(record)
    statements = _parse((record.request_parameters or {}).get("policy"))
    if arn is None or statements is None:
        return None
    return ResourceGrant("KMS key", arn, arn.rsplit("/", 1)[-1], exposures(statements, trust))


def _key_grant(record: CloudTrailRecord, trust: Trust) -> ResourceGrant | None:
    params = record.request_parameters or {}
    arn, grantee = _key_arn(record), params.get("granteePrincipal")
    account = principal_account(grantee) if isinstance(grantee, str) else None
    if arn is None or account is None:
        return None  # service principals (``ec2.us-east-1.amazonaws.com``) act for the account
    found = [] if trust.account(account) else [Exposure("grantee", str(grantee), account=account)]
    operations = sorted(set(_strings(params.get("operations"))))[:MAX_LISTED]
    return ResourceGrant("KMS key", arn, arn.rsplit("/", 1)[-1], found, {"grant_operations": operations})


def _bedrock_policy(record: CloudTrailRecord, trust: Trust) -> ResourceGrant | None:
    params = record.request_parameters or {}
    arn = params.get("resourceArn")
    statements = _parse(params.get("resourcePolicy"))
    if not _arn_parts(arn) or statements is None:
        return None
    return ResourceGrant("Bedrock resource", str(arn), str(arn).rsplit("/", 1)[-1], exposures(statements, trust))


RESOURCE_READERS: dict[tuple[str, str], Callable[[CloudTrailRecord, Trust], ResourceGrant | None]] = {
    (S3, "PutBucketPolicy"): _bucket_policy,
    (S3, "PutBucketAcl"): _bucket_acl,
    (KMS, "PutKeyPolicy"): _key_policy,
    (KMS, "CreateKey"): _key_policy,
    (KMS, "CreateGrant"): _key_grant,
    (BEDROCK, "PutResourcePolicy"): _bedrock_policy,
}


def _log_bucket(grant: ResourceGrant, settings: Settings) -> bool:
    wanted = settings.invocation_log_bucket
    return grant.kind == "S3 bucket" and wanted is not None and wanted.rsplit(":", 1)[-1] == grant.name


@detector(
    name="external-resource-policy",
    family=Family.CROSS_ACCOUNT,
    state=None,
    consumes=frozenset(RESOURCE_READERS),
)
def external_resource_policy(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
    """A bucket, key or Bedrock resource policy (or grant) now lets in an outside account or everyone."""
    reader = RESOURCE_READERS.get((record.event_source, record.event_name))
    if reader is None or not record.succeeded:
        return Outcome()
    grant = reader(record, Trust.of(settings, record.account))
    if grant is None or not grant.found:
        return Outcome()
    log_bucket = _log_bucket(grant, settings)
    public = any(e.open for e in grant.found)
    finding = _finding(
        record,
        detector="external-resource-policy",
        severity=Severity.HIGH if log_bucket or public else Severity.MEDIUM,
        title=f"{grant.kind} {truncated(grant.name, 128)} lets in {_listed(_labels(grant.found))}",
        principal=grant.arn,
        playbook="revert-policy-change",
        details={
            "resource": grant.arn,
            "resource_type": grant.kind,
            "change": record.event_name,
            "invocation_log_bucket": log_bucket,
            **_exposure_details(grant.found),
            **grant.extra,
            **_actor(record),
        },
    )
    return Outcome(findings=(finding,))


# ------------------------------------------------------------------------ models and data sources


@dataclass(frozen=True)
class Source:
    """Where Bedrock reads content from, and who owns it when the event says."""

    location: str
    owner: str | None


@dataclass(frozen=True)
class ContentIntake:
    kind: str
    resource: str
    sources: list[Source]
    severity: Severity
    """For a source owned by an untrusted account."""


def _s3_source(uri: object) -> Source | None:
    """An ``s3://`` URI: its owner is known only when it names an access point by ARN."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    location = uri[len("s3://") :]
    parts = _arn_parts(location)
    owner = parts[4] if parts and parts[2] == "s3" and ACCOUNT_ID.match(parts[4]) else None
    bucket = location if parts else location.split("/", 1)[0]
    return Source(location=truncated(f"s3://{bucket}", 512), owner=owner)


def _bedrock_arn(record: CloudTrailRecord, kind: str, name: object) -> str:
    response_arn = _get(record.response_elements, "jobArn")
    if _arn_parts(response_arn):
        return str(response_arn)
    label = name if isinstance(name, str) and name else "unknown"
    return f"arn:{_partition(record.aws_region)}:bedrock:{record.aws_region}:{record.account}:{kind}/{label}"


def _data_source(record: CloudTrailRecord) -> ContentIntake | None:
    params = record.request_parameters or {}
    response = _get(record.response_elements, "dataSource")
    s3 = _get(response, "dataSourceConfiguration", "s3Configuration")
    s3 = s3 if isinstance(s3, dict) else _get(params, "dataSourceConfiguration", "s3Configuration")
    if not isinstance(s3, dict):
        return None  # web crawler, Confluence, SharePoint... sources are outside content by design
    owner = s3.get("bucketOwnerAccountId")
    knowledge_base = params.get("knowledgeBaseId") or _get(response, "knowledgeBaseId")
    location = _text(s3.get("bucketArn"), 512) or "unknown bucket"
    resource = _bedrock_arn(record, "knowledge-base", knowledge_base)
    source = Source(location=location, owner=owner if isinstance(owner, str) and ACCOUNT_ID.match(owner) else None)
    if source.owner is None:
        return None  # no owner given: the account's own bucket
    return ContentIntake("Knowledge base", resource, [source], Severity.HIGH)


def _s3_uris(value: object, depth: int = 0) -> list[object]:
    """Every ``s3Uri`` in a request's data configuration (a few levels deep: validators, distillation)."""
    if depth > 4:
        return []
    if isinstance(value, list):
        return [uri for item in value[:MAX_LISTED] for uri in _s3_uris(item, depth + 1)]
    if not isinstance(value, dict):
        return []
    found = [value["s3Uri"]] if "s3Uri" in value else []
    return found + [uri for key, item in value.items() if key != "s3Uri" for uri in _s3_uris(item, depth + 1)]


def _model_import(record: CloudTrailRecord) -> ContentIntake | None:
    params = record.request_parameters or {}
    source = _s3_source(_get(params, "modelDataSource", "s3DataSource", "s3Uri"))
    if source is None:
        return None
    return ContentIntake(
        "Model import job", _bedrock_arn(record, "model-import-job", params.get("jobName")), [source], Severity.HIGH
    )


def _customization(record: CloudTrailRecord) -> ContentIntake | None:
    params = record.request_parameters or {}
    uris = _s3_uris(params.get("trainingDataConfig")) + _s3_uris(params.get("validationDataConfig"))
    sources = [s for uri in uris if (s := _s3_source(uri)) is not None]
    base = params.get("baseModelIdentifier")
    base_parts = _arn_parts(base)
    if base_parts and ACCOUNT_ID.match(base_parts[4]):
        sources.append(Source(location=truncated(str(base), 512), owner=base_parts[4]))
    if not sources:
        return None
    resource = _bedrock_arn(record, "model-customization-job", params.get("jobName"))
    return ContentIntake("Model customization job", resource, sources[:MAX_LISTED], Severity.MEDIUM)


INTAKE_READERS: dict[tuple[str, str], Callable[[CloudTrailRecord], ContentIntake | None]] = {
    (BEDROCK, "CreateDataSource"): _data_source,
    (BEDROCK, "UpdateDataSource"): _data_source,
    (BEDROCK, "CreateModelImportJob"): _model_import,
    (BEDROCK, "CreateModelCustomizationJob"): _customization,
}
OWNER_CHECK = (
    "the bucket's owner account: s3:GetBucketAcl (Owner) or a HeadBucket with x-amz-expected-bucket-owner, "
    "or an allow-list of the account's buckets"
)


@detector(
    name="untrusted-model-or-data-source",
    family=Family.CROSS_ACCOUNT,
    state=None,
    consumes=frozenset(INTAKE_READERS),
)
def untrusted_model_or_data_source(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
    """Bedrock reads a knowledge base, a model or training data from a bucket of an untrusted account."""
    reader = INTAKE_READERS.get((record.event_source, record.event_name))
    intake = reader(record) if reader is not None and record.succeeded else None
    if intake is None:
        return Outcome()
    trust = Trust.of(settings, record.account)
    untrusted = [s for s in intake.sources if s.owner is not None and not trust.account(s.owner)]
    unknown = [s for s in intake.sources if s.owner is None]
    if not untrusted and not unknown:
        return Outcome()
    severity = intake.severity if untrusted else Severity.LOW
    owners = sorted({s.owner for s in untrusted if s.owner})
    title = (
        f"{intake.kind} reads from account {', '.join(owners)}, outside the trusted accounts"
        if untrusted
        else f"{intake.kind} reads from a bucket whose owner the event does not reveal"
    )
    finding = _finding(
        record,
        detector="untrusted-model-or-data-source",
        severity=severity,
        title=title,
        principal=intake.resource,
        playbook=None,
        details={
            "resource": intake.resource,
            "resource_type": intake.kind,
            "change": record.event_name,
            "untrusted_owners": owners,
            "untrusted_sources": sorted({s.location for s in untrusted}),
            "unverified_sources": sorted({s.location for s in unknown}),
            "needed_to_verify": OWNER_CHECK if unknown else None,
            **_actor(record),
        },
    )
    return Outcome(findings=(finding,))
