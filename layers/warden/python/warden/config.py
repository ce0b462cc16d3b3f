"""Function configuration: a validated model read from the environment at the handler edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warden.errors import ConfigurationError
from warden.models import Severity
from warden.routing import Route, RouteError, parse_routes
from warden.settings import Settings


class EnvironmentModel(BaseModel):
    """A configuration read from environment variables named by its fields' aliases.

    Built on first use (``defer_build``): every function imports several configurations (this module's and
    its notifier's) and reads one, so the others' validators are never built.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = dict(os.environ if environ is None else environ)
        env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", ""))
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        try:
            return cls.model_validate({key: value for key, value in env.items() if key in known})
        except ValidationError as exc:
            missing = ", ".join(str(err["loc"][0]) for err in exc.errors(include_input=False))
            raise ConfigurationError(f"invalid or missing environment variables: {missing}") from exc


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _parse_routes(value: object) -> object:
    try:
        return parse_routes(value) if isinstance(value, str) else value
    except RouteError as exc:
        raise ValueError(str(exc)) from exc


class DetectorConfig(EnvironmentModel):
    """What a detector function needs to know about the stack it runs in.

    Frozen and hashable, so that adapters built from it can be cached per configuration.
    """

    state_table: str = Field(alias="WARDEN_STATE_TABLE", min_length=1)
    findings_bus: str = Field(alias="WARDEN_FINDINGS_BUS", min_length=1)
    dead_letter_queue_url: str = Field(alias="WARDEN_DEAD_LETTER_QUEUE_URL", min_length=1)
    idempotency_table: str | None = Field(default=None, alias="WARDEN_IDEMPOTENCY_TABLE")
    self_principals: tuple[str, ...] = Field(default=(), alias="WARDEN_SELF_PRINCIPALS")
    region: str = Field(alias="AWS_REGION", min_length=1)
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    max_event_age_seconds: int = Field(default=6 * 3600, alias="WARDEN_MAX_EVENT_AGE_SECONDS", gt=0, le=7 * 86400)
    """Older events are refused. Default 6 h: EventBridge retries for up to 1 h, Lambda's asynchronous
    retries add up to 1 h more, and CloudTrail delivers most events within 15 min."""
    max_clock_skew_seconds: int = Field(default=15 * 60, alias="WARDEN_MAX_CLOCK_SKEW_SECONDS", ge=0, le=86400)
    """Events dated further ahead of their arrival than this are refused."""
    account_id: str | None = Field(default=None, alias="WARDEN_ACCOUNT_ID")
    trusted_accounts: tuple[str, ...] = Field(default=(), alias="WARDEN_TRUSTED_ACCOUNTS")
    organization_id: str | None = Field(default=None, alias="WARDEN_ORGANIZATION_ID")
    expected_vpc_endpoints: tuple[str, ...] = Field(default=(), alias="WARDEN_EXPECTED_VPC_ENDPOINTS")
    require_guardrail: bool = Field(default=False, alias="WARDEN_REQUIRE_GUARDRAIL")
    min_tls_version: str = Field(default="TLSv1.2", alias="WARDEN_MIN_TLS_VERSION")
    baseline_warmup_days: int = Field(default=7, alias="WARDEN_BASELINE_WARMUP_DAYS", ge=0, le=90)
    baseline_sensitivity: float = Field(default=10.0, alias="WARDEN_BASELINE_SENSITIVITY", gt=1.0, le=1000.0)
    deployment_principals: tuple[str, ...] = Field(default=(), alias="WARDEN_DEPLOYMENT_PRINCIPALS")
    stack_name: str | None = Field(default=None, alias="WARDEN_STACK_NAME")
    warden_resources: tuple[str, ...] = Field(default=(), alias="WARDEN_RESOURCES")
    invocation_log_bucket: str | None = Field(default=None, alias="WARDEN_INVOCATION_LOG_BUCKET")
    invocation_log_group: str | None = Field(default=None, alias="WARDEN_INVOCATION_LOG_GROUP")
    routes: tuple[Route, ...] = Field(default=(), alias="WARDEN_RESPONSE_ROUTES")
    """The routing table (:mod:`warden.routing`): a matching entry's playbook replaces the detector's."""

    @property
    def settings(self) -> Settings:
        """The deployer's detection settings, as every detector gets them."""
        return Settings(
            account_id=self.account_id,
            trusted_accounts=frozenset(self.trusted_accounts),
            organization_id=self.organization_id or None,
            expected_vpc_endpoints=frozenset(self.expected_vpc_endpoints),
            require_guardrail=self.require_guardrail,
            min_tls_version=self.min_tls_version,
            baseline_warmup=timedelta(days=self.baseline_warmup_days),
            baseline_sensitivity=self.baseline_sensitivity,
            deployment_principals=frozenset(self.deployment_principals),
            warden_stack_name=self.stack_name or None,
            warden_resources=frozenset(self.warden_resources),
            invocation_log_bucket=self.invocation_log_bucket or None,
            invocation_log_group=self.invocation_log_group or None,
        )

    @property
    def max_event_age(self) -> timedelta:
        return timedelta(seconds=self.max_event_age_seconds)

    @property
    def max_clock_skew(self) -> timedelta:
        return timedelta(seconds=self.max_clock_skew_seconds)

    _split = field_validator(
        "self_principals",
        "trusted_accounts",
        "expected_vpc_endpoints",
        "deployment_principals",
        "warden_resources",
        mode="before",
    )(_split_list)

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        return _parse_routes(value)


class ResponseConfig(EnvironmentModel):
    """The stack's response settings, for the response-policy function (see :mod:`warden.response`)."""

    account_id: str = Field(alias="WARDEN_ACCOUNT_ID", min_length=1)
    mode: str = Field(default="dry-run", alias="WARDEN_RESPONSE_MODE")
    """The default mode (``dry-run``, ``approve`` or ``auto``) at or above ``auto_min_severity``; any other
    value plans and notifies."""
    routes: tuple[Route, ...] = Field(default=(), alias="WARDEN_RESPONSE_ROUTES")
    """The routing table (:mod:`warden.routing`): mode, and playbook, by family and severity."""
    approval_timeout_seconds: int = Field(default=3600, alias="WARDEN_APPROVAL_TIMEOUT_SECONDS", ge=1, le=7 * 86400)
    """How long an ``approve``-mode playbook waits for a person before ``approval_default`` applies."""
    approval_default: Literal["approve", "reject"] = Field(default="reject", alias="WARDEN_APPROVAL_DEFAULT")
    """What an approval nobody answered in time becomes: ``reject`` (nothing changes) unless told otherwise."""
    rate_limit: int = Field(default=10, alias="WARDEN_CONTAINMENT_RATE_LIMIT", ge=0, le=10_000)
    """Automatic containments allowed in any hour; beyond it, further ones wait for approval."""
    protected: tuple[str, ...] = Field(default=(), alias="WARDEN_PROTECTED_PRINCIPALS")
    """Protected principals: the ProtectedPrincipals parameter plus (after validation) the stack's own roles."""
    own_roles: tuple[str, ...] = Field(default=(), alias="WARDEN_OWN_ROLES")
    """The names of the stack's own roles, in its account: protected like the entries of ``protected``."""
    responder_role_prefix: str = Field(default="", alias="WARDEN_RESPONDER_ROLE_PREFIX")
    """``arn:<partition>:iam::<account>:role/<stack>-``: a playbook's IAM and Bedrock calls are made as the role
    of this prefix and the playbook's name (its Tasks' ``Credentials.RoleArn``)."""
    contain_all_keys: bool = Field(default=False, alias="WARDEN_CONTAIN_ALL_KEYS")
    """contain-access-key deactivates every active key of the owner, not only the finding's."""
    contain_user_deny: bool = Field(default=False, alias="WARDEN_CONTAIN_USER_DENY")
    """contain-access-key also puts an inline deny of Bedrock invocation and credential creation on the owner."""
    auto_min_severity: Severity = Field(default=Severity.HIGH, alias="WARDEN_AUTO_CONTAIN_MIN_SEVERITY")
    incident_lease: timedelta = Field(default=timedelta(minutes=15), alias="WARDEN_INCIDENT_LEASE_SECONDS")
    """After this long an incident still OPEN belongs to nobody: its execution died unreported."""

    @field_validator("incident_lease", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        return timedelta(seconds=int(value)) if isinstance(value, str) and value.isdigit() else value

    _split = field_validator("protected", "own_roles", mode="before")(_split_list)

    @model_validator(mode="after")
    def _own_roles_are_protected(self) -> Self:
        """Fold the stack's own role names into ``protected`` as ARNs of the stack's account."""
        own = tuple(f"arn:aws:iam::{self.account_id}:role/{name}" for name in self.own_roles)
        missing = tuple(arn for arn in own if arn not in self.protected)
        if missing:
            object.__setattr__(self, "protected", self.protected + missing)
        return self

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        return _parse_routes(value)
