"""Typed models for everything that crosses a boundary: log records in, findings out."""

from warden.models.cloudtrail import CloudTrailEvent, CloudTrailRecord, SessionIssuer, UserIdentity
from warden.models.finding import Family, Finding, Severity
from warden.models.invocation_log import ModelInvocationLog

__all__ = [
    "CloudTrailEvent",
    "CloudTrailRecord",
    "Family",
    "Finding",
    "ModelInvocationLog",
    "SessionIssuer",
    "Severity",
    "UserIdentity",
]
