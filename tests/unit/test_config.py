"""Configuration is validated at the handler edge and says what is missing."""

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
