"""The approval adapters' real DynamoDB conditions (moto, in process) and the token read from a history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from warden.adapters.approvals import BotoUndoCaller, DynamoDBIncidentStore, StepFunctionsWorkflow
from warden.approvals import AWAITING_APPROVAL, DecisionConflict, UndoCallError

INCIDENT = "0e15488cc108188817b6a3031e3780df"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:pb:" + INCIDENT
TABLE = "incidents"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _put(client: Any, sk: str, **fields: str) -> None:
    item = {"pk": {"S": f"INCIDENT#{INCIDENT}"}, "sk": {"S": sk}, **{k: {"S": v} for k, v in fields.items()}}
    client.put_item(TableName=TABLE, Item=item)


def _item(client: Any, sk: str) -> dict[str, Any]:
    key = {"pk": {"S": f"INCIDENT#{INCIDENT}"}, "sk": {"S": sk}}
    return dict(client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"])


def test_only_the_first_decision_on_an_execution_is_recorded(dynamodb: Any) -> None:
    _put(dynamodb, "FINDING", status=AWAITING_APPROVAL, execution=EXECUTION)
    store = DynamoDBIncidentStore(dynamodb, TABLE)
    entry = {"status": "APPROVED", "summary": "Approved by alice.", "at": "t", "by": "alice", "execution": EXECUTION}

    store.claim_decision(INCIDENT, EXECUTION, entry)
    with pytest.raises(DecisionConflict):
        store.claim_decision(INCIDENT, EXECUTION, {**entry, "status": "REJECTED", "by": "mallory"})

    incident = store.incident(INCIDENT)
    assert incident is not None and [h["by"] for h in incident.history] == ["alice"]


def test_a_decision_on_another_execution_or_a_closed_incident_is_refused(dynamodb: Any) -> None:
    _put(dynamodb, "FINDING", status="CONTAINED", execution=EXECUTION)
    store = DynamoDBIncidentStore(dynamodb, TABLE)
    entry = {"status": "APPROVED", "summary": "s", "at": "t", "by": "alice"}

    with pytest.raises(DecisionConflict):
        store.claim_decision(INCIDENT, EXECUTION, entry)
    _put(dynamodb, "FINDING", status=AWAITING_APPROVAL, execution=EXECUTION)
    with pytest.raises(DecisionConflict):
        store.claim_decision(INCIDENT, EXECUTION + "-older", entry)


def test_a_released_decision_can_be_made_again(dynamodb: Any) -> None:
    _put(dynamodb, "FINDING", status=AWAITING_APPROVAL, execution=EXECUTION)
    store = DynamoDBIncidentStore(dynamodb, TABLE)
    entry = {"status": "APPROVED", "summary": "s", "at": "t", "by": "alice"}
    store.claim_decision(INCIDENT, EXECUTION, entry)

    store.release_decision(INCIDENT, EXECUTION, {**entry, "status": "DECISION_NOT_DELIVERED"})
    store.claim_decision(INCIDENT, EXECUTION, entry)

    incident = store.incident(INCIDENT)
    assert incident is not None
    assert [h["status"] for h in incident.history] == ["APPROVED", "DECISION_NOT_DELIVERED", "APPROVED"]


def test_an_undo_claim_is_taken_once_and_again_only_after_the_lease(dynamodb: Any) -> None:
    sk = "ACTION#2026-11-26T09:00:00Z#deactivate-access-key"
    _put(dynamodb, sk, state="DONE")
    store = DynamoDBIncidentStore(dynamodb, TABLE)

    assert store.claim_undo(INCIDENT, sk, by="alice", at="2026-11-26T10:00:00Z", stale_before="2026-11-26T09:45:00Z")
    assert not store.claim_undo(INCIDENT, sk, by="bob", at="2026-11-26T10:01:00Z", stale_before="2026-11-26T09:46:00Z")
    assert store.claim_undo(INCIDENT, sk, by="bob", at="2026-11-26T10:30:00Z", stale_before="2026-11-26T10:15:00Z")

    store.finish_undo(INCIDENT, sk, by="bob", at="2026-11-26T10:30:01Z", note=None)
    item = _item(dynamodb, sk)
    assert item["state"]["S"] == "UNDONE" and item["undone_by"]["S"] == "bob"
    assert not store.claim_undo(
        INCIDENT, sk, by="carol", at="2026-11-26T12:00:00Z", stale_before="2026-11-26T11:45:00Z"
    )


def test_actions_come_back_as_plain_values_ready_for_boto3(dynamodb: Any) -> None:
    undo = {"api": "iam:UpdateRole", "RoleName": "r", "MaxSessionDuration": 3600,
            "loggingConfig": {"textDataDeliveryEnabled": True, "s3Config": {"bucketName": "b"}}}  # fmt: skip
    from warden.response import dynamodb_value

    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"INCIDENT#{INCIDENT}"}, "sk": {"S": "ACTION#1#a"}, "state": {"S": "DONE"},
              "undo": dynamodb_value(undo)},
    )  # fmt: skip
    _put(dynamodb, "FINDING", status="CONTAINED", execution=EXECUTION)

    (action,) = DynamoDBIncidentStore(dynamodb, TABLE).actions(INCIDENT)

    assert action["undo"] == undo and type(action["undo"]["MaxSessionDuration"]) is int


def test_a_failed_undo_goes_back_to_done_and_the_undo_is_recorded(dynamodb: Any) -> None:
    sk = "ACTION#1#deny"
    _put(dynamodb, sk, state="DONE")
    _put(dynamodb, "FINDING", status="CONTAINED", execution=EXECUTION)
    store = DynamoDBIncidentStore(dynamodb, TABLE)
    store.claim_undo(INCIDENT, sk, by="alice", at="a", stale_before="0")

    store.fail_undo(INCIDENT, sk, error="AccessDenied: no", at="b")
    store.record_undo(INCIDENT, {"status": "UNDONE", "summary": "all", "at": "c", "by": "alice"}, status="UNDONE")

    assert _item(dynamodb, sk)["state"]["S"] == "DONE"
    incident = store.incident(INCIDENT)
    assert incident is not None and incident.status == "UNDONE" and incident.history[-1]["by"] == "alice"


class _History:
    """A Step Functions client whose execution history is ``events``."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def get_paginator(self, name: str) -> Any:
        assert name == "get_execution_history"
        events = self.events

        class Paginator:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [{"events": events[:3]}, {"events": events[3:]}]

        return Paginator()


