"""Detection rules, grouped by family. Importing this package registers every detector."""

from warden.detectors import llmjacking
from warden.detectors.registry import REGISTRY, Detector, Outcome, Registry, detector

__all__ = ["REGISTRY", "Detector", "Outcome", "Registry", "detector", "llmjacking"]
