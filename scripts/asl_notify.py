"""Rewrite a playbook's ``Notify`` state to publish the composed notification (idempotent).

Before: ``RecordOutcome`` → ``Notify`` (``sns:publish`` of a ``States.Format`` text) → ``Finished``.
After::

    RecordOutcome → ComposeNotification (response policy, check "notification") → Notify → Finished
                          │ Catch (any error)
                          └──────────────→ NotifyPlain (the old text message) → Finished

``Notify`` then publishes with ``MessageStructure: json``: the e-mail text, the Amazon Q Developer custom
notification and the structured body of :mod:`warden.notify.compose`, with the message attributes it
returns (``status`` among them). ``NotifyPlain`` is the old state, kept as the fallback so that a failing
composer never costs a notification; it also gains the ``status`` attribute. Every transition that led to
``Notify`` leads to ``ComposeNotification``. A definition already rewritten is left as it is.

Usage: ``python scripts/asl_notify.py FILE [FILE ...]`` (writes each file in place, in the repository's
format: ``json.dumps(d, indent=2, ensure_ascii=False) + "\\n"``). ``--check`` only reports.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

COMPOSE = "ComposeNotification"
NOTIFY = "Notify"
PLAIN = "NotifyPlain"
POLICY_FUNCTION = "${ResponsePolicyFunctionArn}"
LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "States.Timeout",
    ],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
}


class NotRewritable(ValueError):
    """The definition has no ``Notify`` state of the playbook form."""


def _playbook(notify: dict[str, Any]) -> str:
    attributes = notify.get("Parameters", {}).get("MessageAttributes", {})
    name = attributes.get("playbook", {}).get("StringValue")
    if not isinstance(name, str) or not name:
        raise NotRewritable("the Notify state has no constant 'playbook' message attribute")
    return name


def _check_form(notify: dict[str, Any]) -> None:
    if notify.get("Type") != "Task" or notify.get("Resource") != "arn:aws:states:::sns:publish":
        raise NotRewritable("the Notify state is not an sns:publish Task")
    text = json.dumps(notify.get("Parameters", {}))
    if "$.finding." not in text or "$.outcome.status" not in text:
        raise NotRewritable("the Notify state does not publish $.finding and $.outcome")


NESTED = frozenset({"Iterator", "ItemProcessor", "Branches"})
"""Where Map and Parallel states keep state machines of their own, whose names are another namespace."""


def _redirect(node: Any, old: str, new: str) -> None:
    """Point every ``Next`` and ``Default`` naming ``old`` (in states, Catch and Choice rules) at ``new``,
    in this state machine only (not inside a Map's or Parallel's own states)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"Next", "Default"} and value == old:
                node[key] = new
            elif key not in NESTED:
                _redirect(value, old, new)
    elif isinstance(node, list):
        for item in node:
            _redirect(item, old, new)


def rewrite(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with its ``Notify`` state composed (a copy; unchanged if already rewritten)."""
    result = copy.deepcopy(definition)
    states: dict[str, Any] = result["States"]
    if COMPOSE in states:
        return result
    if NOTIFY not in states:
        raise NotRewritable("no Notify state")
    if PLAIN in states:
        raise NotRewritable(f"a {PLAIN} state exists without {COMPOSE}")
    old = states[NOTIFY]
    _check_form(old)
    playbook = _playbook(old)

    _redirect(states, NOTIFY, COMPOSE)
    plain = copy.deepcopy(old)
    plain["Comment"] = (
        "Fallback when the notification could not be composed: the plain-text message, so that no outcome "
        "goes unnotified."
    )
    plain["Parameters"]["MessageAttributes"].setdefault(
        "status", {"DataType": "String", "StringValue.$": "$.outcome.status"}
    )
    compose = {
        "Type": "Task",
        "Comment": (
            "The response policy composes the notification (warden.notify.compose): e-mail text, Amazon Q "
            "Developer custom notification and structured JSON, with the message attributes for filter "
            "policies. Named fields only: never request, prompt or completion content."
        ),
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": POLICY_FUNCTION,
            "Payload": {
                "check": "notification",
                "playbook": playbook,
                "finding.$": "$.finding",
                "outcome.$": "$.outcome",
                "execution.$": "$$.Execution.Id",
                "state.$": "$",
            },
        },
        "ResultSelector": {
            "subject.$": "$.Payload.subject",
            "message.$": "$.Payload.message",
            "attributes.$": "$.Payload.attributes",
        },
        "ResultPath": "$.notification",
        "Retry": [copy.deepcopy(LAMBDA_RETRY)],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.compose_error", "Next": PLAIN}],
        "Next": NOTIFY,
    }
    notify = {
        "Type": "Task",
        "Comment": (
            "Every path ends here: the finding's one alert, one body per protocol (MessageStructure json). "
            "The message carries metadata only: never request or prompt content."
        ),
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": old["Parameters"]["TopicArn"],
            "Subject.$": "$.notification.subject",
            "Message.$": "$.notification.message",
            "MessageStructure": "json",
            "MessageAttributes.$": "$.notification.attributes",
        },
        "ResultPath": old.get("ResultPath"),
        "Retry": copy.deepcopy(old.get("Retry", [])),
        "Catch": copy.deepcopy(old.get("Catch", [])),
        "Next": old["Next"],
    }
    rebuilt: dict[str, Any] = {}
    for name, state in states.items():  # keep the order readable: Compose, Notify, NotifyPlain where Notify was
        if name == NOTIFY:
            rebuilt[COMPOSE] = compose
            rebuilt[NOTIFY] = notify
            rebuilt[PLAIN] = plain
        else:
            rebuilt[name] = state
    result["States"] = rebuilt
    return result


def text_of(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report what would change, write nothing")
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        original = path.read_text()
        try:
            rewritten = text_of(rewrite(json.loads(original)))
        except NotRewritable as exc:
            print(f"{path}: left as it is: {exc}", file=sys.stderr)
            status = 1
            continue
        if rewritten == original:
            print(f"{path}: already composed")
        elif args.check:
            print(f"{path}: would be rewritten")
        else:
            path.write_text(rewritten)
            print(f"{path}: rewritten")
    return status


if __name__ == "__main__":
    sys.exit(main())
