"""The ``warden`` command line: run attacks and event files through the local stack."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click
from botocore.exceptions import BotoCoreError, ClientError

from warden.models import Family, Finding, Severity
from warden_local import playbooks as pb
from warden_local.faults import SERVICES, FaultPlan
from warden_local.run import PROJECT_ROOT, run_replay, run_scenario, scenario_names

# Values a Lambda would get from the template's Globals; set before any handler is imported.
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")


def _param_overrides(values: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not Key=Value", param_hint="--param")
        overrides[key] = setting
    return overrides


def _fault_options(command: Any) -> Any:
    command = click.option(
        "--fault-seed", type=int, default=0, show_default=True, help="Seed of the fault draws: same seed, same faults."
    )(command)
    return click.option(
        "--faults",
        metavar="RATE[:SERVICES]",
        default=None,
        help="Fail this share of the calls that handlers and state machines make (throttling, access denied, 5xx,"
        f" timeouts), e.g. 0.2 or 0.2:iam,sns. Services: {', '.join(SERVICES)}.",
    )(command)


def _fault_plan(spec: str | None, seed: int) -> FaultPlan | None:
    if spec is None:
        return None
    try:
        return FaultPlan.parse(spec, seed=seed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bedrock-warden")
def main() -> None:
    """Bedrock Warden: detect and contain Amazon Bedrock incidents.

    The commands here run everything on this machine, against an embedded AWS emulator (moto): no
    AWS account and no Docker are needed. The stack is created from template.yaml itself.
    """


@main.command()
@click.option("--scenario", default="llmjacking", show_default=True, help="Attack scenario from events/scenarios/.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the timeline.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="Where function logs go [.warden/].")
@_fault_options
def demo(scenario: str, as_json: bool, workdir: Path | None, faults: str | None, fault_seed: int) -> None:
    """Replay an attack scenario through the local stack and show detection and containment.

    Each scenario (events/scenarios/NAME.json) says what must happen: the attacker's credentials read
    back as contained, and/or the findings it expects (detector, family, principal, severity), with
    no other finding above LOW for its benign activity. Exit status 0 when all of it holds and nothing
    else was touched, 1 otherwise.
    """
    if scenario not in scenario_names():
        raise click.BadParameter(f"known scenarios: {', '.join(scenario_names())}", param_hint="--scenario")
    report = run_scenario(scenario, workdir=workdir, faults=_fault_plan(faults, fault_seed))
    _emit(report, as_json)
    sys.exit(0 if report["passed"] else 1)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the timeline.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Template parameter override, e.g. --param ResponseMode=dry-run. Default here: ResponseMode=auto.",
)
@click.option("--no-seed", is_flag=True, help="Do not recreate the IAM users and keys named in the events.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="Where function logs go [.warden/].")
@_fault_options
def replay(
    files: tuple[Path, ...],
    as_json: bool,
    params: tuple[str, ...],
    no_seed: bool,
    workdir: Path | None,
    faults: str | None,
    fault_seed: int,
) -> None:
    """Run event files and folders through the same local pipeline as the demo.

    FILES are files or folders (read recursively) of EventBridge events, CloudTrail records (one
    object, a JSON array, JSON lines, or CloudTrail's {"Records": [...]} log files) or Bedrock
    model-invocation log records (JSON lines, as Bedrock writes them under
    AWSLogs/<account>/BedrockModelInvocationLogs/), gzipped or not; each file is recognised by its
    content. Everything runs in time order: events go to the event bus as CloudTrail delivers them,
    invocation-log records to the invocation-log bucket in objects of up to 5 minutes of records
    (InvocationLogBucket defaults to warden-local-invocation-logs here). IAM users and long-term keys
    named in the events are recreated in the emulator so that playbooks have something real to act
    on. A file or record that cannot be read, is not valid for Warden's models, exceeds a bound (file
    256 MB, event or log record 256 KB, nesting 64) or is dated more than 30 days from the run's
    median time is refused and named on stderr with its position and reason (never its content).
    Exit status 0 unless some input was refused (then 2).
    """
    parameters = {"ResponseMode": "auto", **_param_overrides(params)}
    plan = _fault_plan(faults, fault_seed)
    report = run_replay(list(files), parameters=parameters, seed=not no_seed, workdir=workdir, faults=plan)
    _emit(report, as_json)
    for error in report["input_errors"]:
        _echo(f"warden replay: skipped {error}", err=True)
    sys.exit(2 if report["input_errors"] else 0)


def _hunt_time(end_of_day: bool) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        from warden_local.hunt.command import BadTime, parse_time

        try:
            return None if value is None else parse_time(value, end_of_day=end_of_day)
        except BadTime as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


def _hunt_detectors(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from warden.detectors import REGISTRY

    unknown = sorted(set(value) - set(REGISTRY.names()))
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}; known: {', '.join(REGISTRY.names())}")
    return value


@main.command()
@click.argument("paths", nargs=-1)
@click.option(
    "--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True,
    help="table: for people. json: one finding per line on stdout (docs/findings.md), nothing else on stdout.",
)  # fmt: skip
@click.option("--since", metavar="T", callback=_hunt_time(False), help="Only records at or after T (ISO 8601).")
@click.option("--until", metavar="T", callback=_hunt_time(True), help="Only records at or before T (a date: its end).")
@click.option(
    "--detector", "detectors", multiple=True, metavar="NAME", callback=_hunt_detectors,
    help="Run only this detector (repeatable) [every registered detector].",
)  # fmt: skip
@click.option(
    "--athena", metavar="DB.TABLE", default=None,
    help="Hunt the CloudTrail table of Athena instead of PATHS (needs --since, --until; see docs/athena.md).",
)  # fmt: skip
@click.option("--workgroup", metavar="W", default=None, help="--athena: the Athena workgroup to run the query in.")
@click.option(
    "--output-location", metavar="S3URL", default=None, help="--athena: where Athena writes results [the workgroup's]."
)
def hunt(
    paths: tuple[str, ...],
    output: str,
    since: Any,
    until: Any,
    detectors: tuple[str, ...],
    athena: str | None,
    workgroup: str | None,
    output_location: str | None,
) -> None:
    """Run the detectors over historical CloudTrail, GuardDuty and invocation logs; report, never act.

    PATHS are files, folders (read recursively, in the time order of the files' names) and s3://bucket/prefix, read as
    streams: CloudTrail log files ({"Records": [...]}), JSON arrays or JSON lines of CloudTrail records
    or EventBridge events (CloudTrail, GuardDuty findings), and Bedrock model-invocation logs, gzipped
    or not, recognised by content. Records are merged in event-time order and run through the same
    detection service as live, with state kept in memory; no playbook is ever started. A progress
    line and a summary go to stderr; see docs/hunt.md. Exit status 0 with or without findings, 2 when
    some input could not be read or some record was refused (each named on stderr, never quoted).
    """
    if bool(paths) == bool(athena):
        raise click.UsageError("give PATHS or --athena DB.TABLE (one of the two)")
    if not athena and (workgroup or output_location):
        raise click.UsageError("--workgroup and --output-location go with --athena")
    try:
        if athena:
            from warden_local.hunt import athena as athena_engine

            status = athena_engine.run(
                athena,
                since=since,
                until=until,
                workgroup=workgroup,
                output_location=output_location,
                output=output,  # type: ignore[arg-type]
                detector_names=detectors,
            )
        else:
            from warden_local.hunt.command import run_hunt

            status = run_hunt(paths, output=output, since=since, until=until, detector_names=detectors)  # type: ignore[arg-type]
    except BrokenPipeError:  # whoever read stdout stopped (`| head`): stop too, without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that flushing at exit cannot fail again
        status = 1
    sys.exit(status)


@main.command()
@click.argument("file", type=click.File("r"))
def seal(file: Any) -> None:
    """Print the finding in FILE with the id its content gives, for a playbook run by hand.

    Playbooks refuse a finding whose id does not match its content (a forged or edited finding); after
    editing a finding (principal, key, severity...), seal it again before starting a playbook with it.
    Exit status 2 when FILE is not a finding.
    """
    try:
        finding = Finding.sealed(json.load(file))
    except (ValueError, TypeError) as exc:
        _echo(f"warden seal: not a finding: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(finding.to_json_dict(), indent=2))


@main.group()
def playbook() -> None:
    """List the playbooks, run one by hand and follow its incident, on a deployed stack or locally.

    Playbooks are read from template.yaml; see docs/running-playbooks.md.
    """


@playbook.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the playbooks and their input schemas as JSON.")
def playbook_list(as_json: bool) -> None:
    """Each playbook: what it does, the finding fields it needs, the modes it honours, its input schema.

    A playbook's input is a finding (docs/findings.md); --json gives its JSON schema, the document the Step
    Functions console's "Start execution" takes.
    """
    listing = pb.listing(PROJECT_ROOT)
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Playbooks (template.yaml)", show_lines=True)
    table.add_column("playbook", no_wrap=True)
    table.add_column("what it does", ratio=1)
    for column in ("needs", "modes", "families", "stack output"):
        table.add_column(column, overflow="fold")
    for p in listing["playbooks"]:
        table.add_row(
            p["name"],
            _first_sentence(p["description"]),
            ", ".join(p["requires"]) or "-",
            ", ".join(p["modes"]) or "none (notifies)",
            ", ".join(p["families"]) or "any (--family)",
            p["output_key"] or "-",
        )
    console = Console()
    console.print(table)
    schema = listing["playbooks"][0]["input_schema"] if listing["playbooks"] else pb.finding_schema()
    fields = Table(title="Input: a finding (docs/findings.md; warden playbook list --json for the JSON schema)")
    for column in ("field", "type", "required"):
        fields.add_column(column)
    required = set(pb.finding_schema().get("required", []))
    for name, spec in schema["properties"].items():
        fields.add_row(name, _schema_type(spec), "yes" if name in required else "")
    console.print(fields)


def _first_sentence(text: str) -> str:
    """A definition's Comment up to its first full stop, without the leading ``name:``."""
    head = text.split(". ", 1)[0].rstrip(".")
    return head.split(": ", 1)[-1] + "."


def _schema_type(spec: dict[str, Any]) -> str:
    if "anyOf" in spec:
        return " | ".join(_schema_type(s) for s in spec["anyOf"])
    if "$ref" in spec:
        return str(spec["$ref"]).rsplit("/", 1)[-1]
    return str(spec.get("format") or spec.get("type", "any"))


@playbook.command("run")
@click.argument("name")
@click.option("--principal", required=True, metavar="ARN", help="The IAM user, role or assumed-role session to act on.")
@click.option("--access-key-id", metavar="ID", default=None, help="The principal's access key the finding names.")
@click.option("--account", metavar="ACCT", default=None, help="Account of the finding [the principal's].")
@click.option("--region", default=None, help="Region of the finding, and of the stack with --stack [AWS config].")
@click.option(
    "--severity", type=click.Choice([s.value for s in Severity]), default="HIGH", show_default=True,
    help="Severity of the finding (auto mode contains from AutoContainMinSeverity up).",
)  # fmt: skip
@click.option("--family", type=click.Choice([f.value for f in Family]), default=None, help="[from the catalogue]")
@click.option(
    "--mode", default=None,
    help="Response mode: dry-run, approve or auto (a gated playbook runs in it; others in the stack's ResponseMode;"
    " throw-away --local default dry-run).",
)  # fmt: skip
@click.option("--reason", default=None, help="Why it is run, kept in the finding's details.reason.")
@click.option("--stack", "stack_name", metavar="STACK", default=None, help="Start it on this deployed stack.")
@click.option("--profile", default=None, help="AWS profile for --stack.")
@click.option(
    "--wait", type=float, default=None, metavar="SECONDS",
    help="With --stack or a running local stack: wait for the execution.",
)  # fmt: skip
@click.option(
    "--local", is_flag=True,
    help="Run it on the local stack of `warden local up` when one runs, else on one deployed for this run only.",
)  # fmt: skip
@click.option("--scenario-seed", default=None, metavar="SCENARIO", help="--local: also create this scenario's victim.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="--local: where function logs go.")
def playbook_run(
    name: str,
    principal: str,
    access_key_id: str | None,
    account: str | None,
    region: str | None,
    severity: str,
    family: str | None,
    mode: str | None,
    reason: str | None,
    stack_name: str | None,
    profile: str | None,
    wait: float | None,
    local: bool,
    scenario_seed: str | None,
    as_json: bool,
    workdir: Path | None,
) -> None:
    """Start playbook NAME with a finding made for a manual run (detector "manual", sealed id).

    With --stack, the state machine's ARN comes from the stack's outputs and the execution is named after
    the finding id (one execution per finding); it runs in --mode (a playbook without the approval gate: in
    the stack's ResponseMode). With --local and a local stack running (`warden local up`), the same
    happens on it, the principal (an IAM user with its key, or a role, in account 123456789012) created
    there first. With --local and none running, a local stack is deployed for this run only with --mode,
    the principal created, the playbook run, and what it did read back; approve mode needs `warden local
    up`, since someone must approve while the stack lives. Exit status: 0 when the execution started
    (--stack, running local stack) or succeeded (throw-away --local, --wait), 1 when it did not, 2 for a
    request refused before anything started.
    """
    if local == (stack_name is not None):
        _refuse("run", "give exactly one of --stack STACK and --local")
    if scenario_seed is not None and not local:
        _refuse("run", "--scenario-seed goes with --local")
    running = pb.RunningLocal.read(pb.local_state_path(PROJECT_ROOT)) if local else None
    if running is not None and scenario_seed is not None:
        _refuse("run", "--scenario-seed deploys a throw-away local stack: stop `warden local up` first")
    if local and running is None and mode == "approve":
        _refuse("run", "approve mode waits for a person: start `warden local up` first, then run with --local")
    request = pb.RunRequest(
        playbook=name,
        principal=principal,
        access_key_id=access_key_id,
        account=account,
        region=region or "us-east-1",
        severity=severity,
        family=family,
        reason=reason,
    )
    try:
        if running is not None:
            report = _run_on_running_local(running, request, region, mode, wait)
            ok = report["status"] in ({"RUNNING", "SUCCEEDED"} if not wait else {"SUCCEEDED", "AWAITING_APPROVAL"})
        elif local:
            report = pb.run_local(
                PROJECT_ROOT, request, mode=mode or "dry-run", scenario=scenario_seed, workdir=workdir
            )
            ok = report["execution"]["status"] == "SUCCEEDED"
        else:
            clients = _aws_clients(profile, region)
            if region is None:
                request = replace(request, region=clients("stepfunctions").meta.region_name)
            playbook = pb.find(pb.discover(PROJECT_ROOT), name)
            finding = pb.manual_finding(playbook, request)
            stack = pb.DeployedStack.describe(clients, str(stack_name))
            if warning := pb.mode_warning(stack, mode, playbook):
                _echo(f"warden playbook run: {warning}", err=True)
            report = pb.start_on_stack(clients, stack, playbook, finding, wait=wait, mode=mode)
            ok = report["status"] in ({"RUNNING", "SUCCEEDED"} if not wait else {"SUCCEEDED", "AWAITING_APPROVAL"})
    except (pb.PlaybookError, ValueError) as exc:
        _refuse("run", str(exc))
    except (BotoCoreError, ClientError) as exc:  # no credentials, no network, access denied
        _echo(f"warden playbook run: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_run(report)
    sys.exit(0 if ok else 1)


def _run_on_running_local(
    running: pb.RunningLocal, request: pb.RunRequest, region: str | None, mode: str | None, wait: float | None
) -> dict[str, Any]:
    playbook = pb.find(pb.discover(PROJECT_ROOT), request.playbook)
    request = replace(request, region=region or running.region)
    if warning := pb.mode_warning(running.deployed(), mode, playbook):
        _echo(f"warden playbook run: {warning}", err=True)
    return pb.start_on_local(running, playbook, request, mode=mode, wait=wait)


def _target_options(command: Any) -> Any:
    """--stack STACK (with --profile, --region) or --local: where the incident is."""
    for option in reversed(
        [
            click.option("--stack", "stack_name", metavar="STACK", default=None, help="The deployed stack."),
            click.option("--local", is_flag=True, help="The local stack `warden local up` keeps running."),
            click.option("--profile", default=None, help="AWS profile, with --stack."),
            click.option("--region", default=None, help="Region of the stack, with --stack [AWS config]."),
        ]
    ):
        command = option(command)
    return command


def _target(command: str, stack_name: str | None, local: bool, profile: str | None, region: str | None) -> Any:
    """The clients and the stack of --stack or --local: the same code path, another client factory and outputs."""
    if local == (stack_name is not None):
        _refuse(command, "give exactly one of --stack STACK and --local")
    try:
        if local:
            running = pb.RunningLocal.find(pb.local_state_path(PROJECT_ROOT))
            return running.clients(), running.deployed()
        clients = _aws_clients(profile, region)
        return clients, pb.DeployedStack.describe(clients, str(stack_name))
    except pb.PlaybookError as exc:
        _refuse(command, str(exc))
    except (BotoCoreError, ClientError) as exc:
        _echo(f"warden playbook {command}: {exc}", err=True)
        sys.exit(1)


@playbook.command("status")
@click.argument("incident")
@_target_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def playbook_status(
    incident: str, stack_name: str | None, local: bool, profile: str | None, region: str | None, as_json: bool
) -> None:
    """Show incident INCIDENT (a finding id): record, history, actions with their undo, execution.

    Read from the incident table named by the stack's IncidentTableName output, on a deployed stack
    (--stack) or on the one `warden local up` runs (--local). Exit status 1 when there is no such incident.
    """
    clients, stack = _target("status", stack_name, local, profile, region)
    try:
        report = pb.status_on_stack(clients, stack, incident)
    except (pb.PlaybookError, BotoCoreError, ClientError) as exc:
        _echo(f"warden playbook status: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_incident(report)


def _decision_command(name: str, approve: bool) -> Any:
    """``approve`` and ``reject``: one body, two commands."""

    def run(
        incident: str,
        by: str | None,
        reason: str | None,
        wait: float | None,
        stack_name: str | None,
        local: bool,
        profile: str | None,
        region: str | None,
        as_json: bool,
    ) -> None:
        from warden.approvals import WorkflowError

        clients, stack = _target(name, stack_name, local, profile, region)
        try:
            with _quiet_library_logs():
                report = pb.decide_on_stack(clients, stack, incident, approve=approve, by=by, reason=reason, wait=wait)
        except pb.PlaybookError as exc:
            _refuse(name, str(exc))
        except (WorkflowError, BotoCoreError, ClientError) as exc:
            _echo(f"warden playbook {name}: {exc}", err=True)
            sys.exit(1)
        if as_json:
            click.echo(json.dumps(report, indent=2, default=str))
        else:
            where = "--local" if local else f"--stack {stack_name}"
            _echo(f"incident {report['incident']}: {report['summary']}")
            _echo(f"  execution {report['execution']}" + (f": {report['execution_status']}" if wait else ""))
            if wait:
                _echo(f"  incident status: {report['incident_status']}")
            _echo(f"  follow it: warden playbook status {report['incident']} {where}")

    return run


_DECISION_HELP = """{what} the playbook waiting for approval on incident INCIDENT (a finding id).

The incident must be AWAITING_APPROVAL with its execution waiting in AwaitApproval: the task token is read
from the execution's history, the decision is recorded in the incident's history (who, when{why}) and then
sent to Step Functions ({call}), with your own credentials. --by defaults to your ARN
(sts:GetCallerIdentity). Exit status 0 when the playbook got the decision, 1 when Step Functions refused it
(the approval timed out meanwhile; recorded), 2 when refused before anything changed (unknown incident, not
awaiting approval, someone decided first).
"""

for _name, _approve, _what, _why, _call in (
    ("approve", True, "Approve", "", "SendTaskSuccess: the playbook acts"),
    (
        "reject",
        False,
        "Reject",
        " and --reason",
        "SendTaskFailure Warden.Rejected: it records REJECTED, changes nothing",
    ),
):
    _command = _decision_command(_name, _approve)
    _command.__doc__ = _DECISION_HELP.format(what=_what, why=_why, call=_call)
    _command = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(_command)
    _command = _target_options(_command)
    _command = click.option(
        "--wait", type=float, default=None, metavar="SECONDS", help="Wait for the playbook to end after the decision."
    )(_command)
    _command = click.option(
        "--reason", default=None, metavar="TEXT", help="Why (kept in the history and the notification)." if not
        _approve else "Ignored for an approval.", hidden=_approve,
    )(_command)  # fmt: skip
    _command = click.option("--by", default=None, metavar="WHO", help="Who decides [your ARN].")(_command)
    _command = click.argument("incident")(_command)
    playbook.command(_name)(_command)


@playbook.command("undo")
@click.argument("incident")
@click.option("--by", default=None, metavar="WHO", help="Who undoes [your ARN].")
@click.option("--plan", "plan_only", is_flag=True, help="Only show what would be called and refused.")
@click.option("--yes", is_flag=True, help="Do not ask before making the calls.")
@_target_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def playbook_undo(
    incident: str,
    by: str | None,
    plan_only: bool,
    yes: bool,
    stack_name: str | None,
    local: bool,
    profile: str | None,
    region: str | None,
    as_json: bool,
) -> None:
    """Reverse the reversible actions recorded for incident INCIDENT, newest first, with your credentials.

    Each action's recorded undo (reactivate the key, remove the deny or revocation policy, put back the
    previous policy or logging configuration) is checked against an allow-list of calls and parameters and
    made with your own credentials, so that CloudTrail names you; an action recorded as irreversible, or
    an undo outside the allow-list, is refused and the refusal recorded on it. Each action undone becomes
    UNDONE (with when and by whom), the incident's history gets one entry, and the incident becomes UNDONE
    when everything reversible is. Running it again does nothing. Exit status 0 when everything reversible
    is undone, 1 when something is not (refused, failed, or never confirmed done), 2 when refused before
    anything (unknown incident, playbook still running or awaiting approval, no action recorded).
    """
    clients, stack = _target("undo", stack_name, local, profile, region)
    try:
        plan = pb.undo_on_stack(clients, stack, incident, by=by, plan_only=True)
        calls = any(step["verdict"] == "UNDO" for step in plan["steps"])
        if calls and not plan_only and not yes and not as_json:
            _print_undo(plan)
            if not click.confirm("Make these calls with your credentials?", default=False):
                _echo("warden playbook undo: nothing done", err=True)
                sys.exit(1)
        if not plan_only:
            with _quiet_library_logs():
                report = pb.undo_on_stack(clients, stack, incident, by=by)
        else:
            report = plan
    except pb.PlaybookError as exc:
        _refuse("undo", str(exc))
    except (BotoCoreError, ClientError) as exc:
        _echo(f"warden playbook undo: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_undo(report)
    sys.exit(0 if report["complete"] or plan_only else 1)


def _print_undo(report: dict[str, Any]) -> None:
    title = "plan" if report.get("planned_only") else report["outcome"]
    _echo(f"undo of incident {report['incident']} by {report['by']}: {title}")
    for step in report["steps"]:
        result = step.get("result", step["verdict"])
        call = f"{step['api']} {json.dumps(step['parameters'], default=str)}" if step.get("parameters") else ""
        _echo(f"  {result:<14} {step['action']}: {call or step['reason']}")
        if call and result not in {"UNDO", "UNDONE"}:
            _echo(f"  {'':<14} {step['reason']}")
    if report.get("history_entry"):
        _echo(f"  recorded: {report['history_entry']['summary']}")


class _NotThisThread(logging.Filter):
    """Drops the records logged from one thread: a command's own, while in-process handlers keep logging."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread


@contextlib.contextmanager
def _quiet_library_logs() -> Iterator[None]:
    """The library's Powertools logger writes JSON lines to stdout, which is the command's output; the command
    reports everything itself, so its own records are dropped while it runs (a Lambda keeps them)."""
    from warden.observability import logger

    quiet = _NotThisThread()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


@main.group()
def local() -> None:
    """A local stack that stays up, for the --local commands (approve, reject, undo, status, run)."""


@local.command("up")
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE",
    help="Template parameter, e.g. --param ResponseMode=approve (default: the template's defaults).",
)  # fmt: skip
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="Where function logs go [.warden/].")
def local_up(params: tuple[str, ...], workdir: Path | None) -> None:
    """Deploy template.yaml on the embedded emulator and keep it running until Ctrl-C.

    Writes .warden/local.json (the endpoint, the stack's outputs under the template's output names, the
    region and this process's id; WARDEN_LOCAL_STATE names another file), which `warden playbook run |
    status | approve | reject | undo --local` read: they then make the same calls as with --stack, to the
    emulator. Playbook executions that fail are reported as EventBridge would, so record-playbook-failure
    runs. Nothing is kept after it stops.
    """
    path = pb.local_state_path(PROJECT_ROOT)
    stop = threading.Event()
    for stopping in (signal.SIGINT, signal.SIGTERM):  # also when started in the background, SIGINT ignored
        signal.signal(stopping, lambda *_: stop.set())

    def ready(state: dict[str, Any]) -> None:
        where = f"{state['endpoint']} (region {state['region']}, pid {state['pid']})"
        _echo(f"local stack {state['stack']} running at {where}")
        _echo(f"  described in {path}; stop it with Ctrl-C")
        _echo("  then, in another terminal: warden playbook run NAME --local --mode approve --principal ARN ...;")
        _echo("  warden playbook approve | reject | undo | status INCIDENT --local (warden playbook list: the names)")

    try:
        pb.local_up(PROJECT_ROOT, _param_overrides(params), path=path, workdir=workdir, ready=ready, stop=stop)
    except pb.PlaybookError as exc:
        _echo(f"warden local up: {exc}", err=True)
        sys.exit(2)
    _echo("local stack stopped")


def _action_target(action: dict[str, Any]) -> str:
    """What an incident action acted on: its ``target_*`` fields and access key, whatever the playbook."""
    return " ".join(str(v) for k, v in action.items() if v and (k.startswith("target_") or k == "access_key_id"))


def _action_change(action: dict[str, Any]) -> str:
    if "previous_status" in action and "new_status" in action:
        return f"{action['previous_status']} -> {action['new_status']}"
    return str(action.get("policy_name") or "")


def _action_text(action: dict[str, Any]) -> str:
    return " ".join(part for part in (_action_target(action), _action_change(action)) if part)


def _refuse(command: str, message: str) -> NoReturn:
    _echo(f"warden playbook {command}: {message}", err=True)
    sys.exit(2)


def _aws_clients(profile: str | None, region: str | None) -> pb.Clients:
    import boto3

    session = boto3.Session(profile_name=profile, region_name=region)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service)  # type: ignore[call-overload]
        return made[service]

    return client


def _print_run(report: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{report['playbook']}[/bold] on incident [bold]{report['incident']}[/bold]")
    finding = report["finding"]
    console.print(f"  finding: {finding['severity']} {finding['family']} {finding['principal']}"
                  f" key {finding['access_key_id'] or '-'}")  # fmt: skip
    if "stack" in report:
        console.print(f"  stack {report['stack']}: execution {report['execution_arn']} {report['status']}")
        where = "--local" if "local" in report else f"--stack {report['stack']}"
        console.print(f"  follow it: warden playbook status {report['incident']} {where}")
        return
    _print_incident(report)
    keys = report["aws_state"]["access_keys"]
    if keys:
        from rich.table import Table

        table = Table(title="Access keys read back from the emulator")
        for column in ("user", "access key", "as given", "status"):
            table.add_column(column)
        for key in keys:
            table.add_row(key["user"], key["access_key_id"], key["as_in_events"], key["status"])
        console.print(table)
    for subject in report["notifications"]:
        console.print(f"  notified: {subject}")


def _print_incident(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    execution = report.get("execution") or {}
    console.print(
        f"[bold]incident {report.get('incident') or ''}[/bold] {report.get('status') or 'no record'}:"
        f" {report.get('summary') or ''}"
    )
    console.print(f"  execution {execution.get('arn')}: {execution.get('status')}")
    if execution.get("states"):
        console.print("  steps: " + " > ".join(execution["states"]))
    for entry in report.get("history", []):
        who = f" by {entry['by']}" if entry.get("by") else ""
        console.print(f"  {entry.get('at')} {entry.get('status')}{who}: {entry.get('summary')}", highlight=False)
    table = Table(title="Actions (intent recorded before acting, result after)")
    for column in ("action", "target", "change", "state", "undo"):
        table.add_column(column, overflow="fold")
    for action in report.get("actions", []):
        undo = json.dumps(action.get("undo"), default=str)
        table.add_row(
            str(action.get("action")), _action_target(action), _action_change(action), str(action.get("state")), undo
        )
    console.print(table)


def _emit(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str, ensure_ascii=True))
    else:
        _echo(render(report))


def _echo(text: str, *, err: bool = False) -> None:
    """Print text the terminal cannot encode (a file name that is not UTF-8, say) escaped, never failing on it."""
    encoding = (sys.stderr if err else sys.stdout).encoding or "utf-8"
    click.echo(text.encode(encoding, "backslashreplace").decode(encoding), err=err)


def _section(title: str) -> str:
    return click.style(f"\n{title}", bold=True)


def _faults_section(faults: dict[str, Any] | None) -> list[str]:
    if not faults:
        return []
    calls, plan = sum(faults["requests"].values()), f"rate {faults['rate']}, seed {faults['seed']}"
    lines = [_section(f"Faults injected ({faults['injected']} of {calls} calls; {plan})")]
    for service, kinds in sorted(faults["by_service"].items()):
        lines.append(f"  {service:<9} " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))
    return lines


def _findings_section(findings: list[dict[str, Any]]) -> list[str]:
    out = [_section(f"Findings ({len(findings)})")]
    for f in findings:
        out.append(click.style(f"  {f['severity']} {f['family']} / {f['detector']}", fg="red", bold=True))
        out += ["    " + line for line in textwrap.wrap(f["title"], 96)]
        out.append(f"    principal {f['principal']}  key {f['access_key_id']}")
        out.append(
            f"    {len(f['evidence'])} events from {f['first_seen']} to {f['last_seen']}; playbook {f['playbook']}"
        )
        for reason in f["details"].get("reasons", []):
            out.append(f"    why: {reason}")
    return out


def _expectations_section(expectations: dict[str, Any] | None) -> list[str]:
    if expectations is None:
        return []
    judged, unexpected = expectations["findings"], expectations["unexpected"]
    raised = sum(j["raised"] for j in judged)
    out = [_section(f"Expected findings ({raised} of {len(judged)} raised)")]
    for j in judged:
        mark, colour = ("raised ", "green") if j["raised"] else ("MISSING", "red")
        severity = j["severity"] or "any severity"
        seen = "" if j["raised"] or not j["severities_seen"] else f" (seen as {', '.join(j['severities_seen'])})"
        out.append(
            click.style(f"  {mark} {j['family']} / {j['detector']} {severity} on {j['principal']}{seen}", fg=colour)
        )
    if unexpected:
        out.append(_section(f"Unexpected findings above LOW ({len(unexpected)})"))
        out += [
            click.style(f"  {u['severity']} {u['family']} / {u['detector']} on {u['principal']}", fg="red")
            for u in unexpected
        ]
    return out


def _verdict(report: dict[str, Any]) -> str:
    """The result line: containment when it was asked for, then the expected findings."""
    parts = []
    if report.get("containment_expected", True):
        parts.append("CONTAINED" if report["contained"] else "NOT CONTAINED")
    if (expectations := report.get("expectations")) is not None:
        judged, unexpected = expectations["findings"], expectations["unexpected"]
        parts.append(
            f"{'AS EXPECTED' if expectations['met'] else 'NOT AS EXPECTED'}:"
            f" {sum(j['raised'] for j in judged)} of {len(judged)} expected findings raised,"
            f" {len(unexpected) or 'none'} unexpected above LOW"
        )
    if report["collateral_damage"]:
        parts.append(f"but {len(report['collateral_damage'])} other key(s) were touched")
    return f"Result: {'; '.join(parts)} in {report['elapsed_seconds']:.2f} s"


def render(report: dict[str, Any]) -> str:
    """The human timeline of a run."""
    out = [click.style(f"Bedrock Warden - {report['scenario']}", bold=True)]
    if report.get("description"):
        out += textwrap.wrap(report["description"], 100)
    logs = report.get("invocation_logs_in", 0)
    logged = f", {logs} invocation-log records in {report.get('invocation_log_objects', 0)} objects" if logs else ""
    out.append(_section(f"Events in ({report['events_in']}{logged}, in time order)"))
    out += [f"  +{s['at']:7.3f}s  {s['text']}" for s in report["timeline"] if s["kind"] == "event"]
    for error in report["input_errors"]:
        out.append(click.style(f"  skipped: {error}", fg="yellow"))
    out += _findings_section(report["findings"])
    out.append(_section(f"Playbooks ({len(report['executions'])})"))
    for e in report["executions"]:
        colour = "green" if e["outcome"] == "CONTAINED" else "yellow"
        out.append(click.style(f"  {e['playbook']}: {e['status']} / {e['outcome']}", fg=colour, bold=True))
        out.append("    steps: " + " > ".join(e["states"]))
        for action in e["actions"]:
            out.append(f"    action {action.get('action')}: {_action_text(action)}; undo {action.get('undo')}")
        if e.get("summary"):
            out += ["    " + line for line in textwrap.wrap(e["summary"], 96)]
    out.append(_section("AWS state after (read back from the emulator)"))
    for key in report["aws_state"]["access_keys"]:
        key_colour = "red" if key["status"] != "Active" else None
        out.append(
            click.style(
                f"  {key['user']:<20} {key['access_key_id']} ({key['as_in_events']})  {key['status']}", fg=key_colour
            )
        )
    out.append(_section(f"Notifications ({len(report['notifications'])})"))
    for n in report["notifications"]:
        out.append(f"  {n['subject'] or 'alert (EventBridge rule straight to SNS)'}")
        out += ["    " + line for line in textwrap.wrap(n["message"].splitlines()[0], 96)[:2]]
    if report["dead_letters"]:
        out.append(_section(f"Kept in dead-letter queues ({len(report['dead_letters'])})"))
        out += [f"  {d['queue']}: {d['reason']}: {d['error']}" for d in report["dead_letters"]]
    alarmed = sorted(logical for logical, state in report.get("alarms", {}).items() if state == "ALARM")
    if alarmed:
        out.append(_section(f"CloudWatch alarms in ALARM ({len(alarmed)})"))
        out += [click.style(f"  {logical}", fg="red") for logical in alarmed]
    out += _faults_section(report.get("faults"))
    out += _expectations_section(report.get("expectations"))
    out.append(_section(click.style(_verdict(report), fg="green" if report.get("passed") else "red")))
    out.append(f"Function logs: {report['logs']}")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    main(obj=PROJECT_ROOT)
