"""template.yaml and the state machines keep the promises the code relies on.

These read the template itself: the rules must deliver every event the detectors consume (with the
rule state that read-only events need), every asynchronous hop must keep what it cannot deliver,
and every state machine must be JSONPath-only with Retry and Catch on every Task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from warden.detectors import REGISTRY
from warden_local.readers import to_eventbridge
from warden_local.stack import ALL_MANAGEMENT_EVENTS, Route, Target
from warden_local.template import load_template

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
STATE_MACHINES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::StateMachine"}
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def _sam_rules(logical: str) -> list[Route]:
    events = RESOURCES[logical]["Properties"].get("Events", {})
    return [
        Route(
            rule=name,
            bus="default" if "EventBusName" not in spec["Properties"] else "custom",
            pattern=spec["Properties"]["Pattern"],
            state=spec["Properties"].get("State", "ENABLED"),
            target=Target(kind="function", ref=logical),
        )
        for name, spec in events.items()
        if spec["Type"] == "EventBridgeRule"
    ]


def _cloudtrail_event(source: str, name: str) -> dict[str, Any]:
    return to_eventbridge(
        {
            "eventSource": source,
            "eventName": name,
            "eventID": f"{source}-{name}",
            "eventTime": "2026-11-20T14:00:00Z",
            "awsRegion": "us-east-1",
            "readOnly": True,
            "managementEvent": True,
            "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAEXAMPLEBATCHSVC1", "arn": "arn:aws:iam::1:user/u"},
        }
    )


def _consumed() -> Iterator[tuple[str, str, str]]:
    for detector in REGISTRY:
        for source, name in sorted(detector.consumes):
            yield detector.name, source, name


@pytest.mark.parametrize(("detector", "source", "name"), list(_consumed()))
def test_rules_deliver_every_event_a_detector_consumes(detector: str, source: str, name: str) -> None:
    routes = _sam_rules("BedrockUsageDetectorFunction")
    event = _cloudtrail_event(source, name)

    assert any(route.accepts(event) for route in routes), f"{detector} needs {name} from {source}"


def test_read_only_events_need_the_all_management_events_rule_state() -> None:
    invoke = _cloudtrail_event("bedrock.amazonaws.com", "InvokeModel")
    (bedrock,) = [r for r in _sam_rules("BedrockUsageDetectorFunction") if r.rule == "BedrockApiCalls"]

    assert bedrock.state == ALL_MANAGEMENT_EVENTS
    assert bedrock.accepts(invoke)
    plain = Route(rule=bedrock.rule, bus=bedrock.bus, pattern=bedrock.pattern, state="ENABLED", target=bedrock.target)
    assert not plain.accepts(invoke)
    write = {**invoke, "detail": {**invoke["detail"], "eventName": "PutUseCaseForModelAccess", "readOnly": False}}
    assert plain.accepts(write)


def test_identity_recon_rule_takes_long_term_keys_only() -> None:
    (identity,) = [r for r in _sam_rules("BedrockUsageDetectorFunction") if r.rule == "IdentityReconByLongTermKeys"]
    event = _cloudtrail_event("sts.amazonaws.com", "GetCallerIdentity")
    session = json.loads(json.dumps(event).replace("AKIAEXAMPLE", "ASIAEXAMPLE"))

    assert identity.accepts(event)
    assert not identity.accepts(session)


def test_detector_rules_do_not_take_unrelated_bedrock_calls() -> None:
    event = _cloudtrail_event("bedrock.amazonaws.com", "ListCustomModels")
    assert not any(r.accepts(event) for r in _sam_rules("BedrockUsageDetectorFunction"))


def _definitions() -> Iterator[tuple[str, dict[str, Any], Path]]:
    for logical, spec in STATE_MACHINES.items():
        path = ROOT / spec["Properties"]["DefinitionUri"]
        yield logical, json.loads(path.read_text()), path


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        nested = [state[k] for k in ("Iterator", "ItemProcessor") if k in state]
        for branch in state.get("Branches", []) + nested:
            yield from _states(branch)


@pytest.mark.parametrize(("logical", "definition", "path"), list(_definitions()), ids=lambda v: str(v)[:40])
def test_state_machines_are_jsonpath_with_retry_and_catch_on_every_task(
    logical: str, definition: dict[str, Any], path: Path
) -> None:
    text = path.read_text()
    assert "JSONata" not in text and '"Assign"' not in text, "moto cannot run JSONata or variables"
    assert definition.get("Comment")
    for name, state in _states(definition):
        if state["Type"] == "Task":
            assert state.get("Retry"), f"{logical}.{name} has no Retry"
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), f"{logical}.{name}"


@pytest.mark.parametrize(("logical", "definition", "path"), list(_definitions()), ids=lambda v: str(v)[:40])
def test_every_placeholder_is_substituted_and_nothing_else(
    logical: str, definition: dict[str, Any], path: Path
) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", path.read_text()))
    substitutions = set(STATE_MACHINES[logical]["Properties"]["DefinitionSubstitutions"])
    assert placeholders == substitutions
    assert "arn:aws:" not in json.dumps(definition).replace("arn:aws:states:::", ""), "ARNs come from substitutions"


@pytest.mark.parametrize(("logical", "definition", "path"), list(_definitions()), ids=lambda v: str(v)[:40])
def test_every_failure_path_ends_in_a_notification(logical: str, definition: dict[str, Any], path: Path) -> None:
    """Every Catch leads, through non-Task states or the record step, to an sns:publish Task."""
    states = dict(_states(definition))

    def reaches_publish(name: str, seen: frozenset[str] = frozenset()) -> bool:
        state = states[name]
        if state.get("Resource", "").endswith("sns:publish"):
            return True
        if name in seen or state["Type"] in {"Succeed", "Fail"}:
            return False
        nexts = [state.get("Next"), state.get("Default")] + [c.get("Next") for c in state.get("Choices", [])]
        return any(reaches_publish(n, seen | {name}) for n in nexts if n)

    for name, state in states.items():
        for catch in state.get("Catch", []):
            if "States.ALL" in catch["ErrorEquals"] and not state.get("Resource", "").endswith("sns:publish"):
                assert reaches_publish(catch["Next"]), f"{logical}.{name} fails silently"


def _rule_targets() -> Iterator[tuple[str, dict[str, Any]]]:
    for logical, spec in RESOURCES.items():
        for name, event in spec.get("Properties", {}).get("Events", {}).items():
            if event["Type"] == "EventBridgeRule":
                yield f"{logical}.{name}", event["Properties"]
        if spec["Type"] == "AWS::Events::Rule":
            for target in spec["Properties"]["Targets"]:
                yield f"{logical}.{target['Id']}", target


@pytest.mark.parametrize(("name", "target"), list(_rule_targets()), ids=lambda v: str(v)[:60])
def test_every_rule_target_retries_and_keeps_what_it_cannot_deliver(name: str, target: dict[str, Any]) -> None:
    assert target.get("DeadLetterConfig"), name
    assert target.get("RetryPolicy"), name


@pytest.mark.parametrize("logical", list(FUNCTIONS))
def test_every_function_has_a_failure_destination_and_a_log_group_with_retention(logical: str) -> None:
    """Asynchronously invoked functions keep what fails; a Task's function answers its state machine's Catch."""
    props = FUNCTIONS[logical]["Properties"]
    if props.get("Events"):
        assert props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    else:
        assert "EventInvokeConfig" not in props, "a synchronous function has no asynchronous retries"
        assert any(f"{logical}.Arn" in json.dumps(d) or logical in json.dumps(d) for d in _substitutions())
    group = RESOURCES[props["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_runtime_is_python313_on_arm64() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]


def test_deploys_in_dry_run_unless_told_otherwise() -> None:
    assert TEMPLATE["Parameters"]["ResponseMode"]["Default"] == "dry-run"


def test_the_stacks_own_roles_are_protected_and_ignored() -> None:
    policy = FUNCTIONS["ResponsePolicyFunction"]["Properties"]["Environment"]["Variables"]
    protected = json.dumps(policy["WARDEN_PROTECTED_PRINCIPALS"])
    assert '{"Ref": "ProtectedPrincipals"}' in protected
    own = json.dumps(FUNCTIONS["BedrockUsageDetectorFunction"]["Properties"]["Environment"]["Variables"])
    for logical in [*FUNCTIONS, *STATE_MACHINES]:
        assert f"{logical}Role" in own, f"{logical}'s calls would reach the detectors"
        assert f"{logical}Role" in protected, f"a finding could make Warden contain its own {logical}"


def _substitutions() -> list[dict[str, Any]]:
    return [spec["Properties"].get("DefinitionSubstitutions", {}) for spec in STATE_MACHINES.values()]


def _principal_condition(statement: dict[str, Any]) -> str:
    return json.dumps(statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])


def test_only_wardens_detector_and_named_publishers_may_put_findings() -> None:
    policy = RESOURCES["FindingsBusPolicy"]["Properties"]
    statement = policy["Statement"]
    assert policy["EventBusName"] == {"Ref": "FindingsBus"}
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "events:PutEvents")
    allowed = _principal_condition(statement)
    assert "BedrockUsageDetectorFunctionRole" in allowed and "FindingPublishers" in allowed
    assert "StateMachineRole" not in allowed, "playbooks read findings; they never publish them"


def test_only_wardens_state_machines_may_publish_notifications() -> None:
    (statement,) = RESOURCES["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "sns:Publish")
    allowed = _principal_condition(statement)
    assert sorted(re.findall(r"(\w+)Role", allowed)) == sorted(STATE_MACHINES)


def test_findings_no_deployed_playbook_answers_go_to_notify_only() -> None:
    routes = {
        logical: spec["Properties"]["Events"]["FindingRoute"]["Properties"]["Pattern"]
        for logical, spec in STATE_MACHINES.items()
        if "FindingRoute" in spec["Properties"].get("Events", {})
    }
    named = {pattern["detail"]["playbook"][0] for pattern in routes.values() if "detail" in pattern}
    catch_all = routes["NotifyOnlyStateMachine"]["$or"]
    assert catch_all[0] == {"detail": {"playbook": [None]}}
    assert catch_all[1] == {"detail": {"playbook": [{"anything-but": sorted(named)}]}}, "each finding: one route"
    assert "FindingNotificationRule" not in RESOURCES, "a direct finding-to-SNS rule would alert once per delivery"


def test_every_failure_has_an_alarm_that_does_not_need_the_notification_topic() -> None:
    alarms = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    watched = json.dumps(alarms)
    for logical in STATE_MACHINES:
        assert f'"Ref": "{logical}"' in watched, f"no alarm on failed {logical} executions"
    for logical in FUNCTIONS:
        assert f'"Ref": "{logical}"' in watched, f"no alarm on {logical} errors"
    for queue in ("DetectorDLQ", "EventDeliveryDLQ"):
        assert f'["{queue}", "QueueName"]' in watched, f"no alarm on {queue} depth"
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    heartbeat = alarms["DetectorHeartbeatAlarm"]
    assert (heartbeat["MetricName"], heartbeat["TreatMissingData"]) == ("Invocations", "breaching")
    assert "NotificationFailuresAlarm" in alarms and "DetectorThrottlesAlarm" in alarms


def test_protected_principals_are_denied_with_any_path_in_iam_too() -> None:
    deny = STATE_MACHINES["ContainAccessKeyStateMachine"]["Properties"]["Policies"][1]["Fn::If"][1]["Statement"][0]
    assert deny["Effect"] == "Deny"
    resources = json.dumps(deny["Resource"])
    assert '"user/*/"' in resources and '["user/", {"Ref": "ProtectedPrincipals"}]' in resources


def test_no_policy_grants_a_wildcard_resource_except_log_delivery() -> None:
    for logical, spec in {**FUNCTIONS, **STATE_MACHINES}.items():
        for policy in spec["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if statement.get("Resource") == "*":
                    assert all(a.startswith("logs:") for a in statement["Action"]), logical


def test_parameters_are_checked_as_cloudformation_checks_them() -> None:
    from warden_local.template import TemplateError, parameter_values

    assert parameter_values(TEMPLATE, {})["ResponseMode"] == "dry-run"
    for bad in ({"ResponseMode": "yolo"}, {"ProtectedPrincipals": "arn:aws:iam::1:user/a,"}, {"Unknown": "x"}):
        with pytest.raises(TemplateError):
            parameter_values(TEMPLATE, bad)


IAM_PREFIX = {"sfn": "states"}  # the SDK's service name where IAM's action prefix differs
IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}  # optimized integrations whose action is named otherwise


@pytest.mark.parametrize(("logical", "definition", "path"), list(_definitions()), ids=lambda v: str(v)[:40])
def test_the_state_machine_role_allows_every_call_its_tasks_make(
    logical: str, definition: dict[str, Any], path: Path
) -> None:
    """moto does not enforce IAM, so this is the check that a deployed playbook is not AccessDenied."""
    allowed = {
        action
        for policy in STATE_MACHINES[logical]["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    for name, state in _states(definition):
        resource = state.get("Resource", "")
        if state["Type"] != "Task":
            continue
        service, api = resource.removeprefix("arn:aws:states:::").removeprefix("aws-sdk:").split(":", 1)
        action = f"{IAM_PREFIX.get(service, service)}:{api[0].upper()}{api[1:]}"
        action = IAM_ACTION.get(action, action)
        assert action in allowed, f"{logical}.{name} calls {action}, which its role does not allow"


def test_every_playbook_that_dies_is_recorded_and_notified() -> None:
    recorder = STATE_MACHINES["RecordPlaybookFailureStateMachine"]["Properties"]["Events"]["PlaybookDidNotFinish"]
    watched = recorder["Properties"]["Pattern"]["detail"]["stateMachineArn"]
    playbooks = [name for name in STATE_MACHINES if name != "RecordPlaybookFailureStateMachine"]
    assert sorted(ref["Ref"] for ref in watched) == sorted(playbooks)
