"""CloudWatch for the local stack: the metrics AWS would publish, and the template's alarms evaluated on them.

moto stores metric data and alarms but publishes no AWS-vended metric and never evaluates an alarm.
:class:`LocalCloudWatch` does both, through the runner's own client (never faulted):

- it publishes what the services would, each datum timestamped when it happened and put in batches:
  ``AWS/Lambda`` Invocations and Errors per invocation attempt (and Throttles, which never happen
  locally), ``AWS/States`` Executions{Succeeded,Failed,TimedOut,Aborted} when an execution ends,
  ``AWS/Events`` FailedInvocations when a rule cannot deliver, ``AWS/SQS`` ApproximateNumberOfMessagesVisible
  and ApproximateAgeOfOldestMessage of the template's queues (sampled when alarms are evaluated), and
  the functions' own metrics, read
  from the embedded-metric-format (EMF) lines each invocation printed to its log;
- it evaluates each alarm as CloudWatch does (statistic per period over the evaluation periods ending
  now, threshold, DatapointsToAlarm, TreatMissingData, and metric math made of ``id`` and
  ``FILL(id, number)`` terms joined by ``+``) and sets the state in moto, where ``describe_alarms`` shows it.

One local departure: a run lasts seconds, while alarm periods last minutes or hours. A period that began
before the stack was created has no data because the stack did not exist, not because nothing happened;
an alarm whose missing data is ``breaching`` does not count such a period against the stack, and reads
INSUFFICIENT_DATA while only such periods could make it alarm (so a heartbeat alarm does not fire on a
stack that is seconds old, and does fire once a whole evaluated window has really passed in silence).
"""

from __future__ import annotations

import json
import operator
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

EXECUTION_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
STATISTICS = {"Sum", "Average", "Minimum", "Maximum", "SampleCount"}
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_TERM = re.compile(r"^\s*(?:(?P<id>[a-z]\w*)|FILL\(\s*(?P<filled>[a-z]\w*)\s*,\s*(?P<fill>-?\d+(?:\.\d+)?)\s*\))\s*$")


class UnsupportedAlarmError(ValueError):
    """An alarm uses something the local evaluation cannot compute: it must fail loudly, not read OK."""


# ---------------------------------------------------------------------------------------- EMF lines


class EmfMetric(BaseModel):
    Name: str
    Unit: str | None = None


class EmfDirective(BaseModel):
    Namespace: str
    Dimensions: list[list[str]]
    Metrics: list[EmfMetric]


class EmfMetadata(BaseModel):
    Timestamp: int
    CloudWatchMetrics: list[EmfDirective]


def emf_metric_data(line: str) -> dict[str, list[dict[str, Any]]]:
    """The metric data (by namespace) of one EMF log line; nothing for any other line.

    As in CloudWatch Logs, a line that is not a valid EMF document stays a log line and publishes nothing.
    """
    if not line.startswith("{") or '"_aws"' not in line:
        return {}
    try:
        document = json.loads(line)
        metadata = EmfMetadata.model_validate(document.get("_aws"))
    except (ValueError, ValidationError):
        return {}
    at = datetime.fromtimestamp(metadata.Timestamp / 1000, tz=UTC)
    data: dict[str, list[dict[str, Any]]] = {}
    for directive in metadata.CloudWatchMetrics:
        for metric in directive.Metrics:
            raw = document.get(metric.Name)
            values = raw if isinstance(raw, list) else [raw]
            if not values or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                continue
            for names in directive.Dimensions:
                if not all(isinstance(document.get(name), str) for name in names):
                    continue
                datum: dict[str, Any] = {
                    "MetricName": metric.Name,
                    "Dimensions": [{"Name": name, "Value": document[name]} for name in names],
                    "Values": [float(v) for v in values],
                    "Timestamp": at,
                }
                if metric.Unit:
                    datum["Unit"] = metric.Unit
                data.setdefault(directive.Namespace, []).append(datum)
    return data


# ---------------------------------------------------------------------------------------- alarm rules


@dataclass(frozen=True)
class MetricQuery:
    id: str
    metric_stat: dict[str, Any]  # get_metric_data's MetricStat: Metric, Period, Stat, optional Unit


