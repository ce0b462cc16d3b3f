"""Typed models for everything that crosses a boundary: log records in, findings out.

Each name is imported from its module when first asked for (PEP 562), not when the package is: a function
that reads only findings (the notifiers, the response policy) then never builds the CloudTrail, GuardDuty
and invocation-log models, and importing ``warden.models.finding`` does not build them either.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warden.models.cloudtrail import CloudTrailEvent, CloudTrailRecord, SessionIssuer, UserIdentity
    from warden.models.finding import Family, Finding, FindingUpdate, Severity
    from warden.models.guardduty import GUARDDUTY_SOURCE, GuardDutyEvent, GuardDutyFinding
    from warden.models.invocation_log import INVOCATION_LOG_SOURCE, ModelInvocationLog
    from warden.models.record import Record

_HOMES = {
    "CloudTrailEvent": "cloudtrail",
    "CloudTrailRecord": "cloudtrail",
    "SessionIssuer": "cloudtrail",
    "UserIdentity": "cloudtrail",
    "Family": "finding",
    "Finding": "finding",
    "FindingUpdate": "finding",
    "Severity": "finding",
    "GUARDDUTY_SOURCE": "guardduty",
    "GuardDutyEvent": "guardduty",
    "GuardDutyFinding": "guardduty",
    "INVOCATION_LOG_SOURCE": "invocation_log",
    "ModelInvocationLog": "invocation_log",
    "Record": "record",
}
"""Where each exported name is defined (a test holds it to the TYPE_CHECKING imports above)."""

__all__ = [
    "GUARDDUTY_SOURCE",
    "INVOCATION_LOG_SOURCE",
    "CloudTrailEvent",
    "CloudTrailRecord",
    "Family",
    "Finding",
    "FindingUpdate",
    "GuardDutyEvent",
    "GuardDutyFinding",
    "ModelInvocationLog",
    "Record",
    "SessionIssuer",
    "Severity",
    "UserIdentity",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # the next lookup is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
