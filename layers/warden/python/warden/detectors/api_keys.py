"""bedrock-usage / Bedrock API keys: keys minted for others, phantom users turned into identities, keys used off-script.

What it detects
    Four things about Amazon Bedrock API keys (bearer tokens), each its own detector:

    * ``bedrock-api-key-for-another-user``: a Bedrock service-specific credential (a long-term API
      key) created, reset or reactivated for an IAM user other than the caller; and an IAM access key
      or console password created for a ``BedrockAPIKey-*`` user (the user the Bedrock console makes
      to hold a long-term key), which turns that placeholder into a full IAM identity.
    * ``bedrock-api-key-control-plane``: a call made with an API key that is neither an invocation
      nor a read-only ``Get*``/``List*`` (nor, on the Mantle endpoint, cancelling or deleting the
      application's own stored responses): deleting a guardrail, changing or deleting invocation
      logging, deleting models, creating jobs, writing agents or knowledge bases. Denied attempts count.
    * ``bedrock-api-key-new-network``: a call made with an API key from a network (IPv4 /24, IPv6 /48)
      the key's principal had not used, once its baseline is warm (``settings.baseline_warmup`` and
      ``settings.baseline_min_events``).
    * ``bedrock-api-key-outside-bedrock``: a ``BedrockAPIKey-*`` user calling any other service (IAM,
      STS, S3, EC2...). A bearer token only works on Bedrock, so such a call was signed with an IAM
      access key somebody added to the user.

Why it matters
    Long-term keys are IAM service-specific credentials (``iam:CreateServiceSpecificCredential`` with
    ``serviceName`` ``bedrock.amazonaws.com``). Made through the console, they sit on a new user named
    ``BedrockAPIKey-xxxx`` that gets the AmazonBedrockLimitedAccess policy, which despite its name
    allows most of Bedrock's control plane plus IAM, KMS and EC2 discovery. Short-term keys are minted
    client-side from a principal's own credentials and carry its permissions. Either kind shows in
    CloudTrail only as ``additionalEventData.callWithBearerToken: true`` on each call. A key minted
    for another user is persistence that survives rotating that user's access keys; an access key on
    a phantom user escapes the Bedrock-only scope; a key deleting guardrails or logging is sabotage or
    LLMjacking cover; a leaked key is used from the attacker's network. Deactivating IAM access keys
    or revoking sessions does not stop a long-term API key: the credential itself must be disabled.

When it fires
    for-another-user (principal: the target user, whose credential must be contained; the caller is in
    ``details.actor``)
        * HIGH: a Bedrock credential created or reset for a user who is neither the caller nor a
          ``BedrockAPIKey-*`` user.
        * HIGH: an access key or a login profile created, or a login profile updated, for a
          ``BedrockAPIKey-*`` user.
        * MEDIUM (no playbook: nothing was made to contain): either of the above, denied.
        * LOW (no playbook): a Bedrock credential created or reset for a ``BedrockAPIKey-*`` user by
          someone who did not create that user within :data:`PAIRING` of it (a key added to an
          existing placeholder user: a rotation, or persistence); or such a credential reactivated
          (``UpdateServiceSpecificCredential`` to ``Active``).
        * Nothing: creating one's own key; the console's own flow (CreateUser ``BedrockAPIKey-*``,
          then the key for it, by the same caller); credentials for other services.
    control-plane (principal: the caller, who holds the key): HIGH, any outcome.
    new-network (principal: the caller): MEDIUM, once per new network (it is learned at once).
    outside-bedrock (principal: the ``BedrockAPIKey-*`` user; the access key it used): HIGH, any
    outcome, except calls an AWS service makes on the user's behalf (``userIdentity.invokedBy``).

Response playbook
    ``contain-bedrock-api-key`` for a Bedrock credential, a key's control-plane call or a new network:
    for a credential made for another user the finding's ``access_key_id`` (and
    ``details.service_specific_credential_id``) is the service-specific credential id (``ACCA...``), which
    the playbook deactivates; for a key's use CloudTrail names no credential id, and the playbook finds the
    key in IAM from the principal (a ``BedrockAPIKey-*`` user's one active key), or denies bearer-token
    calls to a principal whose keys are short-term (``details.key_kind``). ``contain-access-key`` for a
    phantom user acting outside Bedrock: the call was signed with the IAM access key in the finding's
    ``access_key_id``, which deactivating a Bedrock key would not stop. ``revert-policy-change`` for an
    access key or password added to a phantom user (the finding's ``access_key_id`` is the new access key).

State
    for-another-user: :class:`PhantomUser`, keyed by account and user name, only for
    ``BedrockAPIKey-*`` users: who created the user and when, so that the console's own flow is
    recognised (the creation may arrive after the key; then a LOW finding has already been sent).
    new-network: :class:`NetworkBaseline`, keyed by the key's stable principal (the role behind a
    session, so that a short-term key's baseline outlives one session), kept :data:`BASELINE_RETENTION`
    after the principal's newest call: when the baseline started, how many calls it saw, the networks
    it saw (at most :data:`MAX_NETWORKS`, the least recently seen dropped first; :func:`shrink_baseline`
    halves them) and the newest event ids (a redelivery is ignored). Calls from a known network within
    :data:`SAMPLE` of its last sighting are not written once the baseline is warm. The other two
    detectors keep no state.

Bedrock's event sources, the bearer-token flag (``additionalEventData``, or ``requestParameters`` on the
Mantle endpoint) and the baseline key come from :mod:`warden.detectors._bedrock`.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from warden.detectors import _bedrock
from warden.detectors.registry import (
    ANY_EVENT,
    AllOf,
    AnyOf,
    Equals,
    IsTrue,
    Outcome,
    Prefix,
    detector,
    event_finding,
    shifted,
)
from warden.models import CloudTrailRecord, Family, Finding, Severity
from warden.models.wire import Arn, Name, truncated
from warden.settings import Settings

BEDROCK = _bedrock.BEDROCK
BEDROCK_MANTLE = _bedrock.MANTLE
"""Bedrock's OpenAI-compatible endpoint, with a CloudTrail source of its own."""
BEDROCK_SOURCES = _bedrock.SOURCES
IAM = "iam.amazonaws.com"
PHANTOM_PREFIX = "BedrockAPIKey-"
"""The name the Bedrock console gives the IAM user it creates to hold a long-term API key (IAM user names
are unique whatever their case, so the prefix is matched in any case)."""

