"""Fault injection for the local stack: AWS errors on a share of the emulator's requests.

The injector wraps moto server's WSGI application, so it sees every SDK call made over HTTP: the
handlers' (the functions' own boto3 clients) and those of moto's Step Functions interpreter, which
calls the server back with boto3 for every Task. For each request it names the service (from the
SigV4 credential scope, else ``X-Amz-Target`` or the host) and the operation, and draws, with a
seeded generator keyed by caller, service, operation and how many such calls came before, whether
to fail it and how. Failures are answered as the real service answers them, in its protocol, with
its error codes, so that botocore raises the ``ClientError`` a Lambda or a state machine would see
in AWS.

Kinds: ``throttling``, ``access-denied``, ``server-error`` (5xx) and ``timeout``. A timeout is
emulated as a request that hangs for ``timeout_delay`` seconds (50 ms by default) and then gets 504
with ``RequestTimeout`` (query protocols) or ``RequestTimeoutException`` (JSON protocols), codes
that botocore retries as it retries a read timeout. A real read timeout is not emulated: the SDK
waits 10 to 60 s for one, which would make every run slow.

Never faulted: requests signed with an exempt access key (the local runner's own clients: deploy,
seeding, reading back, its emulation of EventBridge and Lambda delivery), moto's ``/moto-api/``,
and services outside the plan. Deliveries moto makes inside the process (SNS to SQS, EventBridge
rules to SQS) do not go over HTTP and are not faulted either.
"""

from __future__ import annotations

import io
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

KINDS = ("throttling", "access-denied", "server-error", "timeout")
SERVICES = ("iam", "dynamodb", "sns", "sqs", "events", "bedrock")
"""What ``--faults`` can fail (SigV4 signing names)."""

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
_TARGETS = {"DynamoDB_20120810": "dynamodb", "AWSEvents": "events", "AmazonSQS": "sqs", "AWSStepFunctions": "states"}
_ALIASES = {"eventbridge": "events"}
_QUERY_NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
}
_JSON_CONTENT_TYPES = {
    "dynamodb": "application/x-amz-json-1.0",
    "sqs": "application/x-amz-json-1.0",
    "events": "application/x-amz-json-1.1",
    "bedrock": "application/json",  # REST-JSON: botocore reads the code from x-amzn-ErrorType
}


@dataclass(frozen=True)
class ServiceError:
    """One error as a service returns it."""

    code: str  # the code botocore reports (query: <Code>; JSON: the __type after '#')
    status: int
    message: str
    sender: bool = True  # query protocols: <Type>Sender</Type> or Receiver
    type_prefix: str = ""  # JSON protocols: namespace before '#' in __type
    query_code: str | None = None  # awsQueryCompatible JSON services (SQS): the x-amzn-query-error code


_RATE = "Rate exceeded"
_DENIED = "The caller is not authorized to perform: {action}"
_TIMED_OUT = "The request timed out before the service could complete it"
_DDB = "com.amazonaws.dynamodb.v20120810#"
_SQS = "com.amazonaws.sqs#"
_CORAL = "com.amazon.coral.service#"

