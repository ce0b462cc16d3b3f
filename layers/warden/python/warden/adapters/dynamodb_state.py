"""Detector state in DynamoDB, one item per (detector, key), with optimistic locking and a TTL."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from warden.errors import StateConflictError
from warden.ports import StoredState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDBStateStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def _pk(namespace: str, key: str) -> str:
        return f"{namespace}#{key}"

    def load(self, namespace: str, key: str) -> StoredState | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": self._pk(namespace, key)}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return StoredState(value=json.loads(item["state"]["S"]), version=int(item["version"]["N"]))

    def save(
        self, namespace: str, key: str, value: Mapping[str, Any], *, expected_version: int | None, expires_at: datetime
    ) -> None:
        version = (expected_version or 0) + 1
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected_version is None
            else {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        )
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": self._pk(namespace, key)},
                    "state": {"S": json.dumps(value, separators=(",", ":"))},
                    "version": {"N": str(version)},
                    "expires_at": {"N": str(int(expires_at.timestamp()))},
                },
                **condition,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise StateConflictError(f"{namespace}#{key} changed since version {expected_version}") from exc
            raise
