"""``warden hunt --athena`` end to end against the emulator's Athena.

moto runs no SQL: it records the query it was sent and returns the results seeded through its API
(``POST /moto-api/static/athena/query-results``). The seeded rows are what Athena returns for the
generated query over real sample records (the scenarios' and the shared corpus's CloudTrail records,
the ones the query takes, in its order, as text cells under a header row). The hunt must send exactly
``Selection.sql(...)``, poll until the query succeeds, page the results, and report the same findings as
a file hunt over the same records. Errors (a refused call, a failed query) are one message and exit 2.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from tests.athena_rows import athena_row
from tests.conftest import CORPUS, EVENTS
from warden.detectors import REGISTRY
from warden.models import Finding
from warden.query import Selection, columns
from warden_local.cli import main
from warden_local.emulator import Emulator, _post
from warden_local.hunt import hunt
from warden_local.hunt.athena import AthenaError, AthenaHunt, AthenaTarget, run, wait
from warden_local.readers import CLOUDTRAIL_DETAIL_TYPE, ReadLimits, read_events

TABLE = "security.cloudtrail_logs"
RESULTS = "s3://warden-athena-results/hunt/"
SCENARIOS = ("llmjacking", "cross-account", "api-key", "policy-change")
CAPTURE = "stratus-red-team/aws.impact.bedrock-invoke-model.json"


def _records() -> list[dict[str, Any]]:
    """Real CloudTrail records: four scenarios, and the corpus's Bedrock invocation capture when present."""
    paths = [EVENTS / "scenarios" / f"{name}.events.json" for name in SCENARIOS]
    if (CORPUS / CAPTURE).is_file():
        paths.append(CORPUS / CAPTURE)
    read = read_events(paths, ReadLimits(days_from_median=1_000_000))
    assert not read.errors
    details = [e["detail"] for e in read.events if e.get("detail-type") == CLOUDTRAIL_DETAIL_TYPE]
    return sorted(details, key=lambda r: (r["eventTime"], r["eventID"]))


RECORDS = _records()
SINCE = datetime.fromisoformat(RECORDS[0]["eventTime"]) - timedelta(minutes=1)
UNTIL = datetime.fromisoformat(RECORDS[-1]["eventTime"]) + timedelta(minutes=1)


def _seed(emulator: Emulator, rows: list[dict[str, str | None]]) -> None:
    """Queue one result set: a header row of the query's aliases, then the rows, each cell text or NULL."""
    names = [c.path for c in columns()]
    header = {"Data": [{"VarCharValue": name} for name in names]}
    data = [{"Data": [{} if row[n] is None else {"VarCharValue": row[n]} for n in names]} for row in rows]
    info = [{"Name": name, "Label": name, "Type": "varchar", "Nullable": "UNKNOWN"} for name in names]
    result = {"rows": [header, *data], "column_info": info}
    _post(f"{emulator.endpoint}/moto-api/static/athena/query-results", {"region": emulator.region, "results": [result]})


@pytest.fixture(scope="module")
def athena(emulator: Emulator) -> Iterator[Any]:
    emulator.client("s3").create_bucket(Bucket="warden-athena-results")
    # Each state of a query lasts two polls, so that the hunt polls QUEUED and RUNNING before SUCCEEDED.
    transition = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 2}}
    _post(f"{emulator.endpoint}/moto-api/state-manager/set-transition", transition)
    yield emulator.client("athena")


def _taken(selection: Selection) -> list[dict[str, Any]]:
    """The records the query takes, in its order (the unit tests show the SQL takes what wants() takes)."""
    return [r for r in RECORDS if selection.wants(r)]


