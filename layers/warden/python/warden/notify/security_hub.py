"""Security Hub export: Warden findings imported into AWS Security Hub in ASFF, updated as playbooks run.

Two sources reach the exporter function: the findings bus (a ``Warden Finding`` event: the finding is
imported, Workflow NEW) and the notification topic (a playbook's outcome: the finding is re-imported with the
outcome, then its Workflow and Note are set with ``BatchUpdateFindings``). A finding Security Hub refuses
raises, so that Lambda retries the asynchronous invocation and then keeps the event in the function's failure
destination. The ASFF mapping itself is :mod:`warden.notify.asff`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from pydantic import Field

from warden.config import EnvironmentModel
from warden.errors import WardenError
from warden.models import Finding
from warden.models.finding import FINDING_DETAIL_TYPE
from warden.notify import asff
from warden.notify.notification import parse_notification
from warden.observability import logger, metrics

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)


class ExportError(WardenError):
    """Security Hub did not accept a finding; the message names the finding and Security Hub's error code."""


class ExporterConfig(EnvironmentModel):
    account: str = Field(alias="WARDEN_ACCOUNT_ID", pattern=r"^\d{12}$")
    region: str = Field(alias="AWS_REGION", min_length=1)
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    workflow_updates: bool = Field(default=True, alias="WARDEN_SECURITY_HUB_WORKFLOW_UPDATES")
    """Set Workflow and Note with BatchUpdateFindings after each outcome (moto, the local emulator, lacks it)."""


class SecurityHubExporter:
    """Imports findings and playbook outcomes through a Security Hub client."""

    def __init__(
        self, client: Any, config: ExporterConfig, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._client = client
        self._config = config
        self._product = asff.product_arn(asff.partition_of(config.region), config.region, config.account)
        self._now = now

    def handle(self, event: Mapping[str, Any]) -> dict[str, int]:
        if event.get("detail-type") == FINDING_DETAIL_TYPE:
            finding = Finding.model_validate(event["detail"])
            self._import(asff.from_finding(finding, product=self._product), kind="finding")
            return {"imported": 1, "updated": 0, "skipped": 0}
        updated = skipped = 0
        for record in event.get("Records") or []:
            sns = record.get("Sns") or {}
            attributes = {name: value.get("Value") for name, value in (sns.get("MessageAttributes") or {}).items()}
            note = parse_notification(sns.get("Message"), subject=sns.get("Subject"), attributes=attributes)
            try:
                document = asff.from_notification(note, product=self._product, now=self._now())
            except asff.IncompleteNotification:
                skipped += 1
                metrics.add_metric(name="SecurityHubNotificationsSkipped", unit=MetricUnit.Count, value=1)
                logger.info("notification skipped: not about a finding", extra={"status": note.status})
                continue
            self._import(document, kind="outcome")
            if self._config.workflow_updates:
                self._update_workflow(document)
            updated += 1
        return {"imported": 0, "updated": updated, "skipped": skipped}

    def _import(self, document: dict[str, Any], *, kind: str) -> None:
        keys = {"finding_id": document["Id"], "kind": kind, "workflow": document["Workflow"]["Status"]}
        answer = self._client.batch_import_findings(Findings=[document])
        if answer.get("FailedCount"):
            failure = (answer.get("FailedFindings") or [{}])[0]
            code = str(failure.get("ErrorCode", "unknown"))
            metrics.add_metric(name="SecurityHubImportsFailed", unit=MetricUnit.Count, value=1)
            logger.error("security hub refused the finding", extra={**keys, "error_code": code})
            raise ExportError(f"Security Hub refused finding {document['Id']} ({code})")
        metrics.add_metric(name="SecurityHubImports", unit=MetricUnit.Count, value=1)
        logger.info("finding imported into security hub", extra=keys)

    def _update_workflow(self, document: dict[str, Any]) -> None:
        answer = self._client.batch_update_findings(**asff.workflow_update(document))
        if answer.get("UnprocessedFindings"):
            code = str(answer["UnprocessedFindings"][0].get("ErrorCode", "unknown"))
            logger.error("security hub workflow not updated", extra={"finding_id": document["Id"], "error_code": code})
            raise ExportError(f"Security Hub did not update the workflow of {document['Id']} ({code})")


@lru_cache(maxsize=2)
def exporter(config: ExporterConfig) -> SecurityHubExporter:
    session = boto3.session.Session(region_name=config.region)
    client = session.client("securityhub", endpoint_url=config.endpoint_url, config=_CLIENT_CONFIG)
    return SecurityHubExporter(client, config)
