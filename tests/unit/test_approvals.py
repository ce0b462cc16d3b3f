"""Approve, reject and undo (warden.approvals) against in-memory ports: what is refused, called and recorded."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warden import clock
from warden.approvals import (
    AWAITING_APPROVAL,
    REJECTED_ERROR,
    UNDO_APIS,
    ApprovalRefused,
    DecisionConflict,
    Incident,
    UndoCallError,
    UndoRefused,
    Verdict,
    WorkflowError,
    decide,
    plan_undo,
    undo,
)

INCIDENT = "0e15488cc108188817b6a3031e3780df"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:warden-ContainAccessKey:" + INCIDENT
WHO = "arn:aws:iam::123456789012:user/alice"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
KEY_UNDO = {"api": "iam:UpdateAccessKey", "UserName": "ml-batch-svc", "AccessKeyId": "AKIAEXAMPLE1", "Status": "Active"}
POLICY_UNDO = {"api": "iam:DeleteRolePolicy", "RoleName": "ml-role", "PolicyName": "warden-revoke-sessions"}


class MemoryStore:
    """The incident table's behaviour for one table: conditional claims included."""

    def __init__(self, record: dict[str, Any] | None, actions: list[dict[str, Any]] | None = None) -> None:
        self.record = record
        self.items = {a["sk"]: a for a in actions or []}

    def incident(self, incident_id: str) -> Incident | None:
        if self.record is None or incident_id != INCIDENT:
            return None
        r = self.record
        return Incident(incident_id, r["status"], r.get("execution"), r.get("playbook"), r.get("summary"))

    def actions(self, incident_id: str) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.items.values()))

    def claim_decision(self, incident_id: str, execution: str, entry: Mapping[str, Any]) -> None:
        r = self.record
        assert r is not None
        if r["status"] != AWAITING_APPROVAL or r["execution"] != execution or r.get("decided_execution") == execution:
            raise DecisionConflict("decided already")
        r.setdefault("history", []).append(dict(entry))
        r["decided_execution"] = execution

    def release_decision(self, incident_id: str, execution: str, entry: Mapping[str, Any]) -> None:
        assert self.record is not None
        self.record["history"].append(dict(entry))
        self.record.pop("decided_execution")

    def claim_undo(self, incident_id: str, sk: str, *, by: str, at: str, stale_before: str) -> bool:
        item = self.items[sk]
        if item["state"] == "DONE" or (item["state"] == "UNDOING" and item["undo_started_at"] < stale_before):
            item.update(state="UNDOING", undo_started_at=at, undo_started_by=by)
            return True
        return False

    def finish_undo(self, incident_id: str, sk: str, *, by: str, at: str, note: str | None) -> None:
        assert self.items[sk]["state"] == "UNDOING", "marked UNDONE only after the claim"
        self.items[sk].update(state="UNDONE", undone_at=at, undone_by=by, **({"undo_note": note} if note else {}))

    def fail_undo(self, incident_id: str, sk: str, *, error: str, at: str) -> None:
        self.items[sk].update(state="DONE", undo_error=error)

    def refuse_undo(self, incident_id: str, sk: str, *, reason: str, by: str, at: str) -> None:
        self.items[sk].update(undo_refused=reason, undo_refused_by=by)

    def record_undo(self, incident_id: str, entry: Mapping[str, Any], *, status: str | None) -> None:
        assert self.record is not None
        self.record.setdefault("history", []).append(dict(entry))
        if status:
            self.record.update(status=status, summary=entry["summary"])


class MemoryWorkflow:
    def __init__(
        self,
        status: str = "RUNNING",
        token: str | None = "token-1",  # noqa: S107  a fake task token
        refuse: str | None = None,
    ) -> None:
        self.status, self.token, self.refuse = status, token, refuse
        self.sent: list[tuple[str, ...]] = []

    def execution_status(self, execution_arn: str) -> str:
        return self.status

    def approval_token(self, execution_arn: str) -> str | None:
        return self.token

    def send_success(self, token: str, output: str) -> None:
        if self.refuse:
            raise WorkflowError(self.refuse, "Task Timed Out")
        self.sent.append(("success", token, output))

    def send_failure(self, token: str, error: str, cause: str) -> None:
        if self.refuse:
            raise WorkflowError(self.refuse, "Task Timed Out")
        self.sent.append(("failure", token, error, cause))


