"""What reaches the invocation functions, fed to the detection service record by record.

Two shapes arrive:

- **An SQS batch** (:func:`process_queue_batch`) from ``InvocationQueue``. Each message body is an
  EventBridge event: a CloudTrail Bedrock invocation (handed to :meth:`DetectionService.handle`), or
  S3's ``Object Created`` for an invocation-log object, whose lines are read from S3 and handed one by
  one to :meth:`DetectionService.handle_invocation_log` with their origin ``s3://bucket/key:LINE``. A
  message whose processing raises (S3 or a port failed) is reported in ``batchItemFailures``: SQS
  retries it, and after ``maxReceiveCount`` receives moves it to the dead-letter queue; the rest of
  the batch is not retried. An object is read once per message id (the service's idempotency).
  Anything else Lambda is handed directly (not a batch) is taken as one EventBridge event.
- **A CloudWatch Logs subscription payload** (:func:`process_log_subscription`): gzipped, base64
  log events of the invocation-log group, each handed to ``handle_invocation_log`` with its origin
  ``logs://group/stream:eventId``. Lambda invokes this asynchronously and would keep a failed payload
  (prompts included) in a failure destination, so there is none: a log event whose processing fails
  is kept in the dead-letter queue as its origin only, and the log group still holds the record.

Arrival (``now``) for the time checks is when the message reached the queue (its ``SentTimestamp``),
so that a queue backlog is not mistaken for old events; a frozen clock (local replay) comes first.

The Powertools models of S3's notification and of a subscription payload are imported where they are
validated, not with the module: they bring Powertools' parser package (about 40 ms), which a CloudTrail
event through the queue never needs. Powertools' batch utility is imported before anything that imports
pydantic: imported after it, it imports that parser package and its SQS, DynamoDB, Kinesis and Kafka models
for type hints (about 100 ms more; ``tests/unit/test_layer_imports.py`` checks the handlers' imports).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from warden.adapters.s3_invocation_logs import S3InvocationLogReader, is_log_object
from warden.guard import keepable, label, validation_problems
from warden.observability import logger, metrics
from warden.service import DetectionService

OBJECT_CREATED = "Object Created"
DATA_MESSAGE = "DATA_MESSAGE"
MIN_REMAINING_MS = 15_000
"""A message is not started with less time left than this: it fails at once and is retried, instead of
the function timing out half-way through an object (which would retry the whole batch)."""
OBJECT_KIND = "model-invocation-log-object"
LOG_EVENT_KIND = "model-invocation-log"


class OutOfTime(Exception):
    """Too little of the invocation is left to start another message; SQS delivers it again."""


def is_queue_batch(event: object) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def process_queue_batch(
    event: dict[str, Any],
    context: Any,
    service: DetectionService,
    reader: S3InvocationLogReader,
    *,
    bucket: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Process an SQS batch; the partial-batch response names the messages to retry."""
    handler = functools.partial(_message, service=service, reader=reader, bucket=bucket, context=context, now=now)
    return dict(
        process_partial_response(
            event=event, record_handler=handler, processor=BatchProcessor(EventType.SQS), context=context
        )
    )


def _message(
    record: SQSRecord,
    *,
    service: DetectionService,
    reader: S3InvocationLogReader,
    bucket: str | None,
    context: Any,
    now: datetime,
) -> dict[str, Any]:
    if context is not None and context.get_remaining_time_in_millis() < MIN_REMAINING_MS:
        raise OutOfTime(f"less than {MIN_REMAINING_MS} ms left; message {label(record.message_id)} is retried")
    arrival = min(now, _sent(record) or now)
    try:
        body: Any = json.loads(record.body)
    except (ValueError, RecursionError):
        body = record.body  # refused and kept by the service as a malformed event
    if isinstance(body, dict) and body.get("source") == "aws.s3" and body.get("detail-type") == OBJECT_CREATED:
        return _log_object(body, service=service, reader=reader, bucket=bucket, context=context, now=arrival)
    return service.handle(body, context, now=arrival).model_dump(mode="json")


def _sent(record: SQSRecord) -> datetime | None:
    """When the message reached the queue (SentTimestamp, epoch milliseconds)."""
    try:
        return datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError, KeyError):
        return None


