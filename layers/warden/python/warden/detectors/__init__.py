"""Detection rules, grouped by family. Importing this package registers every detector in it.

Every module of this package except the registry holds detectors; they are imported in name order,
so that a new detector needs only its module.
"""

import importlib
import pkgutil

from warden.detectors.registry import ANY_EVENT, REGISTRY, Detector, Outcome, Registry, detector

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "registry" and not _module.startswith("_"):
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["ANY_EVENT", "REGISTRY", "Detector", "Outcome", "Registry", "detector"]
