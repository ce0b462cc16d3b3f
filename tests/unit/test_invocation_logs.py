"""Detectors over Bedrock model-invocation logs: each sample in events/invocation_logs/ proves a positive or a negative.

Samples are JSON lines as Bedrock writes them to S3 (one record per line, some gzipped); the file name
says which detector it is for. Positives state their expected finding in :data:`EXPECTED`.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import random
import string
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS
from tests.fakes import MemoryDeadLetters, MemoryPublisher, MemoryStateStore, run_invocation_logs, service
from warden.detectors import REGISTRY
from warden.detectors import _text_secrets as secrets
from warden.detectors import invocation_logs as rules
from warden.models import INVOCATION_LOG_SOURCE, Family, Finding, ModelInvocationLog, Severity
from warden.observability import logger
from warden.service import DetectionService
from warden.settings import Settings

SAMPLES = EVENTS / "invocation_logs"
DETECTORS = [d.name for d in REGISTRY.select(record=ModelInvocationLog)]
MINE = (rules.SURGE, rules.INTERVENTIONS, rules.HIGH_CONFIDENCE, rules.WITHOUT_GUARDRAIL, rules.TEXT_LEAK)
POSITIVE = sorted(SAMPLES.glob("*__positive__*.jsonl*"))
NEGATIVE = sorted(SAMPLES.glob("*__negative__*.jsonl*"))

APP_ROLE = "arn:aws:sts::123456789012:assumed-role/support-chat-app/i-0a1b2c3d4e5f60718"
APP_ROLE_BASELINE = "arn:aws:sts::123456789012:assumed-role/support-chat-app"
AGENT_ROLE = "arn:aws:sts::123456789012:assumed-role/ops-agent-runtime/ops-agent-7f3a"
BATCH_USER = "arn:aws:iam::123456789012:user/ml-batch-svc"
DEV_USER = "arn:aws:iam::123456789012:user/dana.dev"
API_KEY_USER = "arn:aws:iam::123456789012:user/BedrockAPIKey-q7xz"
OPUS = "anthropic.claude-3-opus-20240229-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"

EXPECTED: dict[str, dict[str, Any]] = {
    "bedrock-token-surge__positive__app_role_20x_on_new_model": {
        "severity": Severity.HIGH,
        "principal": APP_ROLE,
        "playbook": "revoke-role-sessions",
        "details": {
            "model_id": OPUS,
            "new_model": True,
            "baseline_of": "all models",
            "hour": "2026-11-11T02:00:00+00:00",
            "baseline_principal": APP_ROLE_BASELINE,
        },
    },
    "bedrock-token-surge__positive__known_model_30x": {
        "severity": Severity.MEDIUM,
        "principal": BATCH_USER,
        "playbook": None,
        "details": {
            "model_id": SONNET,
            "new_model": False,
            "baseline_of": "this model",
            "baseline_principal": BATCH_USER,
        },
    },
    "bedrock-guardrail-interventions__positive__jailbreak_burst": {
        "severity": Severity.MEDIUM,
        "principal": APP_ROLE,
        "playbook": "revoke-role-sessions",
        "details": {"interventions": 5, "guardrails": ["h28wrktbwagn"], "highest_confidence": "MEDIUM"},
    },
    "bedrock-guardrail-high-confidence__positive__violence_blocked": {
        "severity": Severity.LOW,
        "principal": BATCH_USER,
        "playbook": None,
        "details": {"guardrail_id": "h28wrktbwagn", "blocked": ["contentPolicy:VIOLENCE"], "operation": "InvokeModel"},
    },
    "bedrock-invocation-without-guardrail__positive__agent_without_guardrail": {
        "severity": Severity.LOW,
        "principal": AGENT_ROLE,
        "playbook": None,
        "details": {"model_id": "amazon.nova-lite-v1:0", "operation": "Converse"},
    },
    "bedrock-secret-in-text__positive__aws_credentials_in_prompt": {
        "severity": Severity.HIGH,
        "principal": DEV_USER,
        "playbook": None,
        "details": {"kinds": ["aws-access-key-pair"], "where": ["prompt"]},
    },
    "bedrock-secret-in-text__positive__private_key_streamed_in_completion": {
        "severity": Severity.HIGH,
        "principal": AGENT_ROLE,
        "playbook": None,
        "details": {"kinds": ["private-key"], "where": ["completion"], "operation": "InvokeModelWithResponseStream"},
    },
    "bedrock-secret-in-text__positive__tokens_in_tool_result": {
        "severity": Severity.MEDIUM,
        "principal": AGENT_ROLE,
        "playbook": None,
        "details": {"kinds": ["github-token", "slack-token"], "where": ["prompt"]},
    },
    "bedrock-secret-in-text__positive__bedrock_api_key_in_prompt": {
        "severity": Severity.MEDIUM,
        "principal": API_KEY_USER,
        "playbook": None,
        "details": {"kinds": ["bedrock-api-key"], "where": ["prompt"]},
    },
}


def _stem(path: Path) -> str:
    return path.name.split(".", 1)[0]


def _detector(path: Path) -> str:
    return path.name.split("__", 1)[0]


def load(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines sample, gzipped or not."""
    data = path.read_bytes()
    text = gzip.decompress(data).decode() if path.name.endswith(".gz") else data.decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _sample(name: str) -> list[dict[str, Any]]:
    (path,) = SAMPLES.glob(f"{name}.jsonl*")
    return load(path)


