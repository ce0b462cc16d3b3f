"""Give a playbook definition the response gates every playbook shares: a person's mode, approval and rate limit.

Usage: ``python scripts/asl_gates.py statemachines/<playbook>.asl.json ...`` (rewrites each file in place;
idempotent: running it again regenerates the gate states from this script, so a change here reaches every
playbook by running it once more; ``--check`` only reports files that would change).

What it adds, between the playbook's ``Act`` choice and the first state of its action (the state ``Act``
goes to when ``$.decision.act`` is true):

* ``ReadInput`` becomes a choice: an input ``{"finding": {...}, "mode": "..."}`` (a person starting the
  playbook by hand and asking for a mode) is read as the finding plus ``$.requested_mode``; any other input is
  the finding itself. ``CheckFinding`` checks the mode and answers it as ``$.triage.requested_mode``, with this
  hour's and the last hour's rate-counter keys; every decision request carries it.
* ``GateAction``: in ``approve`` mode (``$.decision.approval``) the plan is recorded (incident status
  ``AWAITING_APPROVAL``) and published to the notification topic with a task token (``AwaitApproval``,
  ``sns:publish.waitForTaskToken``, the token in the ``approval_token`` message attribute); the playbook acts
  when a person approves (``SendTaskSuccess``), records ``REJECTED`` when one rejects (``SendTaskFailure`` with
  error ``Warden.Rejected``), and when nobody answers within ``$.decision.approval_timeout`` seconds it
  follows ``$.decision.approval_default`` (``reject`` unless configured: ``APPROVAL_TIMED_OUT``).
* In ``auto`` mode, ``CountContainment`` adds one to this clock hour's counter of automatic containments,
  ``ReadEarlierCount`` reads the last hour's, and the response policy (``rate`` check) says whether the sum
  exceeds ``$.decision.rate_limit``; if it does, the containment waits for approval instead.

The definitions stay plain data: this script is how they were edited, not something the stack runs.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

GATE_STATES = (
    "ReadFindingInput",
    "ReadManualInput",
    "GateAction",
    "DescribeApprovalPlan",
    "CountContainment",
    "ReadEarlierCount",
    "CheckRate",
    "WithinRate",
    "DescribeRateLimited",
    "RecordAwaitingApproval",
    "AwaitApproval",
    "ApprovalTimedOut",
    "DescribeRejected",
    "DescribeApprovalTimedOut",
)
NO_MODE_CHECKS = {"finding", "incident", "rate", "notification"}
DECISION_FIELDS = ("mode", "approval", "approval_timeout", "approval_default", "rate_limit")
TRIAGE_FIELDS = ("requested_mode", "rate_bucket", "rate_previous", "expires_at", "responder_role_arn")
ACTING_SERVICES = ("arn:aws:states:::aws-sdk:iam:", "arn:aws:states:::aws-sdk:bedrock:")
"""Tasks of these services act as the playbook's responder role (``Credentials.RoleArn``)."""

DYNAMODB_RETRY = [
    {
        "ErrorEquals": [
            "DynamoDB.ProvisionedThroughputExceededException",
            "DynamoDB.RequestLimitExceeded",
            "DynamoDB.InternalServerErrorException",
            "DynamoDB.InternalServerError",
            "DynamoDB.ThrottlingException",
            "DynamoDB.AmazonDynamoDBException",
            "States.Timeout",
        ],
        "IntervalSeconds": 1,
        "MaxAttempts": 4,
        "BackoffRate": 2.0,
    }
]
LAMBDA_RETRY = [
    {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "States.Timeout",
        ],
        "IntervalSeconds": 1,
        "MaxAttempts": 4,
        "BackoffRate": 2.0,
    }
]
SNS_RETRY = [
    {
        # Not States.Timeout: here it means that nobody answered, which is handled, never retried.
        "ErrorEquals": ["SNS.SnsException", "SNS.ThrottledException", "SNS.InternalErrorException",
                        "SNS.KmsThrottlingException"],
        "IntervalSeconds": 1,
        "MaxAttempts": 4,
        "BackoffRate": 2.0,
    }
]  # fmt: skip
TO_FAILURE = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DescribeFailure"}]


def _policy_tasks(states: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        state
        for state in states.values()
        if state.get("Type") == "Task"
        and state.get("Resource") == "arn:aws:states:::lambda:invoke"
        and "${ResponsePolicyFunctionArn}" in json.dumps(state.get("Parameters", {}))
    ]


