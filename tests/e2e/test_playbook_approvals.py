"""End to end: `warden playbook approve | reject | undo | status`, on a stack and on `warden local up`.

The `--stack` path makes the calls it makes on AWS (DescribeStacks, GetExecutionHistory, SendTaskSuccess or
SendTaskFailure, DynamoDB UpdateItem, the undo's own IAM calls) against a CloudFormation stack of the emulator
whose outputs have template.yaml's real output names, pointing at a LocalStack deployed from template.yaml: the
playbook that waits and acts is contain-access-key's real definition, approval gate included. The `--local`
path is the same code with the endpoint and outputs `warden local up` writes, tested in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import ROOT
from tests.e2e.test_playbook_cli import register_stack
from warden_local.cli import main
from warden_local.emulator import running_emulator
from warden_local.playbooks import (
    LOCAL_STATE_VARIABLE,
    RunningLocal,
    _watch_executions,
    incident_items,
    local_clients,
)
from warden_local.run import deploy_parameters
from warden_local.stack import LocalStack

pytestmark = pytest.mark.e2e
STACK = "warden-approvals"
ALICE = "arn:aws:iam::123456789012:user/alice"


def _cli(*args: str, input: str | None = None) -> Result:
    return CliRunner(mix_stderr=False).invoke(main, list(args), input=input, catch_exceptions=False)


def _json(result: Result) -> dict[str, Any]:
    assert result.stdout, result.stderr
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, dict[str, str]]]:
    """A stack in dry-run: each test asks for its mode, as a person running a playbook by hand does."""
    workdir = tmp_path_factory.mktemp("approvals")
    with running_emulator() as emulator:
        stack = LocalStack(
            emulator, ROOT, stack_name=STACK, parameters=deploy_parameters({"ResponseMode": "dry-run"}),
            workdir=workdir,
        )  # fmt: skip
        yield stack.deploy(), register_stack(stack, STACK)


def _victim(clients: Callable[[str], Any], prefix: str = "approval-user") -> tuple[str, str, str]:
    iam, name = clients("iam"), f"{prefix}-{uuid.uuid4().hex[:6]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    return name, arn, iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]


def _key_status(clients: Callable[[str], Any], user: str, key: str) -> str:
    listed = clients("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in listed if k["AccessKeyId"] == key))


def _start(where: list[str], arn: str, key: str, mode: str, *extra: str) -> dict[str, Any]:
    result = _cli(
        "playbook", "run", "contain-access-key", *where, "--principal", arn, "--access-key-id", key,
        "--mode", mode, "--region", "us-east-1", "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return _json(result)


def _status(where: list[str], incident: str) -> dict[str, Any]:
    result = _cli("playbook", "status", incident, *where, "--json")
    assert result.exit_code == 0, result.stderr
    return _json(result)


def _awaiting(where: list[str], arn: str, key: str) -> str:
    """Start contain-access-key in approve mode and wait until it waits for a person: the incident id.

    `run --wait` returns once the incident is AWAITING_APPROVAL, so nothing runs in the background after it.
    """
    started = _start(where, arn, key, "approve", "--wait", "60")
    assert started["status"] == "AWAITING_APPROVAL", started
    assert started["requested_mode"] == "approve"
    return str(started["incident"])


ON_STACK = ["--stack", STACK]


def test_approve_on_a_stack_lets_the_playbook_deactivate_the_key(deployed: tuple[LocalStack, dict[str, str]]) -> None:
    stack, _ = deployed
    user, arn, key = _victim(stack.client)
    incident = _awaiting(ON_STACK, arn, key)
    waiting = _status(ON_STACK, incident)
    assert waiting["status"] == "AWAITING_APPROVAL" and waiting["execution"]["status"] == "RUNNING"
    assert _key_status(stack.client, user, key) == "Active", "nothing changes before a person approves"

    result = _cli("playbook", "approve", incident, *ON_STACK, "--by", ALICE, "--wait", "30", "--json")

    assert result.exit_code == 0, result.stderr
    report = _json(result)
    assert report["decision"] == "APPROVED" and report["by"] == ALICE
    assert report["execution_status"] == "SUCCEEDED" and report["incident_status"] == "CONTAINED"
    assert _key_status(stack.client, user, key) == "Inactive", "read back from the emulator's IAM"
    incident_now = _status(ON_STACK, incident)
    assert [e["status"] for e in incident_now["history"]] == ["AWAITING_APPROVAL", "APPROVED", "CONTAINED"]
    assert incident_now["history"][1]["by"] == ALICE
    (action,) = incident_now["actions"]
    assert action["state"] == "DONE" and action["access_key_id"] == key


def test_reject_on_a_stack_changes_nothing_and_names_the_caller(deployed: tuple[LocalStack, dict[str, str]]) -> None:
    stack, _ = deployed
    user, arn, key = _victim(stack.client)
    incident = _awaiting(ON_STACK, arn, key)
    caller = stack.client("sts").get_caller_identity()["Arn"]

    result = _cli(
        "playbook", "reject", incident, *ON_STACK, "--reason", "the batch job is legitimate", "--wait", "30", "--json"
    )

    assert result.exit_code == 0, result.stderr
    report = _json(result)
    assert report["decision"] == "REJECTED" and report["by"] == caller, "--by defaults to sts:GetCallerIdentity"
    assert report["incident_status"] == "REJECTED"
    assert _key_status(stack.client, user, key) == "Active"
    incident_now = _status(ON_STACK, incident)
    assert incident_now["actions"] == []
    assert [e["status"] for e in incident_now["history"]] == ["AWAITING_APPROVAL", "REJECTED", "REJECTED"]
    assert "the batch job is legitimate" in incident_now["history"][-1]["summary"], "the playbook's own record"

    again = _cli("playbook", "approve", incident, *ON_STACK, "--by", ALICE)

    assert again.exit_code == 2
    assert "is REJECTED, not AWAITING_APPROVAL" in again.stderr
    assert _key_status(stack.client, user, key) == "Active"


def test_an_incident_awaiting_approval_cannot_be_undone(deployed: tuple[LocalStack, dict[str, str]]) -> None:
    stack, _ = deployed
    _, arn, key = _victim(stack.client)
    incident = _awaiting(ON_STACK, arn, key)

    result = _cli("playbook", "undo", incident, *ON_STACK, "--yes")

    assert result.exit_code == 2
    assert "awaits approval" in result.stderr and "reject it instead" in result.stderr
    assert _cli("playbook", "reject", incident, *ON_STACK, "--wait", "30").exit_code == 0


@pytest.mark.parametrize(
    ("incident", "message"),
    [("0" * 32, "no incident"), ("not-an-id", "not an incident id")],
)
def test_a_decision_on_no_incident_is_refused(
    deployed: tuple[LocalStack, dict[str, str]], incident: str, message: str
) -> None:
    result = _cli("playbook", "approve", incident, *ON_STACK)

    assert result.exit_code == 2
    assert message in result.stderr


def test_undo_after_an_automatic_containment_reactivates_the_key_once(
    deployed: tuple[LocalStack, dict[str, str]],
) -> None:
    stack, _ = deployed
    user, arn, key = _victim(stack.client)
    incident = _start(ON_STACK, arn, key, "auto", "--wait", "60")["incident"]
    assert _key_status(stack.client, user, key) == "Inactive"

    plan = _cli("playbook", "undo", incident, *ON_STACK, "--plan", "--json")

    assert plan.exit_code == 0, plan.stderr
    (step,) = _json(plan)["steps"]
    assert step["verdict"] == "UNDO" and step["parameters"] == {
        "UserName": user,
        "AccessKeyId": key,
        "Status": "Active",
    }
    assert _key_status(stack.client, user, key) == "Inactive", "--plan calls nothing"

    result = _cli("playbook", "undo", incident, *ON_STACK, "--by", ALICE, "--yes", "--json")

    assert result.exit_code == 0, result.stderr
    assert _json(result)["outcome"] == "UNDONE"
    assert _key_status(stack.client, user, key) == "Active", "read back from the emulator's IAM"
    undone = _status(ON_STACK, incident)
    assert undone["status"] == "UNDONE"
    (action,) = undone["actions"]
    assert action["state"] == "UNDONE" and action["undone_by"] == ALICE and action["undone_at"]
    entry = undone["history"][-1]
    assert entry["status"] == "UNDONE" and entry["by"] == ALICE and "deactivate-access-key" in entry["summary"]

    again = _cli("playbook", "undo", incident, *ON_STACK, "--by", ALICE, "--yes", "--json")

    assert again.exit_code == 0, again.stderr
    assert _json(again)["outcome"] == "NOTHING_TO_DO"
    assert _status(ON_STACK, incident)["history"] == undone["history"], "nothing recorded the second time"
    assert _key_status(stack.client, user, key) == "Active"


def _record_action(stack: LocalStack, incident: str, name: str, undo: dict[str, Any]) -> None:
    """An action item as a playbook writes one (RecordIntent then RecordAction), with this undo."""
    from warden.response import dynamodb_value

    stack.client("dynamodb").put_item(
        TableName=stack.ref("IncidentTable"),
        Item={
            "pk": {"S": f"INCIDENT#{incident}"},
            "sk": {"S": f"ACTION#2000-01-01T00:00:00Z#{name}"},
            "action": {"S": name},
            "state": {"S": "DONE"},
            "undo": dynamodb_value(undo),
        },
    )


def test_undo_refuses_what_cannot_or_may_not_be_reversed_and_calls_nothing_for_it(
    deployed: tuple[LocalStack, dict[str, str]],
) -> None:
    stack, _ = deployed
    user, arn, key = _victim(stack.client)
    incident = _start(ON_STACK, arn, key, "auto", "--wait", "60")["incident"]
    _record_action(stack, incident, "delete-login-profile", {"api": "none", "reason": "a deleted password is gone"})
    _record_action(stack, incident, "forged", {"api": "iam:CreateAccessKey", "UserName": user})

    result = _cli("playbook", "undo", incident, *ON_STACK, "--by", ALICE, "--yes", "--json")

    assert result.exit_code == 1, "a forged undo is not something Warden could reverse: not complete"
    report = _json(result)
    assert {s["action"]: s["result"] for s in report["steps"]} == {
        "deactivate-access-key": "UNDONE", "delete-login-profile": "IRREVERSIBLE", "forged": "NOT_ALLOWED",
    }  # fmt: skip
    assert _key_status(stack.client, user, key) == "Active"
    keys = stack.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key], "the forged CreateAccessKey was never called"
    items = {i["action"]: i for i in incident_items(stack.client("dynamodb"), stack.ref("IncidentTable"), incident)
             if "action" in i}  # fmt: skip
    assert items["delete-login-profile"]["state"] == "DONE"
    assert "a deleted password is gone" in items["delete-login-profile"]["undo_refused"]
    assert items["delete-login-profile"]["undo_refused_by"] == ALICE
    assert "not a call undo makes" in items["forged"]["undo_refused"]
    status = _status(ON_STACK, incident)
    assert status["status"] == "CONTAINED", "not UNDONE while an undo was refused as not allowed"
    assert status["history"][-1]["status"] == "UNDO_PARTIAL"


def test_undo_asks_before_calling_and_stops_on_no(deployed: tuple[LocalStack, dict[str, str]]) -> None:
    stack, _ = deployed
    user, arn, key = _victim(stack.client)
    incident = _start(ON_STACK, arn, key, "auto", "--wait", "60")["incident"]

    result = _cli("playbook", "undo", incident, *ON_STACK, input="n\n")

    assert result.exit_code == 1
    assert "iam:UpdateAccessKey" in result.stdout and "nothing done" in result.stderr
    assert _key_status(stack.client, user, key) == "Inactive"


def test_a_failed_execution_started_from_outside_is_reported_as_eventbridge_would(
    deployed: tuple[LocalStack, dict[str, str]],
) -> None:
    """What `warden local up` does every second for executions the --local commands start."""
    stack, outputs = deployed
    forged = {"id": "0" * 32, "detector": "manual"}  # not a finding: the playbook refuses it and fails
    arn = stack.client("stepfunctions").start_execution(
        stateMachineArn=outputs["ContainAccessKeyStateMachineArn"], name=f"forged-{uuid.uuid4().hex[:8]}",
        input=json.dumps(forged),
    )["executionArn"]  # fmt: skip
    deadline = time.monotonic() + 30
    while stack.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    seen: set[str] = set()

    _watch_executions(stack, seen)

    assert arn in seen
    sfn = stack.client("stepfunctions")
    recorders = [e for e in stack.executions if e.playbook == "record-playbook-failure"]
    inputs = [sfn.describe_execution(executionArn=e.arn)["input"] for e in recorders]
    assert any(arn in text for text in inputs), "record-playbook-failure ran on its status change"
    count = len(stack.executions)
    _watch_executions(stack, seen)
    assert len(stack.executions) == count, "each ended execution is reported once"


def test_local_commands_without_a_running_local_stack_say_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCAL_STATE_VARIABLE, str(tmp_path / "local.json"))
    stopped = {"endpoint": "http://127.0.0.1:9", "region": "us-east-1", "stack": "x", "outputs": {}, "parameters": {}}
    (tmp_path / "local.json").write_text(json.dumps({**stopped, "pid": 2**22}))  # no such process

    for command in ("status", "approve", "reject", "undo"):
        result = _cli("playbook", command, "0" * 32, "--local")

        assert result.exit_code == 2, command
        assert "no running local stack" in result.stderr and "warden local up" in result.stderr
        assert "has stopped" in result.stderr


def test_a_live_process_with_nothing_listening_is_not_a_running_local_stack(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    state = {"endpoint": "http://127.0.0.1:9", "region": "us-east-1", "stack": "s", "outputs": {}, "parameters": {}}
    path.write_text(json.dumps({**state, "pid": os.getpid()}))

    assert RunningLocal.read(path) is None


def test_approve_mode_on_a_throw_away_local_stack_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCAL_STATE_VARIABLE, str(tmp_path / "none.json"))

    result = _cli(
        "playbook", "run", "contain-access-key", "--local", "--mode", "approve",
        "--principal", "arn:aws:iam::123456789012:user/u", "--access-key-id", "AKIAEXAMPLEBATCHSVC1",
    )  # fmt: skip

    assert result.exit_code == 2
    assert "warden local up" in result.stderr


@pytest.fixture
def local_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """`warden local up` in a subprocess, as a person runs it in another terminal; stopped with Ctrl-C."""
    state = tmp_path / "local.json"
    monkeypatch.setenv(LOCAL_STATE_VARIABLE, str(state))
    env = {**os.environ, LOCAL_STATE_VARIABLE: str(state)}
    for variable in ("AWS_ENDPOINT_URL", "MOTO_PORT"):  # another emulator of this process must not leak in
        env.pop(variable, None)
    process = subprocess.Popen(  # noqa: S603  this project's own command line
        [sys.executable, "-m", "warden_local.cli", "local", "up", "--workdir", str(tmp_path / "work")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not state.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "local up did not start"
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written whole, but let it be closed
        yield {"state": state, "process": process, **json.loads(state.read_text())}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_local_up_then_run_approve_and_undo_with_local(local_up: dict[str, Any]) -> None:
    assert set(local_up["outputs"]) >= {"IncidentTableName", "ContainAccessKeyStateMachineArn"}
    clients = local_clients(local_up["endpoint"], local_up["region"])
    user = "ml-batch-svc"
    principal = f"arn:aws:iam::123456789012:user/{user}"

    started = _start(["--local"], principal, "AKIAEXAMPLEBATCHSVC1", "approve", "--wait", "60")

    assert started["endpoint"] == local_up["endpoint"] and started["status"] == "AWAITING_APPROVAL"
    assert started["state_machine_arn"] == local_up["outputs"]["ContainAccessKeyStateMachineArn"]
    key = started["finding"]["access_key_id"]
    assert _status(["--local"], started["incident"])["status"] == "AWAITING_APPROVAL"
    assert _key_status(clients, user, key) == "Active"

    approved = _cli("playbook", "approve", started["incident"], "--local", "--by", ALICE, "--wait", "30", "--json")

    assert approved.exit_code == 0, approved.stderr
    assert _json(approved)["incident_status"] == "CONTAINED"
    assert _key_status(clients, user, key) == "Inactive", "read back from the running emulator"

    undone = _cli("playbook", "undo", started["incident"], "--local", "--by", ALICE, "--yes", "--json")

    assert undone.exit_code == 0, undone.stderr
    assert _key_status(clients, user, key) == "Active"
    assert _status(["--local"], started["incident"])["status"] == "UNDONE"

    again = _start(["--local"], principal, "AKIAEXAMPLEBATCHSVC1", "dry-run")
    assert again["finding"]["access_key_id"] == key, "the same key stands for the same id on the running stack"

    assert local_up["process"].poll() is None, "local up kept running through all of it"
    local_up["process"].send_signal(signal.SIGINT)
    assert local_up["process"].wait(timeout=30) == 0
    assert not local_up["state"].exists(), "local up removes its file when it stops"