def _log_object(
    event: dict[str, Any],
    *,
    service: DetectionService,
    reader: S3InvocationLogReader,
    bucket: str | None,
    context: Any,
    now: datetime,
) -> dict[str, Any]:
    """Read one invocation-log object named by S3's Object Created event, once per event id."""
    from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

    try:
        created = S3EventNotificationEventBridgeModel.model_validate(event)
    except ValidationError as exc:
        return _refused(service, keepable(event), "malformed-event", "; ".join(validation_problems(exc)))
    name, key = created.detail.bucket.name, created.detail.object.key
    where = f"s3://{label(name)}/{label(key)}"
    if bucket is None or name != bucket:
        return _refused(
            service, {"origin": where, "kind": OBJECT_KIND}, "unexpected-bucket", "not the invocation-log bucket"
        )
    if not is_log_object(key):
        logger.info("S3 object is not an invocation-log file; skipped", origin=where)
        metrics.add_metric(name="InvocationLogObjectsSkipped", unit=MetricUnit.Count, value=1)
        return {"status": "ignored", "origin": where, "reason": "not-a-log-file"}

    def read(*, event: dict[str, Any]) -> dict[str, Any]:
        return _read_object(event=event, service=service, reader=reader, bucket=name, key=key, now=now)

    once = service.once(read, context) if service.once else read
    return once(event=event)


def _read_object(
    *,
    event: dict[str, Any],
    service: DetectionService,
    reader: S3InvocationLogReader,
    bucket: str,
    key: str,
    now: datetime,
) -> dict[str, Any]:
    origin = f"s3://{bucket}/{key}"
    outcomes: Counter[str] = Counter()
    for line in reader.lines(bucket, key):
        where = f"{origin}:{line.number}"
        if line.fatal:
            _refused(service, {"origin": where, "kind": OBJECT_KIND}, "unreadable-log-object", line.problem or "")
            outcomes["unread"] += 1
            break
        if line.problem:
            logger.warning("invocation-log line is not a record", origin=where, problem=line.problem)
        outcomes[service.handle_invocation_log(line.value, origin=where, now=now).status] += 1
    metrics.add_metric(name="InvocationLogObjectsRead", unit=MetricUnit.Count, value=1)
    logger.remove_keys(["event_id", "event_name", "principal"])  # the last record's, set by the service
    logger.info("invocation-log object read", origin=origin, event_id=label(event.get("id")), outcomes=dict(outcomes))
    return {"status": "processed", "origin": origin, "records": dict(outcomes)}


def _refused(service: DetectionService, reference: Any, reason: str, error: str) -> dict[str, Any]:
    """Keep what cannot be processed in the dead-letter queue (references, never log content)."""
    logger.error("invocation input refused and kept in the dead-letter queue", reason=reason, error=error)
    metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
    service.dead_letters.keep(reference, reason=reason, error=error)
    return {"status": "rejected", "reason": reason}


def process_log_subscription(event: object, service: DetectionService, *, now: datetime) -> dict[str, Any]:
    """Process one CloudWatch Logs subscription delivery of invocation-log events."""
    from aws_lambda_powertools.utilities.parser.models import CloudWatchLogsModel

    try:
        payload = CloudWatchLogsModel.model_validate(event).awslogs.decoded_data
    except ValidationError as exc:
        problems = "; ".join(validation_problems(exc))
        return _refused(service, {"origin": "logs://", "kind": LOG_EVENT_KIND}, "malformed-event", problems)
    if payload.messageType != DATA_MESSAGE:
        return {"status": "ignored", "reason": label(payload.messageType)}
    outcomes: Counter[str] = Counter()
    for log_event in payload.logEvents:
        where = f"logs://{payload.logGroup}/{payload.logStream}:{log_event.id}"
        value = _json(log_event.message)
        try:
            outcomes[service.handle_invocation_log(value, origin=where, now=now).status] += 1
        except Exception as exc:  # a port failed: keep where the record is; the log group still holds it
            logger.exception("invocation-log event not processed; kept as a reference", origin=where)
            service.dead_letters.keep(
                {"origin": where, "kind": LOG_EVENT_KIND}, reason="processing-failed", error=type(exc).__name__
            )
            outcomes["failed"] += 1
    return {"status": "processed", "records": dict(outcomes)}


def _json(message: object) -> Any:
    if not isinstance(message, str):
        return message
    try:
        return json.loads(message)
    except (ValueError, RecursionError):
        return message