INVOCATIONS = (
    _bedrock.RUNTIME_INVOCATIONS
    | _bedrock.MANTLE_INVOCATIONS
    | frozenset(
        {
            "InvokeModelWithBidirectionalStream",
            "StartAsyncInvoke",
            "CountTokens",
            "ApplyGuardrail",
            "InvokeAgent",
            "InvokeInlineAgent",
            "InvokeFlow",
            "Retrieve",
            "RetrieveAndGenerate",
            "RetrieveAndGenerateStream",
            "Rerank",
        }
    )
)
"""What an API key is for: inference, on either endpoint, and the agent and knowledge-base runtimes."""
MANTLE_APP_CALLS = frozenset({"CancelInference", "DeleteInference"})
"""What an application does with its own stored responses on the Mantle endpoint (the Responses API)."""
READ_PREFIXES = ("Get", "List")
DESTRUCTIVE_PREFIXES = ("Delete", "Stop")
DESTRUCTIVE = frozenset({"PutModelInvocationLoggingConfiguration", "UpdateGuardrail"})
RESOURCE_PARAMETERS = (
    "guardrailIdentifier",
    "modelIdentifier",
    "modelId",
    "jobIdentifier",
    "provisionedModelId",
    "knowledgeBaseId",
    "agentId",
    "dataSourceId",
)
"""Request parameters naming what a control-plane call acted on (ids only, never bodies)."""