class MemoryCaller:
    def __init__(self, errors: Mapping[str, str] | None = None) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.errors = dict(errors or {})

    def call(self, service: str, method: str, parameters: Mapping[str, Any]) -> None:
        if method in self.errors:
            raise UndoCallError(self.errors[method], "refused")
        self.calls.append((service, method, dict(parameters)))


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.frozen(NOW):
        yield


def waiting(**extra: Any) -> dict[str, Any]:
    return {"status": AWAITING_APPROVAL, "execution": EXECUTION, "playbook": "contain-access-key", **extra}


def action(sk_time: str, name: str, undo_map: dict[str, Any], state: str = "DONE", **extra: Any) -> dict[str, Any]:
    return {"sk": f"ACTION#{sk_time}#{name}", "action": name, "state": state, "undo": undo_map, **extra}


def closed(**extra: Any) -> dict[str, Any]:
    return {"status": "CONTAINED", "execution": EXECUTION, "history": [], **extra}


# ------------------------------------------------------------------------------------------ approve / reject


def test_approve_sends_the_token_with_who_and_records_it_first() -> None:
    store, workflow = MemoryStore(waiting()), MemoryWorkflow()

    result = decide(store, workflow, INCIDENT, approve=True, by=WHO)

    ((kind, token, output),) = workflow.sent
    assert (kind, token) == ("success", "token-1")
    assert json.loads(output) == {"approved_by": WHO, "at": "2026-11-26T10:00:00.000Z"}
    assert result.decision == "APPROVED" and result.execution == EXECUTION
    (entry,) = store.record["history"]  # type: ignore[index]
    assert entry == {"status": "APPROVED", "summary": f"Approved by {WHO}.", "at": result.at, "by": WHO,
                     "execution": EXECUTION}  # fmt: skip


def test_reject_fails_the_task_with_the_rejection_error_and_the_reason() -> None:
    store, workflow = MemoryStore(waiting()), MemoryWorkflow()

    decide(store, workflow, INCIDENT, approve=False, by=WHO, reason="the batch job is legitimate")

    ((kind, token, error, cause),) = workflow.sent
    assert (kind, token, error) == ("failure", "token-1", REJECTED_ERROR)
    assert cause == f"Rejected by {WHO}: the batch job is legitimate"
    assert store.record["history"][0]["status"] == "REJECTED"  # type: ignore[index]


@pytest.mark.parametrize(
    ("record", "workflow", "message"),
    [
        (None, MemoryWorkflow(), "no incident"),
        (closed(), MemoryWorkflow(), "is CONTAINED, not AWAITING_APPROVAL"),
        (waiting(), MemoryWorkflow(status="TIMED_OUT"), "is TIMED_OUT, not RUNNING"),
        (waiting(), MemoryWorkflow(token=None), "not waiting in AwaitApproval"),
        (waiting(execution=None), MemoryWorkflow(), "names no execution"),
    ],
)
def test_a_decision_is_refused_when_nothing_waits_for_it(
    record: dict[str, Any] | None, workflow: MemoryWorkflow, message: str
) -> None:
    store = MemoryStore(record)

    with pytest.raises(ApprovalRefused, match=message):
        decide(store, workflow, INCIDENT, approve=True, by=WHO)

    assert workflow.sent == []
    assert not (record or {}).get("history"), "nothing recorded"


def test_a_decision_without_a_name_is_refused() -> None:
    with pytest.raises(ApprovalRefused, match="who decides"):
        decide(MemoryStore(waiting()), MemoryWorkflow(), INCIDENT, approve=True, by="  ")


