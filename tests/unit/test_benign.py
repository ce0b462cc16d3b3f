"""Benign activity gives no finding above LOW, whichever detector of whichever family looks at it.

Each story is a sample of ordinary life in an account that runs Bedrock; all of them go through every
registered detector (all families at once) with a deployer's configuration as a first deployment would
set it. A detector that starts alerting on any of them breaks this test, not only its own negatives.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS
from tests.fakes import run, run_invocation_logs, service
from warden.models import Finding, Severity
from warden.settings import Settings

ACCOUNT = "123456789012"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/warden-deployer"
WARDEN_PLAYBOOK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/warden-local-ContainAccessKeyStateMachineRole"
SETTINGS = Settings(
    account_id=ACCOUNT,
    trusted_accounts=frozenset({"210987654321"}),
    organization_id="o-a1b2c3d4e5",
    deployment_principals=frozenset({DEPLOYER}),
    warden_stack_name="warden",
    invocation_log_bucket="acme-bedrock-invocation-logs",
)
STORIES = {
    "an administrator browses the model catalogue in the console": "benign__negative__console_admin_browses_models",
    "an application lists models, then invokes its usual one": "llmjacking__negative__app_lists_then_invokes",
    "an application calls its usual model steadily, busier on one day": (
        "bedrock-call-surge__negative__steady_application_busier_day"
    ),
    "an application upgrades its SDK and moves to an inference profile": (
        "bedrock-first-use__negative__sdk_upgrade_same_subnet_inference_profile"
    ),
    "a user rotates their own access key": "credentials-created-for-another-user__negative__user_rotates_own_key",
    "a console user creates a Bedrock API key for themselves": (
        "bedrock-api-key-for-another-user__negative__console_creates_long_term_key"
    ),
    "a member account of the organization assumes a role": (
        "assume-role-from-new-account__negative__organization_member"
    ),
    "roles trust their own account and AWS services": "external-trust-policy__negative__own_account_and_services",
    "Warden's own playbook acts": "llmjacking__negative__warden_own_role",
    "the deployment role deploys the Warden stack": "warden-tampering__negative__deployment_role_updates_warden",
    "other workloads change their own resources": "warden-tampering__negative__other_workloads_and_data_events",
    "an administrator grants read-only and scoped permissions": (
        "broad-permissions-granted__negative__read_only_and_scoped_grants"
    ),
}
INVOCATION_LOG_STORIES = {
    "an application's invocation logs over two weeks": "bedrock-token-surge__negative__steady_app_two_weeks.jsonl.gz",
    "an application moves to a new model at the same volume": (
        "bedrock-token-surge__negative__app_migrates_to_new_model.jsonl.gz"
    ),
    "prompts that mention keys without holding one": "bedrock-secret-in-text__negative__near_misses.jsonl",
}


def _above_low(findings: list[Finding]) -> list[tuple[str, str, str]]:
    low = {Severity.INFORMATIONAL, Severity.LOW}
    return [(f.detector, f.severity.value, f.title) for f in findings if f.severity not in low]


@pytest.mark.parametrize("story", sorted(STORIES))
def test_benign_cloudtrail_activity_gives_no_finding_above_low(story: str) -> None:
    events: list[dict[str, Any]] = json.loads((EVENTS / "sequences" / f"{STORIES[story]}.json").read_text())
    svc = service(frozenset({WARDEN_PLAYBOOK_ROLE}), family=None, settings=SETTINGS)

    findings = run(events, svc)

    assert _above_low(findings) == [], story


@pytest.mark.parametrize("story", sorted(INVOCATION_LOG_STORIES))
def test_benign_invocation_logs_give_no_finding_above_low(story: str) -> None:
    path: Path = EVENTS / "invocation_logs" / INVOCATION_LOG_STORIES[story]
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]

    findings = run_invocation_logs(records, service(family=None, settings=SETTINGS))

    assert _above_low(findings) == [], story


def test_the_stories_reach_detectors_of_every_family() -> None:
    """The test is worth something only if the detectors it clears would have looked at the stories."""
    from warden.detectors import REGISTRY
    from warden.models import Family

    seen: set[Family] = set()
    for name in STORIES.values():
        for event in json.loads((EVENTS / "sequences" / f"{name}.json").read_text()):
            detail = event["detail"]
            pair = (detail.get("eventSource"), detail.get("eventName"))
            seen |= {d.family for d in REGISTRY if pair in d.consumes or (pair[0], "*") in d.consumes}
    assert seen == set(Family)