ERRORS: Mapping[str, Mapping[str, tuple[ServiceError, ...]]] = {
    "iam": {  # query protocol; only ServiceFailure is modeled by botocore
        "throttling": (ServiceError("Throttling", 400, _RATE),),
        "access-denied": (ServiceError("AccessDenied", 403, _DENIED),),
        "server-error": (ServiceError("ServiceFailure", 500, "Service failure", sender=False),),
        "timeout": (ServiceError("RequestTimeout", 504, _TIMED_OUT, sender=False),),
    },
    "sns": {  # query protocol; codes and statuses as botocore's SNS model declares them
        "throttling": (ServiceError("Throttled", 429, _RATE),),
        "access-denied": (ServiceError("AuthorizationError", 403, _DENIED),),
        "server-error": (ServiceError("InternalError", 500, "Internal error", sender=False),),
        "timeout": (ServiceError("RequestTimeout", 504, _TIMED_OUT, sender=False),),
    },
    "dynamodb": {  # JSON 1.0
        "throttling": (
            ServiceError("ProvisionedThroughputExceededException", 400, _RATE, type_prefix=_DDB),
            ServiceError("ThrottlingException", 400, _RATE, type_prefix=_DDB),
        ),
        "access-denied": (ServiceError("AccessDeniedException", 400, _DENIED, type_prefix=_DDB),),
        "server-error": (
            ServiceError("InternalServerError", 500, "Internal server error", sender=False, type_prefix=_DDB),
        ),
        "timeout": (ServiceError("RequestTimeoutException", 504, _TIMED_OUT),),
    },
    "events": {  # JSON 1.1
        "throttling": (ServiceError("ThrottlingException", 400, _RATE),),
        "access-denied": (ServiceError("AccessDeniedException", 400, _DENIED),),
        "server-error": (ServiceError("InternalException", 500, "Internal exception", sender=False),),
        "timeout": (ServiceError("RequestTimeoutException", 504, _TIMED_OUT),),
    },
    "sqs": {  # JSON 1.0, query-compatible: botocore reports the x-amzn-query-error code
        "throttling": (ServiceError("RequestThrottled", 403, _RATE, type_prefix=_SQS, query_code="RequestThrottled"),),
        "access-denied": (ServiceError("AccessDenied", 403, _DENIED, type_prefix=_CORAL, query_code="AccessDenied"),),
        "server-error": (ServiceError("InternalFailure", 500, "Internal failure", sender=False, type_prefix=_CORAL),),
        "timeout": (ServiceError("RequestTimeout", 504, _TIMED_OUT, sender=False, query_code="RequestTimeout"),),
    },
    "bedrock": {  # REST-JSON; codes and statuses as botocore's Bedrock model declares them
        "throttling": (ServiceError("ThrottlingException", 429, _RATE),),
        "access-denied": (ServiceError("AccessDeniedException", 403, _DENIED),),
        "server-error": (ServiceError("InternalServerException", 500, "Internal server error", sender=False),),
        "timeout": (ServiceError("RequestTimeoutException", 504, _TIMED_OUT, sender=False),),
    },
}


@dataclass(frozen=True)
class FaultPlan:
    """What to fail: a share of requests to some services, reproducibly for a seed."""

    rate: float
    services: frozenset[str] = frozenset(SERVICES)
    seed: int = 0
    kinds: tuple[str, ...] = KINDS
    timeout_delay: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate {self.rate} is not between 0 and 1")
        unknown = set(self.services) - set(SERVICES)
        if unknown or not self.services:
            raise ValueError(
                f"cannot inject faults into {sorted(unknown) or 'no service'}; known: {', '.join(SERVICES)}"
            )
        if not self.kinds or set(self.kinds) - set(KINDS):
            raise ValueError(f"fault kinds must be some of {', '.join(KINDS)}")

    @classmethod
    def parse(cls, spec: str, *, seed: int = 0) -> FaultPlan:
        """``RATE`` or ``RATE:SERVICE,SERVICE``, e.g. ``0.2`` or ``0.2:iam,sns``."""
        rate, _, services = spec.partition(":")
        try:
            value = float(rate)
        except ValueError:
            raise ValueError(f"{spec!r} is not RATE[:SERVICES], e.g. 0.2 or 0.2:iam,sns") from None
        chosen = frozenset(s.strip().lower() for s in services.split(",") if s.strip()) if services else None
        return cls(rate=value, services=chosen if chosen is not None else frozenset(SERVICES), seed=seed)


@dataclass(frozen=True)
class Injection:
    service: str
    operation: str
    kind: str
    code: str
    caller: str


@dataclass
class _Tally:
    plan: FaultPlan | None = None
    active: bool = True
    requests: Counter[str] = field(default_factory=Counter)
    seen: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    injections: list[Injection] = field(default_factory=list)


