"""Findings published to the stack's own EventBridge bus."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from warden.errors import PublishError
from warden.models import Finding, FindingUpdate
from warden.models.finding import FINDING_DETAIL_TYPE, FINDING_SOURCE, FINDING_UPDATE_DETAIL_TYPE

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

MAX_ENTRIES_PER_CALL = 10


class EventBridgeFindingPublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def _entry(self, finding: Finding) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": FINDING_SOURCE,
            "DetailType": FINDING_DETAIL_TYPE,
            "Detail": json.dumps(finding.to_json_dict()),
            "EventBusName": self._bus,
            "Resources": [finding.principal],
        }

    def publish(self, findings: Sequence[Finding]) -> None:
        for start in range(0, len(findings), MAX_ENTRIES_PER_CALL):
            batch = findings[start : start + MAX_ENTRIES_PER_CALL]
            response = self._client.put_events(Entries=[self._entry(f) for f in batch])
            if response.get("FailedEntryCount", 0):
                failed = [
                    f"{finding.id}: {entry.get('ErrorCode')}"
                    for finding, entry in zip(batch, response["Entries"], strict=False)
                    if entry.get("ErrorCode")
                ]
                raise PublishError(f"EventBridge refused {len(failed)} finding(s): {', '.join(failed)}")

    def publish_update(self, update: FindingUpdate) -> None:
        entry: PutEventsRequestEntryTypeDef = {
            "Source": FINDING_SOURCE,
            "DetailType": FINDING_UPDATE_DETAIL_TYPE,
            "Detail": json.dumps(update.to_json_dict()),
            "EventBusName": self._bus,
            "Resources": [update.principal],
        }
        response = self._client.put_events(Entries=[entry])
        if response.get("FailedEntryCount", 0):
            raise PublishError(f"EventBridge refused the update of {update.finding_id}")