CREATE_USER = "CreateUser"
CREDENTIAL_CALLS = frozenset(
    {"CreateServiceSpecificCredential", "ResetServiceSpecificCredential", "UpdateServiceSpecificCredential"}
)
IDENTITY_CHANGE = {
    "CreateAccessKey": ("an IAM access key", "created"),
    "CreateLoginProfile": ("a console password", "created"),
    "UpdateLoginProfile": ("a console password", "changed"),
}
IDENTITY_CALLS = frozenset(IDENTITY_CHANGE)
PAIRING = timedelta(hours=1)
"""A key made for a placeholder user within this long of the same caller creating it is the console's flow."""

OUTSIDE_SOURCES = frozenset(
    {
        "iam.amazonaws.com",
        "sts.amazonaws.com",
        "signin.amazonaws.com",
        "s3.amazonaws.com",
        "ec2.amazonaws.com",
        "lambda.amazonaws.com",
        "secretsmanager.amazonaws.com",
        "ssm.amazonaws.com",
        "kms.amazonaws.com",
        "dynamodb.amazonaws.com",
        "rds.amazonaws.com",
        "logs.amazonaws.com",
        "cloudtrail.amazonaws.com",
        "cloudformation.amazonaws.com",
        "organizations.amazonaws.com",
        "sso.amazonaws.com",
        "sagemaker.amazonaws.com",
        "ecr.amazonaws.com",
        "ecs.amazonaws.com",
        "eks.amazonaws.com",
        "sns.amazonaws.com",
        "sqs.amazonaws.com",
        "guardduty.amazonaws.com",
    }
)
"""Services a ``BedrockAPIKey-*`` user has no business calling (a finite list: ``consumes`` names sources)."""

KEY_CALLS = frozenset({(source, ANY_EVENT) for source in BEDROCK_SOURCES})
BEARER_CALL = AnyOf(
    (IsTrue("additionalEventData.callWithBearerToken"), IsTrue("requestParameters.callWithBearerToken"))
)
"""What :func:`warden.detectors._bedrock.bearer_token` reads: the control-plane and new-network detectors
act on nothing else."""
OUTSIDE_CALLS = frozenset({(source, ANY_EVENT) for source in OUTSIDE_SOURCES})
PHANTOM_CALLER = AllOf(
    (Equals("userIdentity.type", "IAMUser"), Prefix("userIdentity.userName", PHANTOM_PREFIX, ignore_case=True))
)
"""What :func:`api_key_outside_bedrock` requires of the caller before anything else."""

BASELINE_RETENTION = timedelta(days=30)
MAX_NETWORKS = 100
MAX_RECENT = 20
SAMPLE = timedelta(minutes=10)

FOR_ANOTHER_USER = "bedrock-api-key-for-another-user"
CONTROL_PLANE = "bedrock-api-key-control-plane"
NEW_NETWORK = "bedrock-api-key-new-network"
OUTSIDE_BEDROCK = "bedrock-api-key-outside-bedrock"
CONTAIN_API_KEY = "contain-bedrock-api-key"
REVERT = "revert-policy-change"


# --------------------------------------------------------------------------------------------------
# Helpers shared with the other detectors of API keys and credentials
# --------------------------------------------------------------------------------------------------


def is_phantom(user_name: object) -> bool:
    """A ``BedrockAPIKey-*`` user: the placeholder user of a long-term API key."""
    return isinstance(user_name, str) and user_name.lower().startswith(PHANTOM_PREFIX.lower())


def partition_of(arn: str | None) -> str:
    """``aws``, ``aws-cn`` or ``aws-us-gov``, read from an ARN (``aws`` when there is none)."""
    parts = (arn or "").split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def user_arn(partition: str, account: str, user_name: str) -> str:
    """The ARN of an IAM user known by name only: CloudTrail does not give the user's path, so none is put."""
    return f"arn:{partition}:iam::{account}:user/{user_name}"


def key_kind(record: CloudTrailRecord) -> str:
    """Which kind of Bedrock API key signed a bearer call, as far as the record tells."""
    identity = record.user_identity
    if is_phantom(identity.user_name):
        return "long-term"
    if identity.type in {"AssumedRole", "FederatedUser"}:
        return "short-term"
    return "unknown"


def _text(value: object, limit: int = 256) -> str | None:
    return truncated(value, limit) if isinstance(value, str) and value else None


