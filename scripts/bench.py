"""Benchmarks: measured here, side by side in one run, written to docs/performance.md; tests only check behaviour.

Data: ``scripts/benchdata.py`` generates CloudTrail log files as CloudTrail writes them to S3 (cached under
``.warden/bench-data``): 100,000 and 1,000,000 records of a busy account's mix, attacks inside.

1. Hunting against decoding: ``warden hunt DIR --format json`` (a fresh process, its peak RSS read by
   ``/usr/bin/time``) against gunzip + orjson of the same files, touching every record.
2. The live path on the local stack (template.yaml on the embedded emulator): a detector handler per
   event (p50, p99), an SQS batch of 100 model invocations through the invocation detector, and the time
   from the last event of an LLMjacking sequence on the default bus to the stolen key reading Inactive.
3. Cold start: a handler module imported in a fresh interpreter against ``import boto3``.
4. Cost per million CloudTrail events routed to Warden, from the measured durations, the AWS calls the
   handlers made while measured (DynamoDB units, PutEvents), the log bytes they wrote, the executions
   their findings started, the template's memory and batch sizes, and the list prices in ``PRICES``.

The last line printed is the JSON summary (``SUMMARY_KEYS`` at least).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # run as a file (python scripts/bench.py): the checkout is where its packages are
    sys.path.insert(0, str(ROOT))

from scripts import benchdata, cold_start  # noqa: E402

PRICES = {
    # us-east-1 list prices, checked November 2026.
    # https://aws.amazon.com/lambda/pricing/ : Arm, first 7.5 billion GB-s a month; requests
    "lambda_gb_s_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    # https://aws.amazon.com/sqs/pricing/ : standard queue, per request (each 64 KB chunk of a payload is one)
    "sqs_request": 0.40 / 1e6,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ : since November 2024
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    # https://aws.amazon.com/step-functions/pricing/ : standard workflows, per state transition
    "sfn_transition": 0.025 / 1000,
    # https://aws.amazon.com/eventbridge/pricing/ : custom events published (AWS service events are free,
    # and so is delivery to targets in the account)
    "eventbridge_custom_event": 1.00 / 1e6,
    "eventbridge_aws_event": 0.0,
    # https://aws.amazon.com/cloudwatch/pricing/ : log ingestion (Lambda's logs), per GB
    "logs_ingested_gb": 0.50,
    # https://aws.amazon.com/xray/pricing/ : traces recorded
    "xray_trace": 5.00 / 1e6,
    # https://aws.amazon.com/guardduty/pricing/ : foundational threat detection, CloudTrail management
    # events analysed, first 500 million a month
    "guardduty_management_event": 4.00 / 1e6,
}
XRAY_SAMPLED = 0.05
"""X-Ray's default sampling rule records the first request each second and 5% of the rest: 5% at volume."""
SQS_RECEIVE_MAX = 10
"""Lambda's SQS poller receives up to 10 messages per ReceiveMessage and deletes them in batches of 10."""
SUMMARY_KEYS = (
    "hunt_events_per_s",
    "decode_events_per_s",
    "hunt_vs_decode",
    "hunt_peak_rss_mb_100k",
    "hunt_peak_rss_mb_1m",
    "handler_ms_p50",
    "handler_ms_p99",
    "batch_ms_per_event",
    "cold_start_vs_boto3",
    "e2e_contain_ms_p50",
    "cost_per_million_usd",
    "guardduty_cost_per_million_usd",
)
TARGETS = {"hunt_vs_decode": 2.0, "cold_start_vs_boto3": 1.5, "cost_vs_guardduty": 0.1, "rss_growth": 1.2}
DEMO_RUNS = 3
DEMO_TARGET_SECONDS = 15.0
HUNT_TIMEOUT_S = 420
HANDLER_EVENTS = 300
BATCH = 100
BATCHES = 5
ROUTE_SAMPLE = 10_000
E2E_RUNS = 5
COLD_RUNS = 7
LLMJACKING = ROOT / "events" / "sequences" / "llmjacking__positive__logging_check_long_term_key.json"
INVOCATION_FUNCTION = "InvocationDetectorFunction"

ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "bedrock-warden",
    "POWERTOOLS_METRICS_NAMESPACE": "BedrockWarden",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}
"""Set for the run (unless already set): what the local stack's handlers and the CLI read."""


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# ---------------------------------------------------------------------------------------------- hunt vs decode


def measure_decode(files: Sequence[Path]) -> dict[str, Any]:
    """Read, gunzip and decode every file with the fastest decoder the project uses; touch every record."""
    records = 0
    started = time.perf_counter()
    for path in files:
        for record in orjson.loads(zlib.decompress(path.read_bytes(), 47))["Records"]:
            records += record.get("eventName") is not None
    seconds = time.perf_counter() - started
    return {"events": records, "seconds": seconds, "events_per_s": records / seconds}


def peak_rss_command(argv: Sequence[str], report: Path) -> list[str]:
    """``argv`` wrapped so that its peak RSS (KB) is written to ``report``: GNU time, or a Python wrapper."""
    gnu_time = shutil.which("time", path="/usr/bin")
    if gnu_time:
        return [gnu_time, "-f", "%M", "-o", str(report), *argv]
    wrapper = (
        "import resource, subprocess, sys, pathlib; code = subprocess.run(sys.argv[2:]).returncode; "
        "pathlib.Path(sys.argv[1]).write_text(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
        "sys.exit(code)"
    )
    return [sys.executable, "-c", wrapper, str(report), *argv]


