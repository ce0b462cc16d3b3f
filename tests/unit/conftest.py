"""Unit tests run with the network off: anything that tries to reach AWS fails loudly."""

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket

LEAKED_ENDPOINTS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STEPFUNCTIONS", "AWS_ENDPOINT_URL_IAM")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # moto's in-process mock intercepts AWS's own endpoints only: an emulator endpoint left in the environment
    # by an earlier end-to-end test would send a unit test's calls to a closed port instead.
    for name in LEAKED_ENDPOINTS:
        monkeypatch.delenv(name, raising=False)
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
