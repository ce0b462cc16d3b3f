"""The acceptance test of `warden hunt`: it reports the same findings as `warden replay` over the same input.

Replay delivers every event through the template's own rules to the deployed detector functions (on
the embedded emulator); hunt runs the registry's detectors in one process over the files, filtering
records with the selection before any model is built. Both must publish the same findings, compared
by id (content-derived: same detector, principal, key, evidence, times and playbook), in both output
formats, whether hunt reads the files, a folder holding them, or an S3 prefix holding them.

Hunt runs with the configuration the replayed stack's detector functions have (their WARDEN_* environment
variables: the stack's account, invocation-log bucket, own roles...), as a user points a hunt at a
deployment. Replay refuses records dated more than 30 days from its run's median, so inputs are grouped the way
replay accepts them whole; each group is replayed once (``seed=False`` leaves key ids as written,
dry-run keeps playbooks from acting) and hunted three ways.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import CORPUS, EVENTS
from warden.detectors import REGISTRY
from warden.query import Selection
from warden_local.cli import main
from warden_local.emulator import running_emulator
from warden_local.hunt.config import hunt_config
from warden_local.readers import DEFAULT_LIMITS, files_in, read_events
from warden_local.run import PROJECT_ROOT, deploy_parameters, run_replay
from warden_local.stack import LocalStack

pytestmark = pytest.mark.e2e
BUCKET = "hunt-equals-replay"
SKIPPED = "warden hunt: skipped "
REPLAYED_WITH = {"ResponseMode": "dry-run"}
"""Replay's parameters: playbooks only plan. Hunt judges with the detector functions' settings of that stack."""
SAMPLE_FOLDERS = ("cloudtrail", "guardduty", "findings", "malformed")
"""Folders of events/ replayed with the scenarios' events (the findings folder holds no event: both refuse it)."""
EVERY_SAMPLE = "WARDEN_HUNT_EVERY_SAMPLE"
"""Set to also compare events/sequences and events/invocation_logs (several minutes of replay)."""


@dataclass(frozen=True)
class Group:
    """Inputs replayed together: replay accepts every record of them (all within its 30-day window)."""

    name: str
    paths: tuple[Path, ...]

    @property
    def files(self) -> list[Path]:
        return files_in(self.paths, [])


def _within_window(paths: list[Path]) -> bool:
    """Whether every record of ``paths`` is within replay's window of every other (so of their median)."""
    times = [item.time for path in paths for item in read_events([path]).items]
    return not times or max(times) - min(times) <= timedelta(days=DEFAULT_LIMITS.days_from_median)


def _groups(name: str, paths: list[Path]) -> list[Group]:
    """``paths`` in order, cut into the fewest consecutive groups that replay accepts whole."""
    groups: list[list[Path]] = []
    for path in paths:
        if groups and _within_window([*groups[-1], path]):
            groups[-1].append(path)
        else:
            groups.append([path])
    return [Group(f"{name}-{n}", tuple(g)) for n, g in enumerate(groups)]


def _all_groups() -> list[Group]:
    groups = _groups("corpus", sorted((CORPUS / "stratus-red-team").glob("*.json"))) if CORPUS.is_dir() else []
    samples = [*sorted((EVENTS / "scenarios").glob("*.events.json")), *(EVENTS / s for s in SAMPLE_FOLDERS)]
    groups += _groups("events", samples)
    if os.environ.get(EVERY_SAMPLE):
        groups += [Group("sequences", (EVENTS / "sequences",)), Group("invocation-logs", (EVENTS / "invocation_logs",))]
    return groups


GROUPS = _all_groups()


@dataclass(frozen=True)
class Replayed:
    findings: dict[str, dict[str, Any]]
    refused_files: frozenset[str]
    """Names of the files replay refused something of (an error names its file first)."""


@pytest.fixture(scope="module")
def replayed() -> dict[str, Replayed]:
    """Each group through `warden replay`'s pipeline, once for the module (each run has its own emulator)."""
    outcome = {}
    for group in GROUPS:
        report = run_replay(list(group.paths), parameters=REPLAYED_WITH, seed=False)
        refused = _named(report["input_errors"], group.files)
        outcome[group.name] = Replayed({f["id"]: f for f in report["findings"]}, refused)
    return outcome


