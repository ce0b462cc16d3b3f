"""A person's decisions on an incident: approve or reject a playbook waiting for approval, undo what it did.

Everything here is about the incident table's records and the playbook's execution, through three ports
(:class:`IncidentStore`, :class:`Workflow`, :class:`UndoCaller`); the boto3 adapters are in
:mod:`warden.adapters.approvals`, in-memory fakes in the unit tests. The command line (``warden playbook
approve | reject | undo``) and, later, a Slack callback are thin shells over :func:`decide` and :func:`undo`.

Approval. A playbook in ``approve`` mode records its incident as ``AWAITING_APPROVAL`` and waits in its
``AwaitApproval`` state on a Step Functions task token. :func:`decide` finds that token in the execution's
history, records who decided in the incident's history (a conditional write, so that two people deciding at
once cannot both win), then hands the decision to Step Functions: the playbook acts, or records ``REJECTED``.

Undo. Each action a playbook takes is recorded before it acts with ``undo``: the one API call that reverses
it (``api`` plus its parameters), or ``{"api": "none", "reason": ...}`` for an action that cannot be reversed.
:func:`plan_undo` reads those records, newest first, against an allow-list of undo calls and the parameters
each may take (a record in the table is data, not a command: anything else is refused, never called);
:func:`undo` claims each action before calling (state ``UNDOING``), marks it ``UNDONE`` after, and appends one
entry to the incident's history. The calls are made with the credentials of the person running it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from warden import clock
from warden.errors import WardenError
from warden.observability import logger

AWAITING_APPROVAL = "AWAITING_APPROVAL"
"""The incident's status while its playbook waits for a person."""
APPROVAL_STATE = "AwaitApproval"
"""The playbook state that waits on the task token."""
TOKEN_ATTRIBUTE = "approval_token"  # noqa: S105  a message attribute name, no secret
"""The SNS message attribute of ``AwaitApproval``'s publish that carries the task token."""
REJECTED_ERROR = "Warden.Rejected"
"""The error a rejection fails the waiting task with; the playbook catches it and records REJECTED."""
UNDO_LEASE = timedelta(minutes=15)
"""An undo claimed longer ago than this, and never finished, may be taken again (its process died)."""
MAX_REASON = 500
"""Characters of a rejection reason kept (it goes to the history, the notification and Step Functions)."""
ALREADY_ABSENT = frozenset({"NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException"})
"""Error codes that mean a Delete/Detach undo finds its work done already."""


class ApprovalRefused(WardenError):
    """A decision refused before anything changed: the message says why, and what to do instead."""


class UndoRefused(WardenError):
    """An undo refused before anything changed: the message says why."""


class WorkflowError(WardenError):
    """Step Functions refused a call (an expired or unknown token, access denied...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class UndoCallError(WardenError):
    """The AWS call of an undo failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class DecisionConflict(WardenError):
    """Someone else decided first, or the incident moved on, between reading it and recording the decision."""


# ---------------------------------------------------------------------------------------------- ports


@dataclass(frozen=True)
class Incident:
    """The incident's ``FINDING`` record: what a decision or an undo needs of it."""

    id: str
    status: str
    execution: str | None
    playbook: str | None = None
    summary: str | None = None
    history: tuple[Mapping[str, Any], ...] = ()


