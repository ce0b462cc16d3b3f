"""boto3 adapters of :mod:`warden.approvals`: the incident table, Step Functions, and the undo calls.

The clients are whoever's the caller makes them with: the command line passes clients of the person's own
session (so that CloudTrail attributes an approval or an undo to that person), a Lambda its role's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from warden.approvals import (
    APPROVAL_STATE,
    AWAITING_APPROVAL,
    TOKEN_ATTRIBUTE,
    DecisionConflict,
    Incident,
    UndoCallError,
    WorkflowError,
)

_SERIALIZER, _DESERIALIZER = TypeSerializer(), TypeDeserializer()
_TASK_ENDED = frozenset({"TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "TaskStartFailed"})


def _code(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "Unknown")), str(error.get("Message", ""))


def plain(value: Any) -> Any:
    """A deserialized DynamoDB value with its numbers as int or float (DynamoDB gives Decimal)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(v) for v in value]
    return value


def _value(value: Any) -> dict[str, Any]:
    return dict(_SERIALIZER.serialize(value))


class DynamoDBIncidentStore:
    """The stack's incident table (``IncidentTableName``), through a low-level DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def _key(incident_id: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": sk}}

    def _items(self, incident_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"INCIDENT#{incident_id}"}},
                ConsistentRead=True,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            items += [plain({k: _DESERIALIZER.deserialize(v) for k, v in item.items()}) for item in page["Items"]]
            if not (start := page.get("LastEvaluatedKey")):
                return items

    def incident(self, incident_id: str) -> Incident | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(incident_id, "FINDING"), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        record = plain({k: _DESERIALIZER.deserialize(v) for k, v in item.items()})
        return Incident(
            id=incident_id,
            status=str(record.get("status", "")),
            execution=record.get("execution"),
            playbook=record.get("playbook"),
            summary=record.get("summary"),
            history=tuple(record.get("history") or ()),
        )

    def actions(self, incident_id: str) -> list[dict[str, Any]]:
        return [item for item in self._items(incident_id) if str(item.get("sk", "")).startswith("ACTION#")]

    def _update(self, key: dict[str, Any], expression: str, values: Mapping[str, Any], **kwargs: Any) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=key,
            UpdateExpression=expression,
            ExpressionAttributeValues={name: _value(v) for name, v in values.items()},
            **kwargs,
        )

    def claim_decision(self, incident_id: str, execution: str, entry: Mapping[str, Any]) -> None:
        try:
            self._update(
                self._key(incident_id, "FINDING"),
                "SET history = list_append(if_not_exists(history, :none), :entry), decided_execution = :execution,"
                " decided_by = :by",
                {":none": [], ":entry": [dict(entry)], ":execution": execution, ":by": entry["by"],
                 ":awaiting": AWAITING_APPROVAL},
                ConditionExpression="#status = :awaiting AND execution = :execution"
                " AND (attribute_not_exists(decided_execution) OR decided_execution <> :execution)",
                ExpressionAttributeNames={"#status": "status"},
            )  # fmt: skip
        except ClientError as exc:
            if _code(exc)[0] != "ConditionalCheckFailedException":
                raise
            raise DecisionConflict(
                f"incident {incident_id} was decided by someone else, or moved on, just now: see warden playbook status"
            ) from None

    def release_decision(self, incident_id: str, execution: str, entry: Mapping[str, Any]) -> None:
        self._update(
            self._key(incident_id, "FINDING"),
            "SET history = list_append(if_not_exists(history, :none), :entry) REMOVE decided_execution, decided_by",
            {":none": [], ":entry": [dict(entry)], ":execution": execution},
            ConditionExpression="decided_execution = :execution",
        )

    def claim_undo(self, incident_id: str, sk: str, *, by: str, at: str, stale_before: str) -> bool:
        try:
            self._update(
                self._key(incident_id, sk),
                "SET #state = :undoing, undo_started_at = :at, undo_started_by = :by",
                {":undoing": "UNDOING", ":done": "DONE", ":at": at, ":by": by, ":stale": stale_before},
                ConditionExpression="#state = :done OR (#state = :undoing AND undo_started_at < :stale)",
                ExpressionAttributeNames={"#state": "state"},
            )
        except ClientError as exc:
            if _code(exc)[0] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def finish_undo(self, incident_id: str, sk: str, *, by: str, at: str, note: str | None) -> None:
        values = {":undone": "UNDONE", ":at": at, ":by": by, **({":note": note} if note else {})}
        self._update(
            self._key(incident_id, sk),
            "SET #state = :undone, undone_at = :at, undone_by = :by" + (", undo_note = :note" if note else "")
            + " REMOVE undo_error",
            values,
            ExpressionAttributeNames={"#state": "state"},
        )  # fmt: skip

    def fail_undo(self, incident_id: str, sk: str, *, error: str, at: str) -> None:
        self._update(
            self._key(incident_id, sk),
            "SET #state = :done, undo_error = :error, undo_failed_at = :at",
            {":done": "DONE", ":error": error, ":at": at},
            ExpressionAttributeNames={"#state": "state"},
        )

    def refuse_undo(self, incident_id: str, sk: str, *, reason: str, by: str, at: str) -> None:
        self._update(
            self._key(incident_id, sk),
            "SET undo_refused = :reason, undo_refused_at = :at, undo_refused_by = :by",
            {":reason": reason, ":at": at, ":by": by},
        )

    def record_undo(self, incident_id: str, entry: Mapping[str, Any], *, status: str | None) -> None:
        expression = "SET history = list_append(if_not_exists(history, :none), :entry)"
        values: dict[str, Any] = {":none": [], ":entry": [dict(entry)]}
        if status is not None:
            expression += ", #status = :status, summary = :summary, undone_at = :at"
            values |= {":status": status, ":summary": entry["summary"], ":at": entry["at"]}
        names = {"ExpressionAttributeNames": {"#status": "status"}} if status is not None else {}
        self._update(self._key(incident_id, "FINDING"), expression, values, **names)


class StepFunctionsWorkflow:
    """Step Functions: an execution's status, the approval token it waits on, and the answer to it."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def execution_status(self, execution_arn: str) -> str:
        try:
            return str(self._client.describe_execution(executionArn=execution_arn)["status"])
        except ClientError as exc:
            return f"UNKNOWN ({_code(exc)[0]})"

    def approval_token(self, execution_arn: str) -> str | None:
        """The token of the newest ``AwaitApproval`` task still waiting, read from the execution's history."""
        token: str | None = None
        entered: str | None = None
        paginator = self._client.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn, includeExecutionData=True):
            for event in page["events"]:
                kind = event["type"]
                if kind.endswith("StateEntered"):
                    entered = event["stateEnteredEventDetails"]["name"]
                elif kind == "TaskScheduled" and entered == APPROVAL_STATE:
                    token = _token(event.get("taskScheduledEventDetails", {}).get("parameters")) or token
                elif kind in _TASK_ENDED or (kind.endswith("StateExited") and entered == APPROVAL_STATE):
                    token = None if entered == APPROVAL_STATE else token
        return token

    def _send(self, call: Callable[..., Any], **kwargs: Any) -> None:
        try:
            call(**kwargs)
        except ClientError as exc:
            raise WorkflowError(*_code(exc)) from None

    def send_success(self, token: str, output: str) -> None:
        self._send(self._client.send_task_success, taskToken=token, output=output)

    def send_failure(self, token: str, error: str, cause: str) -> None:
        self._send(self._client.send_task_failure, taskToken=token, error=error, cause=cause)


def _token(parameters: Any) -> str | None:
    """``MessageAttributes.approval_token.StringValue`` of a TaskScheduled event's parameters (JSON text)."""
    try:
        document = json.loads(parameters) if isinstance(parameters, str) else None
    except ValueError:
        return None
    attributes = document.get("MessageAttributes") if isinstance(document, dict) else None
    attribute = attributes.get(TOKEN_ATTRIBUTE) if isinstance(attributes, dict) else None
    value = attribute.get("StringValue") if isinstance(attribute, dict) else None
    return value if isinstance(value, str) and value else None


class BotoUndoCaller:
    """Makes an undo call with a client from ``clients`` (a factory: service name -> boto3 client)."""

    def __init__(self, clients: Callable[[str], Any]) -> None:
        self._clients = clients

    def call(self, service: str, method: str, parameters: Mapping[str, Any]) -> None:
        try:
            getattr(self._clients(service), method)(**parameters)
        except ClientError as exc:
            raise UndoCallError(*_code(exc)) from None
        except BotoCoreError as exc:  # no network, no credentials: the call may be tried again
            raise UndoCallError(type(exc).__name__, str(exc)) from None
