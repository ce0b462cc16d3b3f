"""Benchmarks: measured here, written to docs/performance.md; the tests only check behaviour.

1. ``warden demo --json`` end to end in a fresh process (emulator start included), against the
   15-second target of issue 2.
2. Detection throughput of the pure detector path (in-memory state) against plain ``json.loads`` of
   the same events: how much the models and the rules cost on top of reading the data.
3. Detector handler latency on the local stack (in-process handler, moto DynamoDB and EventBridge over
   loopback HTTP): p50 and p95 per event.
4. contain-access-key latency: start of the execution to its end, executed by moto.
5. Cost per million events of the batched paths (CloudTrail invocations through the queue, invocation-log
   records): state reads and writes per event counted on a steady synthetic workload with every
   detector of the family, priced with the list prices and the latency assumption below; memory and batch
   size are read from template.yaml.

The last line printed is a JSON summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUNS = 3
SYNTHETIC_PRINCIPALS = 400
EVENTS_PER_PRINCIPAL = 25
HANDLER_EVENTS = 300
PLAYBOOK_RUNS = 5
DEMO_TARGET_SECONDS = 15.0
COST_PRINCIPALS = 50
COST_HOURS = 24 * 9
"""The cost workload: steady applications over nine days (past the baselines' warm-up), four calls an hour."""
PRICES = {  # us-east-1 list prices, 2026
    "lambda_gb_s_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
}
DYNAMODB_ROUND_TRIP_S = 0.005
"""Assumed latency of one DynamoDB call from Lambda in the same region (billed as duration)."""

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bedrock-warden")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BedrockWarden")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")