class FaultInjector:
    """WSGI middleware in front of moto server that fails requests according to a :class:`FaultPlan`."""

    def __init__(
        self, app: Callable[..., Any], *, plan: FaultPlan | None = None, exempt_access_keys: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.exempt_access_keys = frozenset(exempt_access_keys)
        self._lock = threading.Lock()
        self._tally = _Tally(plan=plan)

    # ------------------------------------------------------------------ control and counts

    @property
    def plan(self) -> FaultPlan | None:
        return self._tally.plan

    def start(self, plan: FaultPlan | None) -> None:
        """Inject according to ``plan`` from now on (None: stop), with counts from zero."""
        with self._lock:
            self._tally = _Tally(plan=plan)

    @contextmanager
    def injecting(self, plan: FaultPlan) -> Iterator[FaultInjector]:
        """Inject while the block runs; counts stay readable afterwards."""
        self.start(plan)
        try:
            yield self
        finally:
            with self._lock:
                self._tally.active = False

    @property
    def injections(self) -> list[Injection]:
        with self._lock:
            return list(self._tally.injections)

    def counts(self) -> dict[str, dict[str, int]]:
        """Injected faults per service and kind."""
        found: dict[str, dict[str, int]] = {}
        for injection in self.injections:
            by_kind = found.setdefault(injection.service, {})
            by_kind[injection.kind] = by_kind.get(injection.kind, 0) + 1
        return found

    def summary(self) -> dict[str, Any]:
        """The plan and what it did, for reports."""
        with self._lock:
            tally = self._tally
            plan, requests, injected = tally.plan, dict(tally.requests), len(tally.injections)
        return {
            "rate": plan.rate if plan else None,
            "seed": plan.seed if plan else None,
            "services": sorted(plan.services) if plan else [],
            "requests": requests,
            "injected": injected,
            "by_service": self.counts(),
        }

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        tally = self._tally
        plan = tally.plan if tally.active else None
        if plan is None or plan.rate <= 0 or environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        caller, service = _signer(environ)
        if caller in self.exempt_access_keys or service not in plan.services:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        operation = _operation(environ, service)
        drawn = self._draw(plan, caller, service, operation)
        if drawn is None:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        kind, error = drawn
        if kind == "timeout":
            time.sleep(plan.timeout_delay)
        status, headers, body = render_error(service, error, action=f"{service}:{operation}")
        start_response(status, headers)
        return [body]

    def _draw(self, plan: FaultPlan, caller: str, service: str, operation: str) -> tuple[str, ServiceError] | None:
        with self._lock:
            if self._tally.plan is not plan or not self._tally.active:
                return None
            key = (caller, service, operation)
            nth = self._tally.seen[key]
            self._tally.seen[key] += 1
            self._tally.requests[service] += 1
            draw = random.Random(f"{plan.seed}/{caller}/{service}/{operation}/{nth}")  # noqa: S311  reproducible faults, no secret
            if draw.random() >= plan.rate:
                return None
            kind = draw.choice(plan.kinds)
            error = draw.choice(ERRORS[service][kind])
            self._tally.injections.append(Injection(service, operation, kind, error.code, caller))
            return kind, error


def render_error(service: str, error: ServiceError, *, action: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The HTTP status line, headers and body of ``error`` in ``service``'s protocol."""
    request_id = str(uuid.uuid4())
    message = error.message.format(action=action) + " (injected fault)"
    status = f"{error.status} {_REASONS.get(error.status, 'Error')}"
    if service in _QUERY_NAMESPACES:
        body = (
            f'<ErrorResponse xmlns="{_QUERY_NAMESPACES[service]}"><Error>'
            f"<Type>{'Sender' if error.sender else 'Receiver'}</Type>"
            f"<Code>{escape(error.code)}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
    error_type = f"{error.type_prefix}{error.code}"
    headers = [
        ("Content-Type", _JSON_CONTENT_TYPES.get(service, "application/x-amz-json-1.0")),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", error.code),
    ]
    if error.query_code:
        headers.append(("x-amzn-query-error", f"{error.query_code};{'Sender' if error.sender else 'Receiver'}"))
    return status, headers, json.dumps({"__type": error_type, "message": message}).encode()


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal Server Error",
    504: "Gateway Timeout",
}


def _signer(environ: Mapping[str, Any]) -> tuple[str, str]:
    """(access key id, service) of a request: the SigV4 credential scope, else X-Amz-Target or the host."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1), _ALIASES.get(match.group(2), match.group(2))
    target = environ.get("HTTP_X_AMZ_TARGET", "").split(".")[0]
    if target in _TARGETS:
        return "", _TARGETS[target]
    host = environ.get("HTTP_HOST", "").split(".")[0].split(":")[0]
    return "", _ALIASES.get(host, host)


def _operation(environ: dict[str, Any], service: str) -> str:
    """The API operation: from X-Amz-Target (JSON protocols) or the form body's Action (query protocols)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target.rsplit(".", 1)[-1])
    if service not in _QUERY_NAMESPACES:
        return "?"
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "?"
    body = environ["wsgi.input"].read(size) if size else b""
    environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body again
    form = parse_qs(body.decode("utf-8", "replace")) or parse_qs(environ.get("QUERY_STRING", ""))
    return str(form.get("Action", ["?"])[0])