def test_a_second_decision_on_the_same_execution_loses_and_sends_nothing() -> None:
    store, workflow = MemoryStore(waiting()), MemoryWorkflow()
    decide(store, workflow, INCIDENT, approve=False, by=WHO, reason="no")

    with pytest.raises(DecisionConflict):
        decide(store, workflow, INCIDENT, approve=True, by="arn:aws:iam::123456789012:user/mallory")

    assert len(workflow.sent) == 1 and workflow.sent[0][0] == "failure"


def test_a_decision_step_functions_refuses_is_recorded_and_released() -> None:
    store, workflow = MemoryStore(waiting()), MemoryWorkflow(refuse="TaskTimedOut")

    with pytest.raises(WorkflowError, match="TaskTimedOut"):
        decide(store, workflow, INCIDENT, approve=True, by=WHO)

    statuses = [e["status"] for e in store.record["history"]]  # type: ignore[index]
    assert statuses == ["APPROVED", "DECISION_NOT_DELIVERED"]
    assert "decided_execution" not in store.record, "another decision may be tried"  # type: ignore[operator]


def test_a_long_reason_is_cut() -> None:
    store, workflow = MemoryStore(waiting()), MemoryWorkflow()

    decide(store, workflow, INCIDENT, approve=False, by=WHO, reason="x" * 5000)

    assert len(workflow.sent[0][3]) < 600


# ------------------------------------------------------------------------------------------ plan


def test_plan_is_newest_first_and_refuses_what_is_not_reversible_or_not_allowed() -> None:
    actions = [
        action("2026-11-26T09:00:00Z", "deactivate-access-key", KEY_UNDO),
        action(
            "2026-11-26T09:05:00Z", "delete-login-profile", {"api": "none", "reason": "a password cannot come back"}
        ),
        action("2026-11-26T09:10:00Z", "odd", {"api": "iam:CreateAccessKey", "UserName": "x"}),
        action("2026-11-26T09:15:00Z", "half-done", KEY_UNDO, state="STARTED"),
        action("2026-11-26T09:20:00Z", "revoke-role-sessions", POLICY_UNDO, state="UNDONE", undone_at="t"),
    ]

    plan = plan_undo(actions, now=NOW)

    assert [s.action for s in plan] == [
        "revoke-role-sessions", "half-done", "odd", "delete-login-profile", "deactivate-access-key",
    ]  # fmt: skip
    assert [s.verdict for s in plan] == [
        Verdict.ALREADY_UNDONE, Verdict.UNCONFIRMED, Verdict.NOT_ALLOWED, Verdict.IRREVERSIBLE, Verdict.UNDO,
    ]  # fmt: skip
    assert "a password cannot come back" in plan[3].reason
    assert plan[4].parameters == {k: v for k, v in KEY_UNDO.items() if k != "api"}


@pytest.mark.parametrize(
    ("undo_map", "why"),
    [
        ({**KEY_UNDO, "Status": "Inactive"}, "Status must be 'Active'"),
        ({**KEY_UNDO, "NewUserName": "evil"}, "outside the allow-list: NewUserName"),
        ({"api": "iam:PutRolePolicy", "RoleName": "r", "PolicyName": "p"}, "missing: PolicyDocument"),
        ({"api": "bedrock:PutModelInvocationLoggingConfiguration", "loggingConfig": {}}, "must be a configuration"),
        ({"api": "iam:DeleteRolePolicy", "RoleName": "", "PolicyName": "p"}, "RoleName must be non-empty text"),
        ({"UserName": "x"}, "no undo recorded"),
    ],
)
def test_an_undo_record_outside_the_allow_list_is_never_called(undo_map: dict[str, Any], why: str) -> None:
    (step,) = plan_undo([action("2026-11-26T09:00:00Z", "a", undo_map)], now=NOW)

    assert step.verdict is Verdict.NOT_ALLOWED
    assert why in step.reason


