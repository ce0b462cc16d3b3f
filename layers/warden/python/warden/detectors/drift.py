"""Drift from the Bedrock security guidance: long-term keys, calls around VPC endpoints, unisolated jobs, old TLS.

What it detects
    Four low-key detectors, each at most one finding per principal (or key) a day:

    * ``bedrock-long-term-key-use`` (bedrock-usage, LOW): a model invocation signed with an IAM
      user's long-term access key (``AKIA...``, SigV4) where temporary credentials are expected.
      API-key (bearer) calls are left to the API-key detectors.
    * ``bedrock-outside-vpc-endpoint`` (bedrock-usage, LOW): when ``settings.expected_vpc_endpoints``
      is set, a model invocation that did not arrive through one of those endpoints (``vpcEndpointId``
      missing or another). Silent when the setting is empty. Calls AWS services make on a principal's
      behalf (``userIdentity.invokedBy``) are left alone.
    * ``bedrock-job-without-isolation`` (policy-change): a customization, batch-inference, import,
      copy or evaluation job created without a VPC configuration or without a customer-managed KMS
      key, by the request parameters of :data:`JOB_ISOLATION`. MEDIUM when a job that takes both
      lacks both, LOW when one is missing. A request CloudTrail recorded without parameters is not
      judged.
    * ``bedrock-weak-tls`` (bedrock-usage, LOW): a model invocation whose client negotiated a TLS
      version (``tlsDetails.tlsVersion``) older than ``settings.min_tls_version``.

    The invocation-based checks read the invocation calls only (:data:`INVOCATION_CALLS`, on Bedrock
    and on its Mantle endpoint): that is where workloads live, and it keeps console browsing out.

Why it matters
    The Bedrock security guidance asks for temporary credentials rather than IAM users' keys (a leaked
    ``AKIA`` key is the usual start of LLMjacking), for Bedrock traffic kept on VPC endpoints
    (``aws:SourceVpce`` conditions), for training and batch data kept in a VPC and encrypted with the
    customer's own keys, and for modern TLS. None of these is an attack; each is a weakness an
    attacker uses, worth a quiet daily note.

When it fires
    As above, on successful calls only (a refused call changed nothing). The principal is always the
    caller (the actor); the long-term key check also names the key.

Response playbook
    None: drift findings are notified, never contained.

State
    :class:`DailyAlerts`, keyed by the access key (long-term key use) or the caller's ARN (the
    others): when the last finding of each severity was made. A new finding needs
    :data:`QUIET` between its event time and the last one's, whatever order events arrive in; when a
    finding is due nothing else is written, so a busy workload costs one write a day.

Bedrock's event sources, invocation calls, bearer-token flag and model field come from
:mod:`warden.detectors._bedrock`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from warden.detectors import _bedrock
from warden.detectors.registry import Outcome, detector, event_finding
from warden.models import CloudTrailRecord, Family, Severity
from warden.models.wire import Name, truncated
from warden.settings import Settings

BEDROCK = _bedrock.BEDROCK
INVOCATION_CALLS = _bedrock.INVOCATIONS
"""Model invocations on the runtime endpoint and on the Mantle endpoint (``CreateInference``)."""
QUIET = timedelta(hours=24)
RETENTION = timedelta(hours=48)

LONG_TERM_KEY = "bedrock-long-term-key-use"
OUTSIDE_VPC = "bedrock-outside-vpc-endpoint"
JOB_ISOLATION_NAME = "bedrock-job-without-isolation"
WEAK_TLS = "bedrock-weak-tls"

VPC = "vpcConfig"
JOB_ISOLATION: Mapping[str, tuple[str | None, tuple[str, ...]]] = {
    "CreateModelCustomizationJob": (VPC, ("customModelKmsKeyId",)),
    "CreateModelInvocationJob": (VPC, ("outputDataConfig", "s3OutputDataConfig", "s3EncryptionKeyId")),
    "CreateModelImportJob": (VPC, ("importedModelKmsKeyId",)),
    "CreateModelCopyJob": (None, ("modelKmsKeyId",)),
    "CreateEvaluationJob": (None, ("customerEncryptionKeyId",)),
}
"""Per job call: the request parameter holding its VPC configuration (None: the API takes none) and the
path to its customer-managed KMS key."""

TLS_VERSION = re.compile(r"TLSv(\d+)(?:\.(\d+))?")


class DailyAlerts(BaseModel):
    """When the last finding of each severity was made for one key or principal."""

    model_config = ConfigDict(defer_build=True)

    alerted: dict[Name, datetime] = Field(default_factory=dict)


def _due(state: DailyAlerts, label: str, at: datetime) -> bool:
    last = state.alerted.get(label)
    return last is None or abs(at - last) >= QUIET


def _noted(state: DailyAlerts, label: str, at: datetime) -> DailyAlerts:
    last = state.alerted.get(label)
    return DailyAlerts(alerted={**state.alerted, label: max(at, last) if last else at})


def _text(value: object, limit: int = 256) -> str | None:
    return truncated(value, limit) if isinstance(value, str) and value else None


def _acting_for_itself(record: CloudTrailRecord) -> bool:
    """A principal's own call, not one an AWS service made on its behalf."""
    identity = record.user_identity
    return identity.arn is not None and not identity.invoked_by and identity.type != "AWSService"


