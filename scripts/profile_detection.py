"""Where the detection path spends its time: events/s of ``DetectionService`` with in-memory ports.

Three workloads, each with every registered detector and the in-memory stores of the local runner
(so that the numbers are the service's and the detectors' own cost, not DynamoDB's):

- ``handle``: synthetic Bedrock CloudTrail events through :meth:`DetectionService.handle`, one call per event,
  as the detector functions receive them;
- ``batch``: the same events in SQS batches of 100 through the invocation function's batch path
  (:func:`warden.adapters.invocation_feeds.process_queue_batch`), reported per event;
- ``invocation_logs``: model-invocation log records through :meth:`DetectionService.handle_invocation_log`.

``--profile`` prints the cProfile of the ``handle`` workload, sorted by cumulative or own time. It measures;
it asserts nothing (tests never assert timings). The events are generated here, deterministically.

    python scripts/profile_detection.py [--events 4000] [--repeat 3] [--profile tottime]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZE = 100

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bedrock-warden")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BedrockWarden")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")


PRINCIPALS = 400
EVENTS_PER_PRINCIPAL = 25
CALLS = ["InvokeModel"] * 15 + ["Converse"] * 5 + ["ListFoundationModels", "GetFoundationModelAvailability"]
CALLS += ["GetModelInvocationLoggingConfiguration", "PutUseCaseForModelAccess", "InvokeModelWithResponseStream"]
"""The mix of each principal: mostly invocations, some recon, a few model-access enablements."""


def cloudtrail_events(count: int) -> list[dict[str, Any]]:
    """Bedrock CloudTrail events of many principals active at once, in time order, repeated up to ``count``."""
    from warden_local.readers import to_eventbridge

    start = datetime(2026, 11, 20, tzinfo=UTC)
    events = []
    for p in range(PRINCIPALS):
        identity = {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::123456789012:user/user-{p}",
            "accountId": "123456789012",
            "accessKeyId": f"AKIAEXAMPLE{p:09d}",
            "userName": f"user-{p}",
        }
        for n in range(EVENTS_PER_PRINCIPAL):
            record = {
                "eventVersion": "1.09",
                "userIdentity": identity,
                "eventTime": (start + timedelta(seconds=p * 7 + n * 11)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": "bedrock.amazonaws.com",
                "eventName": CALLS[(p + n) % len(CALLS)],
                "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "Boto3/1.35.24",
                "requestParameters": {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
                "responseElements": None,
                "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"profile-event/{p}/{n}")),
                "readOnly": True,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": "123456789012",
            }
            events.append(to_eventbridge(record))
    events.sort(key=lambda e: e["detail"]["eventTime"])
    while len(events) < count:
        events += events
    return events[:count]


def invocation_logs(count: int) -> list[dict[str, Any]]:
    """Model-invocation log records of 50 principals, one every few minutes each."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    records = []
    for n in range(count):
        principal = n % 50
        records.append(
            {
                "schemaType": "ModelInvocationLog",
                "schemaVersion": "1.0",
                "timestamp": (start + timedelta(seconds=7 * n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "accountId": "123456789012",
                "identity": {"arn": f"arn:aws:sts::123456789012:assumed-role/app-{principal}/task"},
                "region": "us-east-1",
                "requestId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"profile-log/{n}")),
                "operation": "Converse",
                "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                "input": {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "hello"}]}]}},
                "output": {"outputBodyJson": {"stopReason": "end_turn"}, "outputTokenCount": 300},
            }
        )
    return records


def service() -> Any:
    """A detection service with every registered detector and fresh in-memory ports."""
    from warden.detectors import REGISTRY
    from warden.service import DetectionService
    from warden_local.memory import MemoryDeadLetters, MemoryPublisher, MemoryStateStore

    return DetectionService(
        detectors=list(REGISTRY),
        state=MemoryStateStore(),
        publisher=MemoryPublisher(),
        dead_letters=MemoryDeadLetters(),
    )


def sqs_batches(events: list[dict[str, Any]], sent: datetime) -> Iterator[dict[str, Any]]:
    """The events as SQS batches of BATCH_SIZE messages, as InvocationQueue delivers them, all sent at ``sent``."""
    sent_ms = str(int(sent.timestamp() * 1000))
    for start in range(0, len(events), BATCH_SIZE):
        yield {
            "Records": [
                {
                    "messageId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"profile-message/{start + i}")),
                    "receiptHandle": "handle",
                    "body": json.dumps(event),
                    "attributes": {"SentTimestamp": sent_ms, "ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:InvocationQueue",
                    "awsRegion": "us-east-1",
                }
                for i, event in enumerate(events[start : start + BATCH_SIZE])
            ]
        }


def run_handle(events: list[dict[str, Any]]) -> Callable[[], int]:
    lines = [json.dumps(e) for e in events]

    def run() -> int:
        svc = service()
        for line in lines:
            svc.handle(json.loads(line))
        return len(svc.publisher.published)

    return run


def run_batch(events: list[dict[str, Any]]) -> Callable[[], int]:
    from warden.adapters.invocation_feeds import process_queue_batch

    newest = max(datetime.fromisoformat(e["detail"]["eventTime"]) for e in events)
    arrival = newest + timedelta(minutes=1)  # every event within the service's age and skew bounds
    batches = [json.dumps(b) for b in sqs_batches(events, arrival)]

    def run() -> int:
        svc = service()
        for batch in batches:
            process_queue_batch(json.loads(batch), None, svc, reader=None, bucket=None, now=arrival)  # type: ignore[arg-type]
        return len(svc.publisher.published)

    return run


def run_logs(records: list[dict[str, Any]]) -> Callable[[], int]:
    lines = [json.dumps(r) for r in records]

    def run() -> int:
        svc = service()
        for n, line in enumerate(lines):
            svc.handle_invocation_log(json.loads(line), origin=f"profile:{n}")
        return len(svc.publisher.published)

    return run


def timed(run: Callable[[], int], count: int, repeat: int) -> dict[str, Any]:
    """Best of ``repeat`` runs, in CPU seconds of this process (other processes on the machine barely move it)."""
    best, findings = float("inf"), 0
    for _ in range(repeat):
        started = time.process_time()
        findings = run()
        best = min(best, time.process_time() - started)
    return {"events": count, "events_per_s": round(count / best), "ms_per_event": round(1000 * best / count, 4),
            "findings": findings}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", choices=["cumulative", "tottime"], help="print the cProfile of `handle`")
    args = parser.parse_args()
    events, logs = cloudtrail_events(args.events), invocation_logs(args.events)
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):  # Powertools may print EMF
        service()  # imports and registry built before anything is timed
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(run_handle(events))
        summary = {
            "handle": timed(run_handle(events), len(events), args.repeat),
            "batch": timed(run_batch(events), len(events), args.repeat),
            "invocation_logs": timed(run_logs(logs), len(logs), args.repeat),
        }
    if args.profile:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(args.profile).print_stats(40)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
