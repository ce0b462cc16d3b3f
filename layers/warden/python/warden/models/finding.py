"""The normalized finding every detector emits and every playbook consumes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FINDING_SOURCE = "bedrock-warden"
FINDING_DETAIL_TYPE = "Warden Finding"
FINDING_UPDATE_DETAIL_TYPE = "Warden Finding Update"
"""A repeat merged into a published finding: no playbook route matches it; the archive and subscribers see it."""
UNSEALED = "0" * 32
"""A placeholder id, replaced by the sealed one once the content is validated."""


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


SEALED_FIELDS = (
    "detector", "family", "severity", "title", "principal", "access_key_id", "account", "region",
    "first_seen", "last_seen", "evidence", "playbook",
)  # fmt: skip
"""What a finding's id is sealed over: everything that steers a playbook or that a human reads in an alert.
``details`` is left out: it is detector-specific, informational, and never decides an action."""


def finding_id(content: Mapping[str, Any]) -> str:
    """The id of a finding with this content (its JSON form): a SHA-256 over the sealed fields.

    The id is the incident key of every playbook: one execution per id. Because it is derived from the
    content, a finding with another principal, key, account or severity cannot carry the id of a real
    finding, and so cannot pre-empt it; playbooks recompute it and refuse a finding whose id does not
    match. It is short and uses only characters that Step Functions accepts in an execution name.
    """
    material = json.dumps([content.get(name) for name in SEALED_FIELDS], separators=(",", ":"), ensure_ascii=True)
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
        """Create a finding whose id is sealed over its content (see :func:`finding_id`)."""
        return cls.sealed({**fields, "detector": detector, "evidence": tuple(dict.fromkeys(evidence))})

    @classmethod
    def sealed(cls, content: Mapping[str, Any]) -> Finding:
        """The finding with this content (any ``id`` in it ignored) and the id that content gives."""
        draft = cls.model_validate({**content, "id": UNSEALED})
        return draft.model_copy(update={"id": draft.content_id()})

    def content_id(self) -> str:
        """The id this finding's content gives; a genuine finding's ``id`` equals it."""
        return finding_id(self.model_dump(mode="json", include=set(SEALED_FIELDS)))

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class FindingUpdate(BaseModel):
    """What a repeat merged into a published finding adds to it: a count and the newest evidence.

    Published with detail-type ``Warden Finding Update``: no playbook route matches it, so it never starts an
    execution; the findings archive keeps it, and anyone following an incident can subscribe to it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    finding_id: str = Field(pattern="^[0-9a-f]{32}$")
    """The published finding the repeat was merged into."""
    detector: str
    family: Family
    severity: Severity
    principal: str
    access_key_id: str | None = None
    account: str
    region: str
    repeats: int = Field(ge=1)
    """Repeats merged into the finding so far, this one included."""
    last_seen: datetime
    newest_evidence: tuple[str, ...] = Field(min_length=1)
    repeat_id: str = Field(pattern="^[0-9a-f]{32}$")
    """The id the repeat would have had as a finding of its own."""

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
