"""Fault injection: AWS errors on the calls handlers and state machines make, and nothing lost under them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.playbook import finding_for, incident, key_status, new_user, run_playbook
from warden_local.emulator import Emulator
from warden_local.faults import SERVICES, FaultInjector, FaultPlan
from warden_local.readers import read_events
from warden_local.run import load_scenario, seed_victim
from warden_local.stack import Execution, LocalStack

PLAN = FaultPlan(rate=0.2, seed=11)
FINDINGS = 8

# What each service answers, as botocore reports it: (codes, HTTP status, modeled exception class or None).
EXPECTED: dict[tuple[str, str], tuple[set[str], int, str | None]] = {
    ("iam", "throttling"): ({"Throttling"}, 400, None),
    ("iam", "access-denied"): ({"AccessDenied"}, 403, None),
    ("iam", "server-error"): ({"ServiceFailure"}, 500, "ServiceFailureException"),
    ("iam", "timeout"): ({"RequestTimeout"}, 504, None),
    ("sns", "throttling"): ({"Throttled"}, 429, "ThrottledException"),
    ("sns", "access-denied"): ({"AuthorizationError"}, 403, "AuthorizationErrorException"),
    ("sns", "server-error"): ({"InternalError"}, 500, "InternalErrorException"),
    ("sns", "timeout"): ({"RequestTimeout"}, 504, None),
    ("dynamodb", "throttling"): ({"ProvisionedThroughputExceededException", "ThrottlingException"}, 400, None),
    ("dynamodb", "access-denied"): ({"AccessDeniedException"}, 400, None),
    ("dynamodb", "server-error"): ({"InternalServerError"}, 500, "InternalServerError"),
    ("dynamodb", "timeout"): ({"RequestTimeoutException"}, 504, None),
    ("events", "throttling"): ({"ThrottlingException"}, 400, "ThrottlingException"),
    ("events", "access-denied"): ({"AccessDeniedException"}, 400, "AccessDeniedException"),
    ("events", "server-error"): ({"InternalException"}, 500, "InternalException"),
    ("events", "timeout"): ({"RequestTimeoutException"}, 504, None),
    ("sqs", "throttling"): ({"RequestThrottled"}, 403, "RequestThrottled"),
    ("sqs", "access-denied"): ({"AccessDenied"}, 403, None),
    ("sqs", "server-error"): ({"InternalFailure"}, 500, None),
    ("sqs", "timeout"): ({"RequestTimeout"}, 504, None),
    ("bedrock", "throttling"): ({"ThrottlingException"}, 429, "ThrottlingException"),
    ("bedrock", "access-denied"): ({"AccessDeniedException"}, 403, "AccessDeniedException"),
    ("bedrock", "server-error"): ({"InternalServerException"}, 500, "InternalServerException"),
    ("bedrock", "timeout"): ({"RequestTimeoutException"}, 504, None),
}
CALLS: dict[str, Callable[[Any], Any]] = {
    "iam": lambda client: client.list_users(),
    "sns": lambda client: client.list_topics(),
    "dynamodb": lambda client: client.list_tables(),
    "events": lambda client: client.list_event_buses(),
    "sqs": lambda client: client.list_queues(),
    "bedrock": lambda client: client.get_model_invocation_logging_configuration(),
}
PLAYBOOK_ONLY_IAM_CALLS = {"GetAccessKeyLastUsed", "GetUser", "ListAccessKeys", "UpdateAccessKey"}


@pytest.fixture
def faults(emulator: Emulator) -> Iterator[FaultInjector]:
    """Fail 20% of the calls that handlers and state machines make, reproducibly, while the test runs."""
    with emulator.faults.injecting(PLAN) as injector:
        yield injector


def handler_client(service: str) -> Any:
    """A client as a handler builds it (the environment's credentials), without SDK retries."""
    return boto3.client(service, config=Config(retries={"mode": "standard", "total_max_attempts": 1}))  # type: ignore[call-overload]


def only(service: str, kind: str, delay: float = 0.0) -> FaultPlan:
    return FaultPlan(rate=1.0, services=frozenset({service}), kinds=(kind,), timeout_delay=delay)


def test_plans_parse_rate_and_services() -> None:
    assert FaultPlan.parse("0.2", seed=3) == FaultPlan(rate=0.2, seed=3)
    assert FaultPlan.parse("0.5:iam, SNS").services == {"iam", "sns"}
    for bad in ("2", "-0.1", "x", "0.2:s3", "0.2:,"):
        with pytest.raises(ValueError, match=r"fault|RATE"):
            FaultPlan.parse(bad)


@pytest.mark.parametrize(("service", "kind"), sorted(EXPECTED))
def test_errors_are_shaped_as_the_service_returns_them(emulator: Emulator, service: str, kind: str) -> None:
    codes, status, modeled = EXPECTED[(service, kind)]
    client = handler_client(service)
    started = time.monotonic()

    with emulator.faults.injecting(only(service, kind, delay=0.1)), pytest.raises(ClientError) as raised:
        CALLS[service](client)

    error = raised.value.response
    details: dict[str, Any] = dict(error["Error"])
    assert details["Code"] in codes
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert "injected fault" in details["Message"]
    if modeled:
        assert isinstance(raised.value, getattr(client.exceptions, modeled))
    if service in {"iam", "sns"}:  # query protocol: who is at fault
        assert details["Type"] == ("Sender" if status < 500 else "Receiver")
    if kind == "timeout":
        assert time.monotonic() - started >= 0.1, "a timeout hangs before it answers"
    assert emulator.faults.counts() == {service: {kind: 1}}


def test_the_runner_and_moto_api_are_never_faulted(emulator: Emulator) -> None:
    with emulator.faults.injecting(FaultPlan(rate=1.0)) as injector:
        for service in SERVICES:
            CALLS[service](emulator.client(service))  # the runner's own clients
        assert requests.get(f"{emulator.endpoint}/moto-api/data.json", timeout=10).status_code == 200
        with pytest.raises(ClientError):
            CALLS["iam"](handler_client("iam"))

    assert injector.summary()["injected"] == 1
    assert injector.summary()["requests"] == {"iam": 1}
    CALLS["iam"](handler_client("iam"))  # nothing is injected once the block ends


def test_the_same_seed_fails_the_same_calls(emulator: Emulator) -> None:
    def failures(seed: int) -> list[tuple[int, str, str]]:
        client, failed = handler_client("dynamodb"), []
        with emulator.faults.injecting(FaultPlan(rate=0.3, seed=seed, timeout_delay=0)):
            for call in range(40):
                try:
                    client.list_tables()
                except ClientError as exc:
                    failed.append((call, exc.response["Error"]["Code"], exc.operation_name))
        return failed

    first = failures(seed=1)

    assert first == failures(seed=1)
    assert first != failures(seed=2)
    assert 4 <= len(first) <= 20, f"about 30% of 40 calls fail: {len(first)}"
    assert {code for _, code, _ in first} > {"AccessDeniedException"}, "several kinds are drawn"


def test_llmjacking_under_faults_every_event_is_processed_or_kept(
    deploy: Callable[..., LocalStack], faults: FaultInjector
) -> None:
    scenario = load_scenario("llmjacking")
    stack = deploy(**scenario.parameters)
    victim = seed_victim(stack, scenario.users, scenario.roles)
    events = victim.rewrite(read_events([scenario.events]).events)

    stack.send(events)  # each at its own arrival time, as `warden demo` sends them
    stack.settle()

    delivered = [
        e
        for e in events
        if any(
            (r.target.kind == "function" or r.target.ref in stack.event_sources) and r.accepts(e) for r in stack.routes
        )
    ]
    done = {
        r.get("event_id")
        for i in stack.invocations
        if isinstance(r := i.get("result"), dict) and r.get("status") in {"processed", "ignored"}
    }
    queued = {  # taken from the invocation queue by a batch that did not fail it (a rejected event is kept too)
        m["event_id"]
        for i in stack.invocations
        if "result" in i
        for m in i.get("batch", [])
        if m["message_id"] not in i["failed"]
    }
    done |= {e["detail"]["eventID"] for e in events if e["id"] in queued}
    kept = kept_event_ids(stack)  # envelope ids; the detector reports CloudTrail eventIDs
    lost = {e["id"] for e in delivered if e["id"] not in kept and e["detail"]["eventID"] not in done}
    notifications = stack.notifications()
    outcomes = [ended(stack, e, notifications) for e in playbook_executions(stack)]
    report(faults, tried=len(delivered), outcomes=outcomes, lost=len(lost) + outcomes.count("lost"))
    assert faults.summary()["injected"] > 0
    assert len(delivered) == len(events), "every event of the scenario reaches the detector"
    assert not lost, f"events neither processed nor kept in a dead-letter queue: {sorted(lost)}"
    assert "lost" not in outcomes
    attacker = {victim.keys[k] for k in scenario.attacker_keys}
    attack = {e["id"] for e in events if e["detail"]["userIdentity"].get("accessKeyId") in attacker}
    if not attack & kept:
        assert any(f["access_key_id"] in attacker for f in stack.findings), "detected unless its events were kept"


def test_playbook_under_faults_contains_or_fails_visibly(
    deploy: Callable[..., LocalStack], faults: FaultInjector
) -> None:
    stack = deploy(ResponseMode="auto")
    outcomes, notifications = [], []
    for _ in range(FINDINGS):  # one at a time: the same seed then fails the same calls of the same execution
        user, arn, (key,) = new_user(stack)  # set-up and read-back use the runner's clients: never faulted
        execution = run_playbook(stack, finding_for(arn, key))
        notifications += stack.notifications()
        outcome = ended(stack, execution, notifications)
        if outcome == "contained":
            assert key_status(stack, user, key) == "Inactive", "a CONTAINED outcome is true in IAM"
        outcomes.append(outcome)
    for execution in playbook_executions(stack):  # failure-recorder runs included
        assert execution.status in {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}, execution.arn

    report(faults, tried=FINDINGS, outcomes=outcomes, lost=outcomes.count("lost"))
    assert "lost" not in outcomes
    assert PLAYBOOK_ONLY_IAM_CALLS & {i.operation for i in faults.injections if i.service == "iam"}, (
        "the state machine's own IAM calls were faulted"
    )


# ---------------------------------------------------------------------- helpers


def playbook_executions(stack: LocalStack) -> list[Execution]:
    return [e for e in stack.executions if e.playbook == "contain-access-key"]


def ended(stack: LocalStack, execution: Execution, notifications: list[dict[str, Any]]) -> str:
    """contained | handled (another recorded outcome) | failed visibly | lost."""
    told = any(
        execution.arn in str(n["message"]) or (execution.finding_id and execution.finding_id in str(n["message"]))
        for n in notifications
    )
    if execution.status == "SUCCEEDED":
        outcome = (execution.output or {}).get("outcome", {}).get("status")
        recorded = incident(stack, execution.finding_id or "").get("FINDING", {}).get("status")
        if outcome and recorded == outcome and told:
            return "contained" if outcome == "CONTAINED" else "handled"
        return "lost"
    return "failed visibly" if told and failure_alarmed(stack, execution) else "lost"


def failure_alarmed(stack: LocalStack, execution: Execution) -> bool:
    """The playbook's failed-executions alarm (ContainAccessKeyFailuresAlarm for contain-access-key) is in ALARM."""
    alarm = "".join(part.title() for part in execution.playbook.split("-")) + "FailuresAlarm"
    return stack.alarm_states().get(alarm) == "ALARM"


def kept_event_ids(stack: LocalStack) -> set[str]:
    """Ids of the events the stack's dead-letter queues hold (handler rejects, failure destinations, rule DLQs)."""
    kept = set()
    for logical in stack.queues:
        for message in stack.queue_messages(logical):
            body = message["body"]
            event = body.get("event") or body.get("requestPayload") or body
            if isinstance(event, dict) and isinstance(event.get("id"), str):
                kept.add(event["id"])
    return kept


def report(faults: FaultInjector, *, tried: int, outcomes: list[str], lost: int) -> None:
    summary = faults.summary()
    print(
        f"\ntried {tried}, faults injected {summary['injected']} of {sum(summary['requests'].values())} calls"
        f" {summary['by_service']}, contained {outcomes.count('contained')}, handled {outcomes.count('handled')},"
        f" failed visibly {outcomes.count('failed visibly')}, lost {lost}"
    )
