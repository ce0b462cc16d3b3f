"""The fuzz harness: for each entry point, what counts as processed, refused and kept, crashed or lost.

Every check runs one generated input through one entry point and returns an :class:`Outcome`:

- **processed**: the entry point took it (including deliberately ignoring it);
- **refused and kept**: it refused it and the refusal is somewhere a human finds it (named in the
  reader's errors, a dead-letter queue, a failure destination, a notification);
- **crashed**: it raised where it must not;
- **lost**: it neither took it nor said so anywhere.

The same checks serve the deterministic slice that ``pytest`` runs and the full budget that
``make fuzz`` (scripts/fuzz.py) runs; only the number of cases differs (:func:`budget`).
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import re
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, settings
from pydantic import ValidationError

import warden.runtime
from tests.conftest import ROOT
from tests.fuzz.strategies import PLAYBOOK_ARN, SEEDED_KEY, SEEDED_USER, EventFile, StateMachineInput
from warden import clock
from warden.errors import PublishError
from warden.models import CloudTrailEvent, Finding
from warden.models.finding import finding_id
from warden.models.invocation_log import ModelInvocationLog
from warden.service import DetectionService
from warden_local.cli import main as warden_cli
from warden_local.memory import MemoryDeadLetters, MemoryPublisher, MemoryStateStore
from warden_local.readers import read_events
from warden_local.stack import FunctionSpec, LocalContext, LocalStack, Route
from warden_local.template import load_template

FUZZ = os.environ.get("WARDEN_FUZZ") == "1"
"""Set by scripts/fuzz.py: full budget, and every case is counted instead of stopping at the first failure."""
SCALE = float(os.environ.get("WARDEN_FUZZ_SCALE", "1"))
FAILURES = ROOT / ".warden" / "fuzz" / "failures"
TEMPLATE = load_template(ROOT / "template.yaml")
DYNAMODB_ITEM_MAX_BYTES = 400 * 1024
EVENTBRIDGE_ENTRY_MAX_BYTES = 256 * 1024
SETTLE_SECONDS = 30.0
SAMPLE_ARRIVAL = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
CANARIES = ("SECRET-PROMPT-CANARY", "SECRET-COMPLETION-CANARY")


def declared(resource_type: str) -> list[str]:
    """Logical ids of the template's resources of one type: the harness fuzzes whatever the template declares."""
    return sorted(logical for logical, spec in TEMPLATE["Resources"].items() if spec.get("Type") == resource_type)


def budget(slice_cases: int, fuzz_cases: int) -> settings:
    """Hypothesis settings for a check: a small deterministic slice under pytest, the full budget under make fuzz."""
    return settings(
        max_examples=max(1, int(fuzz_cases * SCALE)) if FUZZ else slice_cases,
        derandomize=not FUZZ,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: tests/fuzz/test_found.py holds minimal inputs
    )


# ----------------------------------------------------------------------------------------- outcomes


class Verdict(StrEnum):
    PROCESSED = "processed"
    REFUSED = "refused and kept"
    CRASHED = "crashed"
    LOST = "lost"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str
    detail: str = ""

    @property
    def acceptable(self) -> bool:
        return self.verdict in {Verdict.PROCESSED, Verdict.REFUSED}


def processed(reason: str) -> Outcome:
    return Outcome(Verdict.PROCESSED, reason)


def refused(reason: str) -> Outcome:
    return Outcome(Verdict.REFUSED, reason)


def lost(reason: str, detail: str = "") -> Outcome:
    return Outcome(Verdict.LOST, reason, detail)


