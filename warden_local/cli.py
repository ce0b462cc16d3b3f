"""The ``warden`` command line: run attacks and event files through the local stack."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from warden.models import Finding
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
            out.append(
                f"    action {action['action']}: {action['access_key_id']} of {action['target_user']}"
                f" {action['previous_status']} -> {action['new_status']}; undo {action['undo']}"
            )
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
