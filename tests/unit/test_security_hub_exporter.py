"""The Security Hub exporter function (functions/security_hub_exporter): what it sends Security Hub, and failures."""

from __future__ import annotations

import importlib.util
import json
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT, load_json
from warden.models import Finding
from warden.notify.compose import Outcome, compose

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "security_hub_exporter_app", ROOT / "functions/security_hub_exporter/app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APP = load_app()


class FakeHub:
    """Records the calls; answers as Security Hub does (a failed import is counted, not raised)."""

    def __init__(self, *, refuse: str | None = None, unprocessed: str | None = None) -> None:
        self.imports: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.refuse, self.unprocessed = refuse, unprocessed

    def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
        self.imports.extend(Findings)
        if self.refuse:
            failed = [{"Id": Findings[0]["Id"], "ErrorCode": self.refuse, "ErrorMessage": "no"}]
            return {"FailedCount": 1, "SuccessCount": 0, "FailedFindings": failed}
        return {"FailedCount": 0, "SuccessCount": len(Findings), "FailedFindings": []}

    def batch_update_findings(self, **request: Any) -> dict[str, Any]:
        self.updates.append(request)
        if self.unprocessed:
            item = {"FindingIdentifier": request["FindingIdentifiers"][0], "ErrorCode": self.unprocessed}
            return {"ProcessedFindings": [], "UnprocessedFindings": [item]}
        return {"ProcessedFindings": request["FindingIdentifiers"], "UnprocessedFindings": []}


def exporter(hub: FakeHub, *, workflow_updates: bool = True) -> Any:
    config = APP.ExporterConfig(account="123456789012", region="us-east-1", workflow_updates=workflow_updates)
    return APP.SecurityHubExporter(hub, config, now=lambda: NOW)


def finding() -> Finding:
    return Finding.model_validate(load_json("findings/contain_access_key__llmjacking.json"))


def finding_event(found: Finding) -> dict[str, Any]:
    return {
        "detail-type": "Warden Finding",
        "source": "bedrock-warden",
        "id": str(uuid.uuid4()),
        "detail": found.model_dump(mode="json"),
    }


def sns_event(*messages: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    records = []
    for subject, message, attributes in messages:
        typed = {name: {"Type": "String", "Value": value["StringValue"]} for name, value in attributes.items()}
        records.append(
            {"EventSource": "aws:sns", "Sns": {"Message": message, "Subject": subject, "MessageAttributes": typed}}
        )
    return {"Records": records}


def outcome(found: Finding, status: str = "CONTAINED") -> tuple[str, str, dict[str, Any]]:
    result = compose(found, Outcome(status=status, summary="Key deactivated."), playbook="contain-access-key")
    return result.subject, json.loads(result.message)["lambda"], result.attributes


def test_a_finding_event_imports_the_finding_new() -> None:
    hub = FakeHub()

    answer = exporter(hub).handle(finding_event(finding()))

    assert answer == {"imported": 1, "updated": 0, "skipped": 0}
    (document,) = hub.imports
    assert document["Id"] == finding().id and document["Workflow"] == {"Status": "NEW"}
    assert hub.updates == [], "a new finding takes its workflow from the import"


def test_an_outcome_reimports_then_sets_workflow_and_note() -> None:
    hub = FakeHub()

    answer = exporter(hub).handle(sns_event(outcome(finding())))

    assert answer == {"imported": 0, "updated": 1, "skipped": 0}
    (document,) = hub.imports
    assert (
        document["UpdatedAt"] == "2026-11-21T09:30:00.000Z"
        and document["ProductFields"]["warden/status"] == "CONTAINED"
    )
    (update,) = hub.updates
    assert update["FindingIdentifiers"] == [{"Id": finding().id, "ProductArn": document["ProductArn"]}]
    assert update["Workflow"] == {"Status": "NOTIFIED"} and update["Note"]["Text"].startswith("CONTAINED")


def test_workflow_updates_can_be_turned_off_for_an_emulator_without_them() -> None:
    hub = FakeHub()

    exporter(hub, workflow_updates=False).handle(sns_event(outcome(finding())))

    assert len(hub.imports) == 1 and hub.updates == []


def test_messages_about_no_finding_are_skipped() -> None:
    hub = FakeHub()
    refused = ("input refused", "contain-access-key refused its input.", {"outcome": {"StringValue": "INVALID_INPUT"}})

    answer = exporter(hub).handle(sns_event(refused, outcome(finding())))

    assert answer == {"imported": 0, "updated": 1, "skipped": 1}


@pytest.mark.parametrize(("hub", "event"), [
    (FakeHub(refuse="InvalidInput"), "finding"),
    (FakeHub(refuse="InvalidInput"), "outcome"),
    (FakeHub(unprocessed="FindingNotFound"), "outcome"),
])  # fmt: skip
def test_what_security_hub_refuses_raises_so_lambda_retries_then_keeps_it(hub: FakeHub, event: str) -> None:
    payload = finding_event(finding()) if event == "finding" else sns_event(outcome(finding()))

    with pytest.raises(APP.ExportError) as raised:
        exporter(hub).handle(payload)

    assert finding().id in str(raised.value)