def _file_findings(tmp_path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": records}))
    found = list(hunt([str(trail)], since=SINCE, until=UNTIL))
    assert all(isinstance(f, Finding) for f in found), [str(f) for f in found if not isinstance(f, Finding)]
    return sorted((f.model_dump(mode="json") for f in found if isinstance(f, Finding)), key=lambda f: f["id"])


def test_the_athena_hunt_finds_what_the_file_hunt_finds(emulator: Emulator, athena: Any, tmp_path: Path) -> None:
    selection = Selection.of(REGISTRY)
    taken = _taken(selection)
    assert 0 < len(taken) < len(RECORDS)
    _seed(emulator, [athena_row(r) for r in taken])
    pauses: list[float] = []
    target = AthenaTarget(TABLE, output_location=RESULTS)
    search = AthenaHunt(target, list(REGISTRY), SINCE, UNTIL, athena, sleep=pauses.append)

    found = list(search.run())

    assert all(isinstance(f, Finding) for f in found)
    findings = sorted((f.model_dump(mode="json") for f in found if isinstance(f, Finding)), key=lambda f: f["id"])
    assert findings == _file_findings(tmp_path, RECORDS)
    assert {f["detector"] for f in findings} >= {"llmjacking-sequence", "assume-role-from-new-account"}
    assert (search.counts.records, search.counts.wanted) == (len(taken), len(taken))
    execution = athena.get_query_execution(QueryExecutionId=search.execution_id)["QueryExecution"]
    assert execution["Query"] == selection.sql(TABLE, SINCE, UNTIL)
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(RESULTS)
    assert len(pauses) >= 2 and pauses == sorted(pauses)  # polled while QUEUED and RUNNING, backing off


def test_warden_hunt_athena_prints_json_lines_and_exits_0(
    emulator: Emulator, athena: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = ["assume-role-from-new-account", "external-trust-policy"]
    selection = Selection.of(REGISTRY[name] for name in chosen)
    _seed(emulator, [athena_row(r) for r in _taken(selection)])
    err = io.StringIO()

    status = run(
        TABLE, since=SINCE, until=UNTIL, output_location=RESULTS, output="json", detector_names=chosen,
        athena_client=lambda: athena, stderr=err,
    )  # fmt: skip

    assert status == 0, err.getvalue()
    lines = capsys.readouterr().out.splitlines()
    assert lines and {json.loads(line)["detector"] for line in lines} <= set(chosen)
    assert "assume-role-from-new-account" in {json.loads(line)["detector"] for line in lines}
    assert "rows" in err.getvalue() and "findings" in err.getvalue()


def test_a_row_that_cannot_be_rebuilt_is_named_and_the_rest_still_run(emulator: Emulator, athena: Any) -> None:
    rows = [athena_row(r) for r in _taken(Selection.of(REGISTRY))]
    rows[0]["requestParameters"] = "{not json: a secret prompt"
    _seed(emulator, rows)
    target = AthenaTarget(TABLE, output_location=RESULTS)
    search = AthenaHunt(target, list(REGISTRY), SINCE, UNTIL, athena, sleep=lambda seconds: None)

    found = list(search.run())

    problems = [str(p) for p in found if not isinstance(p, Finding)]
    assert problems == [f"athena query {search.execution_id} row 1: column requestParameters is not JSON"]
    assert any(isinstance(f, Finding) for f in found)


def test_a_refused_call_is_one_message_and_exit_2(athena: Any, capsys: pytest.CaptureFixture[str]) -> None:
    err = io.StringIO()

    status = run(
        TABLE, since=SINCE, until=UNTIL, workgroup="no-such-workgroup", athena_client=lambda: athena, stderr=err
    )

    assert status == 2
    assert err.getvalue().startswith("warden hunt: Athena StartQueryExecution refused: InvalidRequestException")
    assert capsys.readouterr().out == ""


def test_a_missing_range_or_a_bad_table_is_refused_before_any_call() -> None:
    err = io.StringIO()
    assert run(TABLE, since=None, until=UNTIL, output_location=RESULTS, athena_client=_no_client, stderr=err) == 2
    bad_table = run("no-table", since=SINCE, until=UNTIL, output_location=RESULTS, athena_client=_no_client, stderr=err)
    assert bad_table == 2
    assert "--since and --until" in err.getvalue() and "DATABASE.TABLE" in err.getvalue()


def test_the_cli_runs_the_athena_hunt(emulator: Emulator, athena: Any) -> None:
    """``warden hunt --athena``, with the SDK's own client (the emulator's endpoint comes from the environment)."""
    chosen = "assume-role-from-new-account"
    _seed(emulator, [athena_row(r) for r in _taken(Selection.of([REGISTRY[chosen]]))])
    window = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--output-location", RESULTS]
    arguments = ["hunt", "--athena", TABLE, *window, "--detector", chosen, "--format", "json"]

    result = CliRunner(mix_stderr=False).invoke(main, arguments)

    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["detector"] for line in result.stdout.splitlines()] == [chosen]
    assert "wanted, 1 findings, 0 errors" in result.stderr


def test_the_athena_hunt_judges_as_the_deployment_does(emulator: Emulator, athena: Any) -> None:
    """Like a file hunt, it reads the detector functions' settings: calls of Warden's own roles raise nothing."""
    chosen = "llmjacking-sequence"
    taken = _taken(Selection.of([REGISTRY[chosen]]))
    callers = sorted({r["userIdentity"]["arn"] for r in taken if "arn" in r["userIdentity"]})
    window = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--output-location", RESULTS]
    arguments = ["hunt", "--athena", TABLE, *window, "--detector", chosen, "--format", "json"]

    results = []
    for environment in ({}, {"WARDEN_SELF_PRINCIPALS": ",".join(callers)}):
        _seed(emulator, [athena_row(r) for r in taken])
        results.append(CliRunner(mix_stderr=False).invoke(main, arguments, env=environment))

    assert [r.exit_code for r in results] == [0, 0], [r.stderr for r in results]
    assert {json.loads(line)["detector"] for line in results[0].stdout.splitlines()} == {chosen}
    assert results[1].stdout == ""
    assert f"{len(taken)} wanted, 0 findings, 0 errors" in results[1].stderr


def _no_client() -> Any:
    import boto3

    return boto3.client("athena", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_a_failed_or_cancelled_query_says_why(state: str) -> None:
    import boto3

    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106
    with Stubber(client) as stub:
        status = {"State": state, "StateChangeReason": "TABLE_NOT_FOUND: line 8:6: Table 'security.cloudtrail_logs'"}
        stub.add_response("get_query_execution", {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}})
        with pytest.raises(AthenaError, match=f"Athena query q-1 {state}: TABLE_NOT_FOUND"):
            wait(client, "q-1", sleep=lambda s: None)


def test_only_cloudtrail_is_hunted_in_athena(athena: Any) -> None:
    logs_only = [REGISTRY["bedrock-token-surge"]]
    with pytest.raises(AthenaError, match="read no CloudTrail"):
        AthenaHunt(AthenaTarget(TABLE, output_location=RESULTS), logs_only, SINCE, UNTIL, athena)
