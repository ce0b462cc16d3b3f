"""Who a policy lets in: the principals of a role trust policy or a resource policy outside the deployer's trust.

"Trusted" is the deployer's account (``settings.account_id``, or the record's own account when that is
not set), ``settings.trusted_accounts``, AWS service principals acting for a trusted account, and any
principal at all when the statement restricts the caller to the organization (``aws:PrincipalOrgID`` or
``aws:PrincipalOrgPaths`` equal to ``settings.organization_id``) or to trusted accounts
(``aws:PrincipalAccount``, ``aws:PrincipalArn``, ``aws:SourceAccount``, ``aws:SourceArn``,
``kms:CallerAccount``).

Deliberately *not* restoring trust:

* ``aws:ResourceOrgID``: it constrains the resource being accessed (here the role or bucket itself,
  which is always ours), not who the caller is.
* ``sts:ExternalId``: a shared secret with the outside account, which stays outside.
* ``aws:SourceIp``, ``aws:SourceVpc``, ``aws:SourceVpce``: anyone can own an address or a VPC endpoint,
  and a backdoor names the attacker's own.
* any ``...IfExists`` operator or ``ForAllValues:`` qualifier: both are true when the key is absent.

Everything here is pure and never raises on a document an attacker wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from warden.policy_documents import ACCOUNT_ID, Statement, action_matches, principal_account
from warden.settings import Settings

ASSUME_ACTIONS = ("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML")

POSITIVE_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"})
NEGATED_OPERATORS = frozenset(
    {"stringnotequals", "stringnotequalsignorecase", "stringnotlike", "arnnotequals", "arnnotlike"}
)
ORG_KEYS = frozenset({"aws:principalorgid", "aws:sourceorgid"})
ORG_PATH_KEYS = frozenset({"aws:principalorgpaths", "aws:sourceorgpaths"})
ACCOUNT_KEYS = frozenset({"aws:principalaccount", "aws:sourceaccount", "aws:sourceowner", "kms:calleraccount"})
ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn"})
SOURCE_ACCOUNT_KEYS = frozenset({"aws:sourceaccount", "aws:sourceowner"})

SHARED_OIDC_ISSUERS = frozenset({"token.actions.githubusercontent.com", "gitlab.com", "app.terraform.io"})
"""OIDC issuers every customer of the platform shares: without a ``sub`` condition, any of their
repositories or workspaces can assume the role (the well-known GitHub Actions hole)."""
PUBLIC_IDENTITY_PROVIDERS = frozenset(
    {"accounts.google.com", "graph.facebook.com", "www.amazon.com", "cognito-identity.amazonaws.com"}
)
"""Web identity providers named without an ARN: anyone with an account there holds a token."""
WILDCARDS = re.compile(r"[*?]")

Reach = Literal["everyone", "account", "federated", "service", "grantee"]


@dataclass(frozen=True)
class Trust:
    """The accounts and organization the deployer trusts, as one record sees them."""

    accounts: frozenset[str]
    organization_id: str | None

    @classmethod
    def of(cls, settings: Settings, record_account: str) -> Trust:
        own = settings.account_id or record_account
        return cls(accounts=frozenset({own, *settings.trusted_accounts}), organization_id=settings.organization_id)

    def account(self, account: str | None) -> bool:
        return account is not None and account in self.accounts


@dataclass(frozen=True)
class Exposure:
    """One principal outside the trusted set that a policy lets in."""

    reach: Reach
    principal: str
    """As the policy names it: ``*``, an account id, an ARN, a federated provider, a service."""
    account: str | None = None
    """The outside account, when the principal reveals it."""
    open: bool = False
    """Anyone can use it with no shared secret: ``*`` without conditions, or a public identity provider."""
    guarded: bool = False
    """The statement has conditions, none of which restores trust (``sts:ExternalId``, a source IP...)."""

    @property
    def label(self) -> str:
        return self.account or self.principal


def covers(statement: Statement, actions: tuple[str, ...] | None) -> bool:
    """Whether the statement applies to any of ``actions`` (None: to any action at all)."""
    if actions is None:
        return bool(statement.actions or statement.not_actions)
    if statement.actions:
        return any(action_matches(pattern, action) for pattern in statement.actions for action in actions)
    if statement.not_actions:
        return any(not any(action_matches(p, action) for p in statement.not_actions) for action in actions)
    return False


def exposures(statements: Iterable[Statement], trust: Trust, actions: tuple[str, ...] | None = None) -> list[Exposure]:
    """Every principal outside ``trust`` that an Allow statement covering ``actions`` lets in.

    A Deny for everyone that spares only the organization or trusted accounts walls every Allow off.
    """
    statements = list(statements)
    if any(_walls_off(s, trust, actions) for s in statements):
        return []
    found: dict[tuple[str, str], Exposure] = {}
    for statement in statements:
        if not statement.allows or not covers(statement, actions) or restores_trust(statement, trust):
            continue
        for exposure in _statement_exposures(statement, trust):
            found.setdefault((exposure.reach, exposure.principal), exposure)
    return list(found.values())


def restores_trust(statement: Statement, trust: Trust) -> bool:
    """Whether a condition of the statement admits only trusted callers, whoever the principal names."""
    return any(
        _positive(operator) and _restricting(key, values, trust)
        for operator, by_key in statement.conditions.items()
        for key, values in by_key.items()
    )


def organization_admission(statements: Iterable[Statement], trust: Trust) -> tuple[bool, frozenset[str]]:
    """How a role trust policy admits outside accounts: ``(org_wide, named)``.

    ``org_wide``: any principal restricted to the organization may assume the role, and nobody else
    without being named. ``named``: the accounts named by statements that do not require the
    organization. An outside caller of an org-wide role whose account is not named can only have
    got in as a member of the organization.
    """
    org_wide, open_to_all = False, False
    named: set[str] = set()
    for statement in statements:
        if not statement.allows or not covers(statement, ASSUME_ACTIONS):
            continue
        in_org = trust.organization_id is not None and restores_trust(statement, trust)
        if _everyone(statement):
            org_wide = org_wide or in_org
            open_to_all = open_to_all or not in_org
        elif not in_org:
            named.update(a for kind, value in statement.principals if kind == "AWS" and (a := principal_account(value)))
    return org_wide and not open_to_all, frozenset(named)


def _statement_exposures(statement: Statement, trust: Trust) -> Iterable[Exposure]:
    guarded = bool(statement.conditions)
    if statement.not_principals:  # Allow with NotPrincipal: everyone except a few
        yield Exposure("everyone", "*", open=not guarded, guarded=guarded)
        return
    for kind, value in statement.principals:
        exposure: Exposure | None
        if kind == "*" or (kind == "AWS" and value == "*"):
            exposure = Exposure("everyone", "*", open=not guarded, guarded=guarded)
        elif kind == "AWS":
            exposure = _aws_principal(value, trust, guarded)
        elif kind == "Service":
            exposure = _service_principal(value, statement, trust)
        elif kind == "Federated":
            exposure = _federated_principal(value, statement, trust)
        else:  # CanonicalUser (CloudFront origin access identities): no account to judge
            exposure = None
        if exposure is not None:
            yield exposure


def _aws_principal(value: str, trust: Trust, guarded: bool) -> Exposure | None:
    account = principal_account(value)
    if account is None or trust.account(account):
        return None  # unique ids of deleted principals and non-account users cannot be judged
    return Exposure("account", value, account=account, guarded=guarded)


def _service_principal(value: str, statement: Statement, trust: Trust) -> Exposure | None:
    """A service acting for an outside account, when the statement's source conditions name one."""
    sources: list[str] = []
    for operator, by_key in statement.conditions.items():
        if _positive(operator):
            sources += [v for key, values in by_key.items() if key in SOURCE_ACCOUNT_KEYS for v in values]
            sources += [a for v in by_key.get("aws:sourcearn", ()) if (a := _arn_account(v))]
    outside = sorted({account for account in sources if not trust.account(account)})
    return Exposure("service", value, account=outside[0], guarded=True) if outside else None


