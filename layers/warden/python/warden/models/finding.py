"""The normalized finding every detector emits and every playbook consumes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FINDING_SOURCE = "bedrock-warden"
FINDING_DETAIL_TYPE = "Warden Finding"


class Severity(StrEnum):
    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Family(StrEnum):
    BEDROCK_USAGE = "bedrock-usage"
    POLICY_CHANGE = "policy-change"
    CROSS_ACCOUNT = "cross-account"


def finding_id(detector: str, evidence: Iterable[str]) -> str:
    """Deterministic id: the same detector over the same evidence always gives the same id.

    The id doubles as the playbook execution's idempotency key, so it is short and uses only
    characters that Step Functions accepts in an execution name.
    """
    material = "\n".join([detector, *sorted(set(evidence))])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


class Finding(BaseModel):
    """A security finding. Serialises to the JSON contract documented in docs/findings.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern="^[0-9a-f]{32}$")
    detector: str
    family: Family
    severity: Severity
    title: str
    principal: str
    access_key_id: str | None = None
    account: str
    region: str
    first_seen: datetime
    last_seen: datetime
    evidence: tuple[str, ...] = Field(min_length=1)
    playbook: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def build(cls, *, detector: str, evidence: Iterable[str], **fields: Any) -> Finding:
        """Create a finding whose id is derived from its detector and evidence."""
        ordered = tuple(dict.fromkeys(evidence))
        return cls(id=finding_id(detector, ordered), detector=detector, evidence=ordered, **fields)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
