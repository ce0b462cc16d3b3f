"""An embedded AWS: moto server on a free loopback port, in this process, with executing Step Functions."""

from __future__ import annotations

import json
import logging
import os
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

ACCOUNT_ID = "123456789012"
"""moto's default account: the simulated victim account of local runs."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Emulator:
    endpoint: str
    region: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint)  # type: ignore[call-overload]


ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(request, timeout=10).close()


@contextmanager
def running_emulator(region: str = "us-east-1") -> Iterator[Emulator]:
    """Start moto server, point every AWS SDK of this process at it, and stop it afterwards."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # moto logs every failed state of an execution; the report says what failed and why.
    logging.getLogger("moto").setLevel(logging.CRITICAL)

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **ENVIRONMENT,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ENDPOINT_URL": endpoint,
        # moto's Step Functions interpreter calls back into the server on this port.
        "MOTO_PORT": str(port),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        # moto keeps its backends in this process: start from an empty account every time.
        _post(f"{endpoint}/moto-api/reset", {})
        _post(f"{endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        yield Emulator(endpoint=endpoint, region=region)
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
