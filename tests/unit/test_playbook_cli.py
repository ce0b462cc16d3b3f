"""`warden playbook`: playbooks discovered from template.yaml, manual findings, and the command's refusals."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import ROOT
from warden.models import Finding
from warden.response import FindingCheck, check_finding
from warden_local import cli
from warden_local import playbooks as pb
from warden_local.template import load_template

USER = "arn:aws:iam::123456789012:user/ml-batch-svc"
KEY = "AKIAEXAMPLEBATCHSVC1"


def _state_machines(template: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::StateMachine"}


def _invoke(*args: str) -> Any:
    return CliRunner(mix_stderr=False).invoke(cli.main, list(args), catch_exceptions=False)


@pytest.fixture
def playbooks() -> dict[str, pb.Playbook]:
    return {p.name: p for p in pb.discover(ROOT)}


def test_every_state_machine_findings_are_routed_to_is_a_playbook(playbooks: dict[str, pb.Playbook]) -> None:
    template = load_template(ROOT / "template.yaml")
    routed = {
        logical
        for logical, spec in _state_machines(template).items()
        if "FindingRoute" in spec["Properties"].get("Events", {})
    }
    assert routed, "template.yaml routes findings to some state machine"
    assert routed <= {p.logical_id for p in playbooks.values()}
    assert "RecordPlaybookFailureStateMachine" not in {p.logical_id for p in playbooks.values()}, (
        "the failure recorder takes execution status changes, not findings"
    )
    for playbook in playbooks.values():
        definition = json.loads((ROOT / playbook.definition).read_text())
        assert playbook.description == definition["Comment"]
        assert playbook.output_key in template["Outputs"], f"{playbook.name}: no stack output names its ARN"


def test_contain_access_key_needs_a_key_and_honours_the_modes(playbooks: dict[str, pb.Playbook]) -> None:
    contain = playbooks["contain-access-key"]
    modes = load_template(ROOT / "template.yaml")["Parameters"]["ResponseMode"]["AllowedValues"]
    assert "access_key_id" in contain.requires
    assert list(contain.modes) == modes
    assert contain.families[0] == "bedrock-usage"
    assert contain.output_key == "ContainAccessKeyStateMachineArn"
    assert playbooks["notify-only"].modes == (), "notify-only decides nothing, so no mode changes what it does"


def test_list_json_gives_the_finding_schema_of_every_playbook(playbooks: dict[str, pb.Playbook]) -> None:
    result = _invoke("playbook", "list", "--json")

    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)["playbooks"]
    assert [p["name"] for p in listed] == list(playbooks)
    contract = Finding.model_json_schema()
    for entry in listed:
        schema = entry["input_schema"]
        assert schema["properties"].keys() == contract["properties"].keys()
        assert set(contract["required"]) <= set(schema["required"])
        assert set(entry["requires"]) <= set(schema["required"])
        assert schema["properties"]["playbook"]["default"] == entry["name"]


def test_list_prints_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = _invoke("playbook", "list")

    assert result.exit_code == 0, result.stderr
    assert "contain-access-key" in result.stdout and "ContainAccessKeyStateMachineArn" in result.stdout
    assert "principal" in result.stdout, "the input fields are listed"


def test_a_state_machine_added_to_the_template_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovered, not hard-coded: a copy of the template with one more routed state machine lists it."""
    shutil.copytree(ROOT / "statemachines", tmp_path / "statemachines")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "detections.md", tmp_path / "docs" / "detections.md")
    template = load_template(ROOT / "template.yaml")
    fake = copy.deepcopy(template["Resources"]["ContainAccessKeyStateMachine"])
    fake["Properties"]["DefinitionUri"] = "statemachines/quarantine_bucket.asl.json"
    fake["Properties"]["Events"]["FindingRoute"]["Properties"]["Pattern"]["detail"]["playbook"] = ["quarantine-bucket"]
    template["Resources"]["QuarantineBucketStateMachine"] = fake
    template["Outputs"]["QuarantineBucketStateMachineArn"] = {"Value": {"Ref": "QuarantineBucketStateMachine"}}
    definition = {
        "Comment": "quarantine-bucket: block public access to the bucket a finding names.",
        "StartAt": "HasBucket",
        "States": {
            "HasBucket": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.finding.details.bucket", "IsString": True, "Next": "Done"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    (tmp_path / "statemachines" / "quarantine_bucket.asl.json").write_text(json.dumps(definition))
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(template))
    monkeypatch.setattr(cli, "PROJECT_ROOT", tmp_path)

    result = _invoke("playbook", "list", "--json")

    assert result.exit_code == 0, result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)["playbooks"]}
    assert {"contain-access-key", "notify-only", "quarantine-bucket"} <= set(listed)
    added = listed["quarantine-bucket"]
    assert added["description"] == definition["Comment"]
    assert added["requires"] == ["details.bucket"]
    assert added["modes"] == [], "it asks the response policy for no decision"
    assert added["output_key"] == "QuarantineBucketStateMachineArn"
    assert added["families"] == [], "no detector of the catalogue names it"
    assert added["input_schema"]["properties"]["playbook"]["default"] == "quarantine-bucket"


