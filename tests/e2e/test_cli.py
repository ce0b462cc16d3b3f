"""End to end: the `warden` command on the local stack, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import EVENTS
from warden_local.cli import main

pytestmark = pytest.mark.e2e
STRATUS_SESSION = "arn:aws:sts::494659789341:assumed-role/test-role/cli"


def _run(*args: str, workdir: Path) -> tuple[Result, dict[str, Any]]:
    result = CliRunner(mix_stderr=False).invoke(
        main, [*args, "--json", "--workdir", str(workdir)], catch_exceptions=False
    )
    return result, json.loads(result.stdout)


def test_demo_detects_and_contains_llmjacking(tmp_path: Path) -> None:
    result, report = _run("demo", "--scenario", "llmjacking", workdir=tmp_path)

    assert result.exit_code == 0
    assert report["contained"] is True
    assert report["collateral_damage"] == []
    (finding,) = report["findings"]
    assert finding["severity"] == "HIGH"
    assert finding["family"] == "bedrock-usage"
    assert finding["principal"] == "arn:aws:iam::123456789012:user/ml-batch-svc"
    keys = {k["as_in_events"]: k for k in report["aws_state"]["access_keys"]}
    assert keys["AKIAEXAMPLEBATCHSVC1"]["status"] == "Inactive"
    assert keys["AKIAEXAMPLECHATBOT01"]["status"] == "Active"
    assert keys["AKIAEXAMPLEBREAKGLS1"]["status"] == "Active"
    assert finding["access_key_id"] == keys["AKIAEXAMPLEBATCHSVC1"]["access_key_id"]
    (execution,) = report["executions"]
    assert execution["playbook"] == "contain-access-key"
    assert execution["status"] == "SUCCEEDED"
    assert execution["outcome"] == "CONTAINED"
    assert execution["actions"][0]["undo"]["Status"] == "Active"
    subjects = [n["subject"] for n in report["notifications"]]
    assert "[Bedrock Warden] HIGH bedrock-usage finding: CONTAINED" in subjects
    assert any("LLMjacking" in n["message"] for n in report["notifications"] if n["subject"] is None)
    assert report["dead_letters"] == []
    assert set(report) >= {"scenario", "findings", "executions", "notifications", "contained", "elapsed_seconds"}


def test_demo_text_timeline_tells_the_story(tmp_path: Path) -> None:
    result = CliRunner(mix_stderr=False).invoke(main, ["demo", "--workdir", str(tmp_path)], catch_exceptions=False)

    assert result.exit_code == 0
    for heading in ("Events in", "Findings (1)", "Playbooks (1)", "AWS state after", "Notifications", "CONTAINED"):
        assert heading in result.stdout


def test_replay_of_the_stratus_capture_finds_the_assumed_role_session(corpus: Path, tmp_path: Path) -> None:
    capture = corpus / "stratus-red-team" / "aws.impact.bedrock-invoke-model.json"

    result, report = _run("replay", str(capture), workdir=tmp_path)

    assert result.exit_code == 0
    (finding,) = report["findings"]
    assert finding["principal"] == STRATUS_SESSION
    assert finding["severity"] == "HIGH"
    assert finding["family"] == "bedrock-usage"
    assert finding["playbook"] == "revoke-role-sessions"
    assert report["executions"] == [], "revoke-role-sessions is not deployed yet"
    assert report["contained"] is False


def test_replay_keeps_going_past_bad_input_and_names_it(tmp_path: Path) -> None:
    truncated = EVENTS / "malformed" / "cloudtrail__truncated_log_file.json"
    malformed = EVENTS / "malformed" / "cloudtrail__detail_without_identity.json"
    attack = EVENTS / "sequences" / "llmjacking__positive__logging_check_long_term_key.json"

    result, report = _run("replay", str(truncated), str(malformed), str(attack), workdir=tmp_path / "w")

    assert result.exit_code == 2
    assert str(truncated) in result.stderr
    assert len(report["findings"]) == 1
    assert report["contained"] is True, "the recreated user's key was deactivated"
    (kept,) = report["dead_letters"]
    assert kept["reason"] == "malformed-event"
    assert kept["event_id"] == json.loads(malformed.read_text())["id"]


def test_replay_of_benign_and_own_traffic_finds_nothing(tmp_path: Path) -> None:
    sequences = EVENTS / "sequences"
    files = [str(p) for p in sorted(sequences.glob("llmjacking__negative__*.json"))]

    result, report = _run("replay", *files, workdir=tmp_path)

    assert result.exit_code == 0
    assert report["findings"] == []
    assert report["contained"] is True, "nothing needed containing"
    assert all(k["status"] == "Active" for k in report["aws_state"]["access_keys"])


def test_replay_in_dry_run_mode_touches_nothing(tmp_path: Path) -> None:
    attack = EVENTS / "sequences" / "llmjacking__positive__enable_then_invoke.json"

    result, report = _run("replay", str(attack), "--param", "ResponseMode=dry-run", workdir=tmp_path)

    assert result.exit_code == 0
    assert report["executions"][0]["outcome"] == "DRY_RUN"
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
    assert unknown.exit_code == 2 and "llmjacking" in unknown.stderr
    bad = runner.invoke(
        main, ["replay", str(EVENTS / "cloudtrail" / "bedrock__Converse__app_role.json"), "--param", "x"]
    )
    assert bad.exit_code == 2 and "Key=Value" in bad.stderr