@dataclass(frozen=True)
class AlarmRule:
    """What one alarm evaluates: metric queries, how they combine, and how a period is judged."""

    name: str
    queries: list[MetricQuery]
    terms: list[tuple[str, float | None]]  # (query id, FILL value or None): their sum is the alarm's series
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    comparison: str
    threshold: float
    treat_missing_data: str
    state: str
    reason: str

    @classmethod
    def from_described(cls, alarm: Mapping[str, Any]) -> AlarmRule:
        name = str(alarm["AlarmName"])
        if alarm.get("ComparisonOperator") not in COMPARISONS or alarm.get("ThresholdMetricId"):
            raise UnsupportedAlarmError(
                f"alarm {name}: comparison {alarm.get('ComparisonOperator')} is not evaluated locally"
            )
        queries, terms, period = _metric_math(name, alarm["Metrics"]) if alarm.get("Metrics") else _single(alarm)
        evaluation_periods = int(alarm["EvaluationPeriods"])
        return cls(
            name=name,
            queries=queries,
            terms=terms,
            period=period,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or evaluation_periods),
            comparison=str(alarm["ComparisonOperator"]),
            threshold=float(alarm["Threshold"]),
            treat_missing_data=str(alarm.get("TreatMissingData") or "missing"),
            state=str(alarm.get("StateValue", "INSUFFICIENT_DATA")),
            reason=str(alarm.get("StateReason", "")),
        )


def _single(alarm: Mapping[str, Any]) -> tuple[list[MetricQuery], list[tuple[str, float | None]], int]:
    name = alarm["AlarmName"]
    if alarm.get("ExtendedStatistic") or alarm.get("Statistic") not in STATISTICS:
        raise UnsupportedAlarmError(
            f"alarm {name}: statistic {alarm.get('ExtendedStatistic') or alarm.get('Statistic')} is not evaluated"
            " locally"
        )
    metric = {"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"], "Dimensions": alarm["Dimensions"]}
    stat: dict[str, Any] = {"Metric": metric, "Period": int(alarm["Period"]), "Stat": alarm["Statistic"]}
    if alarm.get("Unit"):
        stat["Unit"] = alarm["Unit"]
    return [MetricQuery(id="m", metric_stat=stat)], [("m", None)], int(alarm["Period"])


def _metric_math(
    name: str, metrics: list[Mapping[str, Any]]
) -> tuple[list[MetricQuery], list[tuple[str, float | None]], int]:
    returned = [m for m in metrics if m.get("ReturnData", True)]
    if len(returned) != 1:
        raise UnsupportedAlarmError(f"alarm {name}: exactly one of its Metrics must return data")
    queries = [MetricQuery(id=m["Id"], metric_stat=dict(m["MetricStat"])) for m in metrics if "MetricStat" in m]
    for query in queries:
        if query.metric_stat.get("Stat") not in STATISTICS:
            raise UnsupportedAlarmError(f"alarm {name}: statistic {query.metric_stat.get('Stat')} of {query.id}")
    others = [m["Id"] for m in metrics if "MetricStat" not in m and m is not returned[0]]
    if others:
        raise UnsupportedAlarmError(f"alarm {name}: expressions other than the returned one ({others})")
    known = {q.id for q in queries}
    expression = returned[0].get("Expression")
    terms: list[tuple[str, float | None]] = (
        _terms(name, expression, known) if expression else [(str(returned[0]["Id"]), None)]
    )
    periods = {int(q.metric_stat["Period"]) for q in queries if q.id in {t for t, _ in terms}}
    if len(periods) != 1:
        raise UnsupportedAlarmError(f"alarm {name}: the metrics of its expression must share one Period")
    return queries, terms, periods.pop()


def _terms(name: str, expression: str, known: set[str]) -> list[tuple[str, float | None]]:
    """``a + FILL(b, 0) + c`` as [(a, None), (b, 0.0), (c, None)]; anything else is refused."""
    terms: list[tuple[str, float | None]] = []
    for part in expression.split("+"):
        match = _TERM.match(part)
        if match is None:
            raise UnsupportedAlarmError(
                f"alarm {name}: metric math {expression!r} is not evaluated locally"
                " (supported: metric ids and FILL(id, number) joined by +)"
            )
        if match["id"]:
            terms.append((match["id"], None))
        else:
            terms.append((match["filled"], float(match["fill"])))
    unknown = sorted({t for t, _ in terms} - known)
    if unknown:
        raise UnsupportedAlarmError(f"alarm {name}: metric math {expression!r} names no metric {unknown}")
    return terms