class IncidentStore(Protocol):
    """The incident table (``INCIDENT#<finding id>``: the ``FINDING`` record and its ``ACTION#`` items)."""

    def incident(self, incident_id: str) -> Incident | None:
        """The incident's record, or None when there is none."""

    def actions(self, incident_id: str) -> list[dict[str, Any]]:
        """The incident's action items as plain values (``sk``, ``action``, ``state``, ``undo``...)."""

    def claim_decision(self, incident_id: str, execution: str, entry: Mapping[str, Any]) -> None:
        """Append ``entry`` to the history if the incident still awaits approval in ``execution`` and nobody
        decided on that execution yet; else :class:`DecisionConflict`."""

    def release_decision(self, incident_id: str, execution: str, entry: Mapping[str, Any]) -> None:
        """Append ``entry`` (why the decision did not reach the playbook) and allow another decision."""

    def claim_undo(self, incident_id: str, sk: str, *, by: str, at: str, stale_before: str) -> bool:
        """Set the action ``UNDOING`` if it is ``DONE`` (or an ``UNDOING`` claimed before ``stale_before``)."""

    def finish_undo(self, incident_id: str, sk: str, *, by: str, at: str, note: str | None) -> None:
        """Set the action ``UNDONE`` with ``undone_at`` and ``undone_by``."""

    def fail_undo(self, incident_id: str, sk: str, *, error: str, at: str) -> None:
        """Put the action back to ``DONE`` with the error, so that undo can be tried again."""

    def refuse_undo(self, incident_id: str, sk: str, *, reason: str, by: str, at: str) -> None:
        """Record on the action why undo refused it (its state is left as it is)."""

    def record_undo(self, incident_id: str, entry: Mapping[str, Any], *, status: str | None) -> None:
        """Append ``entry`` to the history; set the incident's status (and summary) when ``status`` is given."""


