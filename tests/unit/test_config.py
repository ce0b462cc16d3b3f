"""Configuration is validated at the handler edge and says what is missing."""

from datetime import timedelta

import pytest

from warden.config import DetectorConfig
from warden.errors import ConfigurationError

ENV = {
    "WARDEN_STATE_TABLE": "state",
    "WARDEN_FINDINGS_BUS": "bus",
    "WARDEN_DEAD_LETTER_QUEUE_URL": "https://sqs/q",
    "WARDEN_SELF_PRINCIPALS": "arn:aws:iam::1:role/a, arn:aws:iam::1:role/b,",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


def test_reads_and_splits_the_environment() -> None:
    config = DetectorConfig.from_environ(ENV)
    assert config.self_principals == ("arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b")
    assert config.region == "eu-west-1"
    assert config.idempotency_table is None
    assert hash(config) == hash(DetectorConfig.from_environ(ENV))


def test_names_every_missing_variable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        DetectorConfig.from_environ({"AWS_REGION": "us-east-1"})
    for name in ("WARDEN_STATE_TABLE", "WARDEN_FINDINGS_BUS", "WARDEN_DEAD_LETTER_QUEUE_URL"):
        assert name in str(caught.value)


def test_the_event_time_window_has_safe_defaults_and_can_be_configured() -> None:
    default = DetectorConfig.from_environ(ENV)
    assert default.max_event_age == timedelta(hours=6)
    assert default.max_clock_skew == timedelta(minutes=15)

    configured = DetectorConfig.from_environ(
        {**ENV, "WARDEN_MAX_EVENT_AGE_SECONDS": "7200", "WARDEN_MAX_CLOCK_SKEW_SECONDS": "60"}
    )
    assert configured.max_event_age == timedelta(hours=2)
    assert configured.max_clock_skew == timedelta(minutes=1)


@pytest.mark.parametrize("name", ["WARDEN_MAX_EVENT_AGE_SECONDS", "WARDEN_MAX_CLOCK_SKEW_SECONDS"])
@pytest.mark.parametrize("value", ["-1", "soon", "999999999999"])
def test_an_unusable_event_time_window_is_a_configuration_error(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        DetectorConfig.from_environ({**ENV, name: value})
