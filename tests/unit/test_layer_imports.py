"""The layer ships to Lambda: it may import only the standard library and what the layer and runtime carry."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYER = ROOT / "layers" / "warden" / "python" / "warden"
FUNCTIONS = ROOT / "functions"
RUNTIME = {"warden", "aws_lambda_powertools", "pydantic", "pydantic_core", "boto3", "botocore", "slack_sdk", "orjson"}
TYPE_ONLY = ("mypy_boto3_",)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    type_checking_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking_lines |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.lineno in type_checking_lines and node.module.startswith(TYPE_ONLY):
                continue
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path", sorted([*LAYER.rglob("*.py"), *FUNCTIONS.rglob("*.py")]), ids=lambda p: str(p.relative_to(ROOT))
)
def test_runtime_code_imports_nothing_from_development(path: Path) -> None:
    foreign = _imports(path) - RUNTIME - set(sys.stdlib_module_names) - {"__future__"}
    assert not foreign, f"{path.name} imports {sorted(foreign)}, which the Lambda layer does not carry"


def test_layer_requirements_pin_what_the_code_imports() -> None:
    lines = (ROOT / "layers" / "warden" / "requirements.txt").read_text().splitlines()
    pinned = {line.split("==")[0] for line in lines if line and not line.startswith("#")}
    assert {"aws-lambda-powertools", "pydantic", "pydantic-core", "aws-xray-sdk"} <= pinned
    assert all("==" in line for line in lines if line and not line.startswith("#"))
    assert not pinned & {"boto3", "botocore"}, "boto3 comes from the Lambda runtime; a copy would shadow it"
