"""Typed models for everything that crosses a boundary: log records in, findings out."""

from warden.models.cloudtrail import CloudTrailEvent, CloudTrailRecord, SessionIssuer, UserIdentity
from warden.models.finding import Family, Finding, FindingUpdate, Severity
from warden.models.guardduty import GUARDDUTY_SOURCE, GuardDutyEvent, GuardDutyFinding
from warden.models.invocation_log import INVOCATION_LOG_SOURCE, ModelInvocationLog
from warden.models.record import Record

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