def test_a_policy_document_kept_as_a_map_is_sent_as_json_text() -> None:
    document = {"Version": "2012-10-17", "Statement": []}
    undo_map = {"api": "iam:PutRolePolicy", "RoleName": "r", "PolicyName": "p", "PolicyDocument": document}

    (step,) = plan_undo([action("t", "a", undo_map)], now=NOW)

    assert json.loads(step.parameters["PolicyDocument"]) == document


def test_an_undo_claimed_long_ago_is_taken_again_but_not_a_fresh_one() -> None:
    fresh = (NOW - timedelta(minutes=1)).isoformat()
    stale = (NOW - timedelta(hours=1)).isoformat()
    plan = plan_undo(
        [
            action("1", "fresh", KEY_UNDO, state="UNDOING", undo_started_at=fresh),
            action("2", "stale", KEY_UNDO, state="UNDOING", undo_started_at=stale),
        ],
        now=NOW,
    )

    assert {s.action: s.verdict for s in plan} == {"fresh": Verdict.IN_PROGRESS, "stale": Verdict.UNDO}


def test_every_allowed_undo_names_a_real_boto3_method() -> None:
    import boto3

    for name, api in UNDO_APIS.items():
        client = boto3.client(api.service, region_name="us-east-1")  # type: ignore[call-overload]
        operation = client.meta.method_to_api_mapping.get(api.method)
        assert f"{api.service}:{operation}" == name
        shape = client.meta.service_model.operation_model(operation).input_shape
        members = set(shape.members) if shape else set()
        assert api.required | api.optional <= members, name


# ------------------------------------------------------------------------------------------ undo


def test_undo_reverses_newest_first_marks_each_action_and_records_one_history_entry() -> None:
    store = MemoryStore(
        closed(),
        [action("2026-11-26T09:00:00Z", "deactivate-access-key", KEY_UNDO),
         action("2026-11-26T09:01:00Z", "deny-bedrock", POLICY_UNDO)],
    )  # fmt: skip
    caller = MemoryCaller()

    report = undo(store, MemoryWorkflow(status="SUCCEEDED"), caller, INCIDENT, by=WHO)

    assert [c[1] for c in caller.calls] == ["delete_role_policy", "update_access_key"]
    assert caller.calls[1][2] == {"UserName": "ml-batch-svc", "AccessKeyId": "AKIAEXAMPLE1", "Status": "Active"}
    assert report.outcome == "UNDONE" and report.complete
    assert all(item["state"] == "UNDONE" and item["undone_by"] == WHO for item in store.items.values())
    (entry,) = store.record["history"]  # type: ignore[index]
    assert entry["status"] == "UNDONE" and entry["by"] == WHO
    assert "deactivate-access-key (iam:UpdateAccessKey)" in entry["summary"]
    assert store.record["status"] == "UNDONE"  # type: ignore[index]


def test_undo_twice_does_nothing_the_second_time() -> None:
    store = MemoryStore(
        closed(),
        [action("1", "deactivate-access-key", KEY_UNDO), action("2", "delete-key", {"api": "none", "reason": "gone"})],
    )
    undo(store, MemoryWorkflow(status="SUCCEEDED"), MemoryCaller(), INCIDENT, by=WHO)
    before = copy.deepcopy((store.record, store.items))
    caller = MemoryCaller()

    again = undo(store, MemoryWorkflow(status="SUCCEEDED"), caller, INCIDENT, by="someone-else")

    assert caller.calls == []
    assert again.outcome == "NOTHING_TO_DO" and again.complete and again.entry is None
    assert (store.record, store.items) == before, "nothing written"


def test_undo_refuses_an_irreversible_action_and_records_why() -> None:
    store = MemoryStore(
        closed(), [action("1", "delete-access-key", {"api": "none", "reason": "deleted keys are gone"})]
    )
    caller = MemoryCaller()

    report = undo(store, MemoryWorkflow(status="SUCCEEDED"), caller, INCIDENT, by=WHO)

    assert caller.calls == []
    assert report.outcome == "UNDO_REFUSED" and not report.complete
    item = store.items["ACTION#1#delete-access-key"]
    assert item["state"] == "DONE" and "deleted keys are gone" in item["undo_refused"]
    (entry,) = store.record["history"]  # type: ignore[index]
    assert entry["status"] == "UNDO_REFUSED" and "Refused: delete-access-key" in entry["summary"]
    assert store.record["status"] == "CONTAINED", "the incident is not UNDONE"  # type: ignore[index]


