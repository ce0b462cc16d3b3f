"""The restore-invocation-logging playbook: its real definition, executed by moto, and Bedrock's state after."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import load_json
from tests.integration.playbook import incident, logging_configuration, logging_finding_for, run_playbook
from warden_local.emulator import Emulator
from warden_local.faults import FaultPlan
from warden_local.stack import LocalStack

PLAYBOOK = "restore-invocation-logging"
KNOWN_GOOD: dict[str, Any] = load_json("findings/restore_invocation_logging__deleted.json")["details"][
    "previous_configuration"
]
WEAK = {"s3Config": {"bucketName": "somewhere-else"}, "textDataDeliveryEnabled": False}


def set_logging(stack: LocalStack, config: dict[str, Any] | None) -> None:
    bedrock = stack.client("bedrock")
    if config is None:
        bedrock.delete_model_invocation_logging_configuration()
    else:
        bedrock.put_model_invocation_logging_configuration(loggingConfig=config)


@pytest.fixture(scope="module")
def stack(deploy: Callable[..., LocalStack]) -> LocalStack:
    return deploy(ResponseMode="auto")


@pytest.mark.parametrize("before", [None, WEAK], ids=["deleted", "weakened"])
def test_restores_the_known_good_configuration_and_records_the_undo(
    stack: LocalStack, before: dict[str, Any] | None
) -> None:
    set_logging(stack, before)
    finding = logging_finding_for(KNOWN_GOOD)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "RestoreLogging" in execution.states
    assert logging_configuration(stack) == KNOWN_GOOD
    items = incident(stack, finding["id"])
    assert items["FINDING"]["status"] == "RESTORED"
    action = items["ACTION"]
    assert action["state"] == "DONE", "the intent recorded before acting was completed"
    assert json.loads(action["new_configuration"]) == KNOWN_GOOD
    assert json.loads(action["previous_configuration"]) == before
    if before is None:
        assert action["undo"] == {"api": "bedrock:DeleteModelInvocationLoggingConfiguration"}
    else:
        assert action["undo"] == {"api": "bedrock:PutModelInvocationLoggingConfiguration", "loggingConfig": before}
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "RESTORED"
    assert "cannot be recovered" in notification["message"]


def test_the_recorded_undo_returns_logging_to_what_it_was(stack: LocalStack) -> None:
    set_logging(stack, WEAK)
    finding = logging_finding_for(KNOWN_GOOD)
    run_playbook(stack, finding, PLAYBOOK)
    undo = incident(stack, finding["id"])["ACTION"]["undo"]

    stack.client("bedrock").put_model_invocation_logging_configuration(loggingConfig=undo["loggingConfig"])

    assert logging_configuration(stack) == WEAK


def test_the_stack_parameter_is_restored_when_the_finding_carries_none(deploy: Callable[..., LocalStack]) -> None:
    fallback = {"s3Config": {"bucketName": "fallback-logs", "keyPrefix": "b/"}, "textDataDeliveryEnabled": True}
    with_parameter = deploy(ResponseMode="auto", KnownGoodInvocationLogging=json.dumps(fallback))
    set_logging(with_parameter, None)
    finding = logging_finding_for(None)

    execution = run_playbook(with_parameter, finding, PLAYBOOK)

    assert "RestoreLogging" in execution.states
    assert logging_configuration(with_parameter) == fallback
    assert "KnownGoodInvocationLogging" in incident(with_parameter, finding["id"])["ACTION"]["restored_from"]


def test_nothing_to_restore_is_refused_with_a_clear_notification(stack: LocalStack) -> None:
    set_logging(stack, None)
    finding = logging_finding_for(None)

    execution = run_playbook(stack, finding, PLAYBOOK)

    assert execution.status == "SUCCEEDED"
    assert "RestoreLogging" not in execution.states
    assert logging_configuration(stack) is None
    assert incident(stack, finding["id"])["FINDING"]["status"] == "NOTHING_TO_RESTORE"
    (notification,) = stack.notifications()
    assert notification["attributes"]["outcome"] == "NOTHING_TO_RESTORE"
    assert "Nothing to restore" in notification["message"]


def test_dry_run_changes_nothing_and_says_what_it_would_do(deploy: Callable[..., LocalStack]) -> None:
    dry = deploy()
    set_logging(dry, WEAK)
    finding = logging_finding_for(KNOWN_GOOD)

    execution = run_playbook(dry, finding, PLAYBOOK)

    assert "RestoreLogging" not in execution.states
    assert logging_configuration(dry) == WEAK
    assert incident(dry, finding["id"])["FINDING"]["status"] == "DRY_RUN"
    (notification,) = dry.notifications()
    assert "aws bedrock put-model-invocation-logging-configuration" in notification["message"]


def test_a_finding_about_another_region_is_refused(stack: LocalStack) -> None:
    set_logging(stack, WEAK)

    execution = run_playbook(stack, logging_finding_for(KNOWN_GOOD, region="eu-west-1"), PLAYBOOK)

    assert "RestoreLogging" not in execution.states
    assert logging_configuration(stack) == WEAK
    assert stack.notifications()[0]["attributes"]["outcome"] == "REFUSED_MISMATCH"


def test_a_redelivered_finding_is_handled_once(stack: LocalStack) -> None:
    set_logging(stack, None)
    finding = logging_finding_for(KNOWN_GOOD)
    run_playbook(stack, finding, PLAYBOOK)
    set_logging(stack, None)

    second = run_playbook(stack, finding, PLAYBOOK)

    assert second.states[-1] == "AlreadyHandled"
    assert logging_configuration(stack) is None, "the duplicate did not act again"
    assert stack.notifications() == []


def test_the_emulator_takes_and_gives_aws_sdk_members_in_pascal_case_as_step_functions_does() -> None:
    """The definition is written for AWS (``LoggingConfig``); moto's interpreter is made to read it the same way."""
    from botocore.session import get_session

    from warden_local.sdk_shapes import to_api, to_sfn

    bedrock = get_session().get_service_model("bedrock")
    put = bedrock.operation_model("PutModelInvocationLoggingConfiguration").input_shape
    get = bedrock.operation_model("GetModelInvocationLoggingConfiguration").output_shape
    as_sfn = {"LoggingConfig": {"S3Config": {"BucketName": "b"}, "TextDataDeliveryEnabled": True}}
    as_api = {"loggingConfig": {"s3Config": {"bucketName": "b"}, "textDataDeliveryEnabled": True}}
    assert to_api(as_sfn, put) == as_api
    assert to_sfn(as_api, get) == as_sfn
    iam = get_session().get_service_model("iam").operation_model("GetRolePolicy").output_shape
    document = {"Statement": [{"Condition": {"DateLessThan": {"aws:TokenIssueTime": "t"}}}]}
    answer = {"RoleName": "r", "PolicyName": "p", "PolicyDocument": document}
    assert to_sfn(answer, iam) == answer, "IAM's members are PascalCase already; a document's keys are never touched"


