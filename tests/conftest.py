"""Shared fixtures. Environment defaults are set before any Warden module is imported, as Lambda does."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# What the template's Globals give every function; Powertools reads them when Logger/Metrics are built.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bedrock-warden")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BedrockWarden")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[_key] = "testing"

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
CORPUS = Path(os.environ.get("WARDEN_CORPUS_DIR", ROOT.parent / "shared" / "corpus"))


def load_json(relative: str) -> Any:
    return json.loads((EVENTS / relative).read_text())


@pytest.fixture
def corpus() -> Path:
    """The shared attack corpus (kept outside this repository). CI sets WARDEN_REQUIRE_CORPUS when it has it."""
    if not CORPUS.is_dir():
        message = f"attack corpus not found at {CORPUS} (set WARDEN_CORPUS_DIR)"
        if os.environ.get("WARDEN_REQUIRE_CORPUS"):
            pytest.fail(message)
        pytest.skip(message)
    return CORPUS


@pytest.fixture(scope="session", autouse=True)
def _quick_retries() -> Iterator[None]:
    """Retry back-offs (playbooks' and boto's) wait a hundredth of their time: tests check what is retried."""
    from warden_local.moto_fidelity import scale_retry_waits

    scale_retry_waits(0.01)
    yield
    scale_retry_waits(1.0)


@pytest.fixture(autouse=True)
def _reset_metrics() -> Iterator[None]:
    """Powertools keeps metrics in module state; start every test from a clean set."""
    from warden.observability import metrics

    metrics.clear_metrics()
    yield
    metrics.clear_metrics()