# ---------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    datapoints: list[float | None]  # one per evaluated period, oldest first; None where no data


def judge(rule: AlarmRule, datapoints: list[float | None], *, first_period: datetime, since: datetime) -> Evaluation:
    """The alarm state the datapoints give, as CloudWatch decides it (see the module docstring for ``since``)."""
    breaching = good = unknown = 0
    compare = COMPARISONS[rule.comparison]
    for index, value in enumerate(datapoints):
        if value is not None:
            hit = compare(value, rule.threshold)
            breaching, good = breaching + hit, good + (not hit)
        elif rule.treat_missing_data == "notBreaching":
            good += 1
        elif rule.treat_missing_data == "breaching":
            if first_period + timedelta(seconds=index * rule.period) < since:
                unknown += 1  # the stack did not exist for the whole period
            else:
                breaching += 1
    of = f"{rule.datapoints_to_alarm} of {rule.evaluation_periods} periods of {rule.period} s"
    if breaching >= rule.datapoints_to_alarm:
        state, reason = "ALARM", f"{breaching} breaching datapoints, {of} needed"
    elif breaching + good + unknown == 0:
        state = rule.state if rule.treat_missing_data == "ignore" else "INSUFFICIENT_DATA"
        reason = "no datapoint in the evaluated periods"
    elif breaching + unknown >= rule.datapoints_to_alarm:
        state, reason = "INSUFFICIENT_DATA", f"{unknown} periods began before the stack was created; {of} decide"
    else:
        state, reason = "OK", f"{breaching} breaching datapoints, fewer than {of}"
    return Evaluation(state=state, reason=f"local evaluation: {reason}", datapoints=datapoints)