def test_a_manual_finding_is_sealed_and_accepted_as_genuine(playbooks: dict[str, pb.Playbook]) -> None:
    request = pb.RunRequest(playbook="contain-access-key", principal=USER, access_key_id=KEY, reason="ticket SEC-42")
    finding = pb.manual_finding(playbooks["contain-access-key"], request)

    assert finding.id == finding.content_id()
    assert finding.detector == pb.MANUAL_DETECTOR
    assert finding.family == "bedrock-usage"
    assert finding.playbook == "contain-access-key"
    assert finding.account == "123456789012", "the account defaults to the principal's"
    assert finding.details["reason"] == "ticket SEC-42"
    assert len(finding.evidence) == 1 and finding.evidence[0].startswith("manual-")
    again = pb.manual_finding(playbooks["contain-access-key"], request)
    assert again.id != finding.id, "each run gets fresh evidence, so its own incident and execution"
    triage = check_finding(
        FindingCheck(check="finding", playbook="contain-access-key", finding=finding.to_json_dict()),
        _settings(),
        finding.first_seen,
    )
    assert triage.valid, triage.summary


def _settings() -> Any:
    from warden.config import ResponseConfig

    return ResponseConfig.model_validate({"WARDEN_ACCOUNT_ID": "123456789012"})


def test_the_family_comes_from_the_playbook_or_the_option(playbooks: dict[str, pb.Playbook]) -> None:
    notify = playbooks["notify-only"]
    with pytest.raises(pb.PlaybookError, match="--family"):
        pb.manual_finding(notify, pb.RunRequest(playbook="notify-only", principal=USER))
    chosen = pb.manual_finding(notify, pb.RunRequest(playbook="notify-only", principal=USER, family="policy-change"))
    assert chosen.family == "policy-change"
    for name, playbook in playbooks.items():
        if playbook.families:
            request = pb.RunRequest(playbook=name, principal=USER, access_key_id=KEY)
            assert pb.manual_finding(playbook, request).family == playbook.families[0]


@pytest.mark.parametrize(
    ("principal", "key", "account", "message"),
    [
        ("ml-batch-svc", KEY, None, "is not an IAM user, role or root ARN"),
        ("arn:aws:s3:::bucket", KEY, None, "is not an IAM user"),
        ("arn:aws:iam::12345:user/x", KEY, None, "12-digit account"),
        ("arn:aws:iam::123456789012:user/bad name", KEY, None, "not a name IAM gives a user"),
        (USER, "not-a-key", None, "--access-key-id"),
        (USER, None, None, "pass --access-key-id"),
        (USER, KEY, "nope", "--account"),
    ],
)
def test_a_bad_request_is_refused_with_a_clear_error(
    playbooks: dict[str, pb.Playbook], principal: str, key: str | None, account: str | None, message: str
) -> None:
    request = pb.RunRequest(playbook="contain-access-key", principal=principal, access_key_id=key, account=account)
    with pytest.raises(pb.PlaybookError, match=message):
        pb.manual_finding(playbooks["contain-access-key"], request)


def test_principals_of_every_kind_are_parsed() -> None:
    user = pb.Principal.parse("arn:aws:iam::123456789012:user/team/ml/Batch")
    assert (user.kind, user.name, user.path) == ("user", "Batch", "/team/ml/")
    session = pb.Principal.parse("arn:aws:sts::123456789012:assumed-role/Deployer/ci-1")
    assert (session.kind, session.name) == ("role", "Deployer")
    assert pb.Principal.parse("arn:aws:iam::123456789012:root").kind == "root"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--principal", "nope", "--local"], "is not an IAM user"),
        (["--principal", USER, "--access-key-id", KEY], "exactly one of --stack STACK and --local"),
        (["--principal", USER, "--access-key-id", KEY, "--local", "--stack", "s"], "exactly one of"),
        (["--principal", USER, "--access-key-id", KEY, "--stack", "s", "--scenario-seed", "x"], "goes with --local"),
        (["--principal", USER, "--local"], "pass --access-key-id"),
        (["--principal", USER, "--access-key-id", KEY, "--local", "--mode", "yolo"], "--mode yolo"),
    ],
)
def test_run_exits_2_before_starting_anything_on_a_bad_request(args: list[str], message: str) -> None:
    result = _invoke("playbook", "run", "contain-access-key", *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_run_refuses_an_unknown_playbook() -> None:
    result = _invoke("playbook", "run", "no-such-playbook", "--principal", USER, "--local")

    assert result.exit_code == 2
    assert "no playbook 'no-such-playbook'" in result.stderr and "contain-access-key" in result.stderr


def test_status_refuses_what_is_not_an_incident_id() -> None:
    stack = pb.DeployedStack(name="s", outputs={"IncidentTableName": "t"}, parameters={})
    with pytest.raises(pb.PlaybookError, match="not an incident id"):
        pb.status_on_stack(lambda service: None, stack, "INCIDENT#1")


def test_a_stack_without_the_output_is_named(playbooks: dict[str, pb.Playbook]) -> None:
    stack = pb.DeployedStack(name="old", outputs={}, parameters={"ResponseMode": "dry-run"})
    finding = pb.manual_finding(
        playbooks["contain-access-key"], pb.RunRequest(playbook="contain-access-key", principal=USER, access_key_id=KEY)
    )
    with pytest.raises(pb.PlaybookError, match="no output ContainAccessKeyStateMachineArn"):
        pb.start_on_stack(lambda service: None, stack, playbooks["contain-access-key"], finding)


def test_a_mode_the_stack_does_not_run_is_warned_about() -> None:
    stack = pb.DeployedStack(name="prod", outputs={}, parameters={"ResponseMode": "dry-run"})
    assert pb.mode_warning(stack, None) is None
    assert pb.mode_warning(stack, "dry-run") is None
    warning = pb.mode_warning(stack, "auto")
    assert warning is not None and "ResponseMode=dry-run" in warning and "--mode auto ignored" in warning