def _once_a_day(
    name: str,
    family: Family,
    record: CloudTrailRecord,
    state: DailyAlerts,
    severity: Severity,
    build: Callable[[], tuple[str, dict[str, Any]]],
) -> Outcome[DailyAlerts]:
    """The finding ``build`` describes (title, details), unless one of this severity was made within a day."""
    if not _due(state, severity.value, record.event_time):
        return Outcome()
    title, details = build()
    principal = record.user_identity.arn or "unknown"
    finding = event_finding(
        record,
        detector=name,
        family=family,
        severity=severity,
        title=title,
        principal=principal,
        access_key_id=record.user_identity.access_key_id,
        playbook=None,
        details={
            **details,
            "call": record.event_name,
            "identity_type": record.user_identity.type,
            "session_issuer": record.user_identity.issuer_arn,
            "source_ip": _text(record.source_ip_address, 128),
            "user_agent": _text(record.user_agent, 512),
            "quiet_hours": int(QUIET.total_seconds() // 3600),
        },
    )
    return Outcome(findings=(finding,), state=_noted(state, severity.value, record.event_time))


# --------------------------------------------------------------------------------------------------
# bedrock-long-term-key-use
# --------------------------------------------------------------------------------------------------


def _long_term_key(record: CloudTrailRecord) -> str | None:
    key = record.user_identity.access_key_id or ""
    if not key.startswith("AKIA") or not record.succeeded or _bedrock.bearer_token(record):
        return None
    return key


@detector(
    name=LONG_TERM_KEY,
    family=Family.BEDROCK_USAGE,
    state=DailyAlerts,
    consumes=INVOCATION_CALLS,
    key=_long_term_key,
    retention=RETENTION,
)
def long_term_key_use(record: CloudTrailRecord, state: DailyAlerts, settings: Settings) -> Outcome[DailyAlerts]:
    """Model invocations signed with an IAM user's long-term access key instead of temporary credentials."""
    key = _long_term_key(record)
    if key is None or not _acting_for_itself(record):
        return Outcome()

    def build() -> tuple[str, dict[str, Any]]:
        who = record.user_identity.arn
        return f"Bedrock invoked with the long-term access key {key} of {who}", {
            "credential_type": "long-term-access-key",
            "model_id": _text(_bedrock.model_of(record)),
        }

    return _once_a_day(LONG_TERM_KEY, Family.BEDROCK_USAGE, record, state, Severity.LOW, build)


# --------------------------------------------------------------------------------------------------
# bedrock-outside-vpc-endpoint
# --------------------------------------------------------------------------------------------------


def _caller(record: CloudTrailRecord) -> str | None:
    return record.user_identity.arn if record.succeeded else None


@detector(
    name=OUTSIDE_VPC,
    family=Family.BEDROCK_USAGE,
    state=DailyAlerts,
    consumes=INVOCATION_CALLS,
    key=_caller,
    retention=RETENTION,
)
def outside_vpc_endpoint(record: CloudTrailRecord, state: DailyAlerts, settings: Settings) -> Outcome[DailyAlerts]:
    """Model invocations that did not arrive through one of the expected VPC endpoints (when some are expected)."""
    expected = settings.expected_vpc_endpoints
    endpoint = record.vpc_endpoint_id
    if not expected or endpoint in expected or not record.succeeded or not _acting_for_itself(record):
        return Outcome()

    def build() -> tuple[str, dict[str, Any]]:
        how = f"through {endpoint}" if endpoint else "from outside any VPC endpoint"
        return f"Bedrock invoked by {record.user_identity.arn} {how}", {
            "vpc_endpoint_id": endpoint,
            "expected_vpc_endpoints": sorted(expected)[:10],
            "model_id": _text(_bedrock.model_of(record)),
        }

    return _once_a_day(OUTSIDE_VPC, Family.BEDROCK_USAGE, record, state, Severity.LOW, build)


# --------------------------------------------------------------------------------------------------
# bedrock-job-without-isolation
# --------------------------------------------------------------------------------------------------


def _dig(params: Mapping[str, Any], path: tuple[str, ...]) -> object:
    value: object = params
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _has_vpc(params: Mapping[str, Any], parameter: str) -> bool:
    config = params.get(parameter)
    return isinstance(config, Mapping) and bool(config.get("subnetIds"))


def _missing(record: CloudTrailRecord) -> list[str] | None:
    """What isolation a job call went without (``vpc``, ``customer-managed-key``); None when it cannot be told."""
    params = record.request_parameters
    if record.event_name not in JOB_ISOLATION or not params:
        return None
    vpc_parameter, key_path = JOB_ISOLATION[record.event_name]
    missing = []
    if vpc_parameter and not _has_vpc(params, vpc_parameter):
        missing.append("vpc")
    if not _text(_dig(params, key_path)):
        missing.append("customer-managed-key")
    return missing


@detector(
    name=JOB_ISOLATION_NAME,
    family=Family.POLICY_CHANGE,
    state=DailyAlerts,
    consumes=frozenset({(BEDROCK, n) for n in JOB_ISOLATION}),
    key=_caller,
    retention=RETENTION,
)
def job_without_isolation(record: CloudTrailRecord, state: DailyAlerts, settings: Settings) -> Outcome[DailyAlerts]:
    """Bedrock customization, batch, import, copy or evaluation jobs created without a VPC or a customer-managed key."""
    missing = _missing(record)
    if not missing or not record.succeeded or record.user_identity.arn is None:
        return Outcome()  # a stack creating the job on a deployer's behalf (invokedBy) is judged too
    vpc_parameter, _ = JOB_ISOLATION[record.event_name]
    severity = Severity.MEDIUM if vpc_parameter and len(missing) == 2 else Severity.LOW
    params = record.request_parameters or {}

    def build() -> tuple[str, dict[str, Any]]:
        job = _text(params.get("jobName")) or "a job"
        return f"{record.event_name} {job} by {record.user_identity.arn} without {' or '.join(missing)}", {
            "missing": missing,
            "job_name": _text(params.get("jobName")),
            "model_id": _text(params.get("baseModelIdentifier") or params.get("modelId")),
        }

    return _once_a_day(JOB_ISOLATION_NAME, Family.POLICY_CHANGE, record, state, severity, build)


# --------------------------------------------------------------------------------------------------
# bedrock-weak-tls
# --------------------------------------------------------------------------------------------------


def tls_version(text: str | None) -> tuple[int, int] | None:
    """``TLSv1.2`` -> (1, 2); ``TLSv1`` -> (1, 0); None for anything else."""
    matched = TLS_VERSION.fullmatch((text or "").strip())
    return (int(matched.group(1)), int(matched.group(2) or 0)) if matched else None


def _tls_caller(record: CloudTrailRecord) -> str | None:
    """Only calls with an older TLS than the newest can be weak; the rest need no state."""
    details = record.tls_details
    version = tls_version(details.tls_version if details else None)
    if version is None or version >= (1, 3):
        return None
    return _caller(record)


@detector(
    name=WEAK_TLS,
    family=Family.BEDROCK_USAGE,
    state=DailyAlerts,
    consumes=INVOCATION_CALLS,
    key=_tls_caller,
    retention=RETENTION,
)
def weak_tls(record: CloudTrailRecord, state: DailyAlerts, settings: Settings) -> Outcome[DailyAlerts]:
    """Model invocations whose client negotiated an older TLS version than ``settings.min_tls_version``."""
    negotiated = record.tls_details.tls_version if record.tls_details else None
    version, minimum = tls_version(negotiated), tls_version(settings.min_tls_version)
    if version is None or minimum is None or version >= minimum or not record.succeeded:
        return Outcome()
    if not _acting_for_itself(record):
        return Outcome()

    def build() -> tuple[str, dict[str, Any]]:
        return f"Bedrock invoked by {record.user_identity.arn} over {negotiated}", {
            "tls_version": negotiated,
            "min_tls_version": settings.min_tls_version,
            "cipher_suite": record.tls_details.cipher_suite if record.tls_details else None,
        }

    return _once_a_day(WEAK_TLS, Family.BEDROCK_USAGE, record, state, Severity.LOW, build)