def _settings(path: Path) -> Settings:
    """The without-guardrail samples run with the setting on, except the one that shows it off."""
    on = _detector(path) == rules.WITHOUT_GUARDRAIL and "setting_off" not in path.name
    return Settings(require_guardrail=on)


def _run(records: list[dict[str, Any]], *names: str, settings: Settings | None = None) -> list[Finding]:
    return run_invocation_logs(records, service(detectors=names or MINE, settings=settings or Settings()))


# ----------------------------------------------------------------------------------------- samples and contract


def test_every_detector_has_positive_and_negative_samples() -> None:
    assert {_detector(p) for p in POSITIVE} == set(MINE)
    assert {_detector(p) for p in NEGATIVE} == set(MINE)
    assert set(EXPECTED) == {_stem(p) for p in POSITIVE}
    assert any(p.name.endswith(".jsonl.gz") for p in POSITIVE + NEGATIVE)


@pytest.mark.parametrize("path", POSITIVE + NEGATIVE, ids=_stem)
def test_samples_are_real_shaped_records_of_the_account_in_november_2026(path: Path) -> None:
    records = load(path)
    ids = [r["requestId"] for r in records]

    assert len(ids) == len(set(ids))
    for raw in records:
        record = ModelInvocationLog.model_validate(raw)
        assert record.account == "123456789012"
        assert (record.event_time.year, record.event_time.month) == (2026, 11)
        assert record.operation in rules.INVOCATIONS


@pytest.mark.parametrize("path", POSITIVE, ids=_stem)
def test_positive_sample_raises_its_expected_finding(path: Path) -> None:
    expected = EXPECTED[_stem(path)]

    findings = _run(load(path), _detector(path), settings=_settings(path))

    assert len(findings) == 1
    (finding,) = findings
    assert finding.detector == _detector(path)
    assert finding.family is Family.BEDROCK_USAGE
    assert finding.severity is expected["severity"]
    assert finding.principal == expected["principal"]
    assert finding.playbook == expected["playbook"]
    assert finding.account == "123456789012"
    assert finding.access_key_id is None
    for key, value in expected["details"].items():
        assert finding.details[key] == value, key


@pytest.mark.parametrize("path", NEGATIVE, ids=_stem)
def test_negative_sample_raises_nothing_from_its_detector_and_nothing_above_low_from_any(path: Path) -> None:
    findings = run_invocation_logs(load(path), service(family=None, settings=_settings(path)))

    assert [f.detector for f in findings if f.detector == _detector(path)] == []
    assert [f.detector for f in findings if f.severity not in {Severity.INFORMATIONAL, Severity.LOW}] == []


@pytest.mark.parametrize("name", MINE)
def test_detector_is_registered_for_invocation_logs_of_the_four_invocation_operations(name: str) -> None:
    registered = REGISTRY[name]

    assert registered.family is Family.BEDROCK_USAGE
    assert registered.record is ModelInvocationLog
    assert registered.consumes == {(INVOCATION_LOG_SOURCE, op) for op in rules.INVOCATIONS}
    assert registered.doc


def test_module_docstring_names_every_detector_and_its_playbooks() -> None:
    doc = rules.__doc__ or ""
    for name in MINE:
        assert name in doc
    assert "revoke-role-sessions" in doc
    assert "contain-bedrock-api-key" in doc


# ----------------------------------------------------------------------------------------- bedrock-token-surge


