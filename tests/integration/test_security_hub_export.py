"""Security Hub export end to end: a finding on the findings bus is imported in ASFF, then updated by its playbook.

The stack is deployed with ``SecurityHubExport=true``; the exporter is invoked by its EventBridge rule on the
findings bus and, through its SAM ``SNS`` event, by the notification topic (the local stack delivers topic
messages to subscribed functions). What Security Hub holds is read back with ``GetFindings`` from the emulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.playbook import finding_for, key_status, new_user
from warden.models.finding import FINDING_DETAIL_TYPE, FINDING_SOURCE
from warden_local.emulator import ACCOUNT_ID
from warden_local.stack import LocalStack

PRODUCT = f"arn:aws:securityhub:us-east-1:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"


@pytest.fixture(scope="module")
def hub_stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    stack = deploy(ResponseMode="auto", SecurityHubExport="true")
    # moto implements BatchImportFindings and GetFindings but not BatchUpdateFindings: the workflow update that
    # AWS needs for an existing finding is tested in tests/unit/test_security_hub_exporter.py.
    stack.functions["SecurityHubExporterFunction"].environment["WARDEN_SECURITY_HUB_WORKFLOW_UPDATES"] = "false"
    return stack


def hub_finding(stack: LocalStack, finding_id: str) -> dict[str, Any] | None:
    found = stack.client("securityhub").get_findings(MaxResults=100)["Findings"]
    return next((f for f in found if f["Id"] == finding_id), None)


def publish(stack: LocalStack, finding: dict[str, Any]) -> None:
    """The finding on the findings bus, as a detector publishes it; every rule of the bus gets it."""
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": FINDING_DETAIL_TYPE,
        "source": FINDING_SOURCE,
        "account": ACCOUNT_ID,
        "time": finding["last_seen"],
        "region": "us-east-1",
        "resources": [],
        "detail": finding,
    }
    assert stack.route(stack.ref("FindingsBus"), event) >= 2, "the exporter's rule and the playbook's route"


def test_a_finding_is_imported_then_updated_after_its_playbook_ran(hub_stack: LocalStack) -> None:
    user, arn, (key,) = new_user(hub_stack)
    finding = finding_for(arn, key)
    hub_stack.notifications()

    publish(hub_stack, finding)
    imported = hub_finding(hub_stack, finding["id"])
    assert imported is not None
    assert imported["Workflow"] == {"Status": "NEW"} and imported["RecordState"] == "ACTIVE"
    first_update = imported["UpdatedAt"]

    hub_stack.settle()

    assert key_status(hub_stack, user, key) == "Inactive", "the playbook ran"
    updated = hub_finding(hub_stack, finding["id"])
    assert updated is not None
    assert (updated["SchemaVersion"], updated["ProductArn"], updated["GeneratorId"]) == (
        "2018-10-08",
        PRODUCT,
        finding["detector"],
    )
    assert updated["AwsAccountId"] == finding["account"] and updated["Severity"] == {"Label": "HIGH"}
    assert updated["Types"] == ["Effects/Resource Consumption/Bedrock Model Invocation", "Unusual Behaviors/User"]
    assert [r["Type"] for r in updated["Resources"]] == ["AwsIamUser", "AwsIamAccessKey"]
    assert updated["Resources"][0]["Id"] == arn
    assert updated["Workflow"] == {"Status": "NOTIFIED"}
    assert updated["ProductFields"]["warden/status"] == "CONTAINED"
    assert updated["ProductFields"]["warden/evidence_count"] == "1"
    assert updated["Note"]["Text"].startswith("CONTAINED (contain-access-key)")
    assert updated["UpdatedAt"] > first_update, "a newer UpdatedAt"
    assert updated["CreatedAt"] == imported["CreatedAt"]
    assert [f["Id"] for f in hub_stack.client("securityhub").get_findings()["Findings"]].count(finding["id"]) == 1


def test_the_topic_subscription_delivers_only_playbook_outcomes_and_skips_what_names_no_finding(
    hub_stack: LocalStack,
) -> None:
    sns, topic = hub_stack.client("sns"), hub_stack.ref("NotificationTopic")
    before = len(hub_stack.invocations)
    plain = {"DataType": "String", "StringValue": "EXECUTION_FAILED"}
    sns.publish(
        TopicArn=topic, Subject="recorder", Message="execution ended FAILED", MessageAttributes={"outcome": plain}
    )
    sns.publish(
        TopicArn=topic,
        Subject="input refused",
        Message="contain-access-key refused its input.",
        MessageAttributes={"outcome": plain, "playbook": {"DataType": "String", "StringValue": "contain-access-key"}},
    )

    assert hub_stack.deliver_sns() == 1, "the filter policy (playbook exists) lets the recorder's message by"
    (invocation,) = [i for i in hub_stack.invocations[before:] if i["function"] == "SecurityHubExporterFunction"]
    assert invocation["result"] == {"imported": 0, "updated": 0, "skipped": 1}
