"""Where moto differs from AWS in a way Warden's guarantees rest on, the emulator makes it behave like AWS.

:func:`behave_like_aws` applies every correction below, once per process, when an emulator starts.

DynamoDB applies a conditional write atomically: of two writers racing on ``attribute_not_exists(pk)``,
exactly one succeeds. That is what makes a playbook run once per finding. moto's server handles
requests on several threads and checks a condition, then writes, without a lock, so two racing
executions could both win. Item writes are serialised here, as DynamoDB serialises them per item.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_WRITES = threading.Lock()
_WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items")


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def write(*args: Any, **kwargs: Any) -> Any:
        with _WRITES:
            return method(*args, **kwargs)

    write.__warden_serialised__ = True  # type: ignore[attr-defined]
    return write


def behave_like_aws() -> None:
    """Apply every correction of this module, and the aws-sdk member casing of sdk_shapes (idempotent)."""
    from warden_local.iam_service_credentials import emulate_service_specific_credentials
    from warden_local.sdk_shapes import pascal_case_sdk_members

    atomic_conditional_writes()
    aws_sdk_error_names()
    pascal_case_sdk_members()
    task_failure_causes()
    emulate_service_specific_credentials()


def aws_sdk_error_names() -> None:
    """Name aws-sdk Task errors as AWS does, so that Retry and Catch lists are tested as they behave there.

    AWS names them ``<Service>.<Exception>`` with the service in PascalCase (``Iam.IamException``,
    ``Iam.ServiceFailureException``); moto's interpreter keeps the lower-case resource name
    (``iam.iamException``) for services it has no binding for, and ``ErrorEquals`` matches exactly.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    aws_sdk._SERVICE_ERROR_NAMES.setdefault("iam", "Iam")


def task_failure_causes() -> None:
    """Keep the ``cause`` of ``SendTaskFailure``, as AWS does (moto's response handler drops it).

    A person who rejects an approval says why in the cause; the playbook records it.
    """
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse.send_task_failure, "__warden_cause__", False):
        return

    def send_task_failure(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    send_task_failure.__warden_cause__ = True  # type: ignore[attr-defined]
    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


def atomic_conditional_writes() -> None:
    """Make moto's DynamoDB item writes atomic (idempotent: patches once per process)."""
    for name in _WRITE_METHODS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "__warden_serialised__", False):
            setattr(DynamoDBBackend, name, _serialised(method))


class _ScaledClock:
    """The ``time`` module as the ASL retrier sees it, with its waits scaled."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def scale_retry_waits(scale: float) -> None:
    """Wait ``scale`` times each retry back-off: ASL ``Retry`` intervals and botocore's retries (1.0 restores).

    For tests: what they check is which errors are retried, how often and what follows, never how long
    the back-off takes; a Task failing through four attempts would otherwise wait 15 seconds of real time.
    """
    from botocore import endpoint
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    clock = _ScaledClock(scale) if scale != 1.0 else time
    for module in (retrier_decl, endpoint):
        setattr(module, "time", clock)  # noqa: B010  the modules' own name for the time module