def _outcome(record: CloudTrailRecord) -> str:
    return "succeeded" if record.succeeded else f"failed: {truncated(record.error_code or '', 64)}"


# --------------------------------------------------------------------------------------------------
# bedrock-api-key-for-another-user
# --------------------------------------------------------------------------------------------------


class PhantomUser(BaseModel):
    """Who created a ``BedrockAPIKey-*`` user, and when."""

    model_config = ConfigDict(defer_build=True)

    created_by: Arn | None = None
    created_at: datetime | None = None
    created_event: Name | None = None


def _target(record: CloudTrailRecord) -> str | None:
    """The IAM user a credential call acts on (the caller itself when the request names none)."""
    params = record.request_parameters or {}
    response = record.response_elements or {}
    named = params.get("userName")
    if not isinstance(named, str) or not named:
        for container in ("serviceSpecificCredential", "accessKey", "loginProfile", "user"):
            inner = response.get(container)
            if isinstance(inner, dict) and isinstance(inner.get("userName"), str):
                named = inner["userName"]
                break
    if isinstance(named, str) and named:
        return named
    return record.user_identity.user_name if record.user_identity.type == "IAMUser" else None


def _target_key(record: CloudTrailRecord) -> str | None:
    """State key for credential calls worth a look; None skips the record (the key function filters)."""
    target = _target(record)
    if not target:
        return None
    name = record.event_name
    if name == CREATE_USER and not (is_phantom(target) and record.succeeded):
        return None
    if name in IDENTITY_CALLS and not is_phantom(target):
        return None
    if name == "UpdateServiceSpecificCredential" and not is_phantom(target):
        return None  # nothing in it says which service the credential is for
    if name in CREDENTIAL_CALLS and _bedrock_credential(record, target) is False:
        return None
    return f"{record.account}/{target}"


def _bedrock_credential(record: CloudTrailRecord, target: str) -> bool | None:
    """Whether a service-specific credential call is about Bedrock: True, False, or None (cannot tell)."""
    params = record.request_parameters or {}
    response = record.response_elements or {}
    credential = response.get("serviceSpecificCredential")
    service = params.get("serviceName") or (credential.get("serviceName") if isinstance(credential, dict) else None)
    if isinstance(service, str) and service:
        return service == BEDROCK
    return True if is_phantom(target) else None


def _credential_id(record: CloudTrailRecord) -> str | None:
    params = record.request_parameters or {}
    response = record.response_elements or {}
    credential = response.get("serviceSpecificCredential")
    found = (credential.get("serviceSpecificCredentialId") if isinstance(credential, dict) else None) or params.get(
        "serviceSpecificCredentialId"
    )
    return _text(found, 128)


def _own(record: CloudTrailRecord, target: str) -> bool:
    identity = record.user_identity
    return identity.type == "IAMUser" and identity.user_name == target


def _paired(state: PhantomUser, record: CloudTrailRecord) -> bool:
    """The caller created this placeholder user moments before (or after) making its key: the console's flow."""
    if state.created_at is None or state.created_by is None:
        return False
    return state.created_by in record.actor_arns and abs(record.event_time - state.created_at) <= PAIRING


def _judge_credential_call(record: CloudTrailRecord, target: str, state: PhantomUser) -> tuple[Severity, str] | None:
    """Severity and reason for a service-specific credential call, or None when it is not a finding."""
    name = record.event_name
    if name == "UpdateServiceSpecificCredential":
        status = (record.request_parameters or {}).get("status")
        if status != "Active" or not is_phantom(target) or not record.succeeded:
            return None
        return Severity.LOW, "a Bedrock API key of a placeholder user reactivated"
    verb = "created" if name == "CreateServiceSpecificCredential" else "reset"
    if not is_phantom(target):
        if _bedrock_credential(record, target) is not True:
            return None
        if record.succeeded:
            return Severity.HIGH, f"a Bedrock API key {verb} for another user"
        return Severity.MEDIUM, f"an attempt to have a Bedrock API key {verb} for another user"
    if _paired(state, record):
        return None
    return Severity.LOW, f"a Bedrock API key {verb} for an existing placeholder user"


