"""bedrock-first-use and bedrock-call-surge: learned per-principal baselines.

The sample sequences in events/sequences/ run through the detection service with the default
settings (a week of warm-up, 20 calls); longer stories (weeks of a steady workload) are built here
and fed to the detector functions directly, which is what the service does minus storage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS, load_json
from tests.fakes import MemoryStateStore, run, service
from warden.detectors import REGISTRY
from warden.detectors import baselines as rule
from warden.detectors._bedrock import MANTLE, baseline_key, model_family
from warden.models import CloudTrailEvent, CloudTrailRecord, Family, Finding, Severity
from warden.settings import DEFAULT_SETTINGS, Settings

SEQUENCES = EVENTS / "sequences"
FIRST_USE_POSITIVE = sorted(SEQUENCES.glob("bedrock-first-use__positive__*.json"))
SURGE_POSITIVE = sorted(SEQUENCES.glob("bedrock-call-surge__positive__*.json"))
NEGATIVE = sorted(SEQUENCES.glob("bedrock-first-use__negative__*.json")) + sorted(
    SEQUENCES.glob("bedrock-call-surge__negative__*.json")
)
RAG_ROLE = "arn:aws:iam::123456789012:role/rag-api-task"
CHATBOT = "arn:aws:iam::123456789012:user/chatbot-prod"
API_KEY_USER = "arn:aws:iam::123456789012:user/BedrockAPIKey-q7k2"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
OPUS = "anthropic.claude-3-opus-20240229-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BOTH = [rule.FIRST_USE, rule.SURGE]

FIRST_USE_EXPECTED: dict[str, tuple[Severity, str | None, str, dict[str, str]]] = {
    "new_model_network_and_client": (
        Severity.HIGH,
        "revoke-role-sessions",
        RAG_ROLE,
        {"model": OPUS, "network": "203.0.113.0/24", "user_agent": "python-requests"},
    ),
    "new_model_from_new_network": (
        Severity.MEDIUM,
        "contain-access-key",
        CHATBOT,
        {"model": SONNET, "network": "198.51.100.0/24"},
    ),
    "api_key_in_new_region": (Severity.LOW, "contain-bedrock-api-key", API_KEY_USER, {"region": "us-west-2"}),
}
SURGE_EXPECTED: dict[str, tuple[Severity, str, str, str]] = {
    "20x_on_a_new_model": (Severity.HIGH, "revoke-role-sessions", RAG_ROLE, OPUS),
    "same_model_20x": (Severity.MEDIUM, "contain-access-key", CHATBOT, HAIKU),
}


def _story(path: Path) -> str:
    return path.stem.split("__")[-1]


def test_there_are_positive_and_negative_samples_for_both_detectors() -> None:
    assert {_story(p) for p in FIRST_USE_POSITIVE} == set(FIRST_USE_EXPECTED)
    assert {_story(p) for p in SURGE_POSITIVE} == set(SURGE_EXPECTED)
    assert {p.stem.split("__")[0] for p in NEGATIVE} == set(BOTH)


@pytest.mark.parametrize("path", FIRST_USE_POSITIVE, ids=_story)
def test_first_use_positive_sample_raises_one_finding_of_the_expected_severity(path: Path) -> None:
    severity, playbook, baseline, new = FIRST_USE_EXPECTED[_story(path)]
    events = json.loads(path.read_text())
    last = events[-1]["detail"]

    (finding,) = run(events, service(detectors=[rule.FIRST_USE]))

    assert finding.detector == "bedrock-first-use"
    assert finding.family is Family.BEDROCK_USAGE
    assert finding.severity is severity
    assert finding.principal == last["userIdentity"]["arn"], "the actor: the caller's own ARN"
    assert finding.access_key_id == last["userIdentity"].get("accessKeyId")
    assert finding.playbook == playbook
    assert finding.evidence == (last["eventID"],)
    assert finding.details["baseline"] == baseline
    assert finding.details["new"] == new


@pytest.mark.parametrize("path", SURGE_POSITIVE, ids=_story)
def test_surge_positive_sample_raises_one_finding_when_the_hour_crosses_the_threshold(path: Path) -> None:
    severity, playbook, baseline, model = SURGE_EXPECTED[_story(path)]
    events = json.loads(path.read_text())

    (finding,) = run(events, service(detectors=[rule.SURGE]))

    assert finding.detector == "bedrock-call-surge"
    assert finding.family is Family.BEDROCK_USAGE
    assert finding.severity is severity
    assert finding.playbook == playbook
    assert finding.details["baseline"] == baseline
    assert finding.details["model"] == model
    assert finding.details["new_model"] is (severity is Severity.HIGH)
    assert finding.details["calls_this_hour"] == rule.MIN_SURGE_CALLS, "fires on the call that reaches the floor"
    assert finding.details["baseline_calls_per_hour"] <= 3
    trigger = next(e["detail"] for e in events if e["detail"]["eventID"] == finding.evidence[-1])
    assert finding.principal == trigger["userIdentity"]["arn"]
    assert len(finding.evidence) == rule.MAX_SAMPLE + 1
    assert finding.first_seen < finding.last_seen


@pytest.mark.parametrize("path", NEGATIVE, ids=lambda p: p.stem)
def test_negative_sample_raises_nothing(path: Path) -> None:
    assert run(json.loads(path.read_text()), service(detectors=BOTH)) == []


def test_the_attack_sample_also_raises_the_first_use_of_the_new_model_but_nothing_else() -> None:
    events = load_json("sequences/bedrock-call-surge__positive__20x_on_a_new_model.json")

    findings = run(events, service(detectors=BOTH))

    assert sorted((f.detector, f.severity) for f in findings) == [
        ("bedrock-call-surge", Severity.HIGH),
        ("bedrock-first-use", Severity.LOW),
    ]


def test_detectors_are_registered_as_learned_baselines_of_both_endpoints() -> None:
    for name in BOTH:
        item = REGISTRY[name]
        assert item.family is Family.BEDROCK_USAGE
        assert item.retention == timedelta(days=30)
        assert ("bedrock.amazonaws.com", "InvokeModel") in item.consumes
        assert (MANTLE, "CreateInference") in item.consumes
        assert item.shrink is not None
    assert "contain-bedrock-api-key" in (rule.__doc__ or "")


# ---------------------------------------------------------------------------------------------
# Building stories
# ---------------------------------------------------------------------------------------------

_TEMPLATE = CloudTrailEvent.model_validate(load_json("cloudtrail/bedrock__Converse__app_role.json")).detail
_START = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _call(
    at: datetime,
    event_id: str,
    *,
    model: str = HAIKU,
    ip: str = "10.20.8.41",
    agent: str | None = None,
    region: str = "us-east-1",
    error: str | None = None,
    template: CloudTrailRecord = _TEMPLATE,
) -> CloudTrailRecord:
    """A Converse call of the RAG service's role (a session of rag-api-task), with what a test changes."""
    return template.model_copy(
        update={
            "event_time": at,
            "event_id": event_id,
            "request_parameters": {"modelId": model},
            "source_ip_address": ip,
            "user_agent": agent or template.user_agent,
            "aws_region": region,
            "error_code": error,
        }
    )