class Workflow(Protocol):
    """Step Functions, as far as a decision needs it."""

    def execution_status(self, execution_arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED..."""

    def approval_token(self, execution_arn: str) -> str | None:
        """The task token the execution waits on in ``AwaitApproval``, or None when it does not wait there."""

    def send_success(self, token: str, output: str) -> None:
        """``SendTaskSuccess``; :class:`WorkflowError` when refused."""

    def send_failure(self, token: str, error: str, cause: str) -> None:
        """``SendTaskFailure``; :class:`WorkflowError` when refused."""


class UndoCaller(Protocol):
    """Makes one AWS call of the allow-list, with the caller's credentials."""

    def call(self, service: str, method: str, parameters: Mapping[str, Any]) -> None:
        """``<service client>.<method>(**parameters)``; :class:`UndoCallError` when AWS refuses it."""


# ---------------------------------------------------------------------------------------------- approve / reject


@dataclass(frozen=True)
class DecisionResult:
    incident: str
    decision: str  # APPROVED | REJECTED
    by: str
    at: str
    execution: str
    summary: str

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "decision": self.decision,
            "by": self.by,
            "at": self.at,
            "execution": self.execution,
            "summary": self.summary,
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _waiting(store: IncidentStore, workflow: Workflow, incident_id: str) -> tuple[Incident, str, str]:
    """The incident, its execution and the token it waits on; :class:`ApprovalRefused` when it does not wait."""
    incident = store.incident(incident_id)
    if incident is None:
        raise ApprovalRefused(f"no incident {incident_id} in the incident table")
    if incident.status != AWAITING_APPROVAL:
        raise ApprovalRefused(
            f"incident {incident_id} is {incident.status}, not {AWAITING_APPROVAL}: there is nothing to decide"
        )
    if not incident.execution:
        raise ApprovalRefused(f"incident {incident_id} names no execution")
    status = workflow.execution_status(incident.execution)
    if status != "RUNNING":
        raise ApprovalRefused(
            f"incident {incident_id}'s execution {incident.execution} is {status}, not RUNNING: its approval"
            " timed out or it ended; see warden playbook status"
        )
    token = workflow.approval_token(incident.execution)
    if token is None:
        raise ApprovalRefused(
            f"execution {incident.execution} is not waiting in {APPROVAL_STATE}: no task token to answer"
        )
    return incident, incident.execution, token


def decide(
    store: IncidentStore,
    workflow: Workflow,
    incident_id: str,
    *,
    approve: bool,
    by: str,
    reason: str | None = None,
) -> DecisionResult:
    """Approve or reject the playbook waiting on ``incident_id``, as ``by``; the decision is in its history.

    The decision is recorded first (conditionally: one decision per execution), then sent to Step Functions;
    if Step Functions refuses it (the approval timed out meanwhile), that is recorded too and the claim is
    released, and :class:`WorkflowError` is raised.
    """
    by = by.strip()
    if not by:
        raise ApprovalRefused("say who decides (--by), or run with credentials whose ARN says it")
    incident, execution, token = _waiting(store, workflow, incident_id)
    at = _iso(clock.now())
    if approve:
        decision, summary = "APPROVED", f"Approved by {by}."
    else:
        why = (reason or "no reason given").strip()[:MAX_REASON] or "no reason given"
        decision, summary = "REJECTED", f"Rejected by {by}: {why}"
    entry = {"status": decision, "summary": summary, "at": at, "by": by, "execution": execution}
    store.claim_decision(incident.id, execution, entry)
    try:
        if approve:
            workflow.send_success(token, json.dumps({"approved_by": by, "at": at}))
        else:
            workflow.send_failure(token, REJECTED_ERROR, summary)
    except WorkflowError as exc:
        undelivered = {
            "status": "DECISION_NOT_DELIVERED",
            "summary": f"{decision.capitalize()} by {by}, but Step Functions refused it ({exc.code}).",
            "at": _iso(clock.now()),
            "by": by,
            "execution": execution,
        }
        store.release_decision(incident.id, execution, undelivered)
        logger.warning("decision not delivered", incident=incident.id, decision=decision, error=exc.code)
        raise
    logger.info("decision delivered", incident=incident.id, decision=decision, execution=execution)
    return DecisionResult(incident.id, decision, by, at, execution, summary)


# ---------------------------------------------------------------------------------------------- undo


@dataclass(frozen=True)
class UndoApi:
    """One call undo may make: the boto3 client and method, and the parameters it may take."""

    service: str
    method: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    """Parameters that must have exactly this value (a reactivation sets Active, never anything else)."""

    @property
    def removes(self) -> bool:
        """A Delete/Detach: finding the thing already gone means the undo is done."""
        return self.method.startswith(("delete_", "detach_"))


def _api(service: str, method: str, *required: str, optional: Sequence[str] = (), **fixed: Any) -> UndoApi:
    return UndoApi(service, method, frozenset(required) | frozenset(fixed), frozenset(optional), fixed)


UNDO_APIS: dict[str, UndoApi] = {
    "iam:UpdateAccessKey": _api("iam", "update_access_key", "AccessKeyId", optional=["UserName"], Status="Active"),
    "iam:UpdateServiceSpecificCredential": _api(
        "iam",
        "update_service_specific_credential",
        "ServiceSpecificCredentialId",
        optional=["UserName"],
        Status="Active",
    ),
    "iam:DeleteRolePolicy": _api("iam", "delete_role_policy", "RoleName", "PolicyName"),
    "iam:PutRolePolicy": _api("iam", "put_role_policy", "RoleName", "PolicyName", "PolicyDocument"),
    "iam:DeleteUserPolicy": _api("iam", "delete_user_policy", "UserName", "PolicyName"),
    "iam:PutUserPolicy": _api("iam", "put_user_policy", "UserName", "PolicyName", "PolicyDocument"),
    "iam:DeleteGroupPolicy": _api("iam", "delete_group_policy", "GroupName", "PolicyName"),
    "iam:PutGroupPolicy": _api("iam", "put_group_policy", "GroupName", "PolicyName", "PolicyDocument"),
    "iam:AttachUserPolicy": _api("iam", "attach_user_policy", "UserName", "PolicyArn"),
    "iam:AttachRolePolicy": _api("iam", "attach_role_policy", "RoleName", "PolicyArn"),
    "iam:AttachGroupPolicy": _api("iam", "attach_group_policy", "GroupName", "PolicyArn"),
    "iam:DetachUserPolicy": _api("iam", "detach_user_policy", "UserName", "PolicyArn"),
    "iam:DetachRolePolicy": _api("iam", "detach_role_policy", "RoleName", "PolicyArn"),
    "iam:DetachGroupPolicy": _api("iam", "detach_group_policy", "GroupName", "PolicyArn"),
    "iam:UpdateAssumeRolePolicy": _api("iam", "update_assume_role_policy", "RoleName", "PolicyDocument"),
    "iam:UpdateRole": _api("iam", "update_role", "RoleName", optional=["MaxSessionDuration"]),
    "bedrock:PutModelInvocationLoggingConfiguration": _api(
        "bedrock", "put_model_invocation_logging_configuration", "loggingConfig"
    ),
    "bedrock:DeleteModelInvocationLoggingConfiguration": _api(
        "bedrock", "delete_model_invocation_logging_configuration"
    ),
}
"""Every call undo may make. Nothing creates a credential, a user or a role: those are never an undo."""


class Verdict(StrEnum):
    UNDO = "UNDO"
    """Reversible, done, not undone yet: undo will call it."""
    ALREADY_UNDONE = "ALREADY_UNDONE"
    IRREVERSIBLE = "IRREVERSIBLE"
    """Recorded with ``api: none``: refused."""
    NOT_ALLOWED = "NOT_ALLOWED"
    """An ``api`` or parameters outside the allow-list: refused, never called."""
    UNCONFIRMED = "UNCONFIRMED"
    """The intent was recorded but the result never was (STARTED): whether it happened is for a person to check."""
    IN_PROGRESS = "IN_PROGRESS"
    """Another undo claimed it less than the lease ago."""


BLOCKING = frozenset({Verdict.NOT_ALLOWED, Verdict.UNCONFIRMED, Verdict.IN_PROGRESS})
"""Verdicts that leave something possibly reversible not undone: the incident is not UNDONE."""


@dataclass(frozen=True)
class UndoStep:
    sk: str
    action: str
    verdict: Verdict
    reason: str
    api: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    recorded_refusal: bool = False
    """The refusal is already on the action item (an earlier undo recorded it)."""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "sk": self.sk,
            "action": self.action,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "api": self.api,
            "parameters": dict(self.parameters),
        }