def _judge_identity_call(record: CloudTrailRecord) -> tuple[Severity, str]:
    noun, verb = IDENTITY_CHANGE[record.event_name]
    if record.succeeded:
        return Severity.HIGH, f"{noun} {verb} for a Bedrock API key's placeholder user"
    return Severity.MEDIUM, f"an attempt to have {noun} {verb} for a Bedrock API key's placeholder user"


@detector(
    name=FOR_ANOTHER_USER,
    family=Family.BEDROCK_USAGE,
    state=PhantomUser,
    consumes=frozenset({(IAM, name) for name in CREDENTIAL_CALLS | IDENTITY_CALLS | {CREATE_USER}}),
    key=_target_key,
)
def api_key_for_another_user(record: CloudTrailRecord, state: PhantomUser, settings: Settings) -> Outcome[PhantomUser]:
    """A Bedrock API key made for another user, or a placeholder ``BedrockAPIKey-*`` user given real credentials."""
    target = _target(record)
    actor = record.user_identity.arn
    if target is None or actor is None:
        return Outcome()
    if record.event_name == CREATE_USER:
        if state.created_at is not None and state.created_at <= record.event_time:
            return Outcome()  # a redelivery, or a later re-creation: the first creation pairs
        created = PhantomUser(created_by=actor, created_at=record.event_time, created_event=record.event_id)
        return Outcome(state=created)
    if _own(record, target) and not is_phantom(target):
        return Outcome()
    if record.event_name in IDENTITY_CALLS:
        judged: tuple[Severity, str] | None = _judge_identity_call(record)
    else:
        judged = _judge_credential_call(record, target, state)
    if judged is None:
        return Outcome()
    severity, reason = judged
    return Outcome(findings=(_another_user_finding(record, target, actor, severity, reason),))


def _another_user_finding(
    record: CloudTrailRecord, target: str, actor: str, severity: Severity, reason: str
) -> Finding:
    identity_call = record.event_name in IDENTITY_CALLS
    response = record.response_elements or {}
    access_key = response.get("accessKey") if identity_call else None
    new_key = _text(access_key.get("accessKeyId"), 128) if isinstance(access_key, dict) else None
    credential_id = None if identity_call else _credential_id(record)
    playbook = None
    if severity is Severity.HIGH:
        playbook = REVERT if identity_call else CONTAIN_API_KEY
    principal = user_arn(partition_of(actor), record.account, target)
    return event_finding(
        record,
        detector=FOR_ANOTHER_USER,
        family=Family.BEDROCK_USAGE,
        severity=severity,
        title=f"{reason[0].upper()}{reason[1:]}: {target}, by {actor}",
        principal=principal,
        access_key_id=new_key if identity_call else credential_id,
        playbook=playbook,
        details={
            "reason": reason,
            "call": record.event_name,
            "outcome": _outcome(record),
            "target_user": target,
            "placeholder_user": is_phantom(target),
            "actor": actor,
            "actor_type": record.user_identity.type,
            "actor_session_issuer": record.user_identity.issuer_arn,
            "actor_access_key_id": record.user_identity.access_key_id,
            "service_specific_credential_id": credential_id,
            "new_access_key_id": new_key,
            "credential_expires_in_days": _age_days(record.request_parameters),
            "source_ip": _text(record.source_ip_address, 128),
            "user_agent": _text(record.user_agent, 512),
        },
    )


def _age_days(params: dict[str, Any] | None) -> int | None:
    value = (params or {}).get("credentialAgeDays")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------------------------------
# bedrock-api-key-control-plane
# --------------------------------------------------------------------------------------------------


def benign_key_call(record: CloudTrailRecord) -> bool:
    """What an API key is for: an invocation, a read-only Get/List, or managing its own Mantle responses."""
    name = record.event_name
    if record.event_source == BEDROCK_MANTLE and name in MANTLE_APP_CALLS:
        return True
    return name in INVOCATIONS or name.startswith(READ_PREFIXES)


