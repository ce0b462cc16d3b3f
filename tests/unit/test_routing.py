"""The response routing table, protected-principal patterns, and the gates every playbook definition carries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scripts.asl_gates import GATE_STATES, apply, dumps
from tests.conftest import ROOT
from tests.fakes import service as make_service
from warden.config import DetectorConfig, ResponseConfig
from warden.errors import ConfigurationError
from warden.models import Finding, Severity
from warden.principals import protected_match
from warden.routing import RouteError, parse_routes, playbook_for, resolve_mode, route_for
from warden_local.template import load_template

ROUTES = "policy-change/CRITICAL=revert-policy-change:auto,cross-account/*=approve,*/LOW=notify-only,*/HIGH+=approve"


def test_entries_read_as_written() -> None:
    table = parse_routes(ROUTES)
    assert [str(route) for route in table] == ROUTES.split(",")
    assert table[0].playbook == "revert-policy-change" and table[0].mode == "auto"
    assert table[1].playbook is None and table[1].mode == "approve"
    assert table[2].playbook == "notify-only" and table[2].mode is None


@pytest.mark.parametrize(
    ("family", "severity", "entry"),
    [("policy-change", "CRITICAL", 0), ("policy-change", "HIGH", 3), ("cross-account", "LOW", 1),
     ("bedrock-usage", "LOW", 2), ("bedrock-usage", "MEDIUM", None), ("bedrock-usage", "CRITICAL", 3)],
)  # fmt: skip
def test_the_first_matching_entry_wins(family: str, severity: str, entry: int | None) -> None:
    table = parse_routes(ROUTES)
    assert route_for(table, family, severity) == (None if entry is None else table[entry])


@pytest.mark.parametrize(
    "entry",
    ["policy-change=auto", "policy-change/HUGE=auto", "*/HIGH=notify-only:sometimes", "*/HIGH=", "/HIGH=auto",
     "*/HIGH++=auto", "*/HIGH=bad playbook:auto"],
)  # fmt: skip
def test_a_malformed_entry_is_named_in_the_error(entry: str) -> None:
    with pytest.raises(RouteError, match=re.escape(repr(entry.strip()))):
        parse_routes(f"*/LOW=dry-run,{entry}")


def test_a_bad_table_stops_the_function_at_its_edge_with_the_variable_named() -> None:
    with pytest.raises(ConfigurationError, match="WARDEN_RESPONSE_ROUTES"):
        ResponseConfig.from_environ({"WARDEN_ACCOUNT_ID": "123456789012", "WARDEN_RESPONSE_ROUTES": "*/HUGE=auto"})


def test_the_playbook_comes_from_the_first_entry_that_names_one() -> None:
    table = parse_routes("*/CRITICAL=approve,*/CRITICAL=notify-only")
    assert playbook_for(table, "bedrock-usage", "CRITICAL", "contain-access-key") == "notify-only"
    assert playbook_for(table, "bedrock-usage", "HIGH", "contain-access-key") == "contain-access-key"


@pytest.mark.parametrize(
    ("requested", "routes", "default", "severity", "expected"),
    [(None, "", "auto", "HIGH", "auto"), (None, "", "auto", "MEDIUM", "dry-run"),
     (None, "", "approve", "HIGH", "approve"), (None, "", "dry-run", "CRITICAL", "dry-run"),
     (None, "", "bogus", "CRITICAL", "dry-run"),
     (None, "*/MEDIUM=auto", "dry-run", "MEDIUM", "auto"), ("approve", "*/*=auto", "auto", "HIGH", "approve"),
     ("bogus", "", "auto", "HIGH", "auto")],
)  # fmt: skip
def test_the_mode_is_the_persons_then_the_tables_then_the_default(
    requested: str | None, routes: str, default: str, severity: str, expected: str
) -> None:
    mode, why = resolve_mode(
        parse_routes(routes), "bedrock-usage", severity, default_mode=default, auto_min_severity=Severity.HIGH,
        requested=requested,
    )  # fmt: skip
    assert mode == expected
    assert why


def test_a_routed_finding_is_resealed_with_the_playbook_that_answers_it() -> None:
    sample = json.loads((ROOT / "events/findings/contain_access_key__llmjacking.json").read_text())
    finding = Finding.model_validate(sample)
    service = make_service()
    service.routes = parse_routes(f"{finding.family}/*=notify-only")

    routed = service._routed(finding)

    assert routed.playbook == "notify-only"
    assert routed.details["recommended_playbook"] == "contain-access-key"
    assert routed.id == routed.content_id() != finding.id
    assert service._routed(finding) == routed, "the same on every retry, so an outbox republish keeps its id"
    service.routes = parse_routes("policy-change/*=notify-only")
    assert service._routed(finding) is finding


def test_detector_functions_read_the_same_table() -> None:
    config = DetectorConfig.from_environ(
        {
            "WARDEN_STATE_TABLE": "t",
            "WARDEN_FINDINGS_BUS": "b",
            "WARDEN_DEAD_LETTER_QUEUE_URL": "q",
            "AWS_REGION": "us-east-1",
            "WARDEN_RESPONSE_ROUTES": "*/LOW=notify-only",
        }
    )
    assert [str(route) for route in config.routes] == ["*/LOW=notify-only"]


@pytest.mark.parametrize(
    ("arn", "entry"),
    [("arn:aws:iam::111122223333:role/BreakGlassAdmin", "arn:aws:iam::*:role/BreakGlass*"),
     ("arn:aws:sts::111122223333:assumed-role/breakglass-ops/alice", "arn:aws:iam::*:role/BreakGlass*"),
     ("arn:aws:iam::111122223333:role/ops/BreakGlass", "arn:aws:iam::*:role/BreakGlass*"),
     ("arn:aws:iam::111122223333:user/admin-7", "arn:aws:iam::111122223333:user/admin-?"),
     ("arn:aws:iam::111122223333:role/prod", None), ("arn:aws:iam::111122223333:user/BreakGlass1", None),
     ("arn:aws:iam::111122223333:user/admin-77", None)],
)  # fmt: skip
def test_protected_patterns_match_as_iam_identifies_principals(arn: str, entry: str | None) -> None:
    protected = ("arn:aws:iam::*:role/BreakGlass*", "arn:aws:iam::111122223333:user/admin-?")
    assert protected_match(arn, protected) == entry


def test_the_template_accepts_protected_patterns() -> None:
    pattern = load_template(ROOT / "template.yaml")["Parameters"]["ProtectedPrincipals"]["AllowedPattern"]
    assert re.fullmatch(pattern, "arn:aws:iam::*:role/BreakGlass*,arn:aws:iam::111122223333:user/admin-?")
    assert not re.fullmatch(pattern, "arn:aws:iam::*:role/Break Glass")


def _playbooks() -> list[Path]:
    return [
        p for p in sorted((ROOT / "statemachines").glob("*.asl.json")) if "Act" in json.loads(p.read_text())["States"]
    ]


@pytest.mark.parametrize("path", _playbooks(), ids=lambda p: p.stem)
def test_every_acting_playbook_carries_the_current_gates(path: Path) -> None:
    text = path.read_text()
    assert dumps(apply(json.loads(text))) == text, f"run: python scripts/asl_gates.py {path.relative_to(ROOT)}"
    states = json.loads(text)["States"]
    assert set(GATE_STATES) <= set(states)
    assert states["AwaitApproval"]["Resource"].endswith("sns:publish.waitForTaskToken")
    assert "States.Timeout" not in json.dumps(states["AwaitApproval"]["Retry"]), "an unanswered request is not retried"


def test_at_least_the_three_acting_playbooks_are_gated() -> None:
    names = {p.stem for p in _playbooks()}
    assert {"contain_access_key.asl", "revoke_role_sessions.asl", "restore_invocation_logging.asl"} <= names