def _first_use(
    records: Iterable[CloudTrailRecord], settings: Settings = DEFAULT_SETTINGS
) -> tuple[list[Finding], rule.Profile]:
    state, findings = rule.Profile(), list[Finding]()
    for record in records:
        outcome = rule.bedrock_first_use(record, state, settings)
        findings += outcome.findings
        state = outcome.state or state
    return findings, state


def _surge(
    records: Iterable[CloudTrailRecord], settings: Settings = DEFAULT_SETTINGS
) -> tuple[list[Finding], rule.Usage]:
    state, findings = rule.Usage(), list[Finding]()
    for record in records:
        outcome = rule.bedrock_call_surge(record, state, settings)
        findings += outcome.findings
        state = outcome.state or state
    return findings, state


def _continue(
    state: rule.Usage, records: Iterable[CloudTrailRecord], settings: Settings = DEFAULT_SETTINGS
) -> tuple[list[Finding], rule.Usage]:
    findings: list[Finding] = []
    for record in records:
        outcome = rule.bedrock_call_surge(record, state, settings)
        findings += outcome.findings
        state = outcome.state or state
    return findings, state


def _hour(start: datetime, calls: int, tag: str, **kwargs: Any) -> Iterator[CloudTrailRecord]:
    """``calls`` calls spread evenly over the clock hour that starts at ``start``."""
    for n in range(calls):
        yield _call(start + timedelta(seconds=n * 3600 // max(calls, 1)), f"{tag}-{n}", **kwargs)


def _steady(days: int, per_hour: int, tag: str = "steady", **kwargs: Any) -> Iterator[CloudTrailRecord]:
    """An application at ``per_hour`` calls every hour of the day, for ``days`` days."""
    for hour in range(days * 24):
        yield from _hour(_START + timedelta(hours=hour), per_hour, f"{tag}-{hour}", **kwargs)


# ---------------------------------------------------------------------------------------------
# bedrock-first-use
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        ("Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#6.1.0 lang/python#3.10.12 Botocore/1.34.34", "boto3"),
        ("Boto3/1.36.2 md/Botocore#1.36.2 ua/2.0 os/linux#6.8.0 lang/python#3.13.1 Botocore/1.36.2", "boto3"),
        (
            "aws-cli/2.15.0 Python/3.11.6 Linux/5.15.0 exe/x86_64.ubuntu.22 command/bedrock-runtime.invoke-model",
            "aws-cli",
        ),
        ("OpenAI/Python 1.50.0", "openai"),
        ("stratus-red-team_e0cb7ef1-0d48-463f-8988-277de94752b6", "stratus-red-team"),
        ("aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux api/bedrockruntime#1.16.0", "aws-sdk-go"),
        ("[python-requests/2.32.3]", "python-requests"),
        ("AWS Internal", "aws"),
        ("", None),
        (None, None),
    ],
)
def test_a_user_agent_is_reduced_to_its_client_family(agent: str | None, family: str | None) -> None:
    assert rule.client_of(agent) == family