def crashed(exc: BaseException) -> Outcome:
    """A crash, named by exception type and the innermost line of Warden's own code it went through."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename.startswith(str(ROOT)) and "/.venv/" not in f.filename]
    where = own[-1] if own else (frames[-1] if frames else None)
    place = f" at {_short(where.filename)}:{where.lineno}" if where else ""
    tail = "".join(traceback.format_exception(exc)[-6:])
    return Outcome(Verdict.CRASHED, f"{type(exc).__name__}{place}", tail[-2_000:])


@dataclass
class TargetTally:
    counts: Counter[Verdict] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, Path] = field(default_factory=dict)
    """One saved input per (verdict, reason) that was not acceptable."""


@dataclass
class Tally:
    targets: dict[str, TargetTally] = field(default_factory=dict)

    def record(self, target: str, outcome: Outcome, case: Any) -> None:
        tally = self.targets.setdefault(target, TargetTally())
        tally.counts[outcome.verdict] += 1
        tally.reasons[f"{outcome.verdict}: {outcome.reason}"] += 1
        signature = f"{outcome.verdict}: {outcome.reason}"
        if not outcome.acceptable and signature not in tally.examples and FUZZ:
            tally.examples[signature] = _save(target, outcome, case)


TALLY = Tally()


def _save(target: str, outcome: Outcome, case: Any) -> Path:
    FAILURES.mkdir(parents=True, exist_ok=True)
    stem = FAILURES / f"{target.replace('/', '_')}-{uuid.uuid4().hex[:8]}"
    if isinstance(case, list) and case and all(isinstance(item, EventFile) for item in case):
        for index, item in enumerate(case):
            stem.with_name(f"{stem.name}-{index}-{item.name}").write_bytes(item.data)
        case = [repr(item) for item in case]
    if isinstance(case, EventFile):
        stem.with_name(f"{stem.name}-{case.name}").write_bytes(case.data)
        case = repr(case)
    if is_dataclass(case) and not isinstance(case, type):
        case = asdict(case)
    report = {"target": target, "verdict": outcome.verdict, "reason": outcome.reason, "detail": outcome.detail}
    try:
        text = json.dumps({**report, "input": case}, default=repr)
    except (ValueError, RecursionError):
        text = json.dumps({**report, "input": repr(case)[:100_000]})
    path = stem.with_suffix(".json")
    path.write_text(text)
    return path


def settle(target: str, outcomes: Sequence[Outcome], case: Any) -> None:
    """Count the outcomes; under pytest, fail on the first one that crashed or lost its input."""
    for outcome in outcomes:
        TALLY.record(target, outcome, case)
    if not FUZZ:
        bad = [o for o in outcomes if not o.acceptable]
        assert not bad, f"{target}: {bad[0].verdict}: {bad[0].reason}\n{bad[0].detail}"


def _on_fresh_stack(call: Callable[[], Any], *, arrival: datetime | None = None) -> Any:
    """Run ``call`` in its own thread: Lambda calls a handler a few frames deep, not under pytest and hypothesis.

    With ``arrival``, the Warden clock reads that time meanwhile (when EventBridge delivered the event).
    """
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def frozen_call() -> Any:
        if arrival is None:
            return call()
        with clock.frozen(arrival):
            return call()

    def run() -> None:
        try:
            box["value"] = context.run(frozen_call)
        except BaseException as exc:  # handed back to the caller's thread as it is
            box["error"] = exc

    worker = threading.Thread(target=run, name="fuzz-invocation")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def arrival(event: Any) -> datetime:
    """When EventBridge delivered an event: its envelope time if that is in the samples' days, else during them.

    The samples were captured in November 2026; an event dated elsewhere (a damaged or forged time) arrives
    then all the same, as it would in real life.
    """
    stamp = event.get("time") if isinstance(event, dict) else None
    try:
        moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None and abs(moment - SAMPLE_ARRIVAL) < timedelta(days=3):
        return moment
    return SAMPLE_ARRIVAL


# ----------------------------------------------------------------------------------------- readers


def check_read(files: Sequence[EventFile], directory: Path) -> Outcome:
    """read_events: every item of every file is an event or named in the errors; nothing raises."""
    paths = []
    for index, item in enumerate(files):
        path = directory / f"{index}-{item.name}"
        path.write_bytes(item.data)
        paths.append(path)
    try:
        result = _on_fresh_stack(lambda: read_events(paths))
    except Exception as exc:
        return crashed(exc)
    unnamed = [str(error) for error in result.errors if not any(str(path) in str(error) for path in paths)]
    if unnamed:
        return lost("an error names no input file", unnamed[0][:300])
    if result.errors:
        return refused(f"named in the reader's errors ({_gist(str(result.errors[0]), paths)})")
    expected = [item.items for item in files]
    out = len(result.events) + len(result.invocation_logs)
    if all(count is not None for count in expected) and out < sum(c or 0 for c in expected):
        return lost(f"{sum(c or 0 for c in expected)} items in, {out} events and log records out, no error")
    return processed("read")


def check_hunt(files: Sequence[EventFile], directory: Path) -> Outcome:
    """``warden hunt``'s reader and engine: every problem names an input file; nothing raises."""
    from warden_local.hunt import Hunt, Problem
    from warden_local.hunt.report import quiet_powertools

    paths = []
    for index, item in enumerate(files):
        path = directory / f"{index}-{item.name}"
        path.write_bytes(item.data)
        paths.append(str(path))

    def run() -> list[Any]:
        with quiet_powertools():
            return list(Hunt(paths).run())

    try:
        found = _on_fresh_stack(run)
    except Exception as exc:
        return crashed(exc)
    problems = [str(entry) for entry in found if isinstance(entry, Problem)]
    unnamed = [problem for problem in problems if not any(path in problem for path in paths)]
    if unnamed:
        return lost("a problem names no input file", unnamed[0][:300])
    if problems:
        return refused(f"named as a problem ({_gist(problems[0], [Path(p) for p in paths])})")
    return processed("hunted")


