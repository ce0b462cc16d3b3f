"""Each demo scenario (events/scenarios/) tells its story to the detectors, in memory, and gets what it expects.

The local stack runs the same scenarios end to end (tests/e2e/test_scenarios.py); here the detection
service runs every registered detector on them with the settings the local stack deploys with, so that a
scenario and the detectors are checked against each other in a second.
"""

from __future__ import annotations

import json

import pytest

from tests.fakes import service
from warden.detectors import REGISTRY
from warden.models import Family, Severity
from warden.settings import Settings
from warden_local.emulator import ACCOUNT_ID
from warden_local.readers import EVENT, read_events
from warden_local.run import LOCAL_INVOCATION_LOG_BUCKET, judge, load_scenario, scenario_names

LOCAL = Settings(account_id=ACCOUNT_ID, invocation_log_bucket=LOCAL_INVOCATION_LOG_BUCKET)
"""What the detector function of the local stack is configured with by default."""


def _settings(parameters: dict[str, str]) -> Settings:
    """The local settings with the scenario's detection parameters (those the scenarios use)."""
    trusted = frozenset(a for a in parameters.get("TrustedAccounts", "").split(",") if a)
    return LOCAL.model_copy(update={"trusted_accounts": trusted, "organization_id": parameters.get("OrganizationId")})


@pytest.mark.parametrize("name", scenario_names())
def test_every_scenario_reads_cleanly_and_expects_registered_detectors(name: str) -> None:
    scenario = load_scenario(name)

    read = read_events([scenario.events])

    assert read.errors == [] and read.items, name
    assert scenario.description and scenario.expected_findings, "a scenario says what it expects"
    assert scenario.contain == bool(scenario.attacker_keys), "containment is asked for with the keys to contain"
    for want in scenario.expected_findings:
        assert want.detector in REGISTRY.names(), f"{name}: {want.detector} is not a registered detector"
        assert REGISTRY[want.detector].family == Family(want.family)
        assert want.severity is None or want.severity in Severity.__members__
        assert want.principal.startswith("arn:aws:"), want.principal
    ids = [i.value.get("id") or i.value.get("requestId") for i in read.items]
    assert len(ids) == len(set(ids)), "unique event ids and request ids"


@pytest.mark.parametrize("name", scenario_names())
def test_every_scenario_raises_what_it_expects_and_nothing_else_above_low(name: str) -> None:
    scenario = load_scenario(name)
    read = read_events([scenario.events])
    svc = service(family=None, settings=_settings(scenario.parameters))

    for item in read.items:
        if item.kind == EVENT:
            svc.handle(item.value)
        else:
            svc.handle_invocation_log(item.value, origin=item.origin)

    findings = [f.to_json_dict() for f in svc.publisher.published]  # type: ignore[attr-defined]
    judged = judge(scenario.expected_findings or [], findings)
    missing = [(j["detector"], j["principal"], j["severities_seen"]) for j in judged["findings"] if not j["raised"]]
    assert missing == [], f"{name}: expected findings not raised"
    assert judged["unexpected"] == [], f"{name}: unexpected findings above LOW"
    assert svc.dead_letters.kept == [], f"{name}: every record valid for the detectors"  # type: ignore[attr-defined]


def test_the_secret_pasted_in_a_prompt_is_in_no_finding() -> None:
    read = read_events([load_scenario("invocation-logs").events])
    svc = service(family=None, settings=LOCAL)
    pasted = "XxQPplH8ACyjkz4jmBQlm7knI4pShZFC8ZrXbeg+"  # the secret access key of the scenario
    assert any(pasted in json.dumps(i.value) for i in read.items), "the scenario does paste it"

    for item in read.items:
        svc.handle_invocation_log(item.value, origin=item.origin)

    published = json.dumps([f.to_json_dict() for f in svc.publisher.published])  # type: ignore[attr-defined]
    assert "bedrock-secret-in-text" in published
    assert pasted not in published and "AKIAQUMPMHS6PJARB7LM" not in published


@pytest.mark.parametrize("name", ["trust-backdoor", "admin-attached"])
def test_a_revert_scenario_seeds_the_state_the_attacker_left(name: str) -> None:
    scenario = load_scenario(name)

    setup = scenario.iam_setup
    roles = {r["name"]: r for r in setup["roles"]}

    assert set(roles) == set(scenario.roles), "role objects are seeded by name and shaped by iam_setup"
    created = {f"arn:aws:iam::{ACCOUNT_ID}:policy/{p['name']}" for p in setup["policies"]}
    attached = {arn for r in roles.values() for arn in r.get("managed_policies", [])}
    assert attached <= created, "the emulator loads no AWS managed policies: attach only what the scenario creates"
    checks = scenario.aws_state["contained"]
    assert checks and all({"role_trust_policy", "attached_policies"} & set(c) for c in checks)
