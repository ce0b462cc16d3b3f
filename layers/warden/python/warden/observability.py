"""The one Logger, Metrics and Tracer of every Warden function, configured by POWERTOOLS_* variables.

X-Ray records only in Lambda (``LAMBDA_TASK_ROOT`` set, not SAM local or Chalice, ``POWERTOOLS_TRACE_DISABLED``
not set: Powertools' own rule). There the Tracer records each handler and patches what Warden calls: botocore
(every AWS call, boto3's included, is a subsegment) and httplib (Slack's webhook and API calls). Anywhere else
(tests, the local runner, hunting, benchmarks) ``tracer`` is a stand-in that changes nothing, and the X-Ray SDK
is not imported at all: outside Lambda its recorder builds two X-Ray API clients for centralized sampling as it
is imported (about 200 ms), only for Powertools to disable it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

TRACED_MODULES = ("botocore", "httplib")
"""What X-Ray patches: the libraries Warden's functions call out through (not every one the SDK knows)."""

F = TypeVar("F", bound=Callable[..., Any])


class Untraced:
    """The Tracer where X-Ray cannot record: its decorator returns the handler unchanged."""

    def capture_lambda_handler(
        self, lambda_handler: None = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[F], F]:
        return lambda handler: handler


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether X-Ray can record here: Powertools' rule for its own Tracer, without importing the X-Ray SDK."""
    disabled = resolve_truthy_env_var_choice(env=environ.get("POWERTOOLS_TRACE_DISABLED", "false"))
    emulated = environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE")
    return bool(environ.get("LAMBDA_TASK_ROOT")) and not emulated and not disabled


def _tracer() -> Tracer | Untraced:
    if not tracing_enabled():
        return Untraced()
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=TRACED_MODULES)


logger = Logger()
metrics = Metrics()
tracer = cast("Tracer", _tracer())
"""Typed as Powertools' Tracer: functions use its ``capture_lambda_handler``, which the stand-in has too."""
