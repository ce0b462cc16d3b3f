"""scripts/asl_notify.py: a playbook's Notify state rewritten to publish the composed notification.

Applied to copies of the real definitions (statemachines/ is never written here). The result must parse as
ASL (moto's parser, the one that executes definitions), every transition must name a state, every state
must be reachable, and it must run (tests/integration/test_composed_notification.py runs it in moto).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from scripts import asl_notify
from tests.conftest import ROOT

PLAYBOOKS = sorted(
    path.name
    for path in (ROOT / "statemachines").glob("*.asl.json")
    if '"playbook"' in path.read_text() and path.name != "record_playbook_failure.asl.json"
)


def targets(node: Any) -> Iterator[str]:
    """Every state name a state machine transitions to (Next, Default, Catch and Choice rules), not counting
    the state machines of its Map and Parallel states (their names are their own)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"Next", "Default"} and isinstance(value, str):
                yield value
            elif key not in asl_notify.NESTED:
                yield from targets(value)
    elif isinstance(node, list):
        for item in node:
            yield from targets(item)


def nested(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The state machines inside Map and Parallel states, at any depth."""
    for state in definition["States"].values():
        inner = [state.get("Iterator"), state.get("ItemProcessor"), *state.get("Branches", [])]
        for machine in inner:
            if isinstance(machine, dict) and "States" in machine:
                yield machine
                yield from nested(machine)


def reachable(definition: dict[str, Any]) -> set[str]:
    states, seen, todo = definition["States"], set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(targets(states[name]))
    return seen


@pytest.fixture
def copies(tmp_path: Path) -> Path:
    for name in [*PLAYBOOKS, "record_playbook_failure.asl.json"]:
        shutil.copy(ROOT / "statemachines" / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_every_playbook_composes_then_publishes_with_a_plain_fallback(copies: Path, name: str) -> None:
    """The definitions in statemachines/ have been rewritten, and the script would change nothing more."""
    committed = (copies / name).read_text()
    assert asl_notify.main([str(copies / name)]) == 0
    assert (copies / name).read_text() == committed, f"run: python scripts/asl_notify.py statemachines/{name}"
    after = json.loads(committed)

    states = after["States"]
    compose, notify, plain = states["ComposeNotification"], states["Notify"], states["NotifyPlain"]
    assert compose["Resource"] == "arn:aws:states:::lambda:invoke"
    assert compose["Parameters"]["FunctionName"] == "${ResponsePolicyFunctionArn}"
    payload = compose["Parameters"]["Payload"]
    assert payload["check"] == "notification"
    assert payload["playbook"] == plain["Parameters"]["MessageAttributes"]["playbook"]["StringValue"]
    assert (payload["finding.$"], payload["outcome.$"], payload["execution.$"]) == (
        "$.finding",
        "$.outcome",
        "$$.Execution.Id",
    )
    assert compose["Retry"] and compose["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.compose_error", "Next": "NotifyPlain"}
    ]
    assert compose["Next"] == "Notify"
    assert notify["Parameters"] == {
        "TopicArn": "${NotificationTopicArn}",
        "Subject.$": "$.notification.subject",
        "Message.$": "$.notification.message",
        "MessageStructure": "json",
        "MessageAttributes.$": "$.notification.attributes",
    }
    assert (notify["Retry"], notify["Catch"], notify["Next"]) == (plain["Retry"], plain["Catch"], plain["Next"])
    assert plain["Parameters"]["MessageAttributes"]["status"] == {
        "DataType": "String",
        "StringValue.$": "$.outcome.status",
    }
    leading_to_notify = [n for n, s in states.items() if "Notify" in set(targets(s))]
    assert leading_to_notify == ["ComposeNotification"], "every path reaches Notify through the composer"
    for machine in [after, *nested(after)]:
        assert set(targets(machine["States"])) <= set(machine["States"]), "every transition names a state"
        assert reachable(machine) == set(machine["States"]), "no state is left unreachable"
    AmazonStateLanguageParser.parse(json.dumps(after))  # raises on anything the ASL grammar refuses


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_running_it_again_changes_nothing(copies: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    asl_notify.main([str(copies / name)])
    once = (copies / name).read_text()

    assert asl_notify.main([str(copies / name)]) == 0
    assert (copies / name).read_text() == once
    assert "already composed" in capsys.readouterr().out
    assert once == json.dumps(json.loads(once), indent=2, ensure_ascii=False) + "\n", "the repository's format"


def test_check_mode_writes_nothing_and_the_failure_recorder_is_left_alone(copies: Path) -> None:
    name = PLAYBOOKS[0]
    original = (copies / name).read_text()
    recorder = (copies / "record_playbook_failure.asl.json").read_text()

    assert asl_notify.main(["--check", str(copies / name)]) == 0
    assert asl_notify.main([str(copies / "record_playbook_failure.asl.json")]) == 1

    assert (copies / name).read_text() == original
    assert (copies / "record_playbook_failure.asl.json").read_text() == recorder


def test_refuses_a_notify_state_that_is_not_of_the_playbook_form() -> None:
    definition = {"StartAt": "Notify", "States": {"Notify": {"Type": "Pass", "End": True}}}

    with pytest.raises(asl_notify.NotRewritable):
        asl_notify.rewrite(definition)


@mock_aws
@pytest.mark.parametrize("name", PLAYBOOKS)
def test_step_functions_accepts_the_rewritten_definition(copies: Path, name: str) -> None:
    asl_notify.main([str(copies / name)])
    definition = (copies / name).read_text()
    for key in ("ResponsePolicyFunctionArn", "NotificationTopicArn"):
        definition = definition.replace("${" + key + "}", f"arn:aws:lambda:us-east-1:123456789012:function:{key}")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")

    arn = sfn.create_state_machine(
        name=name.split(".")[0], definition=definition, roleArn="arn:aws:iam::123456789012:role/playbook"
    )["stateMachineArn"]

    assert "ComposeNotification" in json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])["States"]