def test_the_steady_application_fires_nothing_even_at_a_low_sensitivity() -> None:
    records = _sample("bedrock-token-surge__negative__steady_app_two_weeks")

    assert _run(records, rules.SURGE, settings=Settings(baseline_sensitivity=3.0)) == []


def test_surge_evidence_is_the_calls_of_that_model_and_hour() -> None:
    records = _sample("bedrock-token-surge__positive__app_role_20x_on_new_model")
    surge_ids = {r["requestId"] for r in records if r["modelId"] == OPUS}

    (finding,) = _run(records, rules.SURGE)

    assert set(finding.evidence) <= surge_ids
    assert finding.first_seen.isoformat().startswith("2026-11-11T02:")
    assert finding.details["tokens_in_hour"] >= rules.MIN_SURGE_TOKENS
    assert finding.details["tokens_in_hour"] >= 10 * finding.details["baseline_tokens_per_hour"]


@pytest.mark.parametrize(
    "settings",
    [
        Settings(baseline_warmup=timedelta(days=30)),
        Settings(baseline_min_events=100_000),
        Settings(baseline_sensitivity=50.0),
    ],
    ids=["warm-up longer than the history", "fewer events than needed", "sensitivity above the surge"],
)
def test_surge_respects_the_deployers_baseline_settings(settings: Settings) -> None:
    records = _sample("bedrock-token-surge__positive__app_role_20x_on_new_model")

    assert _run(records, rules.SURGE, settings=settings) == []


def test_sessions_of_one_role_learn_one_baseline_and_the_finding_names_the_crossing_session() -> None:
    records = _sample("bedrock-token-surge__positive__app_role_20x_on_new_model")
    for record in records:  # a new session every day, as instance replacement or EKS's hourly sessions give
        day = record["timestamp"][8:10]
        record["identity"]["arn"] = f"{APP_ROLE_BASELINE}/botocore-session-{day}"

    (finding,) = _run(records, rules.SURGE)

    assert finding.principal == f"{APP_ROLE_BASELINE}/botocore-session-11"
    assert finding.details["baseline_principal"] == APP_ROLE_BASELINE
    assert finding.playbook == "revoke-role-sessions"


def test_surge_hour_arriving_in_reverse_order_still_raises_one_finding() -> None:
    records = _sample("bedrock-token-surge__positive__app_role_20x_on_new_model")
    steady = [r for r in records if r["modelId"] != OPUS]
    burn = [r for r in records if r["modelId"] == OPUS]

    findings = _run(steady + list(reversed(burn)), rules.SURGE)

    assert [f.severity for f in findings] == [Severity.HIGH]


def test_redelivered_surge_records_do_not_raise_a_second_finding() -> None:
    records = _sample("bedrock-token-surge__positive__app_role_20x_on_new_model")
    svc = service(detectors=[rules.SURGE])

    run_invocation_logs(records, svc)
    run_invocation_logs(records[-40:], svc)

    assert len(_published(svc)) == 1


def test_a_surge_lasting_hours_fires_each_hour_and_is_never_learned_as_normal() -> None:
    records = _sample("bedrock-token-surge__positive__app_role_20x_on_new_model")
    burn = [r for r in records if r["modelId"] == OPUS]
    next_hours = [
        {
            **r,
            "requestId": f"{r['requestId'][:-4]}h{hour:03d}",
            "timestamp": r["timestamp"].replace("T02:", f"T0{hour}:"),
        }
        for hour in (3, 4)
        for r in burn
    ]
    svc = service(detectors=[rules.SURGE])
    svc.merge_window = timedelta(0)  # every finding the detector makes is published

    run_invocation_logs(records + next_hours, svc)

    fired = _published(svc)
    assert [f.severity for f in fired] == [Severity.HIGH, Severity.MEDIUM, Severity.MEDIUM]
    assert [f.details["hour"][11:13] for f in fired] == ["02", "03", "04"]
    assert len({f.details["baseline_tokens_per_hour"] for f in fired}) == 1  # the surge hours never raised it