def test_a_failed_undo_call_leaves_the_action_done_and_the_incident_partial() -> None:
    store = MemoryStore(closed(), [action("1", "deactivate-access-key", KEY_UNDO), action("2", "deny", POLICY_UNDO)])
    caller = MemoryCaller(errors={"update_access_key": "AccessDenied"})

    report = undo(store, MemoryWorkflow(status="SUCCEEDED"), caller, INCIDENT, by=WHO)

    assert report.outcome == "UNDO_PARTIAL" and not report.complete
    assert store.items["ACTION#1#deactivate-access-key"]["state"] == "DONE"
    assert "AccessDenied" in store.items["ACTION#1#deactivate-access-key"]["undo_error"]
    assert store.items["ACTION#2#deny"]["state"] == "UNDONE"
    assert store.record["history"][-1]["status"] == "UNDO_PARTIAL"  # type: ignore[index]
    assert store.record["status"] == "CONTAINED"  # type: ignore[index]

    retry = undo(store, MemoryWorkflow(status="SUCCEEDED"), MemoryCaller(), INCIDENT, by=WHO)

    assert retry.outcome == "UNDONE", "the failed one is tried again, the undone one is not"


def test_removing_what_is_already_gone_counts_as_undone() -> None:
    store = MemoryStore(closed(), [action("1", "deny", POLICY_UNDO)])

    report = undo(store, MemoryWorkflow("SUCCEEDED"), MemoryCaller({"delete_role_policy": "NoSuchEntity"}),
                  INCIDENT, by=WHO)  # fmt: skip

    assert report.outcome == "UNDONE"
    assert store.items["ACTION#1#deny"]["undo_note"] == "already absent (NoSuchEntity)"


def test_reactivating_a_deleted_key_is_a_failure_not_a_success() -> None:
    store = MemoryStore(closed(), [action("1", "deactivate-access-key", KEY_UNDO)])

    report = undo(store, MemoryWorkflow("SUCCEEDED"), MemoryCaller({"update_access_key": "NoSuchEntity"}),
                  INCIDENT, by=WHO)  # fmt: skip

    assert report.outcome == "UNDO_PARTIAL"


@pytest.mark.parametrize(
    ("record", "status", "actions", "message"),
    [
        (None, "SUCCEEDED", [], "no incident"),
        (waiting(), "RUNNING", [], "awaits approval"),
        (closed(status="OPEN"), "RUNNING", [action("1", "a", KEY_UNDO)], "still running"),
        (closed(status="DRY_RUN"), "SUCCEEDED", [], "no recorded action"),
    ],
)
def test_undo_is_refused_before_anything_when_there_is_nothing_to_undo_yet(
    record: dict[str, Any] | None, status: str, actions: list[dict[str, Any]], message: str
) -> None:
    caller = MemoryCaller()

    with pytest.raises(UndoRefused, match=message):
        undo(MemoryStore(record, actions), MemoryWorkflow(status=status), caller, INCIDENT, by=WHO)

    assert caller.calls == []


def test_plan_only_calls_and_writes_nothing() -> None:
    store = MemoryStore(closed(), [action("1", "deactivate-access-key", KEY_UNDO)])
    caller = MemoryCaller()

    report = undo(store, MemoryWorkflow("SUCCEEDED"), caller, INCIDENT, by=WHO, plan_only=True)

    assert report.planned_only and report.steps[0]["verdict"] == "UNDO"
    assert caller.calls == [] and store.items["ACTION#1#deactivate-access-key"]["state"] == "DONE"
    assert store.record["history"] == []  # type: ignore[index]