def measure_hunt(folder: Path, events: int, *, timeout: float = HUNT_TIMEOUT_S) -> dict[str, Any]:
    """``warden hunt FOLDER --format json`` in a fresh process: wall time, peak RSS, findings by detector."""
    with tempfile.TemporaryDirectory() as scratch:
        report, out = Path(scratch) / "rss", Path(scratch) / "stdout"
        argv = peak_rss_command(
            [sys.executable, "-m", "warden_local.cli", "hunt", str(folder), "--format", "json"], report
        )
        env = {**os.environ, "POWERTOOLS_METRICS_DISABLED": "true"}
        started = time.perf_counter()
        try:
            with out.open("wb") as stdout:
                done = subprocess.run(  # noqa: S603  fixed argv: this interpreter running the project's CLI
                    argv, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=timeout, check=False
                )
        except subprocess.TimeoutExpired:
            return {"events": events, "finished": False, "timeout_s": timeout}
        seconds = time.perf_counter() - started
        detectors: Counter[str] = Counter()
        for line in out.read_bytes().splitlines():
            if line.strip():
                detectors[str(orjson.loads(line).get("detector"))] += 1
        rss_kb = int(report.read_text().split()[-1]) if report.exists() and report.read_text().strip() else None
    return {
        "events": events,
        "finished": True,
        "exit_status": done.returncode,
        "stderr_tail": done.stderr.decode(errors="replace")[-600:] if done.returncode else "",
        "summary_line": (done.stderr.decode(errors="replace").strip().splitlines() or [""])[-1][:300],
        "seconds": seconds,
        "events_per_s": events / seconds,
        "peak_rss_mb": rss_kb / 1024 if rss_kb is not None else None,
        "findings": sum(detectors.values()),
        "findings_by_detector": dict(sorted(detectors.items())),
    }


# ---------------------------------------------------------------------------------------------- cold start