def test_surge_state_stays_bounded_over_weeks_and_shrinks_under_budget() -> None:
    records = _sample("bedrock-token-surge__negative__steady_app_two_weeks")
    svc = service(detectors=[rules.SURGE])
    run_invocation_logs(records, svc)

    state = _state(svc, rules.SURGE, APP_ROLE_BASELINE)
    baseline = rules.TokenBaseline.model_validate(state)
    assert len(baseline.hours) <= 49
    assert len(baseline.peaks) <= 2 * 15
    assert len(baseline.seen) == rules.MAX_SEEN
    assert len(json.dumps(state)) < 20_000

    smaller = rules.shrink_baseline(baseline)
    assert len(smaller.model_dump_json()) < len(baseline.model_dump_json()) * 0.75
    assert rules.TokenBaseline.model_validate(smaller.model_dump(mode="json")) == smaller


def test_many_models_and_long_model_ids_stay_within_the_state_budget() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    records = [
        _converse(start + timedelta(minutes=20 * n), DEV_USER, f"custom.{'m' * 300}-{n % 40}", f"many-{n}", 500)
        for n in range(3 * 24 * 8)
    ]
    svc = service(detectors=[rules.SURGE])

    run_invocation_logs(records, svc)

    assert svc.dead_letters.kept == []  # type: ignore[attr-defined]
    state = rules.TokenBaseline.model_validate(_state(svc, rules.SURGE, DEV_USER))
    assert len(state.models) <= rules.MAX_MODELS
    assert all(len(m) <= 256 for m in state.models)


def test_failed_and_empty_invocations_teach_the_baseline_nothing() -> None:
    failed = _converse(datetime(2026, 11, 5, tzinfo=UTC), DEV_USER, OPUS, "failed", 900_000)
    failed["errorCode"] = "ThrottlingException"
    svc = service(detectors=[rules.SURGE])

    run_invocation_logs([failed, _converse(datetime(2026, 11, 5, tzinfo=UTC), DEV_USER, OPUS, "empty", 0)], svc)

    assert svc.state.items == {}  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------- guardrail detectors


def test_burst_evidence_starts_at_the_first_intervention_and_one_alert_covers_the_burst() -> None:
    records = _sample("bedrock-guardrail-interventions__positive__jailbreak_burst")
    later = [{**r, "requestId": r["requestId"][:-3] + "bis", "timestamp": _later(r["timestamp"], 6)} for r in records]

    (finding,) = _run(records + later, rules.INTERVENTIONS)

    assert finding.evidence[0] == records[0]["requestId"]
    assert finding.first_seen.isoformat() == "2026-11-21T22:14:05+00:00"
    assert set(finding.details["blocked"]) >= {"contentPolicy:VIOLENCE", "contentPolicy:PROMPT_ATTACK"}


def test_burst_in_reverse_order_or_redelivered_raises_one_finding() -> None:
    records = _sample("bedrock-guardrail-interventions__positive__jailbreak_burst")
    svc = service(detectors=[rules.INTERVENTIONS])

    run_invocation_logs(list(reversed(records)), svc)
    run_invocation_logs(records, svc)

    assert len(_published(svc)) == 1


def test_four_interventions_in_ten_minutes_are_not_a_burst() -> None:
    records = _sample("bedrock-guardrail-interventions__positive__jailbreak_burst")[:4]

    assert _run(records, rules.INTERVENTIONS) == []


def test_a_new_burst_after_the_alert_closed_raises_a_new_finding() -> None:
    records = _sample("bedrock-guardrail-interventions__positive__jailbreak_burst")
    again = [{**r, "requestId": r["requestId"][:-3] + "new", "timestamp": _later(r["timestamp"], 180)} for r in records]
    svc = service(detectors=[rules.INTERVENTIONS])

    run_invocation_logs(records + again, svc)

    assert len(svc.publisher.published) == 2  # type: ignore[attr-defined]


def test_intervention_state_is_bounded() -> None:
    records = _sample("bedrock-guardrail-interventions__positive__jailbreak_burst")
    flood = [
        {**records[n % 6], "requestId": f"flood-{n}", "timestamp": _later(records[0]["timestamp"], n / 20)}
        for n in range(300)
    ]
    svc = service(detectors=[rules.INTERVENTIONS])

    run_invocation_logs(flood, svc)

    window = rules.InterventionWindow.model_validate(_state(svc, rules.INTERVENTIONS, APP_ROLE))
    assert len(window.interventions) <= rules.MAX_INTERVENTIONS
    assert len(_published(svc)) == 1