@pytest.mark.parametrize(
    ("source", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("035.249.253.232", "35.249.253.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("bedrock.amazonaws.com", "bedrock.amazonaws.com"),
        ("AWS Internal", "aws internal"),
        (None, None),
    ],
)
def test_a_source_address_is_reduced_to_its_network(source: str | None, network: str | None) -> None:
    assert rule.network_of(source) == network


@pytest.mark.parametrize(
    "model",
    [
        HAIKU,
        f"us.{HAIKU}",
        f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}",
        f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.{HAIKU}",
        HAIKU.upper(),
    ],
)
def test_a_model_id_arn_or_inference_profile_is_one_model(model: str) -> None:
    assert model_family(model) == HAIKU


def _warm_profile(days: int = 8, per_day: int = 3) -> list[CloudTrailRecord]:
    return [
        _call(_START + timedelta(days=d, minutes=10 * n), f"warm-{d}-{n}", ip=f"10.20.8.{40 + n}")
        for d in range(days)
        for n in range(per_day)
    ]


def test_a_new_value_alerts_once_and_is_then_known() -> None:
    later = _START + timedelta(days=9)
    attack = [_call(later + timedelta(minutes=n), f"attack-{n}", model=OPUS, ip="203.0.113.77") for n in range(5)]

    findings, state = _first_use([*_warm_profile(), *attack])

    (finding,) = findings
    assert finding.severity is Severity.MEDIUM
    assert finding.details["new"] == {"model": OPUS, "network": "203.0.113.0/24"}
    assert OPUS in state.values["model"]


def test_warm_up_needs_both_its_time_and_its_calls() -> None:
    new_model = _call(_START + timedelta(days=9), "new", model=OPUS)
    few_calls = _warm_profile(days=8, per_day=2)[:10]
    one_busy_day = [_call(_START + timedelta(minutes=n), f"busy-{n}") for n in range(200)]
    new_model_next_day = _call(_START + timedelta(days=1), "new-next-day", model=OPUS)

    assert _first_use([*few_calls, new_model])[0] == []
    assert _first_use([*one_busy_day, new_model_next_day])[0] == []
    assert len(_first_use([*_warm_profile(), new_model])[0]) == 1