def bench_demo() -> dict[str, Any]:
    walls, inner = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(DEMO_RUNS):
            started = time.perf_counter()
            done = subprocess.run(  # noqa: S603  fixed argv: this interpreter running the project's own CLI
                [sys.executable, "-m", "warden_local.cli", "demo", "--json", "--workdir", workdir],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            walls.append(time.perf_counter() - started)
            report = json.loads(done.stdout)
            if done.returncode != 0 or not report["contained"]:
                raise SystemExit(f"demo did not contain the attack: {done.stderr[-2000:]}")
            inner.append(report["elapsed_seconds"])
    return {"runs": DEMO_RUNS, "wall_median_s": statistics.median(walls), "wall_max_s": max(walls),
            "inside_median_s": statistics.median(inner)}  # fmt: skip


def synthetic_events() -> list[dict[str, Any]]:
    """Many principals, each a realistic mix: mostly invocations, some recon, a few enablements."""
    from warden_local.readers import to_eventbridge

    names = ["InvokeModel"] * 15 + ["Converse"] * 5 + ["ListFoundationModels", "GetFoundationModelAvailability"]
    names += ["GetModelInvocationLoggingConfiguration", "PutUseCaseForModelAccess", "InvokeModelWithResponseStream"]
    start = datetime(2026, 11, 20, tzinfo=UTC)
    events = []
    for p in range(SYNTHETIC_PRINCIPALS):
        identity = {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::123456789012:user/user-{p}",
            "accountId": "123456789012",
            "accessKeyId": f"AKIAEXAMPLE{p:09d}",
            "userName": f"user-{p}",
        }
        for n in range(EVENTS_PER_PRINCIPAL):
            events.append(
                to_eventbridge(
                    {
                        "eventVersion": "1.09",
                        "userIdentity": identity,
                        "eventTime": (start + timedelta(seconds=p * 7 + n * 11)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "eventSource": "bedrock.amazonaws.com",
                        "eventName": names[(p + n) % len(names)],
                        "awsRegion": "us-east-1",
                        "sourceIPAddress": "198.51.100.7",
                        "userAgent": "Boto3/1.35.24",
                        "requestParameters": {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
                        "responseElements": None,
                        "eventID": str(uuid.uuid4()),
                        "readOnly": True,
                        "eventType": "AwsApiCall",
                        "managementEvent": True,
                        "recipientAccountId": "123456789012",
                    }
                )
            )
    events.sort(key=lambda e: e["detail"]["eventTime"])
    return events


def bench_detection() -> dict[str, Any]:
    from warden.detectors import REGISTRY
    from warden.models import Family
    from warden.service import DetectionService
    from warden_local.memory import MemoryDeadLetters, MemoryPublisher, MemoryStateStore

    events = synthetic_events()
    lines = [json.dumps(e) for e in events]

    started = time.perf_counter()
    for line in lines:
        json.loads(line)
    baseline = time.perf_counter() - started

    publisher = MemoryPublisher()
    service = DetectionService(
        detectors=REGISTRY.for_family(Family.BEDROCK_USAGE),
        state=MemoryStateStore(),
        publisher=publisher,
        dead_letters=MemoryDeadLetters(),
    )
    started = time.perf_counter()
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):  # Powertools flushes EMF to stdout
        for line in lines:
            service.handle(json.loads(line))
    detection = time.perf_counter() - started
    return {
        "events": len(events),
        "json_loads_events_per_s": len(events) / baseline,
        "detection_events_per_s": len(events) / detection,
        "slowdown_vs_json": detection / baseline,
        "findings": len(publisher.published),
    }


def bench_local_stack() -> dict[str, Any]:
    from warden_local.emulator import running_emulator
    from warden_local.run import seed_victim
    from warden_local.stack import LocalStack

    events = synthetic_events()[:HANDLER_EVENTS]
    with running_emulator() as emulator, tempfile.TemporaryDirectory() as workdir:
        stack = LocalStack(emulator, ROOT, parameters={"ResponseMode": "auto"}, workdir=Path(workdir)).deploy()
        function = stack.functions["BedrockUsageDetectorFunction"]
        stack.invoke(function, events[0])  # import and cold start, not measured
        latencies = []
        for event in events[1:]:
            started = time.perf_counter()
            stack.invoke(function, event)
            latencies.append(time.perf_counter() - started)

        victim = seed_victim(stack, [{"name": f"bench-{n}", "access_keys": [f"AKIABENCH{n:011d}"]} for n in range(5)])
        finding = json.loads((ROOT / "events/findings/contain_access_key__llmjacking.json").read_text())
        playbook = []
        for original, key in victim.keys.items():
            started = time.perf_counter()
            stack.start_playbook(
                "contain-access-key",
                {**finding, "id": uuid.uuid4().hex, "access_key_id": key,
                 "principal": f"arn:aws:iam::123456789012:user/{victim.users[original]}"},
            )  # fmt: skip
            stack.settle()
            playbook.append(time.perf_counter() - started)
            if stack.executions[-1].status != "SUCCEEDED":
                raise SystemExit(f"playbook failed: {stack.executions[-1].error}")
    latencies.sort()
    return {
        "handler_events": len(latencies),
        "handler_p50_ms": 1000 * latencies[len(latencies) // 2],
        "handler_p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
        "playbook_runs": len(playbook),
        "playbook_median_s": statistics.median(playbook),
    }


class _CountingStore:
    """A MemoryStateStore that counts what DynamoDB would bill: reads (4 KB units), writes (1 KB units)."""

    def __init__(self) -> None:
        from warden_local.memory import MemoryStateStore

        self.inner = MemoryStateStore()
        self.loads = self.saves = self.read_units = self.write_units = 0

    def load(self, namespace: str, key: str) -> Any:
        stored = self.inner.load(namespace, key)
        self.loads += 1
        size = len(json.dumps(stored.value, separators=(",", ":"))) if stored else 0
        self.read_units += max(1, -(-size // 4096))
        return stored

    def save(self, namespace: str, key: str, value: Any, **options: Any) -> None:
        self.inner.save(namespace, key, value, **options)
        self.saves += 1
        self.write_units += max(1, -(-len(json.dumps(value, separators=(",", ":"))) // 1024))


def _steady_cloudtrail() -> list[dict[str, Any]]:
    from warden_local.readers import to_eventbridge

    start = datetime(2026, 11, 1, tzinfo=UTC)
    events = []
    for p in range(COST_PRINCIPALS):
        session = {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::123456789012:assumed-role/app-{p}/task-{p}",
            "accountId": "123456789012",
            "accessKeyId": f"ASIAEXAMPLE{p:09d}",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::123456789012:role/app-{p}"}},
        }
        for n in range(COST_HOURS * 4):
            moment = start + timedelta(minutes=15 * n, seconds=p)
            events.append(
                to_eventbridge(
                    {
                        "eventVersion": "1.09",
                        "userIdentity": session,
                        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "eventSource": "bedrock.amazonaws.com",
                        "eventName": "Converse",
                        "awsRegion": "us-east-1",
                        "sourceIPAddress": f"10.0.{p}.7",
                        "userAgent": "Boto3/1.35.24 md/Botocore#1.35.24",
                        "requestParameters": {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
                        "responseElements": None,
                        "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cost/{p}/{n}")),
                        "readOnly": True,
                        "eventType": "AwsApiCall",
                        "managementEvent": True,
                        "recipientAccountId": "123456789012",
                        "tlsDetails": {"tlsVersion": "TLSv1.3"},
                    }
                )
            )
    return sorted(events, key=lambda e: e["detail"]["eventTime"])


def _steady_invocation_logs() -> list[dict[str, Any]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    records = []
    for p in range(COST_PRINCIPALS):
        for n in range(COST_HOURS * 4):
            records.append(
                {
                    "schemaType": "ModelInvocationLog",
                    "schemaVersion": "1.0",
                    "timestamp": (start + timedelta(minutes=15 * n, seconds=p)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "accountId": "123456789012",
                    "identity": {"arn": f"arn:aws:sts::123456789012:assumed-role/app-{p}/task-{p}"},
                    "region": "us-east-1",
                    "requestId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cost-log/{p}/{n}")),
                    "operation": "Converse",
                    "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                    "input": {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}},
                    "output": {"outputBodyJson": {"stopReason": "end_turn"}, "outputTokenCount": 300},
                }
            )
    return sorted(records, key=lambda r: r["timestamp"])


def _function_memory_and_batch(logical: str) -> tuple[int, int]:
    from warden_local.template import load_template

    template = load_template(ROOT / "template.yaml")
    props = template["Resources"][logical]["Properties"]
    memory = int(props.get("MemorySize", template["Globals"]["Function"]["MemorySize"]))
    batch = next(
        (int(e["Properties"].get("BatchSize", 10)) for e in props.get("Events", {}).values() if e["Type"] == "SQS"), 1
    )
    return memory, batch


def bench_cost() -> dict[str, Any]:
    from warden.detectors import REGISTRY
    from warden.models import Family
    from warden.service import DetectionService
    from warden_local.memory import MemoryDeadLetters, MemoryPublisher

    memory_mb, batch = _function_memory_and_batch("InvocationDetectorFunction")
    paths: dict[str, Any] = {}
    for path, items in (("cloudtrail", _steady_cloudtrail()), ("invocation_log", _steady_invocation_logs())):
        store = _CountingStore()
        service = DetectionService(
            detectors=REGISTRY.for_family(Family.BEDROCK_USAGE),
            state=store,
            publisher=MemoryPublisher(),
            dead_letters=MemoryDeadLetters(),
        )
        started = time.process_time()
        with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):
            for n, item in enumerate(items):
                if path == "cloudtrail":
                    service.handle(item)
                else:
                    service.handle_invocation_log(item, origin=f"bench:{n}")
        cpu = (time.process_time() - started) / len(items)
        idempotency_writes = 2 if path == "cloudtrail" else 2 / 1000  # per event; per S3 object of ~1,000 records
        calls = (store.loads + store.saves) / len(items) + idempotency_writes
        seconds = cpu + calls * DYNAMODB_ROUND_TRIP_S
        per_million = {
            "lambda_duration": 1e6 * seconds * memory_mb / 1024 * PRICES["lambda_gb_s_arm64"],
            "lambda_requests": 1e6 / batch * PRICES["lambda_request"],
            "sqs": (1e6 if path == "cloudtrail" else 1e6 / 1000) * 1.2 * PRICES["sqs_request"],
            "dynamodb_writes": 1e6 * (store.write_units / len(items) + idempotency_writes) * PRICES["dynamodb_wru"],
            "dynamodb_reads": 1e6 * store.read_units / len(items) * PRICES["dynamodb_rru"],
        }
        paths[path] = {
            "events": len(items),
            "state_loads_per_event": store.loads / len(items),
            "state_saves_per_event": store.saves / len(items),
            "write_units_per_event": store.write_units / len(items),
            "cpu_ms_per_event": 1000 * cpu,
            "usd_per_million": per_million,
            "usd_per_million_total": sum(per_million.values()),
        }
    return {"memory_mb": memory_mb, "batch_size": batch, "round_trip_s": DYNAMODB_ROUND_TRIP_S, **paths}


COST_HEADER = (
    "| path | state loads / saves per event | write units per event | CPU per event | Lambda duration"
    " | Lambda requests | SQS | DynamoDB writes | DynamoDB reads | total |\n|" + "---|" * 10
)


def _table(header: list[str], row: list[str]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), "| " + " | ".join(row) + " |"])


def write_report(summary: dict[str, Any]) -> Path:
    demo, detection, stack, cost = summary["demo"], summary["detection"], summary["local_stack"], summary["cost"]
    cost_rows = "\n".join(
        f"| {name} | {c['state_loads_per_event']:.2f} / {c['state_saves_per_event']:.2f} | "
        f"{c['write_units_per_event']:.2f} | {c['cpu_ms_per_event']:.2f} ms | "
        + " | ".join(f"${c['usd_per_million'][k]:.2f}" for k in
                     ("lambda_duration", "lambda_requests", "sqs", "dynamodb_writes", "dynamodb_reads"))
        + f" | **${c['usd_per_million_total']:.2f}** |"
        for name, c in (("CloudTrail invocations via the queue", cost["cloudtrail"]),
                        ("invocation-log records via S3", cost["invocation_log"]))
    )  # fmt: skip
    verdict = "meets" if demo["wall_max_s"] < DEMO_TARGET_SECONDS else "MISSES"
    demo_table = _table(
        ["runs", "median wall", "max wall", "median inside the run", "target"],
        [
            str(demo["runs"]),
            f"{demo['wall_median_s']:.2f} s",
            f"{demo['wall_max_s']:.2f} s",
            f"{demo['inside_median_s']:.2f} s",
            f"< {DEMO_TARGET_SECONDS:.0f} s ({verdict})",
        ],
    )
    detection_table = _table(
        ["plain `json.loads`", "validate + detect (`DetectionService.handle`)", "cost over JSON decoding", "findings"],
        [
            f"{detection['json_loads_events_per_s']:,.0f} events/s",
            f"{detection['detection_events_per_s']:,.0f} events/s",
            f"{detection['slowdown_vs_json']:.1f}x",
            str(detection["findings"]),
        ],
    )
    stack_table = _table(
        ["detector handler p50", "p95", f"contain-access-key, start to end (median of {stack['playbook_runs']})"],
        [
            f"{stack['handler_p50_ms']:.1f} ms",
            f"{stack['handler_p95_ms']:.1f} ms",
            f"{stack['playbook_median_s']:.2f} s",
        ],
    )
    text = f"""# Performance

Measured by `make bench` (`scripts/bench.py`) on {summary["measured_at"]}: {summary["machine"]}.
Tests never assert timings; this file is the record. Re-run `make bench` after changes that touch the
hot path and commit the result.

## `warden demo --json`, fresh process, emulator start included

{demo_table}

The wall time includes Python start-up and imports (boto3, moto, Powertools, pydantic); "inside" is
from the emulator start to the report.

## Detection throughput (pure detector path, in-memory state)

{detection["events"]} synthetic Bedrock CloudTrail events, {SYNTHETIC_PRINCIPALS} principals, time-ordered.

{detection_table}

The path includes the input guard (`warden/guard.py`: depth, size, types and encoding of every event,
walked before parsing; about a sixth of the time), the bounded-string validators of the state models and
the state byte budget. Before those bounds (issue 5) the same run measured about 8,600 events/s with one
detector, and 6,041 events/s with them; the detection catalogue (issue 6) runs every bedrock-usage
detector on each event (a dozen, four of them learning baselines). Making this path cheaper without
loosening anything is issue 8's work.

## Local stack (moto over loopback HTTP)

{stack_table}

Handler latency is per event after a cold start, with Powertools idempotency, the state read and
conditional write, and (when there is one) the finding published; in AWS these are network calls of a
few milliseconds each. The playbook time is dominated by moto's interpreter and the runner's polling.

## Cost per million events, batched paths

Steady applications ({COST_PRINCIPALS} roles, four calls an hour for nine days, every bedrock-usage detector) through
the detection service with a state store that counts what DynamoDB would bill. Memory {cost["memory_mb"]} MB and batches
of {cost["batch_size"]} are read from `template.yaml`; list prices of us-east-1 (Lambda arm64 $0.0000133334 per GB-s
and $0.20 per million requests, SQS $0.40 per million requests, DynamoDB on demand $0.625 per million write and
$0.125 per million read units); each DynamoDB call is assumed to take {1000 * cost["round_trip_s"]:.0f} ms of billed
Lambda time. The CloudTrail path pays two idempotency writes per event; the S3 path one pair per object of about
1,000 records plus $0.40 per million objects read (not included). EventBridge delivers AWS events to the queue free.

{COST_HEADER}
{cost_rows}

DynamoDB writes dominate. On CloudTrail, the first-use and call-surge baselines write a principal's state when
it changes (about a write per value and hour once settled, sampled past 64 calls an hour), the rest are the
idempotency records. On invocation logs, `bedrock-token-surge` adds every record's tokens to its hourly
buckets, so it writes its state (about 14 KB, 14 write units) on every record: the largest cost per event
in the stack. Folding a batch's records per principal into one read and one write is issue 8's work.

```json
{json.dumps(summary)}
```
"""
    path = ROOT / "docs" / "performance.md"
    path.write_text(text)
    return path


def main() -> None:
    sys.path.insert(0, str(ROOT))
    summary = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "demo": bench_demo(),
        "detection": bench_detection(),
        "local_stack": bench_local_stack(),
        "cost": bench_cost(),
    }
    path = write_report(summary)
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
