"""The benchmark's data generator and the benchmark's pure parts (no timings asserted).

The generator must give the same bytes for the same seed (the benchmark compares runs), write what CloudTrail
writes to S3, keep to the mix it claims (mostly other services, a few percent Bedrock and IAM), write records the
models accept, and carry the attacks that make hunting find something. The benchmark must produce every key of
its summary line from its measurements.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scripts import bench, benchdata
from warden.adapters.invocation_feeds import is_queue_batch
from warden.models.cloudtrail import CloudTrailRecord
from warden_local.readers import to_eventbridge
from warden_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(
    r"^AWSLogs/(?P<account>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/(?P<date>\d{4}/\d{2}/\d{2})/"
    r"(?P=account)_CloudTrail_(?P=region)_(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
RECORDS = 6_000


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> benchdata.DataSet:
    return benchdata.ensure("unit", root=tmp_path_factory.mktemp("bench"), records=RECORDS)


@pytest.fixture(scope="module")
def records(dataset: benchdata.DataSet) -> list[dict[str, Any]]:
    return list(benchdata.read_records(dataset))


def test_the_same_seed_writes_the_same_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    benchdata.write(first, 2_500)
    benchdata.write(second, 2_500)
    benchdata.write(other, 2_500, seed=benchdata.SEED + 1)

    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("AWSLogs/**/*.json.gz"))}

    assert contents(first) == contents(second)
    assert contents(first).keys() != contents(other).keys()


def test_files_are_laid_out_and_shaped_as_cloudtrail_writes_them(dataset: benchdata.DataSet) -> None:
    attacks = {a["eventID"] for a in dataset.manifest["attacks"]}
    files = dataset.files()
    assert len(files) == dataset.manifest["files"] > 1
    places = [
        (m["stamp"], m["region"]) for m in (KEY.match(p.relative_to(dataset.path).as_posix()) for p in files) if m
    ]
    assert places == sorted(places) and len({region for _, region in places[:3]}) > 1, "time order, regions mixed"
    for path in files:
        match = KEY.match(path.relative_to(dataset.path).as_posix())
        assert match, path
        assert match["account"] == benchdata.ACCOUNT
        document = json.loads(gzip.decompress(path.read_bytes()))
        assert list(document) == ["Records"] and document["Records"]
        start = datetime.strptime(match["stamp"], "%Y%m%dT%H%MZ")
        assert match["date"] == start.strftime("%Y/%m/%d")
        times = [r["eventTime"] for r in document["Records"]]
        assert times == sorted(times), "records of a file are in time order"
        for record in document["Records"]:
            assert record["awsRegion"] == match["region"]
            if record["eventID"] not in attacks:
                at = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
                assert start <= at < start + timedelta(minutes=5), "a file holds five minutes"


def test_exactly_the_requested_records_and_a_manifest_that_counts_them(
    dataset: benchdata.DataSet, records: list[dict[str, Any]]
) -> None:
    assert len(records) == dataset.records == RECORDS
    assert sum(dataset.manifest["calls"].values()) == RECORDS
    assert len({r["eventID"] for r in records}) == RECORDS, "event ids are unique"
    assert not (dataset.path / "AWSLogs" / "manifest.json").exists(), "the data folder holds log files only"


def test_the_mix_is_mostly_other_services_with_a_few_percent_bedrock_and_iam(records: list[dict[str, Any]]) -> None:
    sources = Counter(r["eventSource"] for r in records)
    share = {source: count / len(records) for source, count in sources.items()}
    assert 0.02 <= share["bedrock.amazonaws.com"] <= 0.08
    assert 0.01 <= share["iam.amazonaws.com"] <= 0.06
    assert len(sources) >= 10 and max(share.values()) < 0.3, "no service dominates"
    names = Counter(r["eventName"] for r in records if r["eventSource"] == "bedrock.amazonaws.com")
    assert names["InvokeModel"] + names["Converse"] > 0.6 * names.total(), "model calls first, some control plane"
    identities = Counter(r["userIdentity"]["type"] for r in records)
    assert {"AssumedRole", "AWSService"} <= set(identities), "sessions and AWS services"
    by_service = [r for r in records if r["eventName"] == "AssumeRole" and r["userIdentity"]["type"] == "AWSService"]
    assert by_service and all("sharedEventID" in r for r in by_service)
    size = sum(len(json.dumps(r)) for r in records) / len(records)
    assert 1_000 <= size <= 2_000, "about 1-2 KB a record"


def test_the_records_the_detectors_read_validate_as_cloudtrail_records(records: list[dict[str, Any]]) -> None:
    wanted = [
        r for r in records if r["eventSource"] in {"bedrock.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com"}
    ]
    assert wanted
    for record in wanted:
        parsed = CloudTrailRecord.model_validate(record)
        assert parsed.event_id == record["eventID"]
        assert parsed.user_identity.type == record["userIdentity"]["type"]


def test_the_attacks_are_inside(dataset: benchdata.DataSet, records: list[dict[str, Any]]) -> None:
    by_id = {r["eventID"]: r for r in records}
    attacks = dataset.manifest["attacks"]
    assert {a["attack"] for a in attacks} == set(benchdata.ATTACKS)
    assert all(a["eventID"] in by_id for a in attacks)
    stolen = [by_id[a["eventID"]] for a in attacks if a["attack"] == "llmjacking-stolen-key"]
    assert {r["userIdentity"]["accessKeyId"][:4] for r in stolen} == {"AKIA"}
    assert {r["eventSource"] for r in stolen} >= {"bedrock.amazonaws.com"}
    attached = [by_id[a["eventID"]] for a in attacks if a["attack"] == "admin-policy-attached"]
    assert [r["requestParameters"]["policyArn"] for r in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    backdoor = [by_id[a["eventID"]]["eventName"] for a in attacks if a["attack"] == "trust-policy-backdoor"]
    assert "UpdateAssumeRolePolicy" in backdoor


def test_a_complete_set_is_reused_and_an_interrupted_one_is_made_again(tmp_path: Path) -> None:
    made = benchdata.ensure("small", root=tmp_path, records=1_200)
    again = benchdata.ensure("small", root=tmp_path, records=1_200)
    assert (made.manifest["cached"], again.manifest["cached"]) == (False, True)
    (made.path / "manifest.json").unlink()  # as if generation had stopped before its end
    redone = benchdata.ensure("small", root=tmp_path, records=1_200)
    assert redone.manifest["cached"] is False and redone.records == 1_200


def test_slots_are_yielded_one_at_a_time() -> None:
    slots = benchdata.iter_slots(3_000)
    start, first = next(slots)
    assert start == benchdata.START
    assert sum(map(len, first.values())) <= benchdata.RECORDS_PER_SLOT + len(benchdata.attack_records(timedelta(0)))


# ---------------------------------------------------------------------------------------------- the benchmark


def test_decoding_touches_every_record(dataset: benchdata.DataSet) -> None:
    measured = bench.measure_decode(dataset.files())
    assert measured["events"] == RECORDS and measured["events_per_s"] > 0


def test_hunting_the_data_finds_its_attacks_and_reports_memory(dataset: benchdata.DataSet) -> None:
    hunted = bench.measure_hunt(dataset.path / "AWSLogs", dataset.records, timeout=120)
    assert hunted["finished"] and hunted["exit_status"] == 0, hunted.get("stderr_tail")
    assert {"llmjacking-sequence", "broad-permissions-granted", "external-trust-policy"} <= set(
        hunted["findings_by_detector"]
    )
    assert hunted["peak_rss_mb"] > 10


def test_the_peak_rss_wrapper_reports_kilobytes(tmp_path: Path) -> None:
    report = tmp_path / "rss"
    argv = bench.peak_rss_command([sys.executable, "-c", "x = bytearray(30_000_000)"], report)
    subprocess.run(argv, check=True)  # noqa: S603  this interpreter, fixed code
    assert int(report.read_text().split()[-1]) > 30_000


def test_dynamodb_sizes_and_units_follow_the_billing_rules() -> None:
    assert bench.dynamodb_item_bytes({"pk": {"S": "abc"}, "n": {"N": "12345"}, "m": {"M": {"b": {"BOOL": True}}}}) == (
        2 + 3 + 1 + 3 + 1 + 3 + 1 + 1
    )
    counter = bench.CallCounter()
    big = {"pk": {"S": "k"}, "state": {"S": "x" * 3_000}}
    counter.record("dynamodb", "PutItem", {"Item": big}, {})
    counter.record("dynamodb", "GetItem", {"Key": {}}, {"Item": big})
    counter.record("dynamodb", "GetItem", {"Key": {}, "ConsistentRead": True}, {})
    counter.record("events", "PutEvents", {"Entries": [{}, {}]}, {})
    assert (counter.write_units, counter.read_units, counter.put_events_entries) == (3, 1.5, 2)


def test_the_batch_event_is_what_the_invocation_detector_takes_as_a_queue_batch(records: list[dict[str, Any]]) -> None:
    events = [to_eventbridge(r) for r in records[:3]]
    batch = bench.sqs_batch_event(events, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert is_queue_batch(batch)
    assert [json.loads(r["body"]) for r in batch["Records"]] == events


def _measured(per_event: dict[str, float]) -> dict[str, Any]:
    return {"write_units_per_event": 2.5, "read_units_per_event": 3.0, "put_events_entries_per_event": 0.01,
            "log_bytes_per_event": 400.0, "calls_per_event": {}, **per_event}  # fmt: skip


def _results(dataset: benchdata.DataSet) -> dict[str, Any]:
    functions = bench.template_functions(load_template(ROOT / "template.yaml"))
    decode = bench.measure_decode(dataset.files())
    routes = {
        "events": 1_000,
        "routed": 50,
        "deliveries": {"sqs:InvocationQueue": 40, "function:PolicyChangeDetectorFunction": 10},
    }
    stack = {
        "routes": routes,
        "handlers": _measured({"p50_ms": 3.2, "p99_ms": 9.0, "events": 10}),
        "batches": _measured({"ms_per_event": 1.5, "ms_per_event_max": 2.0, "batches": 2, "batch_size": 100}),
        "containment": {"runs": 2, "p50_ms": 900.0, "max_ms": 1000.0},
        "playbooks": {"executions": 2, "findings": 2, "executions_per_finding": 1.0, "mean_transitions": 12.0,
                      "transitions_per_execution": {"contain-access-key": 12.0}},
    }  # fmt: skip
    cost = bench.cost_model(functions=functions, routes=routes, handlers=stack["handlers"], batches=stack["batches"],
                            playbooks=stack["playbooks"])  # fmt: skip
    data = {"100k": dataset.manifest, "1m": dataset.manifest}
    hunt = {
        "events": RECORDS,
        "finished": True,
        "exit_status": 0,
        "events_per_s": 5_000.0,
        "peak_rss_mb": 100.0,
        "findings": 3,
    }
    return {
        "measured_at": "2026-11-26", "machine": "test", "bench_seconds": 1.0, "data": data,
        "decode": {"100k": decode, "1m": decode},
        "hunt": {"100k": hunt, "1m": {**hunt, "finished": False, "timeout_s": 1}},
        "local_stack": stack, "cost": cost, "demo": None,
        "cold_start": {"method": "inline", "runs": 1, "median_s": {"F": 0.3, "boto3": 0.2}, "ratios": {"F": 1.5},
                       "cold_start_vs_boto3": 1.5},
    }  # fmt: skip


def test_the_cost_model_prices_each_delivery_path_from_the_template(dataset: benchdata.DataSet) -> None:
    template = load_template(ROOT / "template.yaml")
    functions = bench.template_functions(template)
    invocations = template["Resources"][bench.INVOCATION_FUNCTION]["Properties"]
    assert functions[bench.INVOCATION_FUNCTION]["memory_mb"] == invocations["MemorySize"]
    cost = _results(dataset)["cost"]
    per_million, floor = cost["per_million_usd"], cost["floor_per_million_usd"]
    queue_share = 40 / 50
    assert per_million["sqs_requests"] == pytest.approx(queue_share * 1.2 * 0.40)
    batch = invocations["Events"]["Invocations"]["Properties"]["BatchSize"]
    assert per_million["lambda_requests"] == pytest.approx((queue_share / batch + 10 / 50) * 0.20)
    assert floor["dynamodb_writes"] == pytest.approx(2 * 0.625), "two idempotency writes per event, on every path"
    assert cost["total_per_million_usd"] == pytest.approx(sum(per_million.values()))
    assert all(floor[k] <= per_million[k] + 1e-12 for k in per_million)
    assert cost["guardduty_per_million_usd"] == 4.0
    assert cost["findings_rate_from"] == "handlers"


def test_findings_are_priced_at_the_rate_hunting_found_in_the_data(dataset: benchdata.DataSet) -> None:
    results = _results(dataset)
    stack = results["local_stack"]
    rate = bench.findings_rate(results["hunt"], results["data"], stack["routes"])
    assert rate == pytest.approx(3 / (RECORDS * 50 / 1_000)), "the finished hunt's findings over its routed events"
    functions = bench.template_functions(load_template(ROOT / "template.yaml"))
    measured = {k: stack[k] for k in ("routes", "handlers", "batches", "playbooks")}
    cost = bench.cost_model(functions=functions, findings_per_routed_event=0.001, **measured)
    assert cost["per_million_usd"]["step_functions"] == pytest.approx(1e6 * 0.001 * 1.0 * 12 * 0.025 / 1000)
    assert cost["per_million_usd"]["eventbridge_findings"] == pytest.approx(0.001)
    assert bench.findings_rate({}, results["data"], stack["routes"]) is None


def test_the_summary_has_every_key_and_the_report_shows_it(dataset: benchdata.DataSet) -> None:
    results = _results(dataset)
    summary = bench.summarize(results)
    assert set(bench.SUMMARY_KEYS) <= set(summary)
    assert summary["hunt_events_per_s"] is None and summary["hunt_vs_decode"] is None, "a hunt that timed out"
    report = bench.render_report(results, summary)
    assert report.startswith("# Performance") and json.dumps(summary) in report
    assert "did not finish" in report and "MISSED" in report
