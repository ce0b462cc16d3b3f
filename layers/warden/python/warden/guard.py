"""Bounds on an event's shape, checked before anything parses, copies or logs it.

Lambda hands a handler whatever JSON arrived; in-process callers (the local runner, tests, the
fuzz harness) can hand it anything at all. Parsing, Powertools Idempotency's deep copy, logging and
``json.dumps`` all recurse, so a deeply nested value raises ``RecursionError`` in whichever of them
meets it first. :func:`refusal` walks the event iteratively (no recursion, stops at the first
problem, at most about :data:`MAX_EVENT_BYTES` of work) and says why an event is out of bounds;
:func:`keepable` makes a bounded, JSON-safe copy of anything for the dead-letter queue; :func:`label`
makes a value safe to log, and :func:`validation_problems` names what a validation found that way.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import islice
from typing import Any

from pydantic import ValidationError

MAX_DEPTH = 32
"""Nesting levels of objects and arrays. The envelope, ``detail`` and ``requestParameters`` take
three; CloudTrail's deepest request parameters take a dozen more."""
MAX_EVENT_BYTES = 256 * 1024
"""EventBridge's limit for one event; CloudTrail events over it are not delivered to EventBridge."""
MAX_INT_BITS = 64
"""Wider integers are no AWS value (and past 4,300 digits ``str()`` and ``json.dumps`` refuse them)."""

MAX_KEPT_CHARS = 64 * 1024
"""What :func:`keepable` keeps of a refused event, in characters of strings and keys."""
MAX_KEPT_STRING = 4096
MAX_KEPT_ITEMS = 200
MAX_LABEL = 256
MAX_PROBLEMS = 10
"""Problems named per refused input: enough to fix it, bounded whatever the input."""


def refusal(event: dict[Any, Any]) -> str | None:
    """Why ``event`` cannot safely be parsed, copied or logged, or None when it is within bounds.

    Checked: nesting depth, serialized size (approximately: UTF-8 bytes of strings and keys, a few
    bytes for anything else), JSON types only (objects with string keys, arrays, strings, booleans,
    null, finite numbers, integers up to 64 bits), and strings that are valid Unicode (a lone
    surrogate cannot be encoded as UTF-8). The problem is named, never the value.

    Every event is checked, and nearly every event is fine: :func:`_plainly_within` answers that in
    one quick pass; only when it cannot, :func:`_first_problem` walks again to name the first problem.
    """
    return None if _plainly_within(event) else _first_problem(event)