def _federated_principal(value: str, statement: Statement, trust: Trust) -> Exposure | None:
    if value.startswith("arn:"):
        account = _arn_account(value)
        if account is not None and not trust.account(account):
            return Exposure("account", value, account=account, guarded=bool(statement.conditions))
        _, _, provider = value.partition(":oidc-provider/")
        if not provider or _narrowed(statement, f"{provider}:sub"):
            return None  # a SAML provider of the account, or an OIDC provider with a subject condition
        shared = provider.lower() in SHARED_OIDC_ISSUERS  # not GitHub Enterprise's own issuer (a path)
        return Exposure("federated", value, open=shared, guarded=bool(statement.conditions))
    if value.lower() in PUBLIC_IDENTITY_PROVIDERS:
        if _narrowed(statement, f"{value}:aud") or _narrowed(statement, f"{value}:sub"):
            return None
        return Exposure("federated", value, open=True, guarded=bool(statement.conditions))
    return None


def _narrowed(statement: Statement, key: str) -> bool:
    """A positive condition on ``key`` whose every value names something (not just ``*`` or ``repo:*``)."""
    wanted = key.lower()
    clauses = [
        values
        for operator, by_key in statement.conditions.items()
        if _positive(operator)
        for k, values in by_key.items()
        if k == wanted
    ]
    return any(values and all(_specific(v) for v in values) for values in clauses)


