"""End to end: the `warden` command on the local stack, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import EVENTS, load_json
from warden.models import Finding
from warden_local.cli import main

pytestmark = pytest.mark.e2e
STRATUS_SESSION = "arn:aws:sts::494659789341:assumed-role/test-role/cli"
GET_CALLER_IDENTITY = load_json("sequences/llmjacking__positive__logging_check_long_term_key.json")[0]["detail"]


def _with_key(record: dict[str, Any], key: str, n: int) -> dict[str, Any]:
    """The record as if signed by key ``key`` of the user ci-deployer, a few minutes later."""
    identity = {"arn": "arn:aws:iam::123456789012:user/ci-deployer", "userName": "ci-deployer", "accessKeyId": key}
    return {
        **record,
        "userIdentity": {**record["userIdentity"], **identity},
        "eventID": f"{record['eventID'][:-2]}{n:02d}",
        "eventTime": f"2026-11-21T03:{20 + n}:00Z",
    }


def _run(*args: str, workdir: Path) -> tuple[Result, dict[str, Any]]:
    result = CliRunner(mix_stderr=False).invoke(
        main, [*args, "--json", "--workdir", str(workdir)], catch_exceptions=False
    )
    return result, json.loads(result.stdout)


def test_demo_detects_and_contains_llmjacking(tmp_path: Path) -> None:
    result, report = _run("demo", "--scenario", "llmjacking", workdir=tmp_path)

    assert result.exit_code == 0
    assert report["contained"] is True and report["passed"] is True
    assert report["collateral_damage"] == []
    assert report["expectations"]["unexpected"] == [], "the production workloads give nothing above LOW"
    (finding,) = [f for f in report["findings"] if f["severity"] not in {"LOW", "INFORMATIONAL"}]
    assert finding["detector"] == "llmjacking-sequence"
    assert finding["severity"] == "HIGH"
    assert finding["family"] == "bedrock-usage"
    assert finding["principal"] == "arn:aws:iam::123456789012:user/ml-batch-svc"
    keys = {k["as_in_events"]: k for k in report["aws_state"]["access_keys"]}
    assert keys["AKIAEXAMPLEBATCHSVC1"]["status"] == "Inactive"
    assert keys["AKIAEXAMPLECHATBOT01"]["status"] == "Active"
    assert keys["AKIAEXAMPLEBREAKGLS1"]["status"] == "Active"
    assert finding["access_key_id"] == keys["AKIAEXAMPLEBATCHSVC1"]["access_key_id"]
    (execution,) = [e for e in report["executions"] if e["playbook"] != "notify-only"]
    assert execution["playbook"] == "contain-access-key"
    assert execution["status"] == "SUCCEEDED"
    assert execution["outcome"] == "CONTAINED"
    assert execution["actions"][0]["undo"]["Status"] == "Active"
    about = [n for n in report["notifications"] if finding["id"] in n["message"] or "LLMjacking" in n["message"]]
    assert [n["subject"] for n in about] == ["[Bedrock Warden] HIGH bedrock-usage finding: CONTAINED"], (
        "one finding, one alert: the playbook's outcome carries the finding"
    )
    assert report["dead_letters"] == []
    assert set(report) >= {"scenario", "findings", "executions", "notifications", "contained", "elapsed_seconds"}


def test_demo_text_timeline_tells_the_story(tmp_path: Path) -> None:
    result = CliRunner(mix_stderr=False).invoke(main, ["demo", "--workdir", str(tmp_path)], catch_exceptions=False)

    assert result.exit_code == 0
    for heading in ("Events in", "Findings (", "Playbooks (", "AWS state after", "Notifications", "CONTAINED"):
        assert heading in result.stdout
    assert "Expected findings (1 of 1 raised)" in result.stdout
    assert "Result: CONTAINED; AS EXPECTED: 1 of 1 expected findings raised, none unexpected above LOW" in result.stdout


def test_replay_of_the_stratus_capture_finds_the_assumed_role_session(corpus: Path, tmp_path: Path) -> None:
    capture = corpus / "stratus-red-team" / "aws.impact.bedrock-invoke-model.json"

    result, report = _run("replay", str(capture), workdir=tmp_path)

    assert result.exit_code == 0
    (finding,) = [f for f in report["findings"] if f["detector"] == "llmjacking-sequence"]
    assert finding["principal"] == STRATUS_SESSION
    assert finding["severity"] == "HIGH"
    assert finding["family"] == "bedrock-usage"
    assert finding["playbook"] == "revoke-role-sessions"
    (execution,) = [e for e in report["executions"] if e["playbook"] == "revoke-role-sessions"]
    assert execution["status"] == "SUCCEEDED"
    assert report["contained"] is False, "replay deploys in dry-run: the playbook plans and notifies, nothing more"


def test_replay_keeps_going_past_every_malformed_sample_and_names_each(tmp_path: Path) -> None:
    malformed = sorted((EVENTS / "malformed").iterdir())
    huge = tmp_path / "huge_user_agent.json"
    huge.write_text(json.dumps([{**GET_CALLER_IDENTITY, "userAgent": "x" * (4 * 1024 * 1024)}]))
    rotated = tmp_path / "three_keys_of_one_user.json"
    rotated.write_text(json.dumps([_with_key(GET_CALLER_IDENTITY, f"AKIAEXAMPLEROTATED{n:02d}", n) for n in range(3)]))
    attack = EVENTS / "sequences" / "llmjacking__positive__logging_check_long_term_key.json"

    result, report = _run("replay", *map(str, [*malformed, huge, rotated, attack]), workdir=tmp_path / "w")

    assert result.exit_code == 2
    for bad in [*malformed, huge]:
        assert any(e.startswith(str(bad)) for e in report["input_errors"]), bad
        assert str(bad) in result.stderr
    not_recreated = [e for e in report["input_errors"] if e.startswith(str(rotated))]
    assert len(not_recreated) == 1
    assert not_recreated[0].startswith(
        f"{rotated}[2]: access key AKIAEXAMPLEROTATED02 of user ci-deployer not recreated: LimitExceeded"
    )
    assert [f["detector"] for f in report["findings"] if f["severity"] == "HIGH"] == ["llmjacking-sequence"]
    assert report["contained"] is True, "the recreated user's key was deactivated"
    assert report["dead_letters"] == [], "refused before sending: nothing reached the detector malformed"


def test_replay_text_output_survives_text_that_cannot_be_encoded(tmp_path: Path) -> None:
    surrogate = EVENTS / "malformed" / "cloudtrail__lone_surrogate_in_arn.json"
    badly_named = tmp_path / "trail-\udcff.json"  # a file name that is not UTF-8
    badly_named.write_text("{")

    result = CliRunner(mix_stderr=False).invoke(
        main, ["replay", str(surrogate), str(badly_named), "--workdir", str(tmp_path)], catch_exceptions=False
    )

    assert result.exit_code == 2
    assert "Result: NOT CONTAINED" in result.stdout
    assert "trail-\\udcff.json: not JSON" in result.stdout
    assert "a string is not valid Unicode" in result.stderr


def test_replay_where_every_event_was_refused_is_not_contained(tmp_path: Path) -> None:
    no_identity = EVENTS / "malformed" / "cloudtrail__get_caller_identity_without_identity.json"

    result, report = _run("replay", str(no_identity), workdir=tmp_path)

    assert result.exit_code == 2, "a record the detector never saw is an error, not silence"
    assert report["input_errors"] == [f"{no_identity} Records[0]: userIdentity is missing"]
    assert report["events_in"] == 0
    assert report["findings"] == []
    assert report["contained"] is False, "nothing was contained: not vacuously true"


def test_replay_of_benign_and_own_traffic_finds_nothing(tmp_path: Path) -> None:
    sequences = EVENTS / "sequences"
    files = [str(p) for p in sorted(sequences.glob("llmjacking__negative__*.json"))]
    s3 = tmp_path / "s3_get_object.json"
    s3.write_text(json.dumps({**GET_CALLER_IDENTITY, "eventSource": "s3.amazonaws.com", "eventName": "GetObject"}))

    result, report = _run("replay", *files, str(s3), workdir=tmp_path / "w")

    assert result.exit_code == 0
    assert report["input_errors"] == []
    assert report["events_not_routed"] == 1, "the S3 call matches no rule of the template: counted, not an error"
    assert [f for f in report["findings"] if f["severity"] not in {"LOW", "INFORMATIONAL"}] == []
    assert report["contained"] is False, "nothing needed containing, so nothing was contained"
    assert all(k["status"] == "Active" for k in report["aws_state"]["access_keys"])


def test_replay_in_dry_run_mode_touches_nothing(tmp_path: Path) -> None:
    attack = EVENTS / "sequences" / "llmjacking__positive__enable_then_invoke.json"

    result, report = _run("replay", str(attack), "--param", "ResponseMode=dry-run", workdir=tmp_path)

    assert result.exit_code == 0
    (execution,) = [e for e in report["executions"] if e["playbook"] == "contain-access-key"]
    assert execution["outcome"] == "DRY_RUN"
    assert report["contained"] is False
    assert all(k["status"] == "Active" for k in report["aws_state"]["access_keys"])


@pytest.mark.parametrize("command", [[], ["demo"], ["replay"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner(mix_stderr=False).invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.stdout


def test_unknown_scenario_and_parameter_are_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner(mix_stderr=False)
    unknown = runner.invoke(main, ["demo", "--scenario", "nope"])
    assert unknown.exit_code == 2
    assert all(name in unknown.stderr for name in ("llmjacking", "policy-change", "cross-account", "invocation-logs"))
    bad = runner.invoke(
        main, ["replay", str(EVENTS / "cloudtrail" / "bedrock__Converse__app_role.json"), "--param", "x"]
    )
    assert bad.exit_code == 2 and "Key=Value" in bad.stderr


def test_seal_gives_an_edited_finding_the_id_playbooks_accept(tmp_path: Path) -> None:
    finding = load_json("findings/contain_access_key__llmjacking.json")
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**finding, "principal": "arn:aws:iam::123456789012:user/other"}))

    result = CliRunner(mix_stderr=False).invoke(main, ["seal", str(edited)], catch_exceptions=False)

    sealed = Finding.model_validate_json(result.stdout)
    assert result.exit_code == 0 and sealed.principal.endswith("user/other")
    assert sealed.id == sealed.content_id() != finding["id"]
    refused = CliRunner(mix_stderr=False).invoke(main, ["seal", "-"], input="[]")
    assert refused.exit_code == 2 and "not a finding" in refused.stderr