def template_functions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every function of the template: code directory, handler module, memory (the Globals' unless set)."""
    default_memory = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    out: dict[str, dict[str, Any]] = {}
    for logical, spec in template["Resources"].items():
        if spec.get("Type") != "AWS::Serverless::Function":
            continue
        props = spec["Properties"]
        sqs = [e["Properties"] for e in props.get("Events", {}).values() if e.get("Type") == "SQS"]
        out[logical] = {
            "code": ROOT / str(props["CodeUri"]),
            "module": str(props["Handler"]).rsplit(".", 1)[0],
            "memory_mb": int(props.get("MemorySize", default_memory)),
            "batch_size": int(sqs[0].get("BatchSize", 10)) if sqs else None,
        }
    return out


def measure_cold_start() -> dict[str, Any]:
    """scripts/cold_start.py's ``measure`` (each import timed inside a fresh process, start-up left out), with
    ``median_s`` per function and boto3, ``ratios``, ``worst`` and ``cold_start_vs_boto3``."""
    found = dict(cold_start.measure(runs=COLD_RUNS))
    handlers_ms, boto3_ms = found.get("handlers_ms"), found.get("boto3_ms")
    if not isinstance(handlers_ms, dict) or not isinstance(boto3_ms, int | float):
        raise SystemExit(f"scripts/cold_start.py measure() returned {sorted(found)}: no handlers_ms and boto3_ms")
    ratios = {name: ms / boto3_ms for name, ms in handlers_ms.items()}
    worst = max(ratios, key=lambda name: ratios[name])
    return {
        **found,
        "method": "scripts/cold_start.py (the import timed inside each fresh process: start-up left out)",
        "median_s": {name: ms / 1000 for name, ms in [*handlers_ms.items(), ("boto3", boto3_ms)]},
        "ratios": ratios,
        "worst": worst,
        "cold_start_vs_boto3": ratios[worst],
    }


# ---------------------------------------------------------------------------------------------- local stack


def dynamodb_item_bytes(item: Any) -> int:
    """DynamoDB's size of an item in its typed form: attribute names plus values (numbers approximated)."""
    if not isinstance(item, Mapping):
        return 0
    return sum(len(str(name).encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if not isinstance(value, Mapping) or len(value) != 1:
        return 0
    kind, inner = next(iter(value.items()))
    if kind in {"S", "B"}:
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        return len(str(inner)) // 2 + 1
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "M":
        return 3 + dynamodb_item_bytes(inner)
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in inner)
    if kind in {"SS", "NS", "BS"}:
        return sum(len(str(v)) for v in inner)
    return 0


class CallCounter:
    """Counts the AWS calls a handler makes (every botocore client goes through ``_make_api_call``) and what
    DynamoDB bills for them: write units per 1 KB of the item written, read units per 4 KB read (half for an
    eventually consistent read)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.read_units = 0.0
        self.write_units = 0.0
        self.put_events_entries = 0

    def record(self, service: str, operation: str, params: Mapping[str, Any], result: Any) -> None:
        self.calls[f"{service}:{operation}"] += 1
        if service == "dynamodb" and operation in {"PutItem", "UpdateItem", "DeleteItem"}:
            size = dynamodb_item_bytes(params.get("Item")) + dynamodb_item_bytes(params.get("Key"))
            size += sum(len(str(v)) for v in (params.get("ExpressionAttributeValues") or {}).values())
            self.write_units += max(1, math.ceil(size / 1024))
        elif service == "dynamodb" and operation == "GetItem":
            size = dynamodb_item_bytes(result.get("Item")) if isinstance(result, Mapping) else 0
            units = max(1, math.ceil(size / 4096))
            self.read_units += units if params.get("ConsistentRead") else units / 2
        elif service == "events" and operation == "PutEvents":
            self.put_events_entries += len(params.get("Entries", []))

    @contextlib.contextmanager
    def counting(self) -> Iterator[CallCounter]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        counter = self

        def counted(client: Any, operation: str, params: Any) -> Any:
            result = original(client, operation, params)
            counter.record(client.meta.service_model.service_name, operation, params, result)
            return result

        BaseClient._make_api_call = counted  # type: ignore[attr-defined]
        try:
            yield self
        finally:
            BaseClient._make_api_call = original  # type: ignore[attr-defined]


def sqs_batch_event(events: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller hands a function for a batch of EventBridge events delivered to the queue."""
    now = str(int(time.time() * 1000))
    records = []
    for event in events:
        body = json.dumps(event)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": uuid.uuid4().hex,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now,
                    "SenderId": "AIDAEVENTBRIDGE",
                    "ApproximateFirstReceiveTimestamp": now,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def _event_time(event: Mapping[str, Any]) -> datetime:
    return datetime.strptime(str(event["detail"]["eventTime"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def classify(stack: Any, events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Which of ``events`` the template's rules on the default bus take, and to which target."""
    routes = [r for r in stack.routes if r.bus == "default"]
    targets: Counter[str] = Counter()
    by_target: dict[str, list[dict[str, Any]]] = {}
    total = routed = 0
    for event in events:
        total += 1
        taken = [r for r in routes if r.accepts(event)]
        routed += bool(taken)
        for route in taken:
            key = f"{route.target.kind}:{_target_name(stack, route.target)}"
            targets[key] += 1
            by_target.setdefault(key, []).append(event)
    return {"events": total, "routed": routed, "deliveries": dict(targets), "by_target": by_target}


def _target_name(stack: Any, target: Any) -> str:
    if target.kind == "function":
        return str(target.ref)
    if target.kind == "sqs":
        return next((logical for logical, url in stack.queues.items() if url == target.ref), str(target.ref))
    return str(target.ref).rsplit(":", 1)[-1]


def _log_bytes(stack: Any, logical: str) -> int:
    path = stack.workdir / "logs" / f"{logical}.log"
    return path.stat().st_size if path.exists() else 0


def measure_handlers(stack: Any, direct: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per-event latency of the detector functions the rules invoke directly, on their own events, in time order
    (the clock reads each event's time): p50, p99; the AWS calls and log bytes per event."""
    from warden import clock

    if not direct:
        raise SystemExit("the generated data holds no event that a rule delivers to a function")
    chosen = [direct[n % len(direct)] for n in range(HANDLER_EVENTS)]
    for fn, first in dict(reversed(chosen)).items():  # each function's first event
        with clock.frozen(_event_time(first)):
            stack.invoke(stack.functions[fn], first)  # import and cold start, not measured
    latencies, counter = [], CallCounter()
    logs_before = sum(_log_bytes(stack, fn) for fn in {fn for fn, _ in chosen})
    for n, (fn, event) in enumerate(chosen):
        fresh = {**event, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-handler/{n}/{event['id']}"))}
        with clock.frozen(_event_time(event)), counter.counting():
            started = time.perf_counter()
            stack.invoke(stack.functions[fn], fresh)
            latencies.append(time.perf_counter() - started)
    events = len(latencies)
    logs = sum(_log_bytes(stack, fn) for fn in {fn for fn, _ in chosen}) - logs_before
    return {
        "events": events,
        "functions": dict(Counter(fn for fn, _ in chosen)),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "mean_ms": 1000 * statistics.fmean(latencies),
        **_per_event(counter, events, logs),
    }


def _per_event(counter: CallCounter, events: int, log_bytes: int) -> dict[str, Any]:
    return {
        "calls_per_event": {k: v / events for k, v in sorted(counter.calls.items())},
        "write_units_per_event": counter.write_units / events,
        "read_units_per_event": counter.read_units / events,
        "put_events_entries_per_event": counter.put_events_entries / events,
        "log_bytes_per_event": log_bytes / events,
    }


def measure_batches(stack: Any, invocations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """SQS batches of ``BATCH`` model invocations through the invocation detector's handler, as its event source
    mapping invokes it: ms per event (median over the batches after a first, unmeasured one)."""
    from warden import clock

    fn = stack.functions[INVOCATION_FUNCTION]
    source = next(s for s in stack.event_sources.values() if s.function == INVOCATION_FUNCTION)
    needed = BATCH * (BATCHES + 1)
    if len(invocations) < BATCH:
        raise SystemExit(f"the generated data holds {len(invocations)} model invocations; a batch needs {BATCH}")
    chosen = [invocations[n % len(invocations)] for n in range(needed)]
    per_event, counter = [], CallCounter()
    logs_before = _log_bytes(stack, INVOCATION_FUNCTION)
    for b in range(BATCHES + 1):
        batch = [
            {**e, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-batch/{b}/{n}/{e['id']}"))}
            for n, e in enumerate(chosen[b * BATCH : (b + 1) * BATCH])
        ]
        event = sqs_batch_event(batch, source.queue_arn, stack.emulator.region)
        with clock.frozen(max(map(_event_time, batch))), counter.counting() if b else contextlib.nullcontext():
            started = time.perf_counter()
            result = stack.invoke_sync(fn, event)
            elapsed = time.perf_counter() - started
        if result and result.get("batchItemFailures"):
            raise SystemExit(f"the invocation detector failed {len(result['batchItemFailures'])} messages")
        if b == 0:
            logs_before = _log_bytes(stack, INVOCATION_FUNCTION)
        else:
            per_event.append(elapsed / BATCH)
    events = BATCH * BATCHES
    logs = _log_bytes(stack, INVOCATION_FUNCTION) - logs_before
    return {
        "batches": BATCHES,
        "batch_size": BATCH,
        "ms_per_event": 1000 * statistics.median(per_event),
        "ms_per_event_max": 1000 * max(per_event),
        **_per_event(counter, events, logs),
    }


def _fresh_llmjacking(run: int) -> list[dict[str, Any]]:
    """The LLMjacking sequence with its user, key and ids made new for run ``run`` (IAM users are per run)."""
    events = json.loads(LLMJACKING.read_text())
    text = json.dumps(events)
    for event in events:
        detail = event["detail"]
        text = text.replace(event["id"], str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-e2e/{run}/{event['id']}")))
        text = text.replace(
            detail["eventID"], str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-e2e/{run}/{detail['eventID']}"))
        )
    user = events[0]["detail"]["userIdentity"]["userName"]
    text = text.replace(f'"{user}"', f'"{user}-bench{run}"').replace(f'user/{user}"', f'user/{user}-bench{run}"')
    return list(json.loads(text))


def measure_containment(stack: Any, runs: int = E2E_RUNS, timeout: float = 30.0) -> dict[str, Any]:
    """From putting the last event of an LLMjacking sequence by a stolen key on the default bus to the key
    reading Inactive in IAM, with fresh users and keys each run."""
    from warden_local.run import seed_victim, users_in_events

    iam, times = stack.client("iam"), []
    for run in range(runs):
        events = _fresh_llmjacking(run)
        victim = seed_victim(stack, users_in_events(events))
        if victim.not_recreated or not victim.keys:
            raise SystemExit(f"could not create the victim: {victim.not_recreated}")
        events = victim.rewrite(events)
        (user,) = set(victim.users.values())
        stack.send(events[:-1])
        stack.settle()
        started = time.perf_counter()
        stack.send(events[-1:])
        while time.perf_counter() - started < timeout:
            keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
            if keys and all(k["Status"] == "Inactive" for k in keys):
                times.append(time.perf_counter() - started)
                break
            stack.settle(timeout=0.05)
        else:
            raise SystemExit(f"run {run}: the key of {user} was still active after {timeout} s")
    stack.settle()
    return {"runs": runs, "p50_ms": 1000 * statistics.median(times), "max_ms": 1000 * max(times)}


def measure_playbooks(stack: Any) -> dict[str, Any]:
    """State transitions of the executions the local stack ran, from their histories (what Step Functions bills),
    and executions per finding: every finding the handlers published during the run, routed by the template's
    rules on the findings bus (findings are routed when the stack next drains its taps, in the containment runs)."""
    sfn = stack.client("stepfunctions")
    transitions: dict[str, list[int]] = {}
    for execution in stack.executions:
        history = sfn.get_execution_history(executionArn=execution.arn, maxResults=1000)["events"]
        entered = sum(1 for e in history if e["type"].endswith("StateEntered"))
        transitions.setdefault(execution.playbook, []).append(entered)
    return {
        "executions": len(stack.executions),
        "findings": len(stack.findings),
        "executions_per_finding": len(stack.executions) / len(stack.findings) if stack.findings else 1.0,
        "transitions_per_execution": {k: statistics.fmean(v) for k, v in sorted(transitions.items())},
        "mean_transitions": statistics.fmean([t for v in transitions.values() for t in v]) if transitions else 0.0,
    }


def bench_local_stack(sample: Iterable[dict[str, Any]]) -> dict[str, Any]:
    from warden_local.emulator import running_emulator
    from warden_local.stack import LocalStack

    with running_emulator() as emulator, tempfile.TemporaryDirectory() as workdir:
        stack = LocalStack(emulator, ROOT, parameters={"ResponseMode": "auto"}, workdir=Path(workdir)).deploy()
        started = time.perf_counter()
        routes = classify(stack, sample)
        _log(f"classified {routes['events']:,} events in {time.perf_counter() - started:.1f} s: {routes['deliveries']}")
        by_target = routes.pop("by_target")
        direct = [
            (key.split(":", 1)[1], e)
            for key, events in by_target.items()
            if key.startswith("function:")
            for e in events
        ]
        direct.sort(key=lambda item: str(item[1]["detail"]["eventTime"]))
        invocations = by_target.get(f"sqs:{_queue_of(stack, INVOCATION_FUNCTION)}", [])
        handlers = measure_handlers(stack, direct)
        _log(f"handlers: p50 {handlers['p50_ms']:.1f} ms, p99 {handlers['p99_ms']:.1f} ms")
        batches = measure_batches(stack, invocations)
        _log(f"batches: {batches['ms_per_event']:.2f} ms per event")
        stack.settle()
        containment = measure_containment(stack)
        _log(f"containment: p50 {containment['p50_ms']:.0f} ms")
        playbooks = measure_playbooks(stack)
    return {
        "routes": routes,
        "handlers": handlers,
        "batches": batches,
        "containment": containment,
        "playbooks": playbooks,
    }


def _queue_of(stack: Any, function: str) -> str:
    url = next(url for url, source in stack.event_sources.items() if source.function == function)
    return str(next(logical for logical, queue in stack.queues.items() if queue == url))


# ---------------------------------------------------------------------------------------------- cost


def cost_model(
    *,
    functions: Mapping[str, Mapping[str, Any]],
    routes: Mapping[str, Any],
    handlers: Mapping[str, Any],
    batches: Mapping[str, Any],
    playbooks: Mapping[str, Any],
    findings_per_routed_event: float | None = None,
    prices: Mapping[str, float] = PRICES,
) -> dict[str, Any]:
    """Cost per million CloudTrail events routed to Warden, per component, with each component's floor.

    A routed event is one that at least one rule of the template takes. Each delivery is priced by its path:
    - queue (InvocationQueue): EventBridge's SendMessage, then the poller's ReceiveMessage and DeleteMessageBatch
      per ``SQS_RECEIVE_MAX`` messages; one Lambda request per full batch of the template's BatchSize; the
      measured ms per event of a batch at the function's memory.
    - direct (a rule targeting a function): one Lambda request (asynchronous invoke) per event; the measured p50
      rounded up to a whole ms at the function's memory.
    Both: the DynamoDB units and log bytes the handlers produced while measured, X-Ray at its default sampling.
    Findings ($1.00/M custom events on the findings bus, and the state transitions of the playbook executions
    each starts) at ``findings_per_routed_event`` (the data's own rate, from hunting it), else at the PutEvents
    entries the handlers made while measured (they replay a small sample, attacks included, so that rate is
    high). The floor is what stays if the handlers took no time, kept no state, logged nothing:
    the requests the delivery itself costs and the idempotency records (two writes per event).
    """
    deliveries, routed = routes["deliveries"], max(1, routes["routed"])
    queue_fn = functions[INVOCATION_FUNCTION]
    batch_size = int(queue_fn["batch_size"] or 1)
    components: defaultdict[str, float] = defaultdict(float)
    floors: defaultdict[str, float] = defaultdict(float)
    findings = 0.0
    for key, count in deliveries.items():
        kind, name = key.split(":", 1)
        share = count / routed  # deliveries of this kind per routed event
        if kind == "sqs":
            measured, memory = batches, int(queue_fn["memory_mb"])
            sqs = 1 + 2 / SQS_RECEIVE_MAX
            components["sqs_requests"] += share * sqs * prices["sqs_request"]
            floors["sqs_requests"] += share * sqs * prices["sqs_request"]
            requests = 1 / batch_size
            seconds = float(measured["ms_per_event"]) / 1000
        elif kind == "function":
            measured, memory = handlers, int(functions[name]["memory_mb"])
            requests = 1.0
            seconds = math.ceil(float(measured["p50_ms"])) / 1000
        else:
            continue  # SNS and state-machine targets: alarms and tamper alerts, not detection
        components["lambda_requests"] += share * requests * prices["lambda_request"]
        floors["lambda_requests"] += share * requests * prices["lambda_request"]
        components["lambda_duration"] += share * seconds * memory / 1024 * prices["lambda_gb_s_arm64"]
        components["xray_traces"] += share * requests * XRAY_SAMPLED * prices["xray_trace"]
        floors["xray_traces"] += share * requests * XRAY_SAMPLED * prices["xray_trace"]
        components["dynamodb_writes"] += share * measured["write_units_per_event"] * prices["dynamodb_wru"]
        floors["dynamodb_writes"] += share * 2 * prices["dynamodb_wru"]
        components["dynamodb_reads"] += share * measured["read_units_per_event"] * prices["dynamodb_rru"]
        components["cloudwatch_logs"] += share * measured["log_bytes_per_event"] / 1e9 * prices["logs_ingested_gb"]
        if findings_per_routed_event is None:
            findings += share * float(measured["put_events_entries_per_event"])
    if findings_per_routed_event is not None:
        findings = findings_per_routed_event
    transitions = float(playbooks["executions_per_finding"]) * float(playbooks["mean_transitions"])
    components["eventbridge_findings"] += findings * prices["eventbridge_custom_event"]
    components["step_functions"] += findings * transitions * prices["sfn_transition"]
    components["eventbridge_cloudtrail_events"] += prices["eventbridge_aws_event"]
    per_million = {k: 1e6 * v for k, v in sorted(components.items())}
    floor = {k: 1e6 * floors.get(k, 0.0) for k in per_million}
    return {
        "routed_share_of_all_events": routes["routed"] / max(1, routes["events"]),
        "deliveries_per_routed_event": {k: v / routed for k, v in sorted(deliveries.items())},
        "batch_size": batch_size,
        "findings_per_million_routed_events": 1e6 * findings,
        "findings_rate_from": "hunt" if findings_per_routed_event is not None else "handlers",
        "per_million_usd": per_million,
        "floor_per_million_usd": floor,
        "total_per_million_usd": sum(per_million.values()),
        "floor_total_per_million_usd": sum(floor.values()),
        "guardduty_per_million_usd": 1e6 * prices["guardduty_management_event"],
    }


def findings_rate(hunt: Mapping[str, Any], data: Mapping[str, Any], routes: Mapping[str, Any]) -> float | None:
    """Findings per routed event in the data: what hunting the largest set found, over the events of that set the
    rules would route (the routed share of the sample). None without a finished hunt."""
    done = [(name, h) for name, h in hunt.items() if h and h.get("finished") and h.get("exit_status") == 0]
    if not done or not routes["routed"]:
        return None
    name, largest = max(done, key=lambda item: int(data[item[0]]["records"]))
    routed = int(data[name]["records"]) * routes["routed"] / routes["events"]
    return float(largest["findings"]) / float(routed)


# ---------------------------------------------------------------------------------------------- demo


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
    return {
        "runs": DEMO_RUNS,
        "wall_median_s": statistics.median(walls),
        "wall_max_s": max(walls),
        "inside_median_s": statistics.median(inner),
    }


# ---------------------------------------------------------------------------------------------- summary, report


def summarize(results: Mapping[str, Any]) -> dict[str, Any]:
    """The summary line: every key of SUMMARY_KEYS (None where a measurement could not be taken)."""
    hunt_large, hunt_small = results["hunt"].get("1m") or {}, results["hunt"].get("100k") or {}
    decode_large = results["decode"]["1m"]
    hunt_rate = hunt_large.get("events_per_s") if hunt_large.get("finished") else None
    stack, cost = results["local_stack"], results["cost"]
    summary: dict[str, Any] = {
        "hunt_events_per_s": hunt_rate,
        "decode_events_per_s": decode_large["events_per_s"],
        "hunt_vs_decode": decode_large["events_per_s"] / hunt_rate if hunt_rate else None,
        "hunt_peak_rss_mb_100k": hunt_small.get("peak_rss_mb"),
        "hunt_peak_rss_mb_1m": hunt_large.get("peak_rss_mb"),
        "handler_ms_p50": stack["handlers"]["p50_ms"],
        "handler_ms_p99": stack["handlers"]["p99_ms"],
        "batch_ms_per_event": stack["batches"]["ms_per_event"],
        "cold_start_vs_boto3": results["cold_start"]["cold_start_vs_boto3"],
        "e2e_contain_ms_p50": stack["containment"]["p50_ms"],
        "cost_per_million_usd": cost["total_per_million_usd"],
        "guardduty_cost_per_million_usd": cost["guardduty_per_million_usd"],
        "cost_floor_per_million_usd": cost["floor_total_per_million_usd"],
        "cost_per_million_trail_events_usd": cost["total_per_million_usd"] * cost["routed_share_of_all_events"],
        "generation_1m_s": results["data"]["1m"]["generation_seconds"],
    }
    if results.get("demo"):
        summary["demo_median_s"] = results["demo"]["wall_median_s"]
    return summary


def verdicts(summary: Mapping[str, Any]) -> dict[str, str]:
    def judge(value: Any, limit: float) -> str:
        if value is None:
            return "not measured"
        return f"{'met' if value <= limit else 'MISSED'} ({value:.2f} against {limit:g})"

    rss = summary["hunt_peak_rss_mb_1m"], summary["hunt_peak_rss_mb_100k"]
    growth = rss[0] / rss[1] if None not in rss else None
    return {
        "hunt_vs_decode": judge(summary["hunt_vs_decode"], TARGETS["hunt_vs_decode"]),
        "cold_start_vs_boto3": judge(summary["cold_start_vs_boto3"], TARGETS["cold_start_vs_boto3"]),
        "cost_vs_guardduty": judge(
            summary["cost_per_million_usd"] / summary["guardduty_cost_per_million_usd"], TARGETS["cost_vs_guardduty"]
        ),
        "rss_1m_vs_100k": judge(growth, TARGETS["rss_growth"]),
    }


def obstacles(cost: Mapping[str, Any], target: float) -> str:
    """What stands between the measured cost and ``target``: the floor, and the components whose floor alone
    takes a large part of it; and the cost per event of the whole trail, which GuardDuty's price is for."""
    floor = cost["floor_per_million_usd"]
    heavy = [
        f"{k.replace('_', ' ')} (${v:.2f})" for k, v in sorted(floor.items(), key=lambda kv: -kv[1]) if v > target / 4
    ]
    trail = cost["total_per_million_usd"] * cost["routed_share_of_all_events"]
    return (
        f"Against the target of ${target:.2f} per million routed events, the floor alone is "
        f"${cost['floor_total_per_million_usd']:.2f}: {', '.join(heavy) or 'no single component'} "
        f"{'stands' if len(heavy) == 1 else 'stand'} in the way whatever the handlers cost, as long as every routed "
        f"event is its own SQS message and its own idempotency record. Above the floor, the handlers' state reads and "
        f"writes and their duration. GuardDuty's ${cost['guardduty_per_million_usd']:.2f} is per management event "
        f"of the whole trail; only {100 * cost['routed_share_of_all_events']:.1f}% of this trail reaches Warden, so "
        f"per million events of the trail Warden costs ${trail:.2f}."
    )


def _fmt(value: Any, spec: str = ",.0f") -> str:
    """``value`` formatted, "n/a" when not measured; a spec ending in "x" is a ratio."""
    if value is None:
        return "n/a"
    return format(value, spec[:-1]) + "x" if spec.endswith("x") else format(value, spec)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def render_report(results: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    judged = verdicts(summary)
    guardduty = summary["guardduty_cost_per_million_usd"]
    data, decode, hunt, stack, cost = (results[k] for k in ("data", "decode", "hunt", "local_stack", "cost"))
    data_rows = [
        [
            name,
            f"{d['records']:,}",
            f"{d['files']:,}",
            f"{d['raw_bytes'] / d['records']:,.0f} B",
            f"{d['gzip_bytes'] / 1e6:,.1f} MB",
            f"{d['generation_seconds']:.1f} s" + (" (cached)" if d.get("cached") else ""),
        ]
        for name, d in data.items()
    ]
    hunt_rows = []
    for name in data:
        h, dec = hunt.get(name) or {}, decode[name]
        rate = h.get("events_per_s") if h.get("finished") else None
        hunt_rows.append(
            [
                name,
                f"{_fmt(dec['events_per_s'])} /s",
                f"{_fmt(rate)} /s" if rate else _hunt_note(h),
                _fmt(dec["events_per_s"] / rate, ".2f") + "x" if rate else "n/a",
                f"{_fmt(h.get('peak_rss_mb'), ',.0f')} MB",
                _fmt(h.get("findings")),
            ]
        )
    findings = (hunt.get("1m") or {}).get("findings_by_detector") or (hunt.get("100k") or {}).get(
        "findings_by_detector"
    )
    handlers, batches, containment, playbooks = (stack[k] for k in ("handlers", "batches", "containment", "playbooks"))
    cold = results["cold_start"]
    cold_rows = [
        [name, f"{1000 * cold['median_s'][name]:.0f} ms", f"{ratio:.2f}x"]
        for name, ratio in sorted(cold.get("ratios", {}).items(), key=lambda kv: -kv[1])
    ]
    cost_rows = [
        [name.replace("_", " "), f"${value:.3f}", f"${cost['floor_per_million_usd'][name]:.3f}"]
        for name, value in sorted(cost["per_million_usd"].items(), key=lambda kv: -kv[1])
    ]
    cost_rows.append(
        ["**total**", f"**${cost['total_per_million_usd']:.2f}**", f"**${cost['floor_total_per_million_usd']:.2f}**"]
    )
    routes = stack["routes"]
    demo = results.get("demo")
    demo_text = (
        _table(
            ["runs", "median wall", "max wall", "median inside the run", "target"],
            [
                [
                    str(demo["runs"]),
                    f"{demo['wall_median_s']:.2f} s",
                    f"{demo['wall_max_s']:.2f} s",
                    f"{demo['inside_median_s']:.2f} s",
                    f"< {DEMO_TARGET_SECONDS:.0f} s ({'met' if demo['wall_max_s'] < DEMO_TARGET_SECONDS else 'MISSED'})",  # noqa: E501
                ]
            ],
        )
        if demo
        else "Not run this time (`--no-demo`)."
    )
    prices = "\n".join(f"- `{k}`: ${v:.10f}".rstrip("0").rstrip(".") for k, v in PRICES.items())
    return f"""# Performance

Measured by `make bench` (`scripts/bench.py`, data from `scripts/benchdata.py`) on {results["measured_at"]}:
{results["machine"]}. The whole run took {results["bench_seconds"]:.0f} s. Tests never assert timings; this file is the
record. Re-run `make bench` after changes that touch the hot path and commit the result.

## Targets (issue 8)

{
        _table(
            ["measure", "value", "target", "verdict"],
            [
                [
                    "hunting against decoding (`hunt_vs_decode`)",
                    _fmt(summary["hunt_vs_decode"], ".2fx"),
                    "<= 2x",
                    judged["hunt_vs_decode"],
                ],
                [
                    "cold start against `import boto3` (worst handler)",
                    f"{summary['cold_start_vs_boto3']:.2f}x",
                    "<= 1.5x",
                    judged["cold_start_vs_boto3"],
                ],
                [
                    "cost per million routed CloudTrail events",
                    f"${summary['cost_per_million_usd']:.2f}",
                    f"<= ${guardduty / 10:.2f} (GuardDuty ${guardduty:.2f} / 10)",
                    judged["cost_vs_guardduty"],
                ],
                [
                    "hunt peak RSS, 1,000,000 against 100,000 records",
                    f"{_fmt(summary['hunt_peak_rss_mb_1m'])} / {_fmt(summary['hunt_peak_rss_mb_100k'])} MB",
                    "within 20%",
                    judged["rss_1m_vs_100k"],
                ],
            ],
        )
    }

## Data

Generated by `scripts/benchdata.py` (generator version {benchdata.GENERATOR_VERSION}, seed {benchdata.SEED}): CloudTrail
log files exactly as CloudTrail writes them to S3 (gzipped `{{"Records": [...]}}`, one object per region and five
minutes, keyed
`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz`).
A busy account's mix, {benchdata.RECORDS_PER_SLOT:,} records per five minutes over three regions: EC2 `Describe*`,
S3 bucket reads, KMS `Decrypt`/`GenerateDataKey` by services, STS `AssumeRole` by AWS services and by the account's
roles, SSM, Logs, Lambda, DynamoDB, Secrets Manager, ECR; about 4% Bedrock (model calls by application roles, some
control plane) and 3% IAM. Inside: three of the project's positive sequences re-timed into the data ({
        ", ".join(benchdata.ATTACKS)
    }).
Records are built from templates, serialised with orjson and gzipped at level {benchdata.GZIP_LEVEL}, a slot at a time.

{_table(["set", "records", "files", "JSON per record", "gzipped", "generation"], data_rows)}

## Hunting against decoding

Both sides read the same files from the page cache. Decoding is `zlib.decompress` + `orjson.loads` of each file,
touching every record; hunting is `warden hunt <folder> --format json` in a fresh process (start-up included),
findings counted from its stdout, its peak RSS read by `/usr/bin/time -f %M`.

{_table(["set", "decode", "hunt", "hunt_vs_decode", "hunt peak RSS", "findings"], hunt_rows)}

Findings by detector: {json.dumps(findings) if findings else "n/a"}. The hunt's own summary (stderr) on the largest
set: `{(hunt.get("1m") or {}).get("summary_line", "n/a")}`.

## Live path on the local stack

`template.yaml` deployed on the embedded emulator (moto over loopback HTTP; `ResponseMode=auto`). Of the first
{routes["events"]:,} records of the 100k set, {routes["routed"]:,} ({100 * cost["routed_share_of_all_events"]:.1f}%)
are taken by a rule on the default bus; deliveries per target: {json.dumps(routes["deliveries"])}.

{
        _table(
            ["measure", "value", "how"],
            [
                [
                    "detector handler, p50 / p99",
                    f"{handlers['p50_ms']:.1f} / {handlers['p99_ms']:.1f} ms",
                    f"{handlers['events']} events the rules deliver to a function, each invoked as Lambda invokes "
                    "it asynchronously",
                ],
                [
                    "SQS batch, per event",
                    f"{batches['ms_per_event']:.2f} ms (max {batches['ms_per_event_max']:.2f})",
                    f"median of {batches['batches']} batches of {batches['batch_size']} model invocations through "
                    f"`{INVOCATION_FUNCTION}` (an SQS event shaped as Lambda hands it)",
                ],
                [
                    "LLMjacking to key Inactive, p50",
                    f"{containment['p50_ms']:.0f} ms (max {containment['max_ms']:.0f})",
                    f"{containment['runs']} runs with fresh users and keys: last event on the default bus to "
                    "`list_access_keys` "
                    "reading Inactive",
                ],
            ],
        )
    }

Per event, the handlers made these AWS calls (counted at the botocore client while measured):
direct {json.dumps({k: round(v, 3) for k, v in handlers["calls_per_event"].items()})};
batched {json.dumps({k: round(v, 3) for k, v in batches["calls_per_event"].items()})}.
Playbook executions: {playbooks["executions"]}, state transitions per execution {
        json.dumps({k: round(v, 1) for k, v in playbooks["transitions_per_execution"].items()})
    }.

## Cold start

Median of {cold.get("runs", COLD_RUNS)} fresh interpreters per handler module (`python -c "import app"`, the layer
and the function's directory on `PYTHONPATH`, tracing on as in Lambda) against `python -c "import boto3"`,
interleaved; method: {cold["method"]}.{
        f" Import and first event (in-memory ports), ms: {json.dumps(cold['import_and_first_event_ms'])}."
        if cold.get("import_and_first_event_ms")
        else ""
    }

{_table(["function", "median import", "against boto3"], cold_rows) if cold_rows else json.dumps(cold)}

## Cost per million CloudTrail events routed to Warden

Read from `template.yaml`: memory per function, the invocation queue's batch size ({cost["batch_size"]}, assumed full:
at low volume the 5 s batching window sends smaller batches and requests per event grow). Measured above: ms per event
(direct p50 rounded up to whole ms per invocation; batched median), DynamoDB units, PutEvents entries and log bytes
per event, playbook executions per finding and their state transitions. AWS management events reach EventBridge and
its targets in the account free; the findings are custom events. X-Ray at its default 5% sampling. The floor is what
delivery alone costs whatever the code does: SQS and Lambda requests, traces, and two idempotency writes per event.
Findings: {cost["findings_per_million_routed_events"]:,.1f} per million routed events ({
        "what hunting the largest set found"
        if cost["findings_rate_from"] == "hunt"
        else "PutEvents entries while measured"
    }), each starting {stack["playbooks"]["executions_per_finding"]:.2f} playbook executions of
{stack["playbooks"]["mean_transitions"]:.1f} state transitions on average (as the local stack ran them).

{_table(["component", "per million routed events", "floor"], cost_rows)}

{obstacles(cost, guardduty * TARGETS["cost_vs_guardduty"])}
Prices (us-east-1, sources in `PRICES` in `scripts/bench.py`):

{prices}

## `warden demo --json`, fresh process, emulator start included

{demo_text}

```json
{json.dumps(summary)}
```
"""


def _hunt_note(hunt: Mapping[str, Any]) -> str:
    if not hunt:
        return "not run (no `warden hunt`)"
    if not hunt.get("finished"):
        return f"did not finish in {hunt['timeout_s']} s"
    return "n/a"


# ---------------------------------------------------------------------------------------------- main


def bench_data(sizes: Mapping[str, int]) -> dict[str, benchdata.DataSet]:
    made = {}
    for name, records in sizes.items():
        started = time.perf_counter()
        made[name] = benchdata.ensure(name, records=records)
        _log(
            f"data {name}: {made[name].records:,} records ({'cached' if made[name].manifest['cached'] else 'generated'}"
            f" in {time.perf_counter() - started:.1f} s)"
        )
    return made


def route_sample(dataset: benchdata.DataSet, limit: int = ROUTE_SAMPLE) -> list[dict[str, Any]]:
    from warden_local.readers import to_eventbridge

    sample: list[dict[str, Any]] = []
    for record in benchdata.read_records(dataset):
        sample.append(to_eventbridge(record))
        if len(sample) >= limit:
            break
    return sorted(sample, key=lambda e: str(e["detail"]["eventTime"]))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-demo", action="store_true", help="skip the three `warden demo` runs")
    parser.add_argument(
        "--small", action="store_true", help="development: 5,000 and 20,000 records, report in .warden/"
    )
    args = parser.parse_args(argv)
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore", message="No application metrics to publish")  # a batch without findings
    began = time.perf_counter()
    from warden_local.template import load_template

    sizes = {"100k": 5_000, "1m": 20_000} if args.small else benchdata.SIZES
    sets = bench_data(sizes)
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "data": {
            name: {k: v for k, v in ds.manifest.items() if k not in {"calls", "attacks"}} for name, ds in sets.items()
        },
    }
    results["decode"] = {name: measure_decode(ds.files()) for name, ds in sets.items()}
    _log(f"decode: {json.dumps({n: round(d['events_per_s']) for n, d in results['decode'].items()})}")
    results["hunt"] = {}
    for name, ds in sets.items():
        results["hunt"][name] = measure_hunt(ds.path / "AWSLogs", ds.records)
        _log(f"hunt {name}: {json.dumps({k: v for k, v in results['hunt'][name].items() if k != 'stderr_tail'})}")
    results["local_stack"] = bench_local_stack(route_sample(sets["100k"]))
    functions = template_functions(load_template(ROOT / "template.yaml"))
    stack = results["local_stack"]
    results["cost"] = cost_model(
        functions=functions,
        routes=stack["routes"],
        handlers=stack["handlers"],
        batches=stack["batches"],
        playbooks=stack["playbooks"],
        findings_per_routed_event=findings_rate(results["hunt"], results["data"], stack["routes"]),
    )
    results["cold_start"] = measure_cold_start()
    _log(f"cold start: {results['cold_start']['cold_start_vs_boto3']:.2f}x boto3")
    results["demo"] = None if args.no_demo or args.small else bench_demo()
    results["bench_seconds"] = time.perf_counter() - began
    summary = summarize(results)
    path = ROOT / (".warden/performance-small.md" if args.small else "docs/performance.md")
    path.write_text(render_report(results, summary))
    (ROOT / ".warden" / "bench-results.json").write_text(json.dumps(results, default=str, indent=1))
    if not args.small:
        _log(f"wrote {path.relative_to(ROOT)} in {results['bench_seconds']:.0f} s")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