def _playbook_name(states: dict[str, Any]) -> str:
    for state in _policy_tasks(states):
        name = state["Parameters"].get("Payload", {}).get("playbook")
        if isinstance(name, str):
            return name
    raise SystemExit("no response-policy request names the playbook")


def _action_start(states: dict[str, Any]) -> str:
    """The state ``Act`` goes to when the decision is to act (or, once gated, the one the gate leads to)."""
    if "WithinRate" in states:
        return str(states["WithinRate"]["Default"])
    for choice in states["Act"]["Choices"]:
        if choice.get("Variable") == "$.decision.act" and choice.get("BooleanEquals") is True:
            return str(choice["Next"])
    raise SystemExit("Act has no choice on $.decision.act == true")


def _attributes(playbook: str, status: str) -> dict[str, Any]:
    def text(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue.$": value} if value.startswith("$") else {
            "DataType": "String", "StringValue": value}  # fmt: skip

    return {
        "outcome": text(status),
        "status": text(status),
        "severity": text("$.finding.severity"),
        "family": text("$.finding.family"),
        "account": text("$.finding.account"),
        "playbook": text(playbook),
        "incident": text("$.finding.id"),
    }


def _counter(comment: str, bucket: str, add: int, result: str, then: str) -> dict[str, Any]:
    """An update of an hourly containment counter that answers its count (adding ``add``)."""
    return {
        "Type": "Task",
        "Comment": comment,
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": "${IncidentTableName}",
            "Key": {"pk": {"S.$": bucket}, "sk": {"S": "RATE"}},
            "UpdateExpression": "ADD containments :add SET expires_at = if_not_exists(expires_at, :expires)",
            "ExpressionAttributeValues": {
                ":add": {"N": str(add)},
                ":expires": {"N.$": "States.Format('{}', $.triage.expires_at)"},
            },
            "ReturnValues": "ALL_NEW",
        },
        "ResultSelector": {"Attributes.$": "$.Attributes"},
        "ResultPath": result,
        "Retry": copy.deepcopy(DYNAMODB_RETRY),
        "Catch": copy.deepcopy(TO_FAILURE),
        "Next": then,
    }


