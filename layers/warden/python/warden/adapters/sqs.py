"""The dead-letter queue, for events a function could not process."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from warden.guard import keepable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_BODY_BYTES = 250_000


class SqsDeadLetterSink:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def keep(self, payload: Any, *, reason: str, error: str) -> None:
        try:
            body = json.dumps({"reason": reason, "error": error, "event": payload}, default=str)
        except (RecursionError, ValueError, TypeError):  # too deep, a lone surrogate, a bad key: keep a safe copy
            body = json.dumps({"reason": reason, "error": error, "event": keepable(payload)})
        if len(body.encode()) > MAX_BODY_BYTES:
            body = json.dumps({"reason": reason, "error": error, "event_truncated": body[: MAX_BODY_BYTES // 2]})
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason}},
        )
