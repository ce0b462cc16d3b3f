"""Cold start: what importing each handler module costs in a fresh interpreter, beside ``import boto3`` alone.

Each import runs in its own ``python -c`` process, with ``PYTHONPATH`` set as Lambda sets it (the layer's
``python`` folder and the function's own folder) and the ``POWERTOOLS_*`` variables of the template's
``Globals``. boto3 and every handler are measured in turn in each round, so that a ratio compares imports
measured side by side; the median of ``runs`` rounds is kept. The import is timed inside the process
(interpreter start-up, the same for every module, is left out). ``LAMBDA_TASK_ROOT`` and the function's name
are set as Lambda sets them, so that X-Ray tracing is set up as in the deployed functions (Tracing: Active).

Deferring work to the first event is no gain for a function that handles one event per cold start, so
detector functions are also measured "import + first event": a sample event through the function's detection
service with in-memory ports (no AWS), timed together with the import.

No bytecode is written (``PYTHONDONTWRITEBYTECODE``): the layer ships none (its Makefile removes
``__pycache__``), so Lambda compiles Warden's modules at every cold start, and so does each run here. The
libraries are read from the virtual environment's bytecode. ``floor_ms`` is what any handler that uses
pydantic and Powertools' Logger, Metrics and Tracer costs before its own code: boto3, those imports, one
model and the three objects.

    python scripts/cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "warden" / "python"
FUNCTIONS = ROOT / "functions"
SAMPLE_EVENT = ROOT / "events" / "cloudtrail" / "bedrock__InvokeModel__stolen_key.json"
TIMED_IMPORT = "import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
FIRST_EVENT = """
import json, time
t = time.perf_counter()
import app
from warden.detectors import REGISTRY
from warden.models import Family
from warden.service import DetectionService
from warden_local.memory import MemoryDeadLetters, MemoryPublisher, MemoryStateStore
family = next(f for f in Family if f.name.lower() == {family!r})
service = DetectionService(detectors=REGISTRY.for_family(family), state=MemoryStateStore(),
                           publisher=MemoryPublisher(), dead_letters=MemoryDeadLetters())
service.handle(json.loads(open({event!r}).read()))
print((time.perf_counter() - t) * 1000)
"""
FLOOR = (
    "import time; t = time.perf_counter(); import boto3; from pydantic import BaseModel;"
    " from aws_lambda_powertools import Logger, Metrics, Tracer;"
    " type('M', (BaseModel,), {'__annotations__': {'a': int}}); Logger(); Metrics();"
    " Tracer(patch_modules=('botocore', 'httplib')); print((time.perf_counter() - t) * 1000)"
)
DETECTOR_FAMILIES = {
    "bedrock_usage_detector": "bedrock_usage",
    "invocation_detector": "bedrock_usage",
    "policy_change_detector": "policy_change",
    "cross_account_detector": "cross_account",
}
"""The detection family each detector function builds its service for (as its app.py names it)."""


def powertools_environment() -> dict[str, str]:
    """The POWERTOOLS_* variables every function gets from the template's Globals (plain values only)."""
    sys.path.insert(0, str(ROOT))
    from warden_local.template import load_template

    variables = load_template(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    return {
        name: value for name, value in variables.items() if name.startswith("POWERTOOLS_") and isinstance(value, str)
    }


def handlers() -> list[str]:
    return sorted(path.parent.name for path in FUNCTIONS.glob("*/app.py"))


def _run(code: str, function: str | None, environment: dict[str, str]) -> float:
    paths = [str(LAYER)] + ([str(FUNCTIONS / function)] if function else [])
    task_root = str(FUNCTIONS / (function or ""))
    lambda_like = {"LAMBDA_TASK_ROOT": task_root, "AWS_LAMBDA_FUNCTION_NAME": function or "boto3"}
    env = {
        **os.environ,
        **environment,
        **lambda_like,
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(  # noqa: S603  fixed argv: this interpreter running code written here
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"{function or 'boto3'}: {done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(runs: int = 7, *, first_event: bool = True) -> dict[str, Any]:
    """Median import milliseconds of boto3 and of each handler module, and the worst handler's ratio to boto3."""
    environment = powertools_environment()
    names = handlers()
    samples: dict[str, list[float]] = {"boto3": [], "floor": [], **{name: [] for name in names}}
    first: dict[str, list[float]] = {name: [] for name in DETECTOR_FAMILIES if name in names and first_event}
    for _ in range(runs):
        samples["boto3"].append(_run(TIMED_IMPORT.format(module="boto3"), None, environment))
        samples["floor"].append(_run(FLOOR, None, environment))
        for name in names:
            samples[name].append(_run(TIMED_IMPORT.format(module="app"), name, environment))
        for name in first:
            code = FIRST_EVENT.format(family=DETECTOR_FAMILIES[name], event=str(SAMPLE_EVENT))
            first[name].append(_run(code, name, environment | {"POWERTOOLS_METRICS_DISABLED": "true"}))
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    boto3_ms = medians.pop("boto3")
    floor_ms = medians.pop("floor")
    worst = max(medians, key=lambda name: medians[name])
    return {
        "runs": runs,
        "boto3_ms": boto3_ms,
        "floor_ms": floor_ms,
        "floor_ratio": round(floor_ms / boto3_ms, 2),
        "handlers_ms": medians,
        "ratios": {name: round(ms / boto3_ms, 2) for name, ms in medians.items()},
        "worst": worst,
        "worst_ratio": round(medians[worst] / boto3_ms, 2),
        "import_and_first_event_ms": {name: round(statistics.median(values), 1) for name, values in first.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-first-event", action="store_true", help="measure imports only")
    args = parser.parse_args()
    print(json.dumps(measure(args.runs, first_event=not args.no_first_event)))


if __name__ == "__main__":
    main()
