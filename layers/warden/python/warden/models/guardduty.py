"""GuardDuty findings, as EventBridge delivers them (source ``aws.guardduty``, "GuardDuty Finding").

Built on first use (``defer_build``): only the bedrock-usage functions validate GuardDuty findings, and only
when one arrives, so the other functions' cold starts do not build them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from warden.models.cloudtrail import EventTime, IdentityArn, IdentityName
from warden.models.eventbridge import EventBridgeEnvelope
from warden.models.wire import WireModel

GUARDDUTY_DETAIL_TYPE = "GuardDuty Finding"
GUARDDUTY_SOURCE = "guardduty.amazonaws.com"
"""The ``event_source`` of a GuardDuty finding, as detectors' ``consumes`` name it."""


class AccessKeyDetails(WireModel):
    model_config = ConfigDict(defer_build=True)

    access_key_id: IdentityName | None = None
    principal_id: IdentityName | None = None
    user_name: IdentityName | None = None
    user_type: IdentityName | None = None


class ModelDetail(WireModel):
    """One model an AI Protection finding names: a foundation model id, a profile, custom or imported model ARN."""

    model_config = ConfigDict(defer_build=True)

    model_id: IdentityArn | None = None


class GuardDutyResource(WireModel):
    model_config = ConfigDict(defer_build=True)

    resource_type: IdentityName | None = None
    access_key_details: AccessKeyDetails | None = None
    model_details: list[ModelDetail] | None = None
    """AI Protection findings (AnomalousModelInvocation, CostHarvesting) list the models invoked."""


class GuardDutyService(WireModel):
    model_config = ConfigDict(defer_build=True)

    service_name: str | None = None
    action: dict[str, Any] | None = None
    event_first_seen: EventTime | None = None
    event_last_seen: EventTime | None = None
    count: int | None = None
    archived: bool | None = None
    additional_info: dict[str, Any] | None = None
    """Free-form; ``sample: true`` marks a finding made by CreateSampleFindings (a test, not an incident)."""


class GuardDutyFinding(WireModel):
    """One GuardDuty finding (the ``detail`` of its EventBridge event)."""

    model_config = ConfigDict(defer_build=True)

    id: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=256)
    account_id: IdentityName
    region: IdentityName
    arn: IdentityArn | None = None
    partition: IdentityName | None = None
    """``aws``, ``aws-cn`` or ``aws-us-gov``: the partition of the ARNs built from this finding."""
    severity: float = Field(ge=0, le=10)
    title: str | None = Field(default=None, max_length=1024)
    created_at: EventTime | None = None
    updated_at: EventTime
    resource: GuardDutyResource = Field(default_factory=GuardDutyResource)
    service: GuardDutyService = Field(default_factory=GuardDutyService)

    @property
    def event_id(self) -> str:
        return f"{self.id}@{self.updated_at.isoformat()}"

    @property
    def event_time(self) -> datetime:
        return self.updated_at

    @property
    def event_source(self) -> str:
        return GUARDDUTY_SOURCE

    @property
    def event_name(self) -> str:
        return self.type

    @property
    def actor_arns(self) -> frozenset[str]:
        return frozenset()

    @property
    def account(self) -> str:
        return self.account_id


class GuardDutyEvent(EventBridgeEnvelope):
    model_config = ConfigDict(defer_build=True)

    detail: GuardDutyFinding
