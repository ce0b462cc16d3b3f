"""`warden playbook run --mode` input, and how `--local` finds the stack `warden local up` keeps running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from warden.config import ResponseConfig
from warden.response import FindingCheck, check_finding
from warden_local import playbooks as pb

USER = "arn:aws:iam::123456789012:user/ml-batch-svc"
KEY = "AKIAEXAMPLEBATCHSVC1"


@pytest.fixture
def playbooks() -> dict[str, pb.Playbook]:
    return {p.name: p for p in pb.discover(ROOT)}


def test_a_gated_playbook_gets_the_mode_asked_for_and_the_policy_accepts_it(
    playbooks: dict[str, pb.Playbook],
) -> None:
    playbook = playbooks["contain-access-key"]
    assert playbook.takes_mode, "its definition reads {finding, mode} (scripts/asl_gates.py)"
    finding = pb.manual_finding(playbook, pb.RunRequest(playbook=playbook.name, principal=USER, access_key_id=KEY))

    document = pb.execution_input(playbook, finding, "approve")

    assert document == {"finding": finding.to_json_dict(), "mode": "approve"}
    triage = check_finding(
        FindingCheck(check="finding", playbook=playbook.name, finding=document["finding"], requested_mode="approve"),
        ResponseConfig.model_validate({"WARDEN_ACCOUNT_ID": "123456789012"}),
        finding.first_seen,
    )
    assert triage.valid and triage.requested_mode == "approve", triage.summary
    assert pb.execution_input(playbook, finding, None) == finding.to_json_dict(), "no mode: the finding alone"


def test_a_mode_is_refused_or_warned_about_as_the_playbook_can_take_it(playbooks: dict[str, pb.Playbook]) -> None:
    stack = pb.DeployedStack("prod", {}, {"ResponseMode": "dry-run"})
    gated = playbooks["contain-access-key"]

    with pytest.raises(pb.PlaybookError, match="--mode sometimes"):
        pb.mode_warning(stack, "sometimes", gated)
    assert pb.mode_warning(stack, "auto", gated) is None

    ungated = next((p for p in playbooks.values() if not p.takes_mode), None)
    if ungated is not None:
        warning = pb.mode_warning(stack, "auto", ungated)
        assert warning is not None and "ResponseMode=dry-run" in warning


def test_the_local_state_file_can_be_named_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pb.LOCAL_STATE_VARIABLE, raising=False)
    assert pb.local_state_path(ROOT) == ROOT / ".warden" / "local.json"
    monkeypatch.setenv(pb.LOCAL_STATE_VARIABLE, str(tmp_path / "elsewhere.json"))
    assert pb.local_state_path(ROOT) == tmp_path / "elsewhere.json"


@pytest.mark.parametrize(
    "content",
    [
        None,
        "not json",
        json.dumps({"endpoint": "http://127.0.0.1:9"}),
        json.dumps({"endpoint": "http://127.0.0.1:9", "region": "us-east-1", "stack": "s", "outputs": {},
                    "parameters": {}, "pid": 2**22}),
    ],
    ids=["missing", "not-json", "incomplete", "stopped-process"],
)  # fmt: skip
def test_no_running_local_stack_is_found_and_the_error_says_how_to_start_one(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "local.json"
    if content is not None:
        path.write_text(content)

    assert pb.RunningLocal.read(path) is None
    with pytest.raises(pb.PlaybookError, match="warden local up"):
        pb.RunningLocal.find(path)