def test_a_lone_high_confidence_block_and_a_later_burst_are_both_published() -> None:
    """Separate detectors, so the service's merge never folds the burst into the earlier lone block."""
    lone = _sample("bedrock-guardrail-high-confidence__positive__violence_blocked")
    burst = [  # moved to start three minutes after the lone block, by the same principal
        {**r, "identity": {"arn": BATCH_USER}, "timestamp": _later(r["timestamp"], 15 * 60 + 30)}
        for r in _sample("bedrock-guardrail-interventions__positive__jailbreak_burst")
    ]

    findings = _run(lone + burst, rules.HIGH_CONFIDENCE, rules.INTERVENTIONS)

    assert sorted((f.detector, f.severity) for f in findings) == [
        (rules.HIGH_CONFIDENCE, Severity.LOW),
        (rules.INTERVENTIONS, Severity.MEDIUM),
    ]


def test_without_guardrail_is_silent_when_the_setting_is_off() -> None:
    records = _sample("bedrock-invocation-without-guardrail__positive__agent_without_guardrail")

    assert _run(records, rules.WITHOUT_GUARDRAIL, settings=Settings(require_guardrail=False)) == []


def test_a_bedrock_api_key_user_is_contained_through_its_key() -> None:
    records = _sample("bedrock-guardrail-interventions__positive__jailbreak_burst")
    for record in records:
        record["identity"]["arn"] = API_KEY_USER

    (finding,) = _run(records, rules.INTERVENTIONS)

    assert finding.playbook == "contain-bedrock-api-key"


# ----------------------------------------------------------------------------------------- secret scanning

rng = random.Random(7)
B64 = string.ascii_letters + string.digits + "+/"


def _rand(alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


KEY_ID = "AKIA" + _rand(string.ascii_uppercase + "234567", 16)
SECRET_KEY = _rand(B64, 40)
PEM_BODY = base64.b64encode(rng.randbytes(600)).decode()
T_ID, B_ID = "T" + _rand("ABCDEFGHJK0123456789", 8), "B" + _rand("ABCDEFGHJK0123456789", 10)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (f"aws_access_key_id={KEY_ID}\naws_secret_access_key={SECRET_KEY}", "aws-access-key-pair", SECRET_KEY),
        (f"export AWS_SECRET_ACCESS_KEY='{SECRET_KEY}'", "aws-secret-access-key", SECRET_KEY),
        (f'{{"SecretAccessKey": "{SECRET_KEY}", "SessionToken": "..."}}', "aws-secret-access-key", SECRET_KEY),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\n"
            + "\n".join(PEM_BODY[i : i + 70] for i in range(0, len(PEM_BODY), 70))
            + "\n-----END OPENSSH PRIVATE KEY-----",
            "private-key",
            PEM_BODY,
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB12CD34\n\n"
            + PEM_BODY
            + "\n-----END RSA PRIVATE KEY-----",
            "private-key",
            PEM_BODY,
        ),
        (
            "key ABSK" + base64.b64encode(b"BedrockAPIKey-ab12-at-123456789012:" + rng.randbytes(33)).decode(),
            "bedrock-api-key",
            None,
        ),
        (
            "bedrock-api-key-"
            + base64.b64encode(b"bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz" + rng.randbytes(80)).decode(),
            "bedrock-api-key",
            None,
        ),
        ("token ghp_" + _rand(string.ascii_letters + string.digits, 36), "github-token", None),
        (
            "github_pat_"
            + _rand(string.ascii_letters + string.digits, 22)
            + "_"
            + _rand(string.ascii_letters + string.digits, 59),
            "github-token",
            None,
        ),
        ("glpat-" + _rand(string.ascii_letters + string.digits, 20), "gitlab-token", None),
        (
            "-".join(["xoxp", _rand(string.digits, 11), _rand(string.digits, 11), _rand("0123456789abcdef", 32)]),
            "slack-token",
            None,
        ),
        (
            "https://hooks.slack.com/services/"
            + "/".join([T_ID, B_ID, _rand(string.ascii_letters + string.digits, 24)]),
            "slack-webhook",
            None,
        ),
        ("sk_live_" + _rand(string.ascii_letters + string.digits, 24), "stripe-live-key", None),
        ("AIza" + _rand(string.ascii_letters + string.digits + "_-", 35), "google-api-key", None),
        ("sk-proj-" + _rand(string.ascii_letters + string.digits + "_-", 120), "openai-api-key", None),
        ("sk-ant-api03-" + _rand(string.ascii_letters + string.digits + "_-", 95) + "AA", "anthropic-api-key", None),
        ("hf_" + _rand(string.ascii_letters, 34), "huggingface-token", None),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 and "-" in v else "",
)
def test_scanner_finds_each_kind_and_hashes_the_value(text: str, kind: str, value: str | None) -> None:
    found = list(secrets.scan(f"Could you check this? {text} thanks"))

    assert [m.kind for m in found] == [kind]
    if value is not None:
        assert found[0].sha256 == hashlib.sha256(value.encode()).hexdigest()
    assert found[0].severity is (Severity.HIGH if kind in secrets.HIGH_KINDS else Severity.MEDIUM)


