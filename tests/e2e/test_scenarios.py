"""End to end: a demo scenario per family, and the attack corpus replayed, through the local stack.

Each scenario says which findings it expects (detector, family, principal, severity) and that its
benign activity gives nothing above LOW; ``warden demo`` judges that, and exits 0 only when it holds.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import click
import pytest
from click.testing import CliRunner, Result

from tests.conftest import EVENTS
from warden_local.cli import main, render
from warden_local.run import LOCAL_INVOCATION_LOG_BUCKET, load_scenario, scenario_names

pytestmark = pytest.mark.e2e
STRATUS = "stratus-red-team"
CHRISTOPHE = "arn:aws:iam::751203476945:user/christophe"


def _run(*args: str, workdir: Path) -> tuple[Result, dict[str, Any]]:
    result = CliRunner(mix_stderr=False).invoke(
        main, [*args, "--json", "--workdir", str(workdir)], catch_exceptions=False
    )
    return result, json.loads(result.stdout)


class Demo(NamedTuple):
    result: Result
    report: dict[str, Any]
    workdir: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Demo]:
    """``warden demo --scenario NAME --json``, run once per scenario for the whole module."""
    runs: dict[str, Demo] = {}

    def run(name: str) -> Demo:
        if name not in runs:
            workdir = tmp_path_factory.mktemp(name)
            runs[name] = Demo(*_run("demo", "--scenario", name, workdir=workdir), workdir)
        return runs[name]

    return run


def _above_low(findings: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (f["detector"], f["severity"], f["principal"])
        for f in findings
        if f["severity"] not in {"LOW", "INFORMATIONAL"}
    ]


@pytest.mark.parametrize("name", scenario_names())
def test_each_scenario_raises_what_it_expects_through_the_local_stack(name: str, demo: Callable[[str], Demo]) -> None:
    result, report, _ = demo(name)

    expectations = report["expectations"]
    missing = [
        (j["detector"], j["principal"], j["severities_seen"]) for j in expectations["findings"] if not j["raised"]
    ]
    assert missing == [], f"expected findings not raised; raised {_above_low(report['findings'])}"
    assert expectations["unexpected"] == [], "benign activity gave a finding above LOW"
    assert report["input_errors"] == []
    assert report["dead_letters"] == [], "every event and log record was valid for the detectors"
    assert report["collateral_damage"] == []
    assert report["passed"] is True and result.exit_code == 0
    expected = {(j["detector"], j["principal"]) for j in expectations["findings"]}
    notified = "\n".join(n["message"] for n in report["notifications"])
    for detector, principal in expected:
        assert principal in notified or detector in notified, f"{detector} on {principal} reached no notification"


def test_invocation_logs_arrive_through_the_invocation_log_bucket(demo: Callable[[str], Demo]) -> None:
    report = demo("invocation-logs").report

    scenario = load_scenario("invocation-logs")
    records = len(json.loads(scenario.events.read_text()))
    assert report["events_in"] == 0
    assert report["invocation_logs_in"] == records
    assert 0 < report["invocation_log_objects"] < records, "records are delivered in objects of a few minutes"
    assert report["parameters"]["InvocationLogBucket"] == LOCAL_INVOCATION_LOG_BUCKET
    assert report["events_not_routed"] == 0, "every object notification reached the invocation-log detector"


def test_the_pasted_secret_reaches_no_report_notification_or_log(demo: Callable[[str], Demo]) -> None:
    pasted = ("AKIAQUMPMHS6PJARB7LM", "XxQPplH8ACyjkz4jmBQlm7knI4pShZFC8ZrXbeg+", "Ignore all previous instructions")

    result, report, workdir = demo("invocation-logs")

    logs = "".join(p.read_text(errors="replace") for p in sorted((workdir / "logs").rglob("*")) if p.is_file())
    assert logs, "the functions wrote logs"
    for text in pasted:
        assert text not in result.stdout, "prompt text in the report (findings, notifications, timeline)"
        assert text not in result.stderr
        assert text not in logs, "prompt text in a function log"
    secret = [f for f in report["findings"] if f["detector"] == "bedrock-secret-in-text"]
    assert secret and secret[0]["details"], "the finding says what leaked, by kind and hash"


def test_the_organizations_own_role_assumptions_stay_quiet(demo: Callable[[str], Demo]) -> None:
    result, report, _ = demo("cross-account")

    on_ci_role = [f for f in report["findings"] if "ci-deploy" in f["principal"] or "210987654321" in f["title"]]
    assert on_ci_role == []
    assert result.exit_code == 0


def test_the_demo_text_shows_what_was_expected_and_what_was_raised(demo: Callable[[str], Demo]) -> None:
    text = click.unstyle(render(demo("policy-change").report))

    assert "Expected findings (4 of 4 raised)" in text
    assert "raised  policy-change / credentials-created-for-another-user HIGH on" in text
    assert "Result: AS EXPECTED: 4 of 4 expected findings raised, none unexpected above LOW" in text
    assert "Result: CONTAINED" not in text and "NOT CONTAINED" not in text, "nothing to contain was asked"


@pytest.mark.parametrize(
    ("name", "playbook", "outcome"),
    [
        ("llmjacking-role", "revoke-role-sessions", "CONTAINED"),
        ("logging-disabled", "restore-invocation-logging", "RESTORED"),
        ("trust-backdoor", "revert-policy-change", "REVERTED"),
        ("admin-attached", "revert-policy-change", "REVERTED"),
    ],
)
def test_playbook_scenarios_are_contained_as_read_back_from_the_emulator(
    name: str, playbook: str, outcome: str, demo: Callable[[str], Demo]
) -> None:
    result, report, _ = demo(name)

    checks = report["aws_state"]["checks"]
    assert [c["expect"] for c in checks if c["expect"] == "contained"], "the scenario names the state to read back"
    assert all(c["ok"] for c in checks), checks
    assert report["contained"] is True and report["passed"] is True and result.exit_code == 0
    assert [(e["playbook"], e["outcome"]) for e in report["executions"]] == [(playbook, outcome)]
    assert all(k["status"] == "Active" for k in report["aws_state"]["access_keys"]), "no access key was touched"


def test_the_role_scenario_revokes_the_attackers_role_only(demo: Callable[[str], Demo]) -> None:
    report = demo("llmjacking-role").report

    seen = {c["check"]["role_inline_policy"]["role"]: c["seen"]["present"] for c in report["aws_state"]["checks"]}
    assert seen == {"rag-indexer": True, "rag-api-task": False}
    (notification,) = [n for n in report["notifications"] if n["attributes"].get("playbook") == "revoke-role-sessions"]
    assert "every session of role rag-indexer" in notification["message"]


def test_the_trust_backdoor_scenario_puts_back_the_trust_policy_warden_saw(demo: Callable[[str], Demo]) -> None:
    report = demo("trust-backdoor").report

    seen = {c["check"]["role_trust_policy"]["role"]: c["seen"]["document"] for c in report["aws_state"]["checks"]}
    lambda_only = {"Service": "lambda.amazonaws.com"}
    assert [s["Principal"] for s in seen["reports-exporter"]["Statement"]] == [lambda_only], (
        "the outside account is out"
    )
    assert [s["Principal"] for s in seen["rag-api-task"]["Statement"]] == [{"Service": "ecs-tasks.amazonaws.com"}]
    (notification,) = [n for n in report["notifications"] if n["attributes"].get("playbook") == "revert-policy-change"]
    assert "aws iam update-assume-role-policy --role-name reports-exporter" in notification["message"]


def test_the_admin_attached_scenario_detaches_the_attackers_grant_only(demo: Callable[[str], Demo]) -> None:
    report = demo("admin-attached").report

    seen = {c["check"]["attached_policies"]["role"]: c["seen"]["policies"] for c in report["aws_state"]["checks"]}
    assert seen == {"data-export-lambda": [], "rag-api-task": ["arn:aws:iam::123456789012:policy/rag-corpus-read"]}
    (notification,) = [n for n in report["notifications"] if n["attributes"].get("playbook") == "revert-policy-change"]
    assert "detach-role-policy --role-name data-export-lambda" in notification["message"]


def test_the_api_key_scenario_deactivates_the_stolen_key_only(demo: Callable[[str], Demo]) -> None:
    result, report, _ = demo("api-key")

    assert report["contained"] is True and report["passed"] is True and result.exit_code == 0
    seen = {c["check"]["service_specific_credentials"]["user"]: c["seen"] for c in report["aws_state"]["checks"]}
    assert list(seen["BedrockAPIKey-7k2q"].values()) == ["Inactive"], "read back from the emulator's IAM"
    assert list(seen["BedrockAPIKey-app1"].values()) == ["Active"], "the chatbot's own key is untouched"
    outcomes = sorted((e["playbook"], e["outcome"]) for e in report["executions"])
    failed = [(e["playbook"], e["status"], e["error"], e["states"][-3:]) for e in report["executions"] if e["error"]]
    assert outcomes == [("contain-bedrock-api-key", "CONTAINED"), ("notify-only", "NOTIFIED")], failed
    playbook = "contain-bedrock-api-key"
    (notification,) = [n for n in report["notifications"] if n["attributes"].get("playbook") == playbook]
    assert "Deactivate Bedrock API key ACCA" in notification["message"] and "not deleted" in notification["message"]


# ---------------------------------------------------------------------------------------------------------------
# The attack corpus, replayed as a user would: a folder of captures
# ---------------------------------------------------------------------------------------------------------------
def test_replay_of_the_corpus_folder_names_what_is_too_far_apart_and_detects_the_rest(
    corpus: Path, tmp_path: Path
) -> None:
    result, report = _run("replay", str(corpus / STRATUS), workdir=tmp_path)

    assert result.exit_code == 2, "the IAM captures (August 2024) are months from the Bedrock one (October 2024)"
    assert len(report["input_errors"]) == 7
    assert all("days from the run's median event time" in e for e in report["input_errors"])
    assert report["events_in"] == 15
    assert any(
        f["detector"] == "llmjacking-sequence" and f["severity"] == "HIGH" and f["playbook"] == "revoke-role-sessions"
        for f in report["findings"]
    )


def test_replay_of_the_iam_captures_finds_the_backdoors(corpus: Path, tmp_path: Path) -> None:
    captures = sorted((corpus / STRATUS).glob("aws.persistence.*.json"))

    result, report = _run("replay", *map(str, captures), "--no-seed", workdir=tmp_path)  # christophe has 4 keys

    assert result.exit_code == 0 and report["input_errors"] == []
    raised = {(f["family"], f["detector"]) for f in report["findings"]}
    assert raised >= {
        ("cross-account", "external-trust-policy"),
        ("policy-change", "broad-permissions-granted"),
        ("policy-change", "credentials-created-for-another-user"),
    }
    backdoor = [f for f in report["findings"] if f["detector"] == "external-trust-policy"]
    assert any("193672423079" in json.dumps(f) and CHRISTOPHE in json.dumps(f["details"]) for f in backdoor)
    keys = [f for f in report["findings"] if f["detector"] == "credentials-created-for-another-user"]
    assert {f["principal"].rsplit("/", 1)[-1] for f in keys} == {
        "stratus-red-team-backdoor-u-user",
        "malicious-iam-user",
    }
    assert report["dead_letters"] == []


def test_replay_of_a_log_bucket_folder_and_a_trail_file_together(tmp_path: Path) -> None:
    scenario = json.loads(load_scenario("invocation-logs").events.read_text())
    incident = [r for r in scenario if r["timestamp"] >= "2026-11-19T10:00:00Z" and "app" not in r["identity"]["arn"]]
    hour = tmp_path / "bucket" / "AWSLogs" / "123456789012" / "BedrockModelInvocationLogs" / "us-east-1" / "2026/11/19"
    for n, record in enumerate(incident):
        folder = hour / record["timestamp"][11:13]
        folder.mkdir(parents=True, exist_ok=True)
        lines = (json.dumps(record) + "\n").encode()
        (folder / f"20261119T{record['timestamp'][11:13]}0000Z_{n:04d}.json.gz").write_bytes(gzip.compress(lines))
    trail = EVENTS / "sequences" / "llmjacking__positive__logging_check_long_term_key.json"

    result, report = _run("replay", str(tmp_path / "bucket"), str(trail), workdir=tmp_path / "run")

    assert result.exit_code == 0 and report["input_errors"] == []
    assert (report["events_in"], report["invocation_logs_in"]) == (3, len(incident))
    raised = {f["detector"] for f in report["findings"]}
    assert raised >= {"llmjacking-sequence", "bedrock-guardrail-interventions", "bedrock-secret-in-text"}
    assert report["dead_letters"] == []