def _parameters(api: UndoApi, undo: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The call's parameters from the undo record, or None and why they are refused."""
    given = {k: v for k, v in undo.items() if k not in {"api", "reason"}}
    unknown = sorted(set(given) - api.required - api.optional)
    if unknown:
        return None, f"parameters outside the allow-list: {', '.join(unknown)}"
    missing = sorted(api.required - set(given))
    if missing:
        return None, f"parameters missing: {', '.join(missing)}"
    for name, value in api.fixed.items():
        if given[name] != value:
            return None, f"{name} must be {value!r}"
    for name, value in list(given.items()):
        if name == "PolicyDocument" and isinstance(value, dict):
            given[name] = json.dumps(value, separators=(",", ":"))
        elif name == "MaxSessionDuration":
            if not isinstance(value, int) or isinstance(value, bool):
                return None, "MaxSessionDuration must be a number"
        elif name == "loggingConfig":
            if not isinstance(value, dict) or not value:
                return None, "loggingConfig must be a configuration"
        elif not isinstance(value, str) or not value:
            return None, f"{name} must be non-empty text"
    return given, ""


def _step(item: Mapping[str, Any], stale_before: str) -> UndoStep:
    sk, action, state = str(item.get("sk")), str(item.get("action") or "?"), str(item.get("state") or "")
    recorded_undo = item.get("undo")
    undo: Mapping[str, Any] = recorded_undo if isinstance(recorded_undo, dict) else {}
    name = str(undo.get("api") or "")
    if state == "UNDONE":
        return UndoStep(sk, action, Verdict.ALREADY_UNDONE, f"undone at {item.get('undone_at')}", name)
    if state == "STARTED":
        return UndoStep(
            sk, action, Verdict.UNCONFIRMED,
            "its result was never recorded (state STARTED): check in AWS whether it happened, and reverse it by hand",
            name,
        )  # fmt: skip
    if state == "UNDOING" and str(item.get("undo_started_at", "")) >= stale_before:
        return UndoStep(sk, action, Verdict.IN_PROGRESS, f"being undone by {item.get('undo_started_by')}", name)
    if state not in {"DONE", "UNDOING"}:
        return UndoStep(sk, action, Verdict.NOT_ALLOWED, f"state {state or 'missing'} is not DONE", name)
    recorded = "undo_refused" in item
    if name == "none":
        why = str(undo.get("reason") or "the playbook recorded it as irreversible")
        return UndoStep(sk, action, Verdict.IRREVERSIBLE, f"not reversible: {why}", name, recorded_refusal=recorded)
    api = UNDO_APIS.get(name)
    if api is None:
        reason = f"{name or 'no undo recorded'}: not a call undo makes"
        return UndoStep(sk, action, Verdict.NOT_ALLOWED, reason, name or None, recorded_refusal=recorded)
    parameters, why = _parameters(api, undo)
    if parameters is None:
        return UndoStep(sk, action, Verdict.NOT_ALLOWED, f"{name}: {why}", name, recorded_refusal=recorded)
    return UndoStep(sk, action, Verdict.UNDO, f"{name} reverses it", name, parameters)


def plan_undo(actions: Sequence[Mapping[str, Any]], *, now: datetime | None = None) -> list[UndoStep]:
    """What undo would do with each recorded action, newest first. Pure: nothing is called or written."""
    stale_before = _iso((now or clock.now()) - UNDO_LEASE)
    ordered = sorted(actions, key=lambda item: str(item.get("sk")), reverse=True)
    return [_step(item, stale_before) for item in ordered if str(item.get("sk", "")).startswith("ACTION#")]


@dataclass
class UndoReport:
    incident: str
    by: str
    outcome: str
    """UNDONE, UNDO_PARTIAL, UNDO_REFUSED (nothing reversible), or NOTHING_TO_DO (an earlier undo did it all)."""
    steps: list[dict[str, Any]]
    entry: dict[str, Any] | None
    """The history entry appended, or None when nothing was changed."""
    planned_only: bool = False

    @property
    def complete(self) -> bool:
        """Everything reversible is undone (now or before)."""
        return self.outcome in {"UNDONE", "NOTHING_TO_DO"}

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "by": self.by,
            "outcome": self.outcome,
            "complete": self.complete,
            "planned_only": self.planned_only,
            "steps": self.steps,
            "history_entry": self.entry,
        }