def _specific(value: str) -> bool:
    literal = WILDCARDS.split(value, 1)[0]
    _, _, rest = literal.partition(":")
    return bool((rest if ":" in literal else literal).strip())


def _walls_off(statement: Statement, trust: Trust, actions: tuple[str, ...] | None) -> bool:
    """A Deny for everyone, unconditional or sparing only trusted callers: no outsider gets past it."""
    if statement.allows or not covers(statement, actions) or not _everyone(statement):
        return False
    clauses = [(op, key, values) for op, by_key in statement.conditions.items() for key, values in by_key.items()]
    return all(_negated(op) and _restricting(key, values, trust) for op, key, values in clauses)


def _everyone(statement: Statement) -> bool:
    return any(kind == "*" or (kind == "AWS" and value == "*") for kind, value in statement.principals)


def _restricting(key: str, values: tuple[str, ...], trust: Trust) -> bool:
    """Whether requiring ``key`` to match one of ``values`` admits trusted callers only."""
    if not values:
        return False
    org = trust.organization_id
    if key in ORG_KEYS:
        return org is not None and all(v == org for v in values)
    if key in ORG_PATH_KEYS:
        return org is not None and all(WILDCARDS.split(v, 1)[0].startswith(f"{org}/") for v in values)
    if key in ACCOUNT_KEYS:
        return all(trust.account(v) for v in values)
    if key in ARN_KEYS:
        return all(trust.account(_arn_account(v)) for v in values)
    return False


def _operator(operator: str) -> tuple[str, bool]:
    """The bare operator (lower case) and whether it is true when the key is absent."""
    name = operator.lower()
    absent_true = name.startswith("forallvalues:") or name.endswith("ifexists")
    name = name.removeprefix("foranyvalue:").removeprefix("forallvalues:").removesuffix("ifexists")
    return name, absent_true


def _positive(operator: str) -> bool:
    name, absent_true = _operator(operator)
    return name in POSITIVE_OPERATORS and not absent_true


def _negated(operator: str) -> bool:
    """A negated match: in a Deny it also catches callers without the key, with or without IfExists."""
    name, _ = _operator(operator)
    return name in NEGATED_OPERATORS and not operator.lower().startswith("forallvalues:")


def _arn_account(value: str) -> str | None:
    parts = value.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and ACCOUNT_ID.match(parts[4]):
        return parts[4]
    return None