def test_a_short_warm_up_setting_shortens_the_learning() -> None:
    quick = Settings(baseline_warmup=timedelta(hours=1), baseline_min_events=5)
    history = [_call(_START + timedelta(minutes=15 * n), f"h-{n}") for n in range(6)]
    new_model = _call(_START + timedelta(hours=2), "new", model=OPUS)

    (finding,) = _first_use([*history, new_model], quick)[0]
    assert finding.details["new"] == {"model": OPUS}
    assert finding.severity is Severity.LOW
    assert _first_use([*history, new_model])[0] == [], "the default week of warm-up has not passed"


def test_a_value_unused_for_the_retention_is_forgotten_and_new_again() -> None:
    history = _warm_profile()
    used_once = _call(_START + timedelta(days=8, hours=1), "opus-once", model=OPUS)
    steady = [_call(_START + timedelta(days=9 + d), f"later-{d}") for d in range(35)]
    again = _call(_START + timedelta(days=45), "opus-again", model=OPUS)

    findings, _ = _first_use([*history, used_once, *steady, again])

    assert [f.evidence for f in findings] == [("opus-once",), ("opus-again",)]


def test_redelivered_calls_are_counted_once_during_warm_up() -> None:
    calls = _warm_profile(days=1)
    _, state = _first_use([*calls, *calls, *calls])
    assert state.calls == len(calls)


def test_a_roles_sessions_share_one_baseline_and_the_finding_names_the_session() -> None:
    events = load_json("sequences/bedrock-first-use__positive__new_model_network_and_client.json")
    svc = service(detectors=[rule.FIRST_USE])

    (finding,) = run(events, svc)

    assert isinstance(svc.state, MemoryStateStore)
    keys = {key for (namespace, key) in svc.state.items if namespace == rule.FIRST_USE}
    assert keys == {RAG_ROLE}
    sessions = {e["detail"]["userIdentity"]["arn"] for e in events}
    assert len(sessions) == 9 and finding.principal in sessions
    assert finding.details["session_issuer"] == RAG_ROLE
    assert finding.details["credential_type"] == "temporary-session"


def test_an_iam_users_baseline_is_keyed_by_its_own_arn() -> None:
    record = CloudTrailEvent.model_validate(load_json("cloudtrail/bedrock__InvokeModel__stolen_key.json")).detail
    assert baseline_key(record) == "arn:aws:iam::123456789012:user/ml-batch-svc"
    assert baseline_key(_TEMPLATE) == RAG_ROLE


def test_a_steady_workload_writes_its_baseline_about_once_an_hour_not_once_a_call() -> None:
    events = load_json("sequences/bedrock-first-use__negative__sdk_upgrade_same_subnet_inference_profile.json")
    busy = json.loads(json.dumps(events[-1]))
    svc = service(detectors=[rule.FIRST_USE])
    run(events, svc)
    assert isinstance(svc.state, MemoryStateStore)
    saves = svc.state.saves

    for n in range(40):
        busy["detail"]["eventID"] = busy["id"] = f"busy-{n:02d}-0000-0000-0000-000000000000"
        busy["detail"]["eventTime"] = f"2026-11-10T14:{10 + n:02d}:00Z"
        svc.handle(busy)

    assert svc.state.saves == saves, "nothing new: every value was already used this hour"


def test_denied_calls_teach_nothing() -> None:
    denied = [_call(_START + timedelta(minutes=n), f"denied-{n}", error="AccessDeniedException") for n in range(30)]
    assert rule.bedrock_first_use(denied[0], rule.Profile(), DEFAULT_SETTINGS).state is None
    assert _first_use(denied)[1] == rule.Profile()


def test_each_dimension_keeps_at_most_its_cap_and_shrinking_halves_it() -> None:
    roaming = [
        _call(_START + timedelta(hours=n), f"roam-{n}", ip=f"198.{n // 250}.{n % 250}.9", agent=f"tool{n}/1.0")
        for n in range(300)
    ]

    findings, state = _first_use(roaming)

    assert len(state.values["network"]) == rule.MAX_VALUES
    assert "198.1.49.0/24" in state.values["network"], "the newest are kept"
    assert len(state.values["user_agent"]) == rule.MAX_VALUES
    assert len(findings) == 300 - 24 * 7, "after the week of warm-up every call is from a new network"
    shrunk = rule.shrink_profile(state)
    assert len(shrunk.values["network"]) == rule.MAX_VALUES // 2
    assert shrunk.values["model"] == state.values["model"]
    assert REGISTRY[rule.FIRST_USE].shrink is rule.shrink_profile


