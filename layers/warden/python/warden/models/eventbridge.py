"""The envelope EventBridge puts around every event, validated as Powertools' ``EventBridgeModel`` validates it.

Warden's own model, not Powertools': importing anything from ``aws_lambda_powertools.utilities.parser``
imports the whole parser package first (its ``TypeAdapter`` cache and pydantic's network types), about
40 ms of every detector function's cold start for an envelope of ten fields. The fields, their order, the
aliases and the types are Powertools' (``tests/unit/test_models.py`` compares the two), so that an event
validates, fails and dumps alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

SCHEDULER_SOURCE = "aws.scheduler"
EMPTY_SCHEDULER_DETAIL = "{}"
"""EventBridge Scheduler delivers an event without a payload with the string ``"{}"`` as its detail."""


class EventBridgeEnvelope(BaseModel):
    """An EventBridge event; a subclass narrows ``detail`` to the record it carries."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: str | None = Field(default=None, alias="replay-name")

    @field_validator("detail", mode="before")
    @classmethod
    def _scheduler_detail(cls, value: Any, info: ValidationInfo) -> Any:
        """A Scheduler event's ``"{}"`` detail is an empty object."""
        if info.data.get("source") == SCHEDULER_SOURCE and value == EMPTY_SCHEDULER_DETAIL:
            return {}
        return value