def gate_states(playbook: str, action_start: str) -> dict[str, Any]:
    """The states the gate adds, leading to ``action_start`` when the playbook may act."""
    incident_key = {"pk": {"S.$": "States.Format('INCIDENT#{}', $.finding.id)"}, "sk": {"S": "FINDING"}}
    approval_attributes = _attributes(playbook, "AWAITING_APPROVAL")
    approval_attributes["approval_token"] = {"DataType": "String", "StringValue.$": "$$.Task.Token"}
    return {
        "GateAction": {
            "Type": "Choice",
            "Comment": "approve mode waits for a person; auto mode is held to the hourly rate limit first.",
            "Choices": [{"Variable": "$.decision.approval", "BooleanEquals": True, "Next": "DescribeApprovalPlan"}],
            "Default": "CountContainment",
        },
        "DescribeApprovalPlan": {
            "Type": "Pass",
            "Comment": "The plan a person is asked to approve.",
            "Parameters": {"summary.$": "$.decision.summary", "default.$": "$.decision.approval_default"},
            "ResultPath": "$.gate",
            "Next": "RecordAwaitingApproval",
        },
        "CountContainment": _counter(
            "Counts this automatic containment in this clock hour's counter (kept two days).",
            "$.triage.rate_bucket",
            1,
            "$.rate.current",
            "ReadEarlierCount",
        ),
        "ReadEarlierCount": _counter(
            "The last clock hour's count (an update that adds nothing, so that it answers even when none).",
            "$.triage.rate_previous",
            0,
            "$.rate.previous",
            "CheckRate",
        ),
        "CheckRate": {
            "Type": "Task",
            "Comment": "More automatic containments than the limit in the last hour or two? Then a person decides.",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": "${ResponsePolicyFunctionArn}",
                "Payload": {
                    "check": "rate",
                    "playbook": playbook,
                    "finding.$": "$.finding",
                    "counts.$": "States.Array($.rate.current, $.rate.previous)",
                },
            },
            "ResultSelector": {"over.$": "$.Payload.over", "summary.$": "$.Payload.summary"},
            "ResultPath": "$.rate.check",
            "Retry": copy.deepcopy(LAMBDA_RETRY),
            "Catch": copy.deepcopy(TO_FAILURE),
            "Next": "WithinRate",
        },
        "WithinRate": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.rate.check.over", "BooleanEquals": True, "Next": "DescribeRateLimited"}],
            "Default": action_start,
        },
        "DescribeRateLimited": {
            "Type": "Pass",
            "Comment": "Over the rate limit: the same plan, for a person to approve.",
            "Parameters": {
                "summary.$": "States.Format('{} Plan: {}', $.rate.check.summary, $.decision.summary)",
                # An unanswered request must not let a flood through after the timeout.
                "default": "reject",
            },
            "ResultPath": "$.gate",
            "Next": "RecordAwaitingApproval",
        },
        "RecordAwaitingApproval": {
            "Type": "Task",
            "Comment": "The incident waits for a person: its status, the plan, and the request in its history.",
            "Resource": "arn:aws:states:::dynamodb:updateItem",
            "Parameters": {
                "TableName": "${IncidentTableName}",
                "Key": incident_key,
                "UpdateExpression": "SET #status = :awaiting, summary = :summary, approval_requested_at = :at, "
                "history = list_append(if_not_exists(history, :none), :attempt)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":awaiting": {"S": "AWAITING_APPROVAL"},
                    ":summary": {"S.$": "$.gate.summary"},
                    ":at": {"S.$": "$$.State.EnteredTime"},
                    ":none": {"L": []},
                    ":attempt": {
                        "L": [
                            {
                                "M": {
                                    "status": {"S": "AWAITING_APPROVAL"},
                                    "summary": {"S.$": "$.gate.summary"},
                                    "at": {"S.$": "$$.State.EnteredTime"},
                                    "execution": {"S.$": "$$.Execution.Id"},
                                }
                            }
                        ]
                    },
                },
            },
            "ResultPath": None,
            "Retry": copy.deepcopy(DYNAMODB_RETRY),
            "Catch": copy.deepcopy(TO_FAILURE),
            "Next": "AwaitApproval",
        },
        "AwaitApproval": {
            "Type": "Task",
            "Comment": "Posts the plan and waits for a person: approve or reject from Slack or "
            "`warden playbook approve|reject`, which read the task token from this state's parameters. An "
            "unanswered request ends after approval_timeout seconds and follows approval_default.",
            "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
            "TimeoutSecondsPath": "$.decision.approval_timeout",
            "Parameters": {
                "TopicArn": "${NotificationTopicArn}",
                "Subject.$": "States.Format('[Bedrock Warden] APPROVAL NEEDED: {} {} finding ({})', "
                "$.finding.severity, $.finding.family, $.finding.detector)",
                "Message.$": "States.Format('{}\n\nAPPROVAL NEEDED. {}\n\nApprove: warden playbook approve {} "
                "--stack <stack>\nReject:  warden playbook reject {} --stack <stack> --reason <why>\n"
                "Unanswered after {} seconds: {}.\n\nFinding: {}\nDetector: {} ({}, severity {})\nPrincipal: "
                "{}\nAccount / region: {} / {}\nFirst evidence: {}\nPlaybook: "
                + playbook
                + "\nPlaybook execution: {}', $.finding.title, $.gate.summary, $.finding.id, $.finding.id, "
                "$.decision.approval_timeout, $.gate.default, $.finding.id, $.finding.detector, "
                "$.finding.family, $.finding.severity, $.finding.principal, $.finding.account, $.finding.region, "
                "States.ArrayGetItem($.finding.evidence, 0), "
                "$$.Execution.Id)",
                "MessageAttributes": approval_attributes,
            },
            "ResultPath": "$.approval",
            "Retry": copy.deepcopy(SNS_RETRY),
            "Catch": [
                {"ErrorEquals": ["Warden.Rejected"], "ResultPath": "$.error", "Next": "DescribeRejected"},
                {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "ApprovalTimedOut"},
                *copy.deepcopy(TO_FAILURE),
            ],
            "Next": action_start,
        },
        "ApprovalTimedOut": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.gate.default", "StringEquals": "approve", "Next": action_start}],
            "Default": "DescribeApprovalTimedOut",
        },
        "DescribeRejected": {
            "Type": "Pass",
            "Parameters": {
                "status": "REJECTED",
                "summary.$": "States.Format('Rejected by a person: nothing was changed. {} The plan was: {}', "
                "$.error.Cause, $.gate.summary)",
            },
            "ResultPath": "$.outcome",
            "Next": "RecordOutcome",
        },
        "DescribeApprovalTimedOut": {
            "Type": "Pass",
            "Parameters": {
                "status": "APPROVAL_TIMED_OUT",
                "summary.$": "States.Format('Nobody approved within {} seconds, so nothing was changed (approval "
                "default: reject). The plan was: {}', $.decision.approval_timeout, $.gate.summary)",
            },
            "ResultPath": "$.outcome",
            "Next": "RecordOutcome",
        },
    }


