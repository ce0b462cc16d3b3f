"""Detection rules, grouped by family, imported when the registry is first asked for them.

Every module of this package except the registry and the private helpers (``_*``) holds detectors, which
register themselves as the module is imported. A detector function runs one family, so
``REGISTRY.for_family`` imports only the modules ``FAMILY_MODULES`` lists for it: a function's cold start
does not build the other families' rules and state models. Everything else that reads the registry
(iterating it, ``names()``, ``select()``, indexing: tools, hunting, tests) imports every module found here,
so a new module is always seen there; ``tests/unit/test_detector_loading.py`` holds ``FAMILY_MODULES``
to what the modules register and names the entry to add when a module or family is missing.

State models are declared with ``defer_build``: a validator is built when a record first needs that state,
not when the module is imported (the same test checks that loading a family builds none).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from warden.detectors.registry import ANY_EVENT, REGISTRY, Detector, Outcome, Registry, detector
from warden.models import Family

FAMILY_MODULES: Mapping[Family, tuple[str, ...]] = MappingProxyType(
    {
        Family.BEDROCK_USAGE: (
            "api_keys",
            "baselines",
            "drift",
            "guardduty",
            "invocation_logs",
            "llmjacking",
            "probing",
        ),
        Family.POLICY_CHANGE: ("drift", "policy_change", "tampering"),
        Family.CROSS_ACCOUNT: ("cross_account",),
    }
)
"""The modules that register each family's detectors (a module may serve several families)."""

_loaded: set[Family | None] = set()


def detector_modules() -> list[str]:
    """Every module of this package that holds detectors, in name order."""
    import pkgutil  # only a full load lists the package: a function's cold start does not import it

    found = (module.name for module in pkgutil.iter_modules(__path__))
    return sorted(name for name in found if name != "registry" and not name.startswith("_"))


def load(family: Family | None = None) -> None:
    """Import the modules of ``family``'s detectors (None, or a family not listed: every module), once."""
    if None in _loaded or family in _loaded:
        return
    listed = FAMILY_MODULES.get(family) if family is not None else None
    for name in detector_modules() if listed is None else listed:
        importlib.import_module(f"{__name__}.{name}")
    _loaded.add(family if listed is not None else None)


__all__ = [
    "ANY_EVENT",
    "FAMILY_MODULES",
    "REGISTRY",
    "Detector",
    "Outcome",
    "Registry",
    "detector",
    "detector_modules",
    "load",
]
