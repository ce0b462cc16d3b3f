"""docs/detections.md is the catalogue of the registry: one row per detector, in its family section, telling the truth.

Checked against each registered detector: its family (the section), the event sources it reads (the
source column), whether it keeps state (the state column) and the playbooks its module documents under
"Response playbook" (the playbook column).
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any

import pytest

from tests.conftest import ROOT
from warden.detectors import REGISTRY, Detector
from warden.models import Family

CATALOGUE = ROOT / "docs" / "detections.md"
COLUMNS = ["detector", "severity", "source", "logic", "state", "peers with an equivalent", "playbook"]
PLAYBOOKS = frozenset(
    {
        "contain-access-key",
        "revoke-role-sessions",
        "contain-bedrock-api-key",
        "restore-invocation-logging",
        "revert-policy-change",
    }
)
_CODE = re.compile(r"`([^`]+)`")
_PLAYBOOK_PART = re.compile(r"playbook[^\w`]*(?P<part>.*?)(?:\*{0,2}state\*{0,2}:|$)", re.IGNORECASE | re.DOTALL)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _catalogue() -> dict[str, list[dict[str, str]]]:
    """Rows of each ``## <family>`` section's table, as {column: cell}."""
    sections: dict[str, list[dict[str, str]]] = {}
    current: list[dict[str, str]] | None = None
    header: list[str] | None = None
    for line in CATALOGUE.read_text().splitlines():
        if line.startswith("## "):
            current, header = sections.setdefault(line[3:].strip(), []), None
        elif current is not None and line.startswith("|"):
            cells = _cells(line)
            if header is None:
                header = [c.lower() for c in cells]
            elif not set("".join(cells)) <= set("-: "):
                current.append(dict(zip(header, cells, strict=True)))
    return sections


def _name(row: dict[str, str]) -> str:
    (name,) = _CODE.findall(row["detector"])
    return str(name)


def _rows_named(name: str) -> list[tuple[str, dict[str, str]]]:
    return [(section, row) for section, rows in _catalogue().items() for row in rows if _name(row) == name]


def _section(doc: str, title: str, *, exact: bool = False) -> str | None:
    """The indented body under an unindented line of ``doc`` that is ``title`` (or starts with it, any case)."""
    lines = inspect.cleandoc(doc).splitlines()
    for n, line in enumerate(lines):
        if line[:1].isspace() or not (line == title if exact else line.lower().startswith(title)):
            continue
        body = []
        for following in lines[n + 1 :]:
            if following.strip() and not following[:1].isspace():
                break
            body.append(following)
        return "\n".join(body)
    return None


def _named(text: str) -> frozenset[str]:
    """The playbooks a documentation text names; none when it starts by saying there is none."""
    if re.sub(r"^[^\w`]*(playbook[^\w`]*)?", "", text.strip(), flags=re.IGNORECASE).lower().startswith("none"):
        return frozenset()
    return frozenset(_CODE.findall(text)) & PLAYBOOKS


def _documented_playbooks(item: Detector[Any]) -> tuple[frozenset[str], bool]:
    """The playbooks the detector's documentation names, and whether that text is the detector's alone.

    Looked for in order: a "Response playbook" section of the detector's docstring; the detector's own
    section of its module's docstring (a line with its name), where a "Playbook" passage names them or
    "notify only" says there is none ("as above" defers to the module); the module's "Response playbook"
    section, which may cover several detectors.
    """
    own = _section(item.doc, "response playbook")
    if own is not None:
        return _named(own), True
    module = inspect.getdoc(sys.modules[item.evaluate.__module__]) or ""
    section = _section(module, item.name, exact=True)
    if section is not None:
        part = _PLAYBOOK_PART.search(section)
        if part is not None and "as above" not in part["part"]:
            return _named(part["part"]), True
        if part is None and "notify only" in section.lower():
            return frozenset(), True
    shared = _section(module, "response playbook")
    assert shared is not None, f"{item.name}: its docstring and its module's name no response playbook"
    return _named(shared), _detectors_in_module(item) == 1


def _detectors_in_module(item: Detector[Any]) -> int:
    return sum(d.evaluate.__module__ == item.evaluate.__module__ for d in REGISTRY)


def test_each_family_has_a_section_with_the_catalogue_columns() -> None:
    text = CATALOGUE.read_text()
    for family in Family:
        assert f"\n## {family.value}\n" in text, family
        section = text.split(f"\n## {family.value}\n", 1)[1].split("\n## ", 1)[0]
        header = next(line for line in section.splitlines() if line.startswith("|"))
        assert [c.lower() for c in _cells(header)] == COLUMNS, family


def test_no_row_names_a_detector_the_registry_does_not_have() -> None:
    named = [_name(row) for rows in _catalogue().values() for row in rows]
    assert sorted(set(named) - set(REGISTRY.names())) == []
    assert len(named) == len(set(named)), "a detector has more than one row"


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_registered_detector_has_one_row_in_its_familys_section(name: str) -> None:
    item = REGISTRY[name]

    rows = _rows_named(name)

    assert [section for section, _ in rows] == [item.family.value], f"{name}: one row, under ## {item.family.value}"
    ((_, row),) = rows
    assert all(row[column] for column in COLUMNS), f"{name}: every cell filled"


@pytest.mark.parametrize("name", REGISTRY.names())
def test_a_row_names_the_sources_state_and_playbooks_of_its_detector(name: str) -> None:
    item = REGISTRY[name]
    rows = _rows_named(name)
    if len(rows) != 1:
        pytest.skip("no single row: reported by the test above")
    ((_, row),) = rows

    named = set(_CODE.findall(row["source"]))
    for source in sorted({source for source, _ in item.consumes}):
        assert {source, source.removesuffix(".amazonaws.com")} & named, f"{name}: the source column names {source}"
    if item.state_model is None:
        assert "stateless" in row["state"].lower(), f"{name}: keeps no state"
    else:
        assert item.state_model.__name__ in row["state"], f"{name}: the state column names {item.state_model.__name__}"
    listed = frozenset(_CODE.findall(row["playbook"])) & PLAYBOOKS
    documented, exact = _documented_playbooks(item)
    if exact:
        assert listed == documented, f"{name}: the catalogue lists {sorted(listed)}, the docstring {sorted(documented)}"
    else:  # the module's section covers several detectors
        assert listed <= documented, f"{name}: {sorted(listed - documented)} not in its module's Response playbook"
    unknown = set(_CODE.findall(row["playbook"])) - PLAYBOOKS
    assert not unknown, f"{name}: unknown playbooks {sorted(unknown)}"
