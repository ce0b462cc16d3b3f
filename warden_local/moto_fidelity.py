"""Where moto differs from AWS in a way Warden's guarantees rest on, the local stack makes it behave like AWS.

DynamoDB applies a conditional write atomically: of two writers racing on ``attribute_not_exists(pk)``,
exactly one succeeds. That is what makes a playbook run once per finding. moto's server handles
requests on several threads and checks a condition, then writes, without a lock, so two racing
executions could both win. Item writes are serialised here, as DynamoDB serialises them per item.
"""

from __future__ import annotations

import functools
import threading
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


def atomic_conditional_writes() -> None:
    """Make moto's DynamoDB item writes atomic (idempotent: patches once per process)."""
    for name in _WRITE_METHODS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "__warden_serialised__", False):
            setattr(DynamoDBBackend, name, _serialised(method))