def _undoable(store: IncidentStore, workflow: Workflow, incident_id: str) -> list[dict[str, Any]]:
    incident = store.incident(incident_id)
    if incident is None:
        raise UndoRefused(f"no incident {incident_id} in the incident table")
    if incident.status == AWAITING_APPROVAL:
        raise UndoRefused(f"incident {incident_id} awaits approval: nothing was done yet; reject it instead")
    if incident.execution and workflow.execution_status(incident.execution) == "RUNNING":
        raise UndoRefused(
            f"incident {incident_id}'s execution {incident.execution} is still running: wait for it to end"
        )
    actions = store.actions(incident_id)
    if not actions:
        raise UndoRefused(f"incident {incident_id} ({incident.status}) has no recorded action: nothing to undo")
    return actions


def _execute(store: IncidentStore, caller: UndoCaller, incident_id: str, step: UndoStep, by: str) -> dict[str, Any]:
    """Claim, call and mark one UNDO step; the step's result as the report shows it."""
    api, now = UNDO_APIS[str(step.api)], clock.now()  # a step to undo always names an allowed call
    result = {**step.to_json_dict(), "result": "UNDONE"}
    if not store.claim_undo(incident_id, step.sk, by=by, at=_iso(now), stale_before=_iso(now - UNDO_LEASE)):
        return {**result, "result": "IN_PROGRESS", "reason": "another undo claimed it first"}
    note = None
    try:
        caller.call(api.service, api.method, step.parameters)
    except UndoCallError as exc:
        if not (api.removes and exc.code in ALREADY_ABSENT):
            store.fail_undo(incident_id, step.sk, error=str(exc)[:500], at=_iso(clock.now()))
            logger.warning("undo call failed", incident=incident_id, sk=step.sk, api=step.api, error=exc.code)
            return {**result, "result": "FAILED", "reason": str(exc)}
        note = f"already absent ({exc.code})"
    store.finish_undo(incident_id, step.sk, by=by, at=_iso(clock.now()), note=note)
    logger.info("action undone", incident=incident_id, sk=step.sk, api=step.api)
    return {**result, **({"reason": note} if note else {})}


