"""The deployer's configuration of detection: what is trusted, expected and required in this account.

One validated model, built at the handler edge from the stack's parameters (see
:class:`warden.config.DetectorConfig`) and handed to every detector as an explicit argument, so that
detectors stay pure. Every default fits a first deployment: quiet on a normal account.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str | None = None
    """The account the stack is deployed in; always trusted."""
    trusted_accounts: frozenset[str] = frozenset()
    """Other accounts whose principals may be trusted (the organization's, a vendor's)."""
    organization_id: str | None = None
    """A policy condition on ``aws:PrincipalOrgID`` equal to this restores trust in any principal."""
    expected_vpc_endpoints: frozenset[str] = frozenset()
    """VPC endpoint ids Bedrock calls must arrive through; empty turns the check off."""
    require_guardrail: bool = False
    """Model invocations without a guardrail are findings."""
    min_tls_version: str = "TLSv1.2"
    """Clients negotiating an older TLS version are findings."""
    baseline_warmup: timedelta = timedelta(days=7)
    """How long a principal's baseline only learns before anything new about it is a finding."""
    baseline_min_events: int = Field(default=20, ge=1)
    """And how many of its calls the baseline must have seen."""
    baseline_sensitivity: float = Field(default=10.0, gt=1.0)
    """How many times its own usual volume (per model and hour) a principal must reach to be a surge."""
    deployment_principals: frozenset[str] = frozenset()
    """ARNs allowed to change Warden's own resources (the deployment role); anyone else is tampering."""
    warden_stack_name: str | None = None
    """Warden's resources are named after its stack; changes to them by others are tampering."""
    warden_resources: frozenset[str] = frozenset()
    """Names and ARNs of Warden's rules, functions, state machines, buses and layer."""
    invocation_log_bucket: str | None = None
    invocation_log_group: str | None = None

    def trusts_account(self, account: str) -> bool:
        return account == self.account_id or account in self.trusted_accounts


DEFAULT_SETTINGS = Settings()