def _resource(record: CloudTrailRecord) -> dict[str, str]:
    params = record.request_parameters or {}
    found = {name: _text(params.get(name)) for name in RESOURCE_PARAMETERS}
    return {name: value for name, value in found.items() if value}


@detector(
    name=CONTROL_PLANE,
    family=Family.BEDROCK_USAGE,
    state=None,
    consumes=KEY_CALLS,
    where=dict.fromkeys(KEY_CALLS, BEARER_CALL),
)
def api_key_control_plane(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
    """A Bedrock API key used for anything but invocations and read-only calls (deletions, logging, jobs)."""
    principal = record.user_identity.arn
    if principal is None or not _bedrock.bearer_token(record) or benign_key_call(record):
        return Outcome()
    name = record.event_name
    kind = "destructive" if name.startswith(DESTRUCTIVE_PREFIXES) or name in DESTRUCTIVE else "control-plane"
    verb = "used" if record.succeeded else "tried"
    finding = event_finding(
        record,
        detector=CONTROL_PLANE,
        family=Family.BEDROCK_USAGE,
        severity=Severity.HIGH,
        title=f"Bedrock API key of {principal} {verb} for {name}",
        principal=principal,
        access_key_id=record.user_identity.access_key_id,
        playbook=CONTAIN_API_KEY,
        details={
            "call": name,
            "event_source": record.event_source,
            "kind": kind,
            "outcome": _outcome(record),
            "resource": _resource(record),
            "key_kind": key_kind(record),
            "identity_type": record.user_identity.type,
            "session_issuer": record.user_identity.issuer_arn,
            "source_ip": _text(record.source_ip_address, 128),
            "user_agent": _text(record.user_agent, 512),
        },
    )
    return Outcome(findings=(finding,))


# --------------------------------------------------------------------------------------------------
# bedrock-api-key-new-network
# --------------------------------------------------------------------------------------------------


class NetworkBaseline(BaseModel):
    """The networks a principal's API key calls came from."""

    model_config = ConfigDict(defer_build=True)

    first_seen: datetime | None = None
    calls: int = 0
    networks: dict[Name, datetime] = Field(default_factory=dict)
    """Network (``203.0.113.0/24``, ``2001:db8:1::/48``) -> when a call last came from it."""
    recent: list[Name] = Field(default_factory=list)
    """The newest event ids, so that a redelivered call is not counted twice."""


def network_of(source_ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) of an address; None for what is no address (an AWS service's name)."""
    try:
        address = ipaddress.ip_address((source_ip or "").strip())
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _baseline_key(record: CloudTrailRecord) -> str | None:
    if not _bedrock.bearer_token(record) or network_of(record.source_ip_address) is None:
        return None
    return _bedrock.baseline_key(record)


def shrink_baseline(baseline: NetworkBaseline) -> NetworkBaseline:
    """Half the networks, the most recently seen kept."""
    newest = sorted(baseline.networks.items(), key=lambda item: (item[1], item[0]), reverse=True)
    kept = dict(newest[: len(newest) // 2])
    return baseline.model_copy(update={"networks": kept, "recent": baseline.recent[-MAX_RECENT // 2 :]})


def _warm(baseline: NetworkBaseline, at: datetime, settings: Settings) -> bool:
    """Whether the baseline had finished learning by ``at`` (judged on event times, so late events stay fair)."""
    if baseline.first_seen is None or baseline.calls < settings.baseline_min_events:
        return False
    return at - baseline.first_seen >= settings.baseline_warmup


def _learned(baseline: NetworkBaseline, record: CloudTrailRecord, network: str) -> NetworkBaseline:
    at = record.event_time
    networks = dict(baseline.networks)
    networks[network] = max(at, networks.get(network, at))
    newest = max(networks.values())
    horizon = shifted(newest, -BASELINE_RETENTION)
    fresh = sorted(((n, t) for n, t in networks.items() if t >= horizon), key=lambda i: (i[1], i[0]), reverse=True)
    return NetworkBaseline(
        first_seen=min(at, baseline.first_seen or at),
        calls=baseline.calls + 1,
        networks=dict(fresh[:MAX_NETWORKS]),
        recent=[*baseline.recent, record.event_id][-MAX_RECENT:],
    )


@detector(
    name=NEW_NETWORK,
    family=Family.BEDROCK_USAGE,
    state=NetworkBaseline,
    consumes=KEY_CALLS,
    key=_baseline_key,
    retention=BASELINE_RETENTION,
    shrink=shrink_baseline,
    where=dict.fromkeys(KEY_CALLS, BEARER_CALL),
)
def api_key_new_network(
    record: CloudTrailRecord, state: NetworkBaseline, settings: Settings
) -> Outcome[NetworkBaseline]:
    """A Bedrock API key used from a network its principal had not used, once the principal's baseline is warm."""
    network = network_of(record.source_ip_address)
    principal = record.user_identity.arn
    if network is None or principal is None or not _bedrock.bearer_token(record) or record.event_id in state.recent:
        return Outcome()
    last = state.networks.get(network)
    warm = _warm(state, record.event_time, settings)
    if warm and last is not None and abs(record.event_time - last) < SAMPLE:
        return Outcome()  # a known network seen moments ago: nothing to learn worth a write
    learned = _learned(state, record, network)
    if not warm or last is not None:
        return Outcome(state=learned)
    finding = event_finding(
        record,
        detector=NEW_NETWORK,
        family=Family.BEDROCK_USAGE,
        severity=Severity.MEDIUM,
        title=f"Bedrock API key of {principal} used from a new network {network}",
        principal=principal,
        access_key_id=record.user_identity.access_key_id,
        playbook=CONTAIN_API_KEY,
        details={
            "network": network,
            "source_ip": _text(record.source_ip_address, 128),
            "call": record.event_name,
            "outcome": _outcome(record),
            "key_kind": key_kind(record),
            "baseline_principal": _bedrock.baseline_key(record),
            "baseline_since": state.first_seen.isoformat() if state.first_seen else None,
            "baseline_calls": state.calls,
            "known_networks": sorted(state.networks, key=lambda n: state.networks[n], reverse=True)[:10],
            "user_agent": _text(record.user_agent, 512),
        },
    )
    return Outcome(findings=(finding,), state=learned)


# --------------------------------------------------------------------------------------------------
# bedrock-api-key-outside-bedrock
# --------------------------------------------------------------------------------------------------


@detector(
    name=OUTSIDE_BEDROCK,
    family=Family.BEDROCK_USAGE,
    state=None,
    consumes=OUTSIDE_CALLS,
    where=dict.fromkeys(OUTSIDE_CALLS, PHANTOM_CALLER),
)
def api_key_outside_bedrock(record: CloudTrailRecord, state: None, settings: Settings) -> Outcome[BaseModel]:
    """A ``BedrockAPIKey-*`` placeholder user calling a service other than Bedrock (with an added access key)."""
    identity = record.user_identity
    if identity.type != "IAMUser" or not is_phantom(identity.user_name) or identity.invoked_by:
        return Outcome()
    principal = identity.arn or user_arn("aws", record.account, identity.user_name or "")
    verb = "called" if record.succeeded else "tried"
    # An IAM access key signed the call (a bearer token works on Bedrock only): that key is what to contain.
    playbook = _bedrock.playbook_for(bearer=False, access_key_id=identity.access_key_id, identity_type=identity.type)
    finding = event_finding(
        record,
        detector=OUTSIDE_BEDROCK,
        family=Family.BEDROCK_USAGE,
        severity=Severity.HIGH,
        title=f"Bedrock API key user {identity.user_name} {verb} {record.event_source} {record.event_name}",
        principal=principal,
        access_key_id=identity.access_key_id,
        playbook=playbook,
        details={
            "call": record.event_name,
            "event_source": record.event_source,
            "outcome": _outcome(record),
            "user_name": identity.user_name,
            "credential_type": identity.credential_type,
            "source_ip": _text(record.source_ip_address, 128),
            "user_agent": _text(record.user_agent, 512),
        },
    )
    return Outcome(findings=(finding,))
