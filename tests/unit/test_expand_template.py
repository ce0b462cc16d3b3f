"""The offline SAM expansion that checkov reads (scripts/expand_template.py), and what it must show.

These run with the network off, so they also prove that the expansion needs no AWS account.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.expand_template import expand, main, unexplained_skips
from tests.conftest import ROOT
from warden_local.template import load_template

TEMPLATE = load_template(ROOT / "template.yaml")
EXPANDED = expand(ROOT / "template.yaml")
SAM_RESOURCES = {k: v for k, v in TEMPLATE["Resources"].items() if v["Type"].startswith("AWS::Serverless::")}


def _skips(resource: dict[str, Any]) -> list[dict[str, Any]]:
    skips: list[dict[str, Any]] = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
    return skips


def test_expansion_leaves_no_sam_resource_and_points_artifacts_at_placeholders() -> None:
    types = {resource["Type"] for resource in EXPANDED["Resources"].values()}
    assert not [t for t in types if t.startswith("AWS::Serverless::")]
    assert "Transform" not in EXPANDED
    functions = [r for r in EXPANDED["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == sum(1 for r in SAM_RESOURCES.values() if r["Type"] == "AWS::Serverless::Function")
    assert all(f["Properties"]["Code"]["S3Bucket"] == "bedrock-warden-offline-expansion" for f in functions)


@pytest.mark.parametrize("logical", [k for k, v in SAM_RESOURCES.items() if _skips(v)])
def test_checkov_skips_on_a_sam_resource_reach_every_resource_generated_from_it(logical: str) -> None:
    generated = {k: v for k, v in EXPANDED["Resources"].items() if k.startswith(logical)}
    assert len(generated) > 1, "a SAM resource expands into itself and at least its role"
    for name, resource in generated.items():
        assert _skips(resource) == _skips(SAM_RESOURCES[logical]), name


def test_every_checkov_skip_in_the_template_gives_its_reason() -> None:
    assert unexplained_skips(TEMPLATE) == []
    assert any(_skips(resource) for resource in TEMPLATE["Resources"].values())


def test_a_skip_without_a_reason_fails_the_expansion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Queue:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Metadata: { checkov: { skip: [{ id: CKV_AWS_27 }, { id: CKV_AWS_28, comment: too short }] } }\n"
    )
    assert main([str(template), str(tmp_path / "out.json")]) == 1
    assert capsys.readouterr().err.count("needs an id and a comment") == 2
    assert not (tmp_path / "out.json").exists()


def _reserved(value: Any) -> int:
    """A function's reserved concurrency as deployed by default: a number, or a Number parameter's bounded default."""
    if isinstance(value, dict):
        parameter = TEMPLATE["Parameters"][value["Ref"]]
        assert parameter["Type"] == "Number"
        assert 1 <= parameter["MinValue"] <= int(parameter["Default"]) <= parameter["MaxValue"]
        return int(parameter["Default"])
    assert isinstance(value, int)
    return value


def test_every_function_reserves_concurrency_and_leaves_the_account_most_of_its_quota() -> None:
    """An event flood must neither take the account's whole Lambda concurrency nor starve Warden of its own."""
    functions = {k: v for k, v in EXPANDED["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    assert functions
    reserved = {k: _reserved(f["Properties"].get("ReservedConcurrentExecutions")) for k, f in functions.items()}
    assert all(value >= 1 for value in reserved.values()), reserved
    # At most a tenth of the default account quota (1,000), so the account's workloads keep the rest.
    assert sum(reserved.values()) <= 100, reserved
