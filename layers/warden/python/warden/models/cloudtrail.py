"""CloudTrail records, as CloudTrail writes them to S3 and as EventBridge delivers them.

A *record* is one CloudTrail event (an element of ``{"Records": [...]}`` in a log file, or the
``detail`` of an EventBridge "AWS API Call via CloudTrail" event). Field names follow CloudTrail's
camelCase on the wire and snake_case in Python. Unknown fields are ignored: CloudTrail adds fields
over time and a detector must not break because of it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from warden.models.eventbridge import EventBridgeEnvelope
from warden.models.wire import WireModel

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
EARLIEST = datetime(2005, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Event times outside [EARLIEST, LATEST) are refused: CloudTrail did not exist before, and time
arithmetic near the ends of ``datetime`` overflows. How far an event may be from its arrival is the
detection service's decision, not the model's."""


def _plausible(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"must be from {EARLIEST.year} to {LATEST.year - 1}")
    return moment


EventTime = Annotated[AwareDatetime, AfterValidator(_plausible)]
IdentityArn = Annotated[str, Field(max_length=2048)]
"""IAM's own limit for an ARN; longer is not an AWS identity."""
IdentityName = Annotated[str, Field(max_length=256)]
"""Account ids, key ids, user and role names, principal ids and types are far shorter in AWS."""


class SessionIssuer(WireModel):
    type: IdentityName | None = None
    principal_id: IdentityName | None = None
    arn: IdentityArn | None = None
    account_id: IdentityName | None = None
    user_name: IdentityName | None = None


class SessionContext(WireModel):
    session_issuer: SessionIssuer | None = None
    attributes: dict[str, Any] | None = None


class UserIdentity(WireModel):
    type: IdentityName | None = None
    principal_id: IdentityName | None = None
    arn: IdentityArn | None = None
    account_id: IdentityName | None = None
    access_key_id: IdentityName | None = None
    user_name: IdentityName | None = None
    session_context: SessionContext | None = None
    invoked_by: IdentityName | None = None

    @property
    def issuer_arn(self) -> str | None:
        """The role (or user) behind a session, or None for long-term identities."""
        if self.session_context and self.session_context.session_issuer:
            return self.session_context.session_issuer.arn
        return None

    @property
    def credential_type(self) -> Literal["long-term-access-key", "temporary-session", "console-or-service", "unknown"]:
        """What kind of credential signed the call, from its access key prefix."""
        key = self.access_key_id or ""
        if key.startswith("AKIA"):
            return "long-term-access-key"
        if key.startswith("ASIA"):
            return "temporary-session"
        if self.invoked_by or self.type in {"AWSService", "AWSAccount"}:
            return "console-or-service"
        return "unknown"


class TlsDetails(WireModel):
    tls_version: IdentityName | None = None
    cipher_suite: IdentityName | None = None
    client_provided_host_header: IdentityName | None = None


class CloudTrailRecord(WireModel):
    """One CloudTrail event record."""

    event_version: str | None = None
    event_time: EventTime
    event_source: str = Field(min_length=1, max_length=256)
    event_name: str = Field(min_length=1, max_length=256)
    aws_region: str = Field(min_length=1, max_length=256)
    event_id: str = Field(alias="eventID", min_length=1, max_length=256)
    user_identity: UserIdentity
    source_ip_address: str | None = Field(default=None, alias="sourceIPAddress")
    user_agent: str | None = None
    request_parameters: dict[str, Any] | None = None
    response_elements: dict[str, Any] | None = None
    additional_event_data: dict[str, Any] | None = None
    request_id: str | None = Field(default=None, alias="requestID")
    event_type: str | None = None
    read_only: bool | None = None
    management_event: bool | None = None
    event_category: str | None = None
    recipient_account_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    tls_details: TlsDetails | None = None
    resources: list[dict[str, Any]] | None = None
    shared_event_id: str | None = Field(default=None, alias="sharedEventID")
    vpc_endpoint_id: IdentityName | None = None

    @property
    def succeeded(self) -> bool:
        return self.error_code is None

    @property
    def account(self) -> str:
        """The account the event happened in (falls back to the caller's account)."""
        return self.recipient_account_id or self.user_identity.account_id or "unknown"

    @property
    def region(self) -> str:
        return self.aws_region

    @property
    def actor_arns(self) -> frozenset[str]:
        """Every ARN that identifies the caller: the principal itself and, for sessions, its issuer."""
        arns = {self.user_identity.arn, self.user_identity.issuer_arn}
        return frozenset(arn for arn in arns if arn)

    @property
    def bearer_token(self) -> bool:
        """The call was signed with a Bedrock API key (``Authorization: Bearer``), not SigV4."""
        flag = (self.additional_event_data or {}).get("callWithBearerToken")
        if flag is None:  # the bedrock-mantle endpoint records it among the request parameters
            flag = (self.request_parameters or {}).get("callWithBearerToken")
        return flag is True or (isinstance(flag, str) and flag.lower() == "true")

    @property
    def model_id(self) -> str | None:
        params = self.request_parameters or {}
        value = params.get("modelId") or params.get("modelIdentifier") or params.get("model")  # model: bedrock-mantle
        return value if isinstance(value, str) else None


class CloudTrailEvent(EventBridgeEnvelope):
    """An EventBridge "AWS API Call via CloudTrail" event whose detail is a CloudTrail record."""

    detail: CloudTrailRecord
