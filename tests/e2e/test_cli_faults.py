"""End to end: `warden demo --faults` fails the playbook's calls and says how many."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from warden_local.cli import main, render

pytestmark = pytest.mark.e2e


def test_demo_under_faults_reports_what_it_injected(tmp_path: Path) -> None:
    runner = CliRunner(mix_stderr=False)
    args = ["demo", "--json", "--workdir", str(tmp_path), "--faults", "0.3:iam,sns", "--fault-seed", "1"]

    result = runner.invoke(main, args, catch_exceptions=False)

    report = json.loads(result.stdout)
    faults = report["faults"]
    assert (faults["rate"], faults["seed"], faults["services"]) == (0.3, 1, ["iam", "sns"])
    assert faults["injected"] > 0
    assert faults["injected"] == sum(n for kinds in faults["by_service"].values() for n in kinds.values())
    assert set(faults["by_service"]) <= {"iam", "sns"}, "only the services asked for"
    assert result.exit_code == (0 if report["passed"] else 1)
    assert report["passed"] == (
        report["contained"] and report["expectations"]["met"] and not report["collateral_damage"]
    )
    assert f"Faults injected ({faults['injected']} of " in render(report)
    refused = runner.invoke(main, ["demo", "--faults", "0.2:s3"])
    assert refused.exit_code == 2
    assert "cannot inject faults into ['s3']" in refused.stderr
