"""The Lambda-free tamper alert on the local stack: tampering with Warden reaches the alarm topic directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from warden_local.emulator import ACCOUNT_ID
from warden_local.stack import LocalStack

ACTOR = f"arn:aws:iam::{ACCOUNT_ID}:user/mallory"


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy()


def cloudtrail(name: str, source: str, parameters: dict[str, Any], n: int) -> dict[str, Any]:
    """A CloudTrail write event as EventBridge delivers it."""
    service = source.split(".")[0]
    return {
        "version": "0",
        "id": f"6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a{n:02d}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": f"aws.{service}",
        "account": ACCOUNT_ID,
        "time": f"2026-11-21T09:1{n}:07Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEMALLORY01",
                "arn": ACTOR,
                "accountId": ACCOUNT_ID,
                "accessKeyId": "AKIAEXAMPLEMALLORY01",
                "userName": "mallory",
            },
            "eventTime": f"2026-11-21T09:1{n}:07Z",
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.23",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5 exe/x86_64",
            "requestParameters": parameters,
            "responseElements": None,
            "requestID": f"0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d{n:02d}",
            "eventID": f"7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c{n:02d}",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT_ID,
            "eventCategory": "Management",
        },
    }


def alarm_topic_messages(stack: LocalStack) -> list[str]:
    return [n["message"] for n in stack.notifications() if n["topic"] == stack.ref("AlarmTopic")]


def test_deleting_a_warden_rule_reaches_the_alarm_topic_without_a_function(stack: LocalStack) -> None:
    rule = f"{stack.stack_name}-BedrockUsageDetectorFunctionBedrockCalls-1A2B3C4D5E6F"
    alarm_topic_messages(stack)  # empty the inbox

    event = cloudtrail("DeleteRule", "events.amazonaws.com", {"name": rule, "force": False}, 1)

    stack.send([event])

    (message,) = alarm_topic_messages(stack)
    assert message.startswith("Bedrock Warden tamper alert: DeleteRule (events.amazonaws.com)")
    for shown in (ACTOR, "198.51.100.23", "2026-11-21T09:11:07Z", rule):
        assert shown in message
    direct = [(r.rule, r.target.ref) for r in stack.routes if r.target.kind == "sns" and r.accepts(event)]
    assert direct == [("WardenTamperAlertRule", stack.ref("AlarmTopic"))], "the rule publishes itself: no function"


def test_deleting_someone_elses_rule_sends_nothing(stack: LocalStack) -> None:
    alarm_topic_messages(stack)

    stack.send([cloudtrail("DeleteRule", "events.amazonaws.com", {"name": "payments-nightly-export"}, 2)])

    assert alarm_topic_messages(stack) == []


def test_stopping_any_trail_reaches_the_alarm_topic(stack: LocalStack) -> None:
    alarm_topic_messages(stack)

    stack.send([cloudtrail("StopLogging", "cloudtrail.amazonaws.com", {"name": "management-events"}, 3)])

    (message,) = alarm_topic_messages(stack)
    assert "StopLogging" in message and "management-events" in message and ACTOR in message