def test_the_high_case_needs_model_network_and_client_new_together() -> None:
    later = _START + timedelta(days=9)
    region_network_client = _call(later, "rnc", ip="203.0.113.7", agent="curl/8.5.0", region="eu-west-3")
    model_network_client = _call(later, "mnc", model=OPUS, ip="203.0.113.7", agent="curl/8.5.0")

    (medium,) = _first_use([*_warm_profile(), region_network_client])[0]
    (high,) = _first_use([*_warm_profile(), model_network_client])[0]

    assert medium.severity is Severity.MEDIUM
    assert set(medium.details["new"]) == {"region", "network", "user_agent"}
    assert high.severity is Severity.HIGH


def test_no_prompt_or_request_body_reaches_the_state_or_the_finding() -> None:
    record = _call(_START + timedelta(days=9), "secret", model=OPUS, ip="203.0.113.7").model_copy(
        update={"request_parameters": {"modelId": OPUS, "messages": "MY-SECRET-PROMPT"}}
    )
    findings, state = _first_use([*_warm_profile(), record])
    assert "MY-SECRET-PROMPT" not in state.model_dump_json() + json.dumps([f.to_json_dict() for f in findings])


# ---------------------------------------------------------------------------------------------
# bedrock-call-surge
# ---------------------------------------------------------------------------------------------


def test_a_steady_application_never_fires_and_the_same_application_at_20x_on_a_new_model_does() -> None:
    quiet, state = _surge(_steady(days=9, per_hour=12))
    surge, _ = _continue(state, _hour(_START + timedelta(days=9), 240, "surge", model=OPUS))

    assert quiet == []
    (finding,) = surge
    assert finding.severity is Severity.HIGH
    assert finding.details["new_model"] is True
    assert finding.details["baseline_calls_per_hour"] == pytest.approx(12, abs=1)
    assert finding.details["calls_this_hour"] > 10 * 12


def test_the_same_model_at_20x_fires_medium_and_a_busier_but_normal_hour_does_not() -> None:
    _, state = _surge(_steady(days=8, per_hour=10))
    day9 = _START + timedelta(days=8)

    busier, _ = _continue(state, _hour(day9, 60, "busier"))
    surge, _ = _continue(state, _hour(day9, 200, "surge"))

    assert busier == []
    (finding,) = surge
    assert finding.severity is Severity.MEDIUM
    assert finding.details["model"] == HAIKU
    assert finding.details["baseline_calls_per_hour"] == 10
    assert 100 < finding.details["calls_this_hour"] <= 100 + 8, "the first counted call above ten times the baseline"


def test_a_daily_batch_job_is_its_own_normal() -> None:
    records: list[CloudTrailRecord] = []
    for day in range(14):
        records += _hour(_START + timedelta(days=day), 600, f"batch-{day}", model=SONNET)
        records += _hour(_START + timedelta(days=day, hours=5), 5, f"chat-{day}")
    assert _surge(records)[0] == []


def test_moving_an_application_to_a_new_model_at_the_same_volume_stays_quiet() -> None:
    _, state = _surge(_steady(days=8, per_hour=40))
    migrated = _START + timedelta(days=8)

    findings, _ = _continue(
        state, (r for h in range(6) for r in _hour(migrated + timedelta(hours=h), 45, f"m{h}", model=SONNET))
    )

    assert findings == []


def test_a_sustained_surge_is_one_finding_because_its_hour_is_learned() -> None:
    _, state = _surge(_steady(days=8, per_hour=5))
    start = _START + timedelta(days=8)

    findings, _ = _continue(
        state, (r for h in range(8) for r in _hour(start + timedelta(hours=h), 120, f"s{h}", model=OPUS))
    )

    assert len(findings) == 1


def test_a_new_principal_is_never_a_surge_during_its_warm_up() -> None:
    findings, state = _surge(_hour(_START, 2000, "launch", model=OPUS))
    assert findings == []
    assert state.calls == pytest.approx(2000, rel=0.2)


