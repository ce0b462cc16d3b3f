"""The layer ships to Lambda: it may import only the standard library and what the layer and runtime carry, and a
function's cold start imports only what its warm path needs."""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

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


# What a function imports at a cold start: only what its warm path needs (scripts/cold_start.py measures it).
# Each handler is imported in a fresh interpreter, as Lambda does: what is already loaded changes what loads
# (Powertools' batch utility imports its parser models when pydantic is loaded before it).
COLD_IMPORTS = """
import json, sys
import app
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("warden", "aws_lambda_powertools.utilities.parser")))))
"""
DETECTOR_MODULES = "warden.detectors."
RECORD_MODELS = {"warden.models.cloudtrail", "warden.models.guardduty", "warden.models.invocation_log"}
PARSER = "aws_lambda_powertools.utilities.parser"


@functools.cache
def _cold_imports() -> dict[str, list[str]]:
    """The Warden and parser modules loaded by importing each handler module in a fresh interpreter."""
    running = {}
    for app in sorted(FUNCTIONS.glob("*/app.py")):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LAYER.parent), str(app.parent)])}
        running[app.parent.name] = subprocess.Popen(  # noqa: S603  this interpreter, code written here
            [sys.executable, "-c", COLD_IMPORTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    loaded = {}
    for function, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{function}: {err[-2000:]}"
        loaded[function] = json.loads(out.splitlines()[-1])
    return loaded


def test_importing_a_handler_builds_no_detector_and_no_parser_package() -> None:
    for function, modules in _cold_imports().items():
        detectors = [m for m in modules if m.startswith(DETECTOR_MODULES) and m != "warden.detectors.registry"]
        assert not [m for m in detectors if not m.removeprefix(DETECTOR_MODULES).startswith("_")], function
        assert not [m for m in modules if m.startswith(PARSER)], f"{function} imports Powertools' parser package"


def test_functions_without_detection_import_no_record_model() -> None:
    for function, modules in _cold_imports().items():
        if "warden.runtime" not in modules:
            assert not RECORD_MODELS & set(modules), function


def _outcome(model: type[BaseModel], value: object) -> str:
    try:
        parsed = model.model_validate(value)
        result: object = [parsed.model_dump(mode="json"), parsed.model_dump(mode="json", by_alias=True)]
    except ValidationError as exc:
        result = exc.errors(include_url=False)
    return json.dumps(result, default=str, sort_keys=True).replace(model.__name__, "Model")


ENVELOPE_VARIANTS: list[Callable[[dict[str, Any]], object]] = [
    lambda event: event,
    lambda event: {key: value for key, value in event.items() if key != "version"},
    lambda event: {**event, "time": "2024-01-01T00:00:00"},
    lambda event: {**event, "time": "yesterday"},
    lambda event: {**event, "resources": [1]},
    lambda event: {**event, "detail": "{}"},
    lambda event: {**event, "detail": "{}", "source": "aws.scheduler"},
    lambda event: {**event, "replay-name": "archive"},
    lambda event: {**{k: v for k, v in event.items() if k != "detail-type"}, "detail_type": "x"},
    lambda event: {**event, "id": 5, "account": None},
    lambda event: [event],
]


@pytest.mark.parametrize("kind", ["cloudtrail", "guardduty"])
def test_warden_envelope_validates_as_powertools_eventbridge_model(kind: str) -> None:
    """The envelope is Warden's own (the parser package costs ~40 ms of a cold start); nothing else changes."""
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    from warden.models.cloudtrail import CloudTrailEvent, CloudTrailRecord
    from warden.models.guardduty import GuardDutyEvent, GuardDutyFinding

    ours, detail = (CloudTrailEvent, CloudTrailRecord) if kind == "cloudtrail" else (GuardDutyEvent, GuardDutyFinding)
    powertools = type("Powertools", (EventBridgeModel,), {"__annotations__": {"detail": detail}})
    events = [json.loads(path.read_text()) for path in sorted((ROOT / "events" / kind).glob("*.json"))]
    assert events
    for event in events:
        for variant in ENVELOPE_VARIANTS:
            assert _outcome(ours, variant(event)) == _outcome(powertools, variant(event))