def _entered(name: str) -> dict[str, Any]:
    return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}


def _scheduled(token: str | None) -> dict[str, Any]:
    attributes = {"approval_token": {"DataType": "String", "StringValue": token}} if token else {}
    parameters = json.dumps({"TopicArn": "t", "MessageAttributes": attributes})
    return {"type": "TaskScheduled", "taskScheduledEventDetails": {"parameters": parameters}}


def test_the_token_is_that_of_the_newest_approval_task_still_waiting() -> None:
    events = [
        _entered("RecordIntent"), _scheduled(None), {"type": "TaskSucceeded"},
        _entered("AwaitApproval"), _scheduled("first"), {"type": "TaskFailed"},  # retried after an SNS error
        _scheduled("second"),
    ]  # fmt: skip

    assert StepFunctionsWorkflow(_History(events)).approval_token(EXECUTION) == "second"


def test_no_token_once_the_approval_task_ended_or_outside_await_approval() -> None:
    answered = [_entered("AwaitApproval"), _scheduled("t"), {"type": "TaskSucceeded"}, _entered("RecordIntent")]
    elsewhere = [_entered("Notify"), _scheduled("not-ours")]

    assert StepFunctionsWorkflow(_History(answered)).approval_token(EXECUTION) is None
    assert StepFunctionsWorkflow(_History(elsewhere)).approval_token(EXECUTION) is None


def test_an_undo_call_refused_by_aws_says_its_error_code(dynamodb: Any) -> None:
    caller = BotoUndoCaller(lambda service: boto3.client(service, region_name="us-east-1"))  # type: ignore[call-overload]

    with pytest.raises(UndoCallError) as raised:
        caller.call("iam", "delete_role_policy", {"RoleName": "no-such-role", "PolicyName": "p"})

    assert raised.value.code == "NoSuchEntity"