def test_a_secret_under_a_secret_key_field_is_found_without_a_label_in_the_text() -> None:
    (match,) = secrets.scan(SECRET_KEY, "secretAccessKey")

    assert match.kind == "aws-secret-access-key"


def test_the_private_key_digest_is_what_the_documented_command_computes() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(PEM_BODY[i : i + 64] for i in range(0, len(PEM_BODY), 64))
    pem += "\n-----END PRIVATE KEY-----\n"
    # grep -v -- ----- key.pem | tr -d ' \r\n\t' | sha256sum
    expected = hashlib.sha256("".join(line for line in pem.splitlines() if "-----" not in line).encode()).hexdigest()

    (match,) = secrets.scan(pem)

    assert match.sha256 == expected


@pytest.mark.parametrize(
    "text",
    [
        "The AKIA prefix marks a long-term key and ASIA a temporary one.",
        "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        f"user alice used {KEY_ID} (requestID 9f0c1b2a3d4e5f60718293a4b5c6d7e8f9a0b1c2)",
        f"{KEY_ID} and, far away, " + "x" * 300 + f" {SECRET_KEY}",
        "AKIAAAAAAAAAAAAAAAAA with " + "A" * 40,
        "-----BEGIN RSA PRIVATE KEY----- is the PKCS#1 header",
        "-----BEGIN PUBLIC KEY-----\n" + PEM_BODY + "\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\n" + PEM_BODY + "\n-----END CERTIFICATE-----",
        "ghp_" + "x" * 36,
        "xoxb-your-bot-token-here",
        "ABSKQmVkcm9ja0FQSUtleS0...",
        "sk-proj-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    ],
)
def test_near_misses_and_documented_examples_are_not_secrets(text: str) -> None:
    assert list(secrets.scan(text)) == []


ADVERSARIAL = [  # about MAX_TEXT_CHARS each, built to pass the cheap literal tests and make every pattern work
    "AKIA " + "A" * 1_000_000,
    "AKIA" * 250_000,
    ("AKIA" + "B" * 16 + " ") * 40_000,
    "AKIA " + "/" * 1_000_000,
    "PRIVATE KEY " + "-----BEGIN " * 90_000,
    "-----BEGIN A B C PRIVATE KEY-----" * 30_000,
    "-----BEGIN PRIVATE KEY-----" + "A" * 1_000_000,
    "aws_secret_access_key = " * 40_000,
    "SeCrEt" * 160_000,
    ("xoxb-" + "1" * 19 + "-") * 40_000,
    "ABSKQmVkcm9ja0FQSUtleS" + "A" * 1_000_000 + "===",
    "bedrock-api-key-" * 60_000,
    ("sk-ant-api03-" + "-" * 79 + "!") * 10_000,
    "sk-" * 330_000,
    "ghp_" * 250_000,
    "_" * 1_000_000,
    "hooks.slack.com https://hooks.slack.com/services/T" * 20_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[f"{t[:14]!r}..." for t in ADVERSARIAL])
def test_scanning_a_long_adversarial_text_takes_linear_time(text: str) -> None:
    started = time.perf_counter()
    list(secrets.scan(text, "aws_secret_access_key"))
    assert time.perf_counter() - started < 2.0


def test_secret_finding_lists_each_secret_once_with_where_it_was() -> None:
    raw = _sample("bedrock-secret-in-text__positive__aws_credentials_in_prompt")[0]
    key_id, secret = _credentials(raw)
    raw["output"]["outputBodyJson"]["output"]["message"]["content"][0]["text"] = f"Your key {key_id} / {secret}."

    (finding,) = _run([raw], rules.TEXT_LEAK)

    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert finding.details["where"] == ["completion", "prompt"]
    assert finding.details["secrets"] == [
        {"kind": "aws-access-key-pair", "where": "completion", "sha256": digest},
        {"kind": "aws-access-key-pair", "where": "prompt", "sha256": digest},
    ]
    assert finding.details["request_id"] == raw["requestId"]
    assert finding.evidence == (raw["requestId"],)


# ----------------------------------------------------------------------------------------- nothing leaks


@contextmanager
def _logs_to_captured_stdout() -> Iterator[None]:
    """Point Powertools' handler (bound to the stdout of import time) at the stdout capsys captures now."""
    handler = logger.registered_handler
    original = handler.stream  # type: ignore[attr-defined]
    handler.setStream(sys.stdout)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        handler.setStream(original)  # type: ignore[attr-defined]


def test_no_secret_or_text_reaches_logs_findings_state_or_dead_letters(capsys: pytest.CaptureFixture[str]) -> None:
    raw = _sample("bedrock-secret-in-text__positive__aws_credentials_in_prompt")[0]
    key_id, secret = _credentials(raw)
    prompt = raw["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"]
    completion = "COMPLETION-CANARY " + raw["output"]["outputBodyJson"]["output"]["message"]["content"][0]["text"]
    raw["output"]["outputBodyJson"]["output"]["message"]["content"][0]["text"] = completion
    burst = [
        {**copy.deepcopy(r), "identity": raw["identity"]}
        for r in _sample("bedrock-guardrail-interventions__positive__jailbreak_burst")
    ]
    malformed = {**copy.deepcopy(raw), "timestamp": "not a time", "requestId": ""}
    not_an_object = [prompt, secret]
    svc = DetectionService(
        detectors=[REGISTRY[name] for name in DETECTORS],
        state=MemoryStateStore(),
        publisher=MemoryPublisher(),
        dead_letters=MemoryDeadLetters(),
        settings=Settings(require_guardrail=True, baseline_warmup=timedelta(0), baseline_min_events=1),
    )

    with _logs_to_captured_stdout():
        results = [
            svc.handle_invocation_log(record, origin=f"s3://logs/AWSLogs/123456789012/x.json.gz:{n}")
            for n, record in enumerate([raw, *burst, malformed, not_an_object])
        ]

    published = [f.detector for f in svc.publisher.published]  # type: ignore[attr-defined]
    assert {rules.TEXT_LEAK, rules.WITHOUT_GUARDRAIL, rules.INTERVENTIONS} <= set(published)
    assert [r.status for r in results[-2:]] == ["rejected", "rejected"]
    out = capsys.readouterr()
    places = {
        "logs": out.out + out.err,
        "findings": json.dumps([f.to_json_dict() for f in svc.publisher.published]),  # type: ignore[attr-defined]
        "state": json.dumps(list(svc.state.items.items())),  # type: ignore[attr-defined]
        "dead letters": json.dumps(svc.dead_letters.kept),  # type: ignore[attr-defined]
        "results": json.dumps([r.model_dump(mode="json") for r in results]),
    }
    assert '"level"' in places["logs"]  # the logs were captured
    needles = {
        "secret": secret,
        "key id": key_id,
        "prompt": prompt[:40],
        "completion": "COMPLETION-CANARY",
        "jailbreak": "Ignore all previous instructions",
    }
    for place, content in places.items():
        for what, needle in needles.items():
            assert needle not in content, f"{what} in {place}"


# ----------------------------------------------------------------------------------------- helpers


def _published(svc: DetectionService) -> list[Finding]:
    assert isinstance(svc.publisher, MemoryPublisher)
    return svc.publisher.published


def _state(svc: DetectionService, detector: str, key: str) -> dict[str, Any]:
    assert isinstance(svc.state, MemoryStateStore)
    value, _ = svc.state.items[(detector, key)]
    state: dict[str, Any] = json.loads(value)["state"]
    return state


def _later(timestamp: str, minutes: float) -> str:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _credentials(raw: dict[str, Any]) -> tuple[str, str]:
    text = raw["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"]
    values = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def _converse(moment: datetime, arn: str, model: str, request_id: str, tokens: int) -> dict[str, Any]:
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accountId": "123456789012",
        "identity": {"arn": arn},
        "region": "us-east-1",
        "requestId": request_id,
        "operation": "Converse",
        "modelId": model,
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "hello"}]}]},
            "inputTokenCount": tokens // 2,
        },
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": {
                "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": tokens // 2, "outputTokens": tokens - tokens // 2, "totalTokens": tokens},
            },
            "outputTokenCount": tokens - tokens // 2,
        },
    }