# ----------------------------------------------------------------------------------------- handlers


class ItemSizeExceeded(Exception):
    """What DynamoDB answers (ValidationException) to an item over 400 KB."""


class DynamoDBSizedStateStore(MemoryStateStore):
    """The in-memory store, held to what the DynamoDB adapter cannot escape: the item limit and an epoch TTL."""

    def save(
        self, namespace: str, key: str, value: Mapping[str, Any], *, expected_version: int | None, expires_at: datetime
    ) -> None:
        size = len(json.dumps(value, separators=(",", ":")).encode()) + len(namespace) + len(key) + 64
        if size > DYNAMODB_ITEM_MAX_BYTES:
            raise ItemSizeExceeded(f"{namespace}#{key}: item of {size} bytes exceeds DynamoDB's 400 KB")
        int(expires_at.timestamp())  # the adapter stores the TTL as epoch seconds
        super().save(namespace, key, value, expected_version=expected_version, expires_at=expires_at)


class EventBridgeSizedPublisher(MemoryPublisher):
    """The in-memory publisher, held to EventBridge's entry size (the adapter's PutEvents would be refused)."""

    def publish(self, findings: Sequence[Finding]) -> None:
        for finding in findings:
            if len(finding.model_dump_json().encode()) > EVENTBRIDGE_ENTRY_MAX_BYTES:
                raise PublishError(f"finding {finding.id} is larger than an EventBridge entry")
        super().publish(findings)


def memory_service(config: Any, family: Any) -> DetectionService:
    """The service the function's composition root builds from its configuration, with in-memory ports
    (held to DynamoDB's and EventBridge's limits) in place of the AWS adapters and of idempotency."""
    return replace(
        warden.runtime.detection_service(config, family),
        state=DynamoDBSizedStateStore(),
        publisher=EventBridgeSizedPublisher(),
        dead_letters=MemoryDeadLetters(),
        once=None,
    )


def _composition_roots(module: ModuleType) -> list[str]:
    return [name for name, value in vars(module).items() if value is warden.runtime.detection_service]


