"""An embedded AWS: moto server on a free loopback port, in this process, with executing Step Functions."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from warden_local.faults import FaultInjector, FaultPlan
from warden_local.moto_fidelity import behave_like_aws

ACCOUNT_ID = "123456789012"
"""moto's default account: the simulated victim account of local runs."""

RUNNER_ACCESS_KEY_ID = "warden-local-runner"
"""The access key of the runner's own clients (deploy, seeding, reading back, delivery): never faulted."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Emulator:
    endpoint: str
    region: str
    faults: FaultInjector

    def client(self, service: str) -> Any:
        """A client for the runner itself, exempt from fault injection (handlers use the environment's key)."""
        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=RUNNER_ACCESS_KEY_ID,
            aws_secret_access_key="testing",  # noqa: S106  moto accepts any credential; this is no secret
        )


ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310  own http endpoint
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310  the emulator's own loopback http endpoint


@contextmanager
def running_emulator(region: str = "us-east-1", *, faults: FaultPlan | None = None) -> Iterator[Emulator]:
    """Start moto server, point every AWS SDK of this process at it, and stop it afterwards.

    Requests pass through a :class:`FaultInjector` (``Emulator.faults``) that fails them as ``faults``
    says; without a plan it passes everything through until one is started.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # moto logs every failed state of an execution; the report says what failed and why.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    behave_like_aws()

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
    injector = FaultInjector(
        DomainDispatcherApplication(create_backend_app), plan=faults, exempt_access_keys={RUNNER_ACCESS_KEY_ID}
    )
    server = make_server("127.0.0.1", port, injector, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    try:
        # moto keeps its backends in this process: start from an empty account every time.
        _post(f"{endpoint}/moto-api/reset", {})
        _post(f"{endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        yield Emulator(endpoint=endpoint, region=region, faults=injector)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