@pytest.fixture(scope="module")
def sources(replayed: dict[str, Replayed], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Per group, hunt's inputs three ways: the files, a folder of copies, an S3 prefix of the same copies.

    Started after every replay: each replay resets the emulator's process-wide backends.
    """
    root = tmp_path_factory.mktemp("hunt-folders")
    with running_emulator() as emulator:
        deployed = LocalStack(emulator, PROJECT_ROOT, parameters=deploy_parameters(REPLAYED_WITH)).deploy()
        configs = [
            {k: v for k, v in f.environment.items() if k.startswith("WARDEN_")} for f in deployed.functions.values()
        ]
        detecting = [c for c in configs if c.get("WARDEN_SELF_PRINCIPALS")]  # detectors ignore Warden's own calls
        assert detecting and all(_judged_as(c) == _judged_as(detecting[0]) for c in detecting)
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for group in GROUPS:
            for n, file in enumerate(group.files):
                copy = root / group.name / f"part-{n // 3:03d}" / f"{n:03d}-{file.name}"  # nested, in the group's order
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, copy)
                s3.upload_file(str(copy), BUCKET, copy.relative_to(root).as_posix())
        yield {
            "environment": detecting[0],
            "files": {g.name: [str(f) for f in g.files] for g in GROUPS},
            "folder": {g.name: [str(root / g.name)] for g in GROUPS},
            "s3": {g.name: [f"s3://{BUCKET}/{g.name}/"] for g in GROUPS},
        }


def _judged_as(environment: dict[str, str]) -> tuple[Any, ...]:
    config = hunt_config(environment)
    return config.settings, config.self_principals, config.routes


def _hunt(paths: list[str], output: str, environment: dict[str, str]) -> Result:
    """`warden hunt` with the detector functions' configuration in its environment, as docs/hunt.md says."""
    return CliRunner(mix_stderr=False).invoke(
        main, ["hunt", *paths, "--format", output], env=environment, catch_exceptions=False
    )


def _described(findings: dict[str, dict[str, Any]], ids: set[str]) -> list[str]:
    return sorted(f"{findings[i]['detector']} {findings[i]['principal']} {findings[i]['first_seen']}" for i in ids)


def _named(lines: list[str], files: list[Path]) -> frozenset[str]:
    """The names of ``files`` that ``lines`` name as where something was refused (a copy is named NNN-NAME)."""
    found = set()
    for line in lines:
        where = line.split(": ", 1)[0]
        found |= {f.name for f in files if re.search(rf"(/|\d{{3}}-){re.escape(f.name)}($|[ :\[])", where)}
    return frozenset(found)


@pytest.mark.parametrize("source", ["files", "folder", "s3"])
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_hunt_reports_the_findings_replay_reports_as_json_lines(
    group: Group, source: str, replayed: dict[str, Replayed], sources: dict[str, Any]
) -> None:
    expected = replayed[group.name]

    result = _hunt(sources[source][group.name], "json", sources["environment"])

    hunted = {f["id"]: f for f in map(json.loads, result.stdout.splitlines())}
    assert set(hunted) == set(expected.findings), (
        f"replay only: {_described(expected.findings, set(expected.findings) - set(hunted))}; "
        f"hunt only: {_described(hunted, set(hunted) - set(expected.findings))}"
    )
    assert result.exit_code == (2 if expected.refused_files else 0), result.stderr
    skipped = [line.removeprefix(SKIPPED) for line in result.stderr.splitlines() if line.startswith(SKIPPED)]
    refused = _named(skipped, group.files)
    assert refused <= expected.refused_files
    # Replay validates every record it reads; hunt only those some detector reads (the rest never reach
    # a model, as live the template's rules never deliver them). A file only replay refuses holds none of those.
    for name in expected.refused_files - refused:
        unread = [r for r in _records_in(next(f for f in group.files if f.name == name)) if WANTS.wants(r)]
        assert not unread, f"hunt read {name} without refusing what replay refused in it"


WANTS = Selection.of(REGISTRY)


def _records_in(file: Path) -> list[dict[str, Any]]:
    """The CloudTrail records of a plain JSON file as replay reads them (a record, an event, an array, Records)."""
    document = json.loads(file.read_text())
    items = document.get("Records", [document]) if isinstance(document, dict) else document
    return [item.get("detail", item) for item in items if isinstance(item, dict)]


@pytest.mark.parametrize("source", ["files", "folder", "s3"])
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_hunt_table_shows_every_finding_replay_reports(
    group: Group, source: str, replayed: dict[str, Replayed], sources: dict[str, Any]
) -> None:
    expected = replayed[group.name].findings

    result = _hunt(sources[source][group.name], "table", sources["environment"])

    rows = result.stdout.splitlines()
    assert f"Findings ({len(expected)})" in result.stdout
    for finding in expected.values():
        first_seen = finding["first_seen"].replace("+00:00", "Z")
        assert any(
            finding["severity"] in row
            and finding["detector"] in row
            and finding["principal"] in row
            and first_seen in row
            for row in rows
        ), f"no row for {finding['detector']} {finding['principal']} {first_seen}"


def test_an_s3_prefix_that_cannot_be_listed_is_named_and_the_exit_status_is_2(sources: dict[str, Any]) -> None:
    result = _hunt(
        [f"s3://{BUCKET}-missing/AWSLogs/", f"s3://{BUCKET}/no-such-prefix/"], "json", sources["environment"]
    )

    assert result.exit_code == 2
    assert result.stdout == ""
    skipped = [line for line in result.stderr.splitlines() if line.startswith(SKIPPED)]
    assert skipped[0].startswith(f"{SKIPPED}s3://{BUCKET}-missing/AWSLogs/: cannot list: ")
    assert skipped[1] == f"{SKIPPED}s3://{BUCKET}/no-such-prefix/: no object to read under this prefix"