def has_in_memory_ports(stack: LocalStack, fn: FunctionSpec) -> bool:
    """Whether the handler builds its ports through warden.runtime (so that in-memory ones can stand in)."""
    return bool(_composition_roots(stack._handler_module(fn)))


@contextmanager
def _in_memory_ports(module: ModuleType, factory: Callable[[Any, Any], DetectionService]) -> Iterator[None]:
    names = _composition_roots(module)
    for name in names:
        setattr(module, name, factory)
    try:
        yield
    finally:
        for name in names:
            setattr(module, name, warden.runtime.detection_service)


def _context(fn: FunctionSpec) -> LocalContext:
    return LocalContext(
        function_name=fn.name,
        invoked_function_arn=fn.arn,
        memory_limit_in_mb=fn.memory,
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{fn.name}",
        log_stream_name="fuzz",
        deadline=time.monotonic() + fn.timeout,
    )


def check_in_memory(stack: LocalStack, fn: FunctionSpec, events: Sequence[Any]) -> list[Outcome]:
    """The real handler on in-memory ports, one event after another (state carries over).

    Processed or ignored is processed; rejected is refused and kept only if the dead-letter fake holds
    it; an exception, or a run longer than the function's timeout, is a crash.
    """
    return _run_in_memory(stack, fn, events)[0]


def check_not_blinded(stack: LocalStack, fn: FunctionSpec, prefix: Sequence[Any], attack: Sequence[Any]) -> Outcome:
    """An attack that raises a finding on its own still raises one after the attacker's own damaging events
    (dated far ahead or behind, flooding the state, deeply nested, redelivered); else the attack is lost."""
    control = _published(_run_in_memory(stack, fn, attack)[1])
    outcomes, service = _run_in_memory(stack, fn, [*prefix, *attack])
    bad = [outcome for outcome in outcomes if not outcome.acceptable]
    if bad:
        return bad[0]
    if not control:
        return processed("no finding without the prefix either (not this function's detector)")
    if not _published(service):
        return lost(f"the attack raised {len(control)} finding(s) alone, none after {len(prefix)} events before it")
    return processed("still detected")


def _published(service: DetectionService | None) -> list[Any]:
    return list(getattr(service.publisher, "published", [])) if service else []


def _run_in_memory(
    stack: LocalStack, fn: FunctionSpec, events: Sequence[Any]
) -> tuple[list[Outcome], DetectionService | None]:
    module = stack._handler_module(fn)
    handler = getattr(module, fn.handler.rsplit(".", 1)[1])
    built: list[DetectionService] = []

    def factory(config: Any, family: Any) -> DetectionService:
        if not built:
            built.append(memory_service(config, family))
        return built[0]

    outcomes = []
    with _in_memory_ports(module, factory):
        for event in events:
            kept_before = len(_dead_letters(built))
            started = time.monotonic()
            try:
                with stack._function_environment(fn):
                    result = _on_fresh_stack(functools.partial(handler, event, _context(fn)), arrival=arrival(event))
            except Exception as exc:
                outcomes.append(crashed(exc))
                continue
            if time.monotonic() - started > fn.timeout:
                outcomes.append(Outcome(Verdict.CRASHED, f"ran longer than the function's {fn.timeout} s timeout"))
                continue
            kept = len(_dead_letters(built)) > kept_before
            outcomes.append(_handler_verdict(result, kept, "dead-letter fake"))
    return outcomes, (built[0] if built else None)


def _dead_letters(built: list[DetectionService]) -> list[Any]:
    return list(getattr(built[0].dead_letters, "kept", [])) if built else []


def _handler_verdict(result: Any, kept: bool, where: str) -> Outcome:
    status = result.get("status") if isinstance(result, dict) else None
    why = str(result.get("reason") or "").split(":", 1)[0][:60] if isinstance(result, dict) else ""
    if status == "rejected":
        if kept:
            return refused(f"rejected ({why}), in the {where}")
        return lost(f"rejected ({why}) without a dead letter")
    return processed(str(status or "returned"))