def test_a_bedrock_call_that_keeps_failing_ends_failed_and_notified(stack: LocalStack, emulator: Emulator) -> None:
    bedrock = stack.client("bedrock")  # the runner's own client: never faulted
    with contextlib.suppress(Exception):
        bedrock.delete_model_invocation_logging_configuration()
    finding = logging_finding_for(
        load_json("findings/restore_invocation_logging__deleted.json")["details"]["previous_configuration"]
    )

    with emulator.faults.injecting(FaultPlan(rate=1.0, services=frozenset({"bedrock"}), kinds=("server-error",))):
        execution = run_playbook(stack, finding, PLAYBOOK)

    assert (execution.status, execution.error) == ("FAILED", "ContainmentFailed")
    assert logging_configuration(stack) is None, "nothing was restored"
    assert incident(stack, finding["id"])["FINDING"]["status"] == "FAILED"
    notes = [n for n in stack.notifications() if n["attributes"].get("incident") == finding["id"]]
    assert [n["attributes"]["outcome"] for n in notes] == ["FAILED"], "one finding, one alert"
    assert "InternalServerException" in notes[0]["message"]

    again = run_playbook(stack, finding, PLAYBOOK)  # a FAILED incident may be run again
    assert again.status == "SUCCEEDED"
    assert logging_configuration(stack) is not None