def _plainly_within(event: dict[Any, Any]) -> bool:
    """True only if ``event`` is within every bound of :func:`refusal`; False means "look closer", not "refused".

    The same bounds and the same size count as :func:`_first_problem`, without naming anything: keys are
    checked a whole object at a time, scalars where they are met instead of being queued, and anything
    unusual (a subclass of a JSON container, a key that is not ASCII) is left to the exact walk.
    """
    size = 0
    todo: list[tuple[Any, int]] = [(event, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_DEPTH:
            return False
        if type(value) is dict:
            if (keys := _plain_keys_size(value)) < 0:
                return False
            size += keys
        elif type(value) is list:
            size += 2 * len(value)
        else:
            return False
        if size > MAX_EVENT_BYTES:
            return False
        for item in value.values() if type(value) is dict else value:
            kind = type(item)
            if kind is str and item.isascii():
                size += len(item) + 2
            elif kind is dict or kind is list:
                todo.append((item, depth + 1))
            elif (scalar := _plain_size(item)) >= 0:
                size += scalar
            else:
                return False
        if size > MAX_EVENT_BYTES:
            return False
    return True


def _plain_keys_size(value: dict[Any, Any]) -> int:
    """The size :func:`_first_problem` counts for the keys of an object whose keys are ASCII strings, else -1."""
    try:
        keys = "".join(value)  # every key a string, or TypeError
    except TypeError:
        return -1
    return len(keys) + 4 * len(value) if keys.isascii() else -1


def _plain_size(value: object) -> int:
    """The size :func:`_scalar` counts for a plain JSON scalar, or -1 for anything else (a problem, or unusual)."""
    kind = type(value)
    if kind is str:
        if len(value) > MAX_EVENT_BYTES:  # type: ignore[arg-type]
            return -1
        try:
            return len(value.encode("utf-8")) + 2  # type: ignore[attr-defined]
        except UnicodeEncodeError:
            return -1
    if value is None or kind is bool:
        return 5
    if kind is int:
        return 8 if value.bit_length() <= MAX_INT_BITS else -1  # type: ignore[attr-defined]
    if kind is float:
        return 8 if math.isfinite(value) else -1  # type: ignore[arg-type]
    return -1


def _first_problem(event: dict[Any, Any]) -> str | None:
    """The first problem of ``event`` in walking order, named (the exact walk behind :func:`refusal`)."""
    size = 0
    todo: list[tuple[Any, int]] = [(event, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            if isinstance(value, dict):
                for key, item in value.items():
                    if type(key) is str and key.isascii():  # the common case, inline: no call, no encode
                        size += len(key) + 4
                    else:
                        key_size, problem = _key(key)
                        size += key_size + 2
                        if problem:
                            return problem
                    todo.append((item, depth + 1))
            else:
                size += 2 * len(value)
                todo.extend((item, depth + 1) for item in value)
            if size > MAX_EVENT_BYTES:
                return f"larger than {MAX_EVENT_BYTES} bytes"
            continue
        if type(value) is str and value.isascii():
            size += len(value) + 2
        else:
            scalar_size, problem = _scalar(value)
            size += scalar_size
            if problem:
                return problem
        if size > MAX_EVENT_BYTES:
            return f"larger than {MAX_EVENT_BYTES} bytes"
    return None


def _key(key: object) -> tuple[int, str | None]:
    return _text(key) if isinstance(key, str) else (0, f"an object key of type {type(key).__name__}")


def _scalar(value: object) -> tuple[int, str | None]:
    """The approximate serialized size of a scalar, and what is wrong with it (None: nothing)."""
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool):
        return 5, None
    if isinstance(value, int):
        return 8, None if value.bit_length() <= MAX_INT_BITS else f"an integer wider than {MAX_INT_BITS} bits"
    if isinstance(value, float):
        return 8, None if math.isfinite(value) else "a number that is not finite"
    return 0, f"a value of type {type(value).__name__}, which JSON does not have"


def _text(text: str) -> tuple[int, str | None]:
    if len(text) > MAX_EVENT_BYTES:
        return len(text), f"larger than {MAX_EVENT_BYTES} bytes"
    try:
        return len(text.encode("utf-8")) + 2, None
    except UnicodeEncodeError:
        return len(text), "a string that is not valid Unicode (a lone surrogate)"


def validation_problems(exc: ValidationError, limit: int = MAX_PROBLEMS) -> list[str]:
    """What a validation found, field by field, safe to log and to notify: the fields, never their values."""
    return [
        label(f"{'.'.join(str(part) for part in err['loc']) or 'input'}: {err['msg']}") or ""
        for err in exc.errors(include_input=False, include_url=False)[:limit]
    ]


def label(value: object) -> str | None:
    """``value`` as a short, loggable, UTF-8-safe string: strings only; other types by their name."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    return _safe(value, MAX_LABEL)


def _safe(text: str, limit: int) -> str:
    cut = text if len(text) <= limit else f"{text[:limit]}...<cut: {len(text) - limit} more characters>"
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


_CONTAINERS = (dict, list, tuple, set, frozenset)


def keepable(value: object) -> Any:
    """A bounded, JSON-safe copy of anything, built iteratively, for a dead-letter queue.

    Breadth first, so that an event's id, source and detail type are kept before its deep parts.
    Depth, items per container, string length and the total are cut (each cut is marked); keys
    become strings, lone surrogates are escaped, other types are named.
    """
    root: list[Any] = [None]
    budget = MAX_KEPT_CHARS
    todo: deque[tuple[Any, int, Any, Any]] = deque([(value, 1, root, 0)])
    while todo:
        item, depth, parent, slot = todo.popleft()
        if budget <= 0:
            parent[slot] = "<cut: size>"
        elif isinstance(item, _CONTAINERS) and depth > MAX_DEPTH:
            parent[slot] = f"<cut: nested deeper than {MAX_DEPTH} levels>"
        elif isinstance(item, dict):
            copied: dict[str, Any] = {}
            for index, (key, child) in enumerate(islice(item.items(), MAX_KEPT_ITEMS)):
                name = _safe(key, MAX_KEPT_STRING) if isinstance(key, str) else f"<{type(key).__name__} key {index}>"
                copied[name] = None
                todo.append((child, depth + 1, copied, name))
                budget -= len(name) + 2
            if len(item) > MAX_KEPT_ITEMS:
                copied["<cut>"] = f"{len(item) - MAX_KEPT_ITEMS} more entries"
            parent[slot] = copied
        elif isinstance(item, _CONTAINERS):
            listed: list[Any] = [None] * min(len(item), MAX_KEPT_ITEMS)
            todo.extend((child, depth + 1, listed, index) for index, child in enumerate(islice(item, MAX_KEPT_ITEMS)))
            if len(item) > MAX_KEPT_ITEMS:
                listed.append(f"<cut: {len(item) - MAX_KEPT_ITEMS} more items>")
            parent[slot] = listed
            budget -= len(listed) + 2
        else:
            parent[slot] = _kept_scalar(item)
            budget -= len(parent[slot]) if isinstance(parent[slot], str) else 8
    return root[0]


def _kept_scalar(value: object) -> Any:
    if isinstance(value, str):
        return _safe(value, MAX_KEPT_STRING)
    if _scalar(value)[1] is None:
        return value
    if isinstance(value, int):
        return f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return str(value)
    return f"<{type(value).__name__}>"
