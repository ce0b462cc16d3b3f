"""The response routing table: which playbook answers a finding, and in which mode, by family and severity.

A deployer writes it as one stack parameter (``ResponseRoutes``), a comma-separated list of entries::

    FAMILY/SEVERITY=PLAYBOOK:MODE      e.g.  policy-change/CRITICAL=revert-policy-change:auto
    FAMILY/SEVERITY=MODE               e.g.  */HIGH+=approve
    FAMILY/SEVERITY=PLAYBOOK           e.g.  cross-account/*=notify-only

``FAMILY`` is a detector family or ``*``; ``SEVERITY`` is a severity, a severity with ``+`` (that one and
above) or ``*``. The first entry that matches wins. An entry's playbook replaces the one the detector
recommends (the detector functions apply it before publishing, so the finding's id covers it); its mode
is the one the playbook runs in unless a person who starts the playbook by hand asks for another. With no
matching entry, the mode is ``ResponseMode`` for findings at or above ``AutoContainMinSeverity`` and
``dry-run`` below it.

Pure: no environment, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from warden.models import Severity

Mode = Literal["dry-run", "approve", "auto"]
MODES: tuple[str, ...] = get_args(Mode)
_RANK = {severity: rank for rank, severity in enumerate(Severity)}


class RouteError(ValueError):
    """A routing-table entry that cannot be read; the message names the entry."""


@dataclass(frozen=True)
class Route:
    family: str
    severity: str
    """``*``, a severity name, or a severity name followed by ``+``."""
    playbook: str | None = None
    mode: Mode | None = None

    def matches(self, family: str, severity: Severity | str) -> bool:
        if self.family not in ("*", family):
            return False
        if self.severity == "*":
            return True
        wanted = str(severity)
        if self.severity.endswith("+"):
            floor = Severity(self.severity[:-1])
            return wanted in _RANK_NAMES and _RANK[Severity(wanted)] >= _RANK[floor]
        return self.severity == wanted

    def __str__(self) -> str:
        target = ":".join(part for part in (self.playbook, self.mode) if part)
        return f"{self.family}/{self.severity}={target}"


_RANK_NAMES = {str(severity) for severity in Severity}


def parse_route(entry: str) -> Route:
    """One ``FAMILY/SEVERITY=[PLAYBOOK][:MODE]`` entry; :class:`RouteError` naming it when it is malformed."""
    text = entry.strip()
    match_part, sep, target = text.partition("=")
    family, slash, severity = match_part.strip().partition("/")
    family, severity, target = family.strip(), severity.strip().upper(), target.strip()
    if not (sep and slash and family and severity and target):
        raise RouteError(f"routing entry {text!r}: expected FAMILY/SEVERITY=PLAYBOOK:MODE, =MODE or =PLAYBOOK")
    if (severity != "*" and severity.rstrip("+") not in _RANK_NAMES) or severity.count("+") > 1:
        raise RouteError(f"routing entry {text!r}: severity {severity!r} is not *, a severity or a severity with +")
    first, colon, second = target.partition(":")
    first, second = first.strip(), second.strip()
    if colon:
        playbook, mode = first or None, second
    elif first in MODES:
        playbook, mode = None, first
    else:
        playbook, mode = first, None
    if mode is not None and mode not in MODES:
        raise RouteError(f"routing entry {text!r}: mode {mode!r} is not one of {', '.join(MODES)}")
    if playbook is not None and not playbook.replace("-", "").isalnum():
        raise RouteError(f"routing entry {text!r}: {playbook!r} is not a playbook name")
    return Route(family=family, severity=severity, playbook=playbook, mode=mode)  # type: ignore[arg-type]


def parse_routes(text: str | tuple[str, ...] | list[str]) -> tuple[Route, ...]:
    """The routing table from the parameter's text (or its entries already split on commas)."""
    entries = text.split(",") if isinstance(text, str) else list(text)
    return tuple(parse_route(entry) for entry in entries if entry.strip())


def route_for(routes: tuple[Route, ...], family: str, severity: Severity | str) -> Route | None:
    """The first entry that matches, or None."""
    return next((route for route in routes if route.matches(family, severity)), None)


def playbook_for(
    routes: tuple[Route, ...], family: str, severity: Severity | str, recommended: str | None
) -> str | None:
    """The playbook that answers a finding: the first matching entry that names one, else the detector's."""
    for route in routes:
        if route.matches(family, severity) and route.playbook:
            return route.playbook
    return recommended


def resolve_mode(
    routes: tuple[Route, ...],
    family: str,
    severity: Severity | str,
    *,
    default_mode: str,
    auto_min_severity: Severity,
    requested: str | None = None,
) -> tuple[Mode, str]:
    """The mode a playbook runs in, and why: a person's request, else the routing table, else the default."""
    if requested in MODES:
        return requested, f"mode {requested} requested by the person who started the playbook"  # type: ignore[return-value]
    for route in routes:
        if route.matches(family, severity) and route.mode:
            return route.mode, f"mode {route.mode} from routing entry {route}"
    if default_mode not in MODES or default_mode == "dry-run":
        return "dry-run", f"response mode {default_mode}"
    if str(severity) not in _RANK_NAMES or _RANK[Severity(str(severity))] < _RANK[auto_min_severity]:
        return "dry-run", (
            f"severity {severity} is below {auto_min_severity}, the lowest that response mode {default_mode} applies to"
        )
    return default_mode, f"response mode {default_mode}"  # type: ignore[return-value]