def test_busy_hours_are_counted_by_a_deterministic_sample() -> None:
    records = list(_hour(_START, 3000, "busy"))

    _, first = _surge(records)
    _, again = _surge(records)

    (count,) = first.models[HAIKU].open
    assert count.calls == pytest.approx(3000, rel=0.2)
    assert first == again
    written = sum(1 for r in records if rule.bedrock_call_surge(r, first, DEFAULT_SETTINGS).state is not None)
    assert written < 3000 / 10, "most calls of a busy hour leave the state alone"


def test_a_busy_hour_costs_few_state_writes_through_the_service() -> None:
    events = load_json("sequences/bedrock-call-surge__negative__steady_application_busier_day.json")
    template = events[-1]
    svc = service(detectors=[rule.SURGE])
    for n in range(1500):
        event = json.loads(json.dumps(template))
        event["id"] = event["detail"]["eventID"] = f"{n:08d}-aaaa-4bbb-8ccc-dddddddddddd"
        event["detail"]["eventTime"] = f"2026-11-10T17:{n // 25:02d}:{(n % 25) * 2:02d}Z"
        svc.handle(event)

    assert isinstance(svc.state, MemoryStateStore)
    assert svc.state.saves < 250


def test_redelivered_calls_are_not_counted_twice() -> None:
    records = list(_hour(_START, 40, "r"))
    _, once = _surge(records)
    _, replayed = _continue(once, records[-rule.MAX_RECENT :])
    assert replayed == once


def test_late_calls_count_in_their_own_hour_and_too_late_ones_are_ignored() -> None:
    _, state = _surge(_hour(_START + timedelta(hours=3), 10, "now"))

    late = rule.bedrock_call_surge(_call(_START + timedelta(hours=1), "late"), state, DEFAULT_SETTINGS)
    too_late = rule.bedrock_call_surge(_call(_START - timedelta(hours=4), "too-late"), state, DEFAULT_SETTINGS)

    assert late.state is not None
    assert [(c.hour.hour, c.calls) for c in late.state.models[HAIKU].open] == [(11, 1), (13, 10)]
    assert too_late.state is None


def test_old_hours_are_folded_into_a_decaying_peak() -> None:
    _, state = _surge([*_hour(_START, 30, "a"), *_hour(_START + timedelta(days=7), 2, "b")])

    rate = state.models[HAIKU]
    assert rate.peak == 30
    assert rate.folded == 1
    assert rule._own_baseline(rate, _START + timedelta(days=7, hours=1)) == pytest.approx(15, rel=0.01)


def test_models_are_capped_and_shrinking_keeps_the_newest_half() -> None:
    records = [_call(_START + timedelta(minutes=n), f"m-{n}", model=f"vendor.model-{n}") for n in range(50)]

    _, state = _surge(records)

    assert len(state.models) == rule.MAX_MODELS
    assert "vendor.model-49" in state.models and "vendor.model-0" not in state.models
    shrunk = rule.shrink_usage(state)
    assert len(shrunk.models) == rule.MAX_MODELS // 2
    assert all(not c.sample for rate in shrunk.models.values() for c in rate.open)
    assert REGISTRY[rule.SURGE].shrink is rule.shrink_usage


def test_the_stored_state_of_a_busy_principal_stays_within_the_service_budget() -> None:
    records = [
        _call(_START + timedelta(minutes=n), f"big-{n}", model=f"vendor.{'m' * 200}-{n % 40}") for n in range(600)
    ]
    _, state = _surge(records)
    assert len(state.model_dump_json()) < 100_000


@pytest.mark.parametrize(
    "start", [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC) - timedelta(minutes=5)]
)
def test_time_arithmetic_at_the_ends_of_the_calendar_saturates(start: datetime) -> None:
    quick = Settings(baseline_warmup=timedelta(0), baseline_min_events=1)
    records = [
        _call(start + timedelta(seconds=n), f"edge-{n}", model=f"vendor.m{n % 3}", ip=f"1.2.{n}.4") for n in range(120)
    ]

    first_use, _ = _first_use(records, quick)
    surge, _ = _surge(records, quick)

    assert len(first_use) == 119, "every call after the first is from a new network"
    assert surge == []
