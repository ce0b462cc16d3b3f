"""The template's CloudWatch alarms on the local stack: each failure shows as an alarm read back from the emulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import load_json
from tests.integration.playbook import finding_for, new_user, run_playbook
from warden_local.cloudwatch import LocalCloudWatch, UnsupportedAlarmError
from warden_local.emulator import Emulator
from warden_local.stack import LocalStack

GHOST = ("arn:aws:iam::123456789012:user/ghost", "AKIAEXAMPLENOSUCHKY1")  # a key that does not exist


@pytest.fixture
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    """A fresh stack per test: alarms look back minutes, so one test's failures would show in the next."""
    return deploy(ResponseMode="auto")


def described(stack: LocalStack) -> dict[str, dict[str, Any]]:
    """Each alarm of the stack as the emulator describes it, by logical id."""
    by_name = {a["AlarmName"]: a for a in stack.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    return {logical: by_name[name] for logical, name in stack.alarms.items()}


def in_alarm(stack: LocalStack) -> set[str]:
    """Evaluate the alarms; return those in ALARM after checking the emulator holds the same states."""
    states = stack.alarm_states()
    assert states.keys() == stack.alarms.keys(), "every alarm of the template is evaluated"
    assert {logical: a["StateValue"] for logical, a in described(stack).items()} == states
    return {logical for logical, state in states.items() if state == "ALARM"}


def metric_sum(stack: LocalStack, namespace: str, metric: str, dimension: tuple[str, str]) -> float:
    stack.cloudwatch.flush()
    now = datetime.now(UTC)
    points = stack.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": dimension[0], "Value": dimension[1]}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return float(sum(p["Sum"] for p in points))


def test_a_failed_containment_puts_only_its_failures_alarm_in_alarm(stack: LocalStack) -> None:
    execution = run_playbook(stack, finding_for(*GHOST))

    assert execution.status == "FAILED"
    assert in_alarm(stack) == {"ContainAccessKeyFailuresAlarm"}
    playbook = ("StateMachineArn", stack.playbook_arn("contain-access-key"))
    recorder = ("StateMachineArn", stack.playbook_arn("record-playbook-failure"))
    assert metric_sum(stack, "AWS/States", "ExecutionsFailed", playbook) == 1
    assert metric_sum(stack, "AWS/States", "ExecutionsSucceeded", recorder) == 1, "the failure recorder succeeded"
    assert metric_sum(stack, "AWS/States", "ExecutionsFailed", recorder) == 0
    reason = described(stack)["ContainAccessKeyFailuresAlarm"]
    assert json.loads(reason["StateReasonData"])["recentDatapoints"] == [1.0]


def test_a_malformed_event_puts_the_detector_dead_letters_alarm_in_alarm(stack: LocalStack) -> None:
    event = load_json("malformed/cloudtrail__detail_without_identity.json")  # an InvokeModel: the queue takes it
    detector = ("FunctionName", stack.functions["InvocationDetectorFunction"].name)
    malformed = ("service", "bedrock-warden")
    counted_before = metric_sum(stack, "BedrockWarden", "MalformedEvents", malformed)

    stack.send([event])

    assert in_alarm(stack) == {"DetectorDeadLettersAlarm"}, "kept, not an error: only the dead-letter depth alarms"
    assert stack.alarm_states()["DetectorHeartbeatAlarm"] == "OK", "an event reached the detector"
    assert metric_sum(stack, "AWS/Lambda", "Invocations", detector) == 1
    assert metric_sum(stack, "AWS/Lambda", "Errors", detector) == 0
    assert metric_sum(stack, "BedrockWarden", "MalformedEvents", malformed) == counted_before + 1, "EMF from its log"


def test_a_clean_run_leaves_every_alarm_ok(stack: LocalStack) -> None:
    _user, arn, (key,) = new_user(stack)
    stack.send([load_json("cloudtrail/bedrock__Converse__app_role.json")])  # a workload: no finding

    execution = run_playbook(stack, finding_for(arn, key))

    assert execution.status == "SUCCEEDED"
    assert set(stack.alarm_states().values()) == {"OK"}
    assert in_alarm(stack) == set()
    evaluated = json.loads(described(stack)["ContainAccessKeyFailuresAlarm"]["StateReasonData"])
    assert evaluated["recentDatapoints"] == [0.0], "judged on the execution's datapoints, not on missing data"


def test_a_detector_that_raises_on_every_attempt_puts_the_errors_alarm_in_alarm(stack: LocalStack) -> None:
    stack.client("dynamodb").delete_table(TableName=stack.ref("DetectorStateTable"))
    detector = ("FunctionName", stack.functions["BedrockUsageDetectorFunction"].name)

    stack.send([load_json("cloudtrail/bedrock__PutFoundationModelEntitlement__stolen_key.json")])  # a direct rule

    assert metric_sum(stack, "AWS/Lambda", "Errors", detector) == 3, "the attempt and its two retries"
    assert metric_sum(stack, "AWS/Lambda", "Invocations", detector) == 3
    assert in_alarm(stack) == {"DetectorErrorsAlarm", "DetectorDeadLettersAlarm"}, (
        "failed, then kept by its destination"
    )


def test_an_undeliverable_status_event_shows_in_two_alarms(stack: LocalStack) -> None:
    recorder = stack.playbook_arn("record-playbook-failure")
    stack.client("stepfunctions").delete_state_machine(stateMachineArn=recorder)
    rule = stack._physical("RecordPlaybookFailureStateMachinePlaybookDidNotFinish")

    run_playbook(stack, finding_for(*GHOST))

    assert metric_sum(stack, "AWS/Events", "FailedInvocations", ("RuleName", rule)) == 1
    assert in_alarm(stack) == {"ContainAccessKeyFailuresAlarm", "EventDeliveryDeadLettersAlarm"}


def test_a_throttled_detector_puts_the_throttles_alarm_in_alarm(stack: LocalStack) -> None:
    stack.cloudwatch.lambda_throttled(stack.functions["BedrockUsageDetectorFunction"].name)

    assert in_alarm(stack) == {"DetectorThrottlesAlarm"}


def test_the_heartbeat_alarm_waits_for_a_whole_window_of_silence(stack: LocalStack) -> None:
    heartbeat = {"DetectorHeartbeatAlarm": stack.alarms["DetectorHeartbeatAlarm"]}
    hours = int(stack.parameters["HeartbeatHours"])

    assert stack.cloudwatch.evaluate(heartbeat) == {"DetectorHeartbeatAlarm": "INSUFFICIENT_DATA"}, (
        "a stack seconds old is not silent, it is new"
    )
    later = datetime.now(UTC) + timedelta(hours=hours + 1)
    assert stack.cloudwatch.evaluate(heartbeat, now=later) == {"DetectorHeartbeatAlarm": "ALARM"}, (
        "no event for a whole window after the stack was created"
    )

    stack.send([load_json("cloudtrail/bedrock__Converse__app_role.json")])

    assert stack.cloudwatch.evaluate(heartbeat) == {"DetectorHeartbeatAlarm": "OK"}
    assert described(stack)["DetectorHeartbeatAlarm"]["StateValue"] == "OK"


@pytest.mark.parametrize(
    "expression",
    ["failed * 2", "SUM(METRICS())", "failed + ANOMALY_DETECTION_BAND(failed)", "failed + missing"],
)
def test_an_alarm_the_runner_cannot_evaluate_is_refused_not_read_as_ok(emulator: Emulator, expression: str) -> None:
    client = emulator.client("cloudwatch")
    name = f"unsupported-{uuid.uuid4().hex[:8]}"
    metric = {"Namespace": "AWS/States", "MetricName": "ExecutionsFailed", "Dimensions": []}
    client.put_metric_alarm(
        AlarmName=name,
        Metrics=[
            {"Id": "e", "Expression": expression, "ReturnData": True},
            {"Id": "failed", "MetricStat": {"Metric": metric, "Period": 300, "Stat": "Sum"}, "ReturnData": False},
        ],
        EvaluationPeriods=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Threshold=1,
    )

    with pytest.raises(UnsupportedAlarmError, match="metric math"):
        LocalCloudWatch(client).evaluate({"Unsupported": name})


@pytest.mark.parametrize(("expression", "state"), [("a + b", "OK"), ("FILL(a, 0) + b", "ALARM")])
def test_metric_math_has_no_value_where_a_term_has_no_datapoint_unless_filled(
    emulator: Emulator, expression: str, state: str
) -> None:
    client, name = emulator.client("cloudwatch"), f"math-{uuid.uuid4().hex[:8]}"
    stats = {
        id_: {"Metric": {"Namespace": "Local/Test", "MetricName": name, "Dimensions": [{"Name": "m", "Value": id_}]}}
        for id_ in ("a", "b")
    }
    client.put_metric_alarm(
        AlarmName=name,
        Metrics=[
            {"Id": "e", "Expression": expression, "ReturnData": True},
            *(
                {"Id": i, "MetricStat": {**s, "Period": 300, "Stat": "Sum"}, "ReturnData": False}
                for i, s in stats.items()
            ),
        ],
        EvaluationPeriods=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Threshold=1,
        TreatMissingData="notBreaching",
    )
    cloudwatch = LocalCloudWatch(client)
    b = {"MetricName": name, "Dimensions": [{"Name": "m", "Value": "b"}], "Value": 1, "Timestamp": datetime.now(UTC)}
    cloudwatch.put("Local/Test", [b])  # a datapoint for b only

    assert cloudwatch.evaluate({"Math": name}) == {"Math": state}