def _read_input() -> dict[str, Any]:
    return {
        "ReadInput": {
            "Type": "Choice",
            "Comment": 'A person starting the playbook by hand may ask for a mode: {"finding": {...}, "mode": '
            '"dry-run|approve|auto"}. Any other input is taken as the finding itself.',
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.finding", "IsPresent": True},
                        {"Variable": "$.mode", "IsPresent": True},
                    ],
                    "Next": "ReadManualInput",
                }
            ],
            "Default": "ReadFindingInput",
        },
        "ReadManualInput": {
            "Type": "Pass",
            "Parameters": {"finding.$": "$.finding", "requested_mode.$": "$.mode"},
            "Next": "CheckFinding",
        },
        "ReadFindingInput": {
            "Type": "Pass",
            "Comment": "The input is kept under $.finding whatever its shape, so that no later state can meet a "
            "non-object.",
            "Parameters": {"finding.$": "$", "requested_mode": None},
            "Next": "CheckFinding",
        },
    }


def apply(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with its gates (re)generated."""
    result = copy.deepcopy(definition)
    states: dict[str, Any] = result["States"]
    playbook = _playbook_name(states)
    start = _action_start(states)
    for name in GATE_STATES:
        states.pop(name, None)
    for choice in states["Act"]["Choices"]:
        if choice.get("Variable") == "$.decision.act" and choice.get("BooleanEquals") is True:
            choice["Next"] = "GateAction"

    # ReadInput first, then the gate states after Act, then the rest in their order.
    rebuilt: dict[str, Any] = {}
    for name, state in states.items():
        if name == "ReadInput":
            rebuilt.update(_read_input())
            continue
        rebuilt[name] = state
        if name == "Act":
            rebuilt.update(gate_states(playbook, start))
    result["States"] = rebuilt

    for state in _policy_tasks(rebuilt):
        _carry_mode(state, decide=state is rebuilt.get("Decide"))
    _act_as_responder(rebuilt, "$.triage.responder_role_arn")
    return result


def _act_as_responder(states: dict[str, Any], role_path: str) -> None:
    """Every IAM and Bedrock Task acts as the responder role; a Map hands the role to its items as ``$.responder``."""
    for state in states.values():
        if state.get("Type") == "Task" and str(state.get("Resource", "")).startswith(ACTING_SERVICES):
            state["Credentials"] = {"RoleArn.$": role_path}
        elif state.get("Type") == "Map":
            inner = state.get("ItemProcessor", {}).get("States", {})
            if any(str(s.get("Resource", "")).startswith(ACTING_SERVICES) for s in inner.values()):
                state.setdefault("ItemSelector", {})["responder.$"] = role_path
                _act_as_responder(inner, "$.responder")


def _carry_mode(state: dict[str, Any], *, decide: bool) -> None:
    """Make a response-policy request carry the person's mode, and its answer keep what the gate needs."""
    payload = state["Parameters"]["Payload"]
    check = payload.get("check")
    selector = state.setdefault("ResultSelector", {})
    if check == "finding":
        payload["requested_mode.$"] = "$.requested_mode"
        selector.update({f"{field}.$": f"$.Payload.{field}" for field in TRIAGE_FIELDS})
    elif check not in NO_MODE_CHECKS:
        payload["requested_mode.$"] = "$.triage.requested_mode"
        if decide:
            selector.update({f"{field}.$": f"$.Payload.{field}" for field in DECISION_FIELDS})


def dumps(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report files that would change; change nothing")
    args = parser.parse_args(argv)
    stale = []
    for path in args.files:
        text = path.read_text()
        updated = dumps(apply(json.loads(text)))
        if updated != text:
            stale.append(path)
            if not args.check:
                path.write_text(updated)
    for path in stale:
        print(f"{'would update' if args.check else 'updated'} {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
