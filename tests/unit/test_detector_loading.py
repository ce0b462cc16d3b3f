"""A detector function imports its own family's detectors only, and sees all of them (warden/detectors/__init__.py).

``FAMILY_MODULES`` is declared, so these tests hold it to what the modules register: a new module, or a
detector of another family in an existing module, fails here with the entry to add. What a function loads is
checked in fresh interpreters, where nothing else has imported a detector module yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from typing import Any

import pytest
from pydantic import BaseModel

from tests.conftest import ROOT
from warden.detectors import FAMILY_MODULES, REGISTRY, Detector, detector_modules
from warden.models import Family

PACKAGE = "warden.detectors"
MANIFEST = "layers/warden/python/warden/detectors/__init__.py"
FRESH = """
import json, sys
from warden.detectors import REGISTRY, detector_modules
from warden.models import Family
modules = detector_modules()
family = Family({family!r})
chosen = REGISTRY.for_family(family)
loaded = sorted(set(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("warden.detectors.")) & set(modules))
built = sorted(d.name for d in chosen if d.state_model is not None and d.state_model.__pydantic_complete__)
print(json.dumps({{"chosen": [d.name for d in chosen], "loaded": loaded, "built": built,
                   "everything": [d.name for d in REGISTRY]}}))
"""


def _module(item: Detector[BaseModel]) -> str:
    return item.evaluate.__module__.removeprefix(f"{PACKAGE}.")


def _registered() -> dict[Family, set[str]]:
    families: dict[Family, set[str]] = defaultdict(set)
    for item in REGISTRY:
        families[item.family].add(_module(item))
    return families


def _in_declared_order() -> list[str]:
    """Module name order, then the order of the detectors' functions in their module's source."""
    return [d.name for d in sorted(REGISTRY, key=lambda d: (_module(d), d.evaluate.__code__.co_firstlineno))]


def _fresh(family: Family) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "warden" / "python")}
    done = subprocess.run(  # noqa: S603  this interpreter, code written here
        [sys.executable, "-c", FRESH.format(family=family.value)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_family_modules_list_exactly_the_modules_that_register_each_family() -> None:
    registered = _registered()
    problems = [
        f"add {module!r} to FAMILY_MODULES[Family.{family.name}] in {MANIFEST}"
        for family in Family
        for module in sorted(registered.get(family, set()) - set(FAMILY_MODULES.get(family, ())))
    ] + [
        f"remove {module!r} from FAMILY_MODULES[Family.{family.name}] in {MANIFEST}: it registers none of them"
        for family in Family
        for module in sorted(set(FAMILY_MODULES.get(family, ())) - registered.get(family, set()))
    ]
    assert not problems, "\n".join(problems)


def test_every_detector_module_is_listed_for_a_family() -> None:
    listed = {module for modules in FAMILY_MODULES.values() for module in modules}
    missing = sorted(set(detector_modules()) - listed)
    assert not missing, f"{missing} hold no detector of any family in FAMILY_MODULES ({MANIFEST})"


def test_every_detector_is_declared_in_a_module_of_this_package() -> None:
    foreign = sorted(d.name for d in REGISTRY if _module(d) not in detector_modules())
    assert not foreign, f"{foreign}: a detector's function is defined in the module that registers it"


@pytest.mark.parametrize("family", list(Family), ids=lambda f: f.value)
def test_a_family_loads_its_own_modules_and_every_detector_of_it(family: Family) -> None:
    fresh = _fresh(family)

    assert fresh["loaded"] == sorted(FAMILY_MODULES[family])
    assert fresh["chosen"] == [d.name for d in REGISTRY if d.family is family]
    assert fresh["chosen"], f"no detector of {family.value}"
    assert fresh["built"] == [], "state models are built when a record needs them (defer_build), not at import"


@pytest.mark.parametrize("family", list(Family), ids=lambda f: f.value)
def test_the_registry_order_does_not_depend_on_which_family_loaded_first(family: Family) -> None:
    assert _fresh(family)["everything"] == [d.name for d in REGISTRY] == _in_declared_order()