class LocalCloudWatch:
    """Publishes the local stack's metrics into moto and evaluates its alarms there."""

    BATCH = 500  # data per PutMetricData call (the API takes at most 1,000)

    def __init__(self, client: Any, *, created: datetime | None = None) -> None:
        self.client = client
        self.created = created or datetime.now(UTC)
        self._pending: list[tuple[str, dict[str, Any]]] = []  # (namespace, datum), timestamped when recorded
        self._lock = threading.Lock()  # Step Functions tasks run handlers on the interpreter's threads

    # ------------------------------------------------------------------ publishing

    def put(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """Record metric data; it reaches the emulator in batches (every BATCH data, and on :meth:`flush`)."""
        with self._lock:
            self._pending.extend((namespace, datum) for datum in data)
            full = len(self._pending) >= self.BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        """Put every recorded datum into the emulator (PutMetricData, one call per namespace and batch)."""
        with self._lock:
            pending, self._pending = self._pending, []
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for namespace, datum in pending:
            by_namespace.setdefault(namespace, []).append(datum)
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), self.BATCH):
                self.client.put_metric_data(Namespace=namespace, MetricData=data[start : start + self.BATCH])

    def _counts(self, namespace: str, dimension: tuple[str, str], counts: Mapping[str, float]) -> None:
        now, (name, value) = datetime.now(UTC), dimension
        dimensions = [{"Name": name, "Value": value}]
        data = [
            {"MetricName": metric, "Dimensions": dimensions, "Value": count, "Unit": "Count", "Timestamp": now}
            for metric, count in counts.items()
        ]
        self.put(namespace, data)

    def lambda_attempt(self, function_name: str, *, failed: bool) -> None:
        """One invocation attempt (each retry is one), and whether it raised."""
        self._counts("AWS/Lambda", ("FunctionName", function_name), {"Invocations": 1, "Errors": int(failed)})

    def lambda_throttled(self, function_name: str) -> None:
        """A throttled invocation attempt: counted in Throttles, not in Invocations."""
        self._counts("AWS/Lambda", ("FunctionName", function_name), {"Throttles": 1})

    def execution_ended(self, state_machine_arn: str, status: str) -> None:
        """An execution ended with ``status``: one in its metric, zero in the other end-status metrics."""
        if status not in EXECUTION_METRICS:
            return
        counts = {metric: float(ended == status) for ended, metric in EXECUTION_METRICS.items()}
        self._counts("AWS/States", ("StateMachineArn", state_machine_arn), counts)

    def delivery_failed(self, rule_name: str) -> None:
        self._counts("AWS/Events", ("RuleName", rule_name), {"FailedInvocations": 1})

    def sample_queues(self, queues: Mapping[str, str], sqs: Any, *, ages: Mapping[str, float] | None = None) -> None:
        """ApproximateNumberOfMessagesVisible of each queue (name -> URL), as SQS reports it now, and
        ApproximateAgeOfOldestMessage of those ``ages`` gives (name -> seconds; the API does not report it)."""
        now = datetime.now(UTC)
        data = []
        for name, url in queues.items():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            visible = float(attributes["Attributes"]["ApproximateNumberOfMessages"])
            dimensions = [{"Name": "QueueName", "Value": name}]
            data.append(
                {
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": dimensions,
                    "Value": visible,
                    "Unit": "Count",
                }
            )
            if ages is not None and name in ages:
                data.append(
                    {
                        "MetricName": "ApproximateAgeOfOldestMessage",
                        "Dimensions": dimensions,
                        "Value": float(ages[name]),
                        "Unit": "Seconds",
                    }
                )
        self.put("AWS/SQS", [{**datum, "Timestamp": now} for datum in data])

    def application_metrics(self, text: str) -> None:
        """Publish the EMF metrics of a function's log output."""
        for line in text.splitlines():
            for namespace, data in emf_metric_data(line.strip()).items():
                self.put(namespace, data)

    @contextmanager
    def invocation(self, function_name: str, log_path: Path) -> Iterator[None]:
        """Count one invocation attempt of a handler whose stdout is ``log_path``, and publish its EMF metrics."""
        start = log_path.stat().st_size if log_path.exists() else 0
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stdout.flush()  # the handler's stdout (its log file) holds the EMF lines it printed
            self.lambda_attempt(function_name, failed=failed)
            if log_path.exists():
                with log_path.open("rb") as log:
                    log.seek(start)
                    self.application_metrics(log.read().decode("utf-8", errors="replace"))

    # ------------------------------------------------------------------ alarms

    def evaluate(self, alarms: Mapping[str, str], *, now: datetime | None = None) -> dict[str, str]:
        """Evaluate alarms (logical id -> alarm name), set their state in moto, and return logical id -> state."""
        self.flush()
        now = now or datetime.now(UTC)
        end = now.replace(microsecond=0) + timedelta(seconds=1)  # moto truncates to the second; keep ``now`` in
        described = {
            a["AlarmName"]: a
            for page in self.client.get_paginator("describe_alarms").paginate(AlarmNames=list(alarms.values()))
            for a in page["MetricAlarms"]
        }
        states = {}
        for logical, name in alarms.items():
            if name not in described:
                raise UnsupportedAlarmError(f"alarm {name} ({logical}) is not a metric alarm in the emulator")
            rule = AlarmRule.from_described(described[name])
            first = end - timedelta(seconds=rule.period * rule.evaluation_periods)
            evaluation = judge(rule, self._datapoints(rule, first, end), first_period=first, since=self.created)
            if (evaluation.state, evaluation.reason) != (rule.state, rule.reason):
                self.client.set_alarm_state(
                    AlarmName=name,
                    StateValue=evaluation.state,
                    StateReason=evaluation.reason,
                    StateReasonData=json.dumps(
                        {
                            "version": "1.0",
                            "queryDate": now.isoformat(),
                            "startDate": first.isoformat(),
                            "period": rule.period,
                            "recentDatapoints": evaluation.datapoints,
                            "threshold": rule.threshold,
                        }
                    ),
                )
            states[logical] = evaluation.state
        return states

    def _datapoints(self, rule: AlarmRule, first: datetime, end: datetime) -> list[float | None]:
        """The alarm's series over its evaluation periods, oldest first (None: no datapoint in that period)."""
        response = self.client.get_metric_data(
            MetricDataQueries=[{"Id": q.id, "MetricStat": q.metric_stat, "ReturnData": True} for q in rule.queries],
            StartTime=first,
            EndTime=end,
        )
        series: dict[str, dict[int, float]] = {q.id: {} for q in rule.queries}
        for result in response["MetricDataResults"]:
            for at, value in zip(result["Timestamps"], result["Values"], strict=True):
                series[result["Id"]][round((at - first).total_seconds() / rule.period)] = float(value)
        points: list[float | None] = []
        for index in range(rule.evaluation_periods):
            # metric math: a period where one term has no datapoint (and no FILL) has no datapoint
            values = [series[term].get(index, fill) for term, fill in rule.terms]
            present = [value for value in values if value is not None]
            points.append(sum(present) if len(present) == len(values) else None)
        return points