def _outcome(steps: Sequence[UndoStep], results: Sequence[Mapping[str, Any]]) -> str:
    failed = any(r["result"] != "UNDONE" for r in results)
    blocked = any(s.verdict in BLOCKING for s in steps)
    undone = bool(results) or any(s.verdict is Verdict.ALREADY_UNDONE for s in steps)
    if failed or blocked:
        return "UNDO_PARTIAL"
    return "UNDONE" if undone else "UNDO_REFUSED"


def _summary(outcome: str, by: str, results: Sequence[Mapping[str, Any]], refused: Sequence[UndoStep]) -> str:
    parts = [f"Undo by {by}:"]
    done = [f"{r['action']} ({r['api']})" for r in results if r["result"] == "UNDONE"]
    failed = [f"{r['action']} ({r['reason']})" for r in results if r["result"] != "UNDONE"]
    if done:
        parts.append(f"reversed {', '.join(done)}.")
    if failed:
        parts.append(f"Not reversed: {'; '.join(failed)}.")
    if refused:
        parts.append(f"Refused: {'; '.join(f'{s.action} ({s.reason})' for s in refused)}.")
    if outcome == "UNDONE":
        parts.append("Everything Warden could reverse is reversed.")
    return " ".join(parts)


def undo(
    store: IncidentStore,
    workflow: Workflow,
    caller: UndoCaller,
    incident_id: str,
    *,
    by: str,
    plan_only: bool = False,
) -> UndoReport:
    """Reverse the reversible actions recorded for ``incident_id``, newest first, as ``by``.

    Refuses (:class:`UndoRefused`) an unknown incident, one awaiting approval or whose execution still runs,
    and one with no recorded action. Each refusal of an action is recorded on it once; the history gets one
    entry when anything was undone, failed or newly refused, and none when a repeated undo finds nothing to do.
    """
    by = by.strip()
    if not by:
        raise UndoRefused("say who undoes (--by), or run with credentials whose ARN says it")
    steps = plan_undo(_undoable(store, workflow, incident_id))
    if plan_only:
        return UndoReport(incident_id, by, "PLANNED", [s.to_json_dict() for s in steps], None, planned_only=True)
    results = [_execute(store, caller, incident_id, s, by) for s in steps if s.verdict is Verdict.UNDO]
    at = _iso(clock.now())
    refused = [s for s in steps if s.verdict in {Verdict.IRREVERSIBLE, Verdict.NOT_ALLOWED}]
    for step in refused:
        if not step.recorded_refusal:
            store.refuse_undo(incident_id, step.sk, reason=step.reason, by=by, at=at)
    outcome = _outcome(steps, results)
    by_sk = {r["sk"]: r for r in results}
    report_steps = [by_sk.get(s.sk, {**s.to_json_dict(), "result": s.verdict.value}) for s in steps]
    changed = bool(results) or any(not s.recorded_refusal for s in refused)
    if not changed:
        outcome = "NOTHING_TO_DO" if outcome == "UNDONE" else outcome
        return UndoReport(incident_id, by, outcome, report_steps, None)
    entry = {"status": outcome, "summary": _summary(outcome, by, results, refused), "at": at, "by": by}
    store.record_undo(incident_id, entry, status="UNDONE" if outcome == "UNDONE" else None)
    logger.info("undo recorded", incident=incident_id, outcome=outcome, undone=len(results))
    return UndoReport(incident_id, by, outcome, report_steps, entry)
