"""End to end: `warden playbook list | run | status`, locally and on a CloudFormation stack in the emulator.

The `--stack` path makes the calls it makes on AWS (DescribeStacks, StartExecution, DescribeExecution, Query)
against a CloudFormation stack of the emulator whose outputs have template.yaml's real output names, each
pointing at what a LocalStack deployed from template.yaml: the state machines run the real definitions.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import ROOT
from warden.models import Finding
from warden_local.cli import main
from warden_local.emulator import running_emulator
from warden_local.playbooks import DeployedStack, PlaybookError, discover, find, start_on_stack
from warden_local.run import deploy_parameters
from warden_local.stack import LocalStack

pytestmark = pytest.mark.e2e
USER = "arn:aws:iam::123456789012:user/ml-batch-svc"
KEY = "AKIAEXAMPLEBATCHSVC1"
STACK = "warden-prod"


def _cli(*args: str) -> Result:
    return CliRunner(mix_stderr=False).invoke(main, list(args), catch_exceptions=False)


def _json(result: Result) -> dict[str, Any]:
    assert result.stdout, result.stderr
    return dict(json.loads(result.stdout))


def register_stack(stack: LocalStack, name: str) -> dict[str, str]:
    """A CloudFormation stack named ``name`` whose outputs are template.yaml's, resolved to ``stack``'s resources.

    moto's CloudFormation cannot create SAM state machines with their substitutions, so the resources come from
    the LocalStack (the real definitions, substitutions resolved) and the stack carries only the outputs and
    the ResponseMode parameter a deployment would have.
    """
    outputs = {}
    for key, output in stack.template["Outputs"].items():
        value = output["Value"]
        if isinstance(value, dict) and value.get("Ref") in stack.resolver.refs:
            outputs[key] = {"Value": str(stack.resolver.refs[value["Ref"]])}
    body = {
        "Parameters": {"ResponseMode": {"Type": "String"}},
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    }
    with warnings.catch_warnings():  # moto creates no resource for the placeholder, and says so
        warnings.simplefilter("ignore", UserWarning)
        stack.client("cloudformation").create_stack(
            StackName=name,
            TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": "ResponseMode", "ParameterValue": stack.parameters["ResponseMode"]}],
        )
    return {key: spec["Value"] for key, spec in outputs.items()}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("stack")
    with running_emulator() as emulator:
        stack = LocalStack(
            emulator, ROOT, stack_name=STACK, parameters=deploy_parameters({"ResponseMode": "auto"}), workdir=workdir
        ).deploy()
        yield stack, register_stack(stack, STACK)


def _victim(stack: LocalStack, name: str) -> tuple[str, str]:
    iam = stack.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    return arn, iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]


def _status(stack: LocalStack, user: str, key: str) -> str:
    listed = stack.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in listed if k["AccessKeyId"] == key))


def test_list_json_names_every_playbook_of_the_template() -> None:
    result = _cli("playbook", "list", "--json")

    assert result.exit_code == 0
    listed = _json(result)["playbooks"]
    assert [p["name"] for p in listed] == [p.name for p in discover(ROOT)]
    assert all(p["input_schema"]["properties"]["id"]["pattern"] for p in listed)


def test_run_local_auto_deactivates_the_key(tmp_path: Path) -> None:
    result = _cli(
        "playbook", "run", "contain-access-key", "--local", "--mode", "auto", "--principal", USER,
        "--access-key-id", KEY, "--reason", "leaked in a public repository", "--json", "--workdir", str(tmp_path),
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    report = _json(result)
    assert report["mode"] == "auto"
    assert report["execution"]["status"] == "SUCCEEDED"
    assert report["status"] == "CONTAINED"
    (key,) = report["aws_state"]["access_keys"]
    assert key["as_in_events"] == KEY and key["user"] == "ml-batch-svc"
    assert key["status"] == "Inactive", "read back from the emulator's IAM"
    assert report["finding"]["access_key_id"] == key["access_key_id"]
    assert report["finding"]["details"]["reason"] == "leaked in a public repository"
    (action,) = report["actions"]
    assert action["state"] == "DONE" and action["undo"]["Status"] == "Active"
    assert report["notifications"], "the outcome was notified"


def test_run_local_dry_run_changes_nothing(tmp_path: Path) -> None:
    result = _cli(
        "playbook", "run", "contain-access-key", "--local", "--mode", "dry-run", "--scenario-seed", "llmjacking",
        "--principal", USER, "--access-key-id", KEY, "--json", "--workdir", str(tmp_path),
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    report = _json(result)
    assert report["status"] == "DRY_RUN"
    assert report["actions"] == []
    keys = report["aws_state"]["access_keys"]
    assert len(keys) > 1, "the scenario's victim was seeded beside the principal"
    assert all(k["status"] == "Active" for k in keys)


def test_run_on_a_stack_starts_the_deployed_state_machine_and_status_reads_the_incident(
    deployed: tuple[LocalStack, dict[str, str]],
) -> None:
    stack, outputs = deployed
    user_arn, key = _victim(stack, "stolen-key-user")

    result = _cli(
        "playbook", "run", "contain-access-key", "--stack", STACK, "--principal", user_arn, "--access-key-id", key,
        "--region", "us-east-1", "--wait", "60", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    report = _json(result)
    assert report["state_machine_arn"] == outputs["ContainAccessKeyStateMachineArn"]
    assert report["execution_arn"].endswith(":" + report["incident"]), "one execution per finding, named after it"
    assert report["status"] == "SUCCEEDED"
    assert _status(stack, "stolen-key-user", key) == "Inactive"

    status = _cli("playbook", "status", report["incident"], "--stack", STACK, "--json")

    assert status.exit_code == 0, status.stderr
    incident = _json(status)
    assert incident["table"] == outputs["IncidentTableName"]
    assert incident["status"] == "CONTAINED"
    assert incident["execution"]["status"] == "SUCCEEDED"
    assert incident["execution"]["arn"] == report["execution_arn"]
    (action,) = incident["actions"]
    assert action["access_key_id"] == key and action["new_status"] == "Inactive"


def test_a_finding_gets_one_execution_on_a_stack(deployed: tuple[LocalStack, dict[str, str]]) -> None:
    """The execution is named after the finding id, so starting the same finding again starts nothing new."""
    stack, _ = deployed
    sfn = stack.client("stepfunctions")
    user_arn, key = _victim(stack, "mode-user")

    result = _cli(
        "playbook", "run", "contain-access-key", "--stack", STACK, "--principal", user_arn, "--access-key-id", key,
        "--mode", "dry-run", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert "ignored" not in result.stderr, "the playbook honours a person's mode"
    report = _json(result)
    described = sfn.describe_execution(executionArn=report["execution_arn"])
    assert described["name"] == report["incident"]
    assert json.loads(described["input"]) == {"finding": report["finding"], "mode": "dry-run"}

    finding = Finding.model_validate(report["finding"])
    playbook = find(discover(ROOT), "contain-access-key")
    clients = stack.client
    try:
        again = start_on_stack(clients, DeployedStack.describe(clients, STACK), playbook, finding)["execution_arn"]
    except PlaybookError as exc:  # AWS returns the running execution for the same name and input; moto refuses
        assert "ExecutionAlreadyExists" in str(exc)
        again = report["execution_arn"]
    assert again == report["execution_arn"]
    executions = sfn.list_executions(stateMachineArn=report["state_machine_arn"])["executions"]
    assert [e["name"] for e in executions].count(finding.id) == 1


def test_status_of_an_unknown_incident_exits_1(deployed: tuple[LocalStack, dict[str, str]]) -> None:
    result = _cli("playbook", "status", "0" * 32, "--stack", STACK)

    assert result.exit_code == 1
    assert "no incident" in result.stderr


def test_run_on_a_stack_that_does_not_exist_exits_2(deployed: tuple[LocalStack, dict[str, str]]) -> None:
    result = _cli(
        "playbook", "run", "contain-access-key", "--stack", "nope", "--principal", USER, "--access-key-id", KEY
    )

    assert result.exit_code == 2
    assert "stack nope" in result.stderr