def drain_queues(stack: LocalStack) -> dict[str, list[Any]]:
    """Every message waiting in the template's queues (dead letters, failure destinations), removed."""
    sqs, found = stack.client("sqs"), dict[str, list[Any]]()
    for logical, url in stack.queues.items():
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                found.setdefault(logical, []).append(json.loads(message["Body"]))
    return found


def _error_type(stack: LocalStack, request_id: str) -> str:
    """The exception type of a failed invocation, from the stack's timeline ("... failed: Type: message")."""
    for step in reversed(stack.timeline):
        if step.kind == "error" and request_id in step.text and " failed: " in step.text:
            return step.text.split(" failed: ", 1)[1].split(":", 1)[0]
    return "an exception"


def _queue_logical(stack: LocalStack, url: str | None) -> str | None:
    return next((logical for logical, queue in stack.queues.items() if queue == url), None)


def check_on_stack(stack: LocalStack, fn: FunctionSpec, event: Any) -> Outcome:
    """The handler as Lambda runs it on the local stack (real adapters on moto, retries, failure destination).

    It may raise only as Lambda allows: then the on-failure destination must hold the event.
    """
    drain_queues(stack)
    before = len(stack.invocations)
    try:
        result = _on_fresh_stack(lambda: stack.invoke(fn, event), arrival=arrival(event))
    except Exception as exc:
        return crashed(exc)
    kept = drain_queues(stack)
    invocation = stack.invocations[before] if len(stack.invocations) > before else {}
    if "error" in invocation:
        error = _error_type(stack, str(invocation.get("request_id")))
        if not any(route.target.ref == fn.logical_id for route in stack.routes):
            # Invoked only synchronously (a Step Functions Task): the error goes back to the caller's Catch.
            return refused(f"failed ({error}), returned to its synchronous caller")
        destination = _queue_logical(stack, fn.on_failure_queue)
        if destination and any(
            isinstance(body, dict) and "requestPayload" in body for body in kept.get(destination, [])
        ):
            return refused(f"failed ({error}), in the failure destination {destination}")
        return Outcome(Verdict.CRASHED, f"{error} with no failure destination holding the event", invocation["error"])
    return _handler_verdict(result, any(kept.values()), "dead-letter queue")


# ----------------------------------------------------------------------------------------- state machines


def _prepare(stack: LocalStack, case: StateMachineInput) -> Any:
    """The input with its placeholders replaced: a fresh user and key, a deployed playbook's ARN."""
    text = json.dumps(case.payload)
    if SEEDED_USER in text or SEEDED_KEY in text:
        iam, name = stack.client("iam"), f"fuzz-{uuid.uuid4().hex[:10]}"
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        text = text.replace(SEEDED_USER, name).replace(SEEDED_KEY, key)
    text = text.replace(PLAYBOOK_ARN, next(iter(stack.state_machines)))
    payload = json.loads(text)
    if case.reseal and isinstance(payload, dict):  # as a detector would have sealed it, so that playbooks act
        try:
            payload["id"] = Finding.sealed(payload).id
        except (ValidationError, TypeError):
            payload["id"] = finding_id(payload)  # not a finding: the policy refuses it whatever its id
    return payload


def _route_to(stack: LocalStack, arn: str) -> Route | None:
    """The template rule that starts this state machine (its target's dead-letter queue included), as is."""
    for route in stack.routes:
        if route.target.kind == "state-machine" and route.target.ref == arn:
            return replace(route, target=replace(route.target, input_path=None))
    return None


def check_state_machine(stack: LocalStack, arn: str, case: StateMachineInput) -> Outcome:
    """Deliver an input as the state machine's rule does; every execution it leads to must end, and a failed one
    must be heard of (a notification, or the input in a dead-letter queue)."""
    payload = _prepare(stack, case)
    stack.notifications()
    drain_queues(stack)
    before = len(stack.executions)
    route = _route_to(stack, arn)
    try:
        if route is not None:
            stack._deliver(route, payload)
        else:
            stack._start_execution(arn, payload)
        stack.settle(timeout=SETTLE_SECONDS)
    except Exception as exc:
        return crashed(exc)
    started = stack.executions[before:]
    heard = bool(stack.notifications()) or any(drain_queues(stack).values())
    if not started:
        return refused("not started, in the rule's dead-letter queue") if heard else lost("not started, not kept")
    stuck = [execution for execution in started if execution.status == "RUNNING"]
    if stuck:
        sfn = stack.client("stepfunctions")
        for execution in stuck:
            sfn.stop_execution(executionArn=execution.arn, error="FuzzStuck")
            execution.status = "ABORTED"
        return lost(f"{stuck[0].playbook} still RUNNING after {SETTLE_SECONDS:.0f} s")
    root = started[0]
    outcome = (root.output or {}).get("outcome") if isinstance(root.output, dict) else None
    status = outcome.get("status") if isinstance(outcome, dict) else None
    if all(execution.status == "SUCCEEDED" for execution in started):
        return processed(f"{root.playbook} SUCCEEDED" + (f" ({status})" if status else ""))
    summary = f"{root.playbook} {root.status}" + (f" ({root.error})" if root.error else "")
    return refused(f"{summary}, notified") if heard else lost(f"{summary}, nobody told")


# ----------------------------------------------------------------------------------------- replay


def _malformed_cloudtrail(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("detail-type") != "AWS API Call via CloudTrail":
        return False
    try:
        CloudTrailEvent.model_validate(event)
    except ValidationError:
        return True
    return False


def check_replay(file: EventFile, directory: Path) -> Outcome:
    """``warden replay --json FILE``: a report, never a traceback; every unreadable or malformed item is named
    in ``input_errors`` or kept in a dead-letter queue, and then the exit status is 2."""
    path = directory / file.name
    path.write_bytes(file.data)
    result = CliRunner(mix_stderr=False).invoke(
        warden_cli, ["replay", "--json", "--workdir", str(directory / "run"), str(path)]
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return crashed(result.exception)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return lost(f"exit {result.exit_code} without a JSON report", result.stderr[-500:])
    read = read_events([path])
    owed = len(read.errors) + sum(_malformed_cloudtrail(event) for event in read.events)
    told = len(report.get("input_errors", [])) + len(report.get("dead_letters", []))
    if told < owed:
        return lost(f"{owed} unreadable or malformed items, {told} named or kept")
    if owed and result.exit_code != 2:
        return lost(f"input refused but exit status {result.exit_code}")
    return refused("named or kept") if owed else processed(f"exit {result.exit_code}")


# ----------------------------------------------------------------------------------------- invocation logs


def check_invocation_log(line: str) -> Outcome:
    """A model-invocation log line validates or is refused with a reason, and its bodies never leave the model."""
    try:
        record = ModelInvocationLog.model_validate_json(line)
    except ValidationError as exc:
        return refused(f"invalid: {exc.errors(include_input=False)[0]['type']}")
    except Exception as exc:
        return crashed(exc)
    shown = record.model_dump_json() + repr(record) + str(record.model_dump())
    leaked = [canary for canary in CANARIES if canary in shown]
    if leaked:
        return Outcome(Verdict.CRASHED, "a prompt or completion body left the model", leaked[0])
    return processed("valid")


def _gist(error: str, paths: Sequence[Path]) -> str:
    """What kind of error a reader's message names, without its file, position or numbers."""
    for path in paths:
        error = error.replace(str(path), "")
    words = re.sub(r"[\d\[\]]+|Records", "", error).lstrip(": ").split(":")
    return " ".join(words[0].split())[:48]


def _short(filename: str) -> str:
    """A path relative to the project when it is inside it."""
    return str(Path(filename).relative_to(ROOT)) if filename.startswith(str(ROOT)) else filename
