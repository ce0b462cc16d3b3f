"""The response policy: what a playbook may do with a finding, decided in one place, in plain Python.

Playbooks (Step Functions) make the AWS calls; every decision that needs more than a JSONPath
comparison is made here and handed back to them by the ``response-policy`` function:

* :func:`check_finding`: is the input a genuine Warden finding? It must validate as a :class:`Finding`
  and its id must be the one its content gives (a forged finding cannot borrow a real one's id).
* :func:`decide_containment`: given what AWS says about the credential (its owner, whether it is
  active), may the playbook act? Never on a protected principal, never when the credential's owner is
  not the finding's principal or lives in another account, never automatically below the configured
  severity or outside ``auto`` mode.

Pure functions: the clock and the configuration come in as arguments.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from warden.config import ResponseConfig
from warden.guard import validation_problems
from warden.models import Finding, Severity
from warden.principals import PrincipalRef, protected_match, same_principal

SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}
FINDING_ID = re.compile(r"[0-9a-f]{32}")


class FindingCheck(BaseModel):
    check: Literal["finding"]
    playbook: str
    finding: Any = None


class ContainmentCheck(BaseModel):
    check: Literal["containment"]
    playbook: str
    finding: Finding
    owner_arn: str
    credential: str
    active: bool


class IncidentCheck(BaseModel):
    """Which incident did a playbook execution own? Asked by the failure recorder with the execution's input."""

    check: Literal["incident"]
    input: Any = None
    """The execution's input as Step Functions reports it: a JSON string, or anything at all."""


PolicyRequest = Annotated[FindingCheck | ContainmentCheck | IncidentCheck, Field(discriminator="check")]
REQUESTS: TypeAdapter[FindingCheck | ContainmentCheck | IncidentCheck] = TypeAdapter(PolicyRequest)
"""Validates what a playbook sends: ``REQUESTS.validate_python(event)``."""


class Incident(BaseModel):
    finding_id: str | None
    """The finding id the input carries, when it carries one that could key an incident; else None."""


class Triage(BaseModel):
    valid: bool
    summary: str
    problems: list[str] = []
    opened_at: str
    """This moment, as the incident's ``opened_at``."""
    stale_before: str
    """An incident OPEN since before this moment may be taken over (its owner died unreported)."""


Status = Literal["CONTAINED", "DRY_RUN", "REFUSED_PROTECTED", "REFUSED_MISMATCH", "NO_ACTION"]


class Decision(BaseModel):
    act: bool
    status: Status
    reason: str
    summary: str


def _timestamp(moment: datetime) -> str:
    """Second-resolution UTC time in one fixed-width form, so that two of them compare correctly as text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_finding(request: FindingCheck, settings: ResponseConfig, now: datetime) -> Triage:
    """Whether the playbook's input is a genuine finding; problems name fields, never their values."""
    times = {"opened_at": _timestamp(now), "stale_before": _timestamp(now - settings.incident_lease)}
    try:
        finding = Finding.model_validate(request.finding)
    except ValidationError as exc:
        found = validation_problems(exc)
        summary = f"{request.playbook} refused its input: not a Warden finding ({'; '.join(found)})."
        return Triage(valid=False, summary=summary, problems=found, **times)
    if finding.id != finding.content_id():
        problem = "id: does not match the finding's content (altered or forged)"
        summary = f"{request.playbook} refused finding {finding.id}: its {problem}."
        return Triage(valid=False, summary=summary, problems=[problem], **times)
    return Triage(valid=True, summary=f"finding {finding.id} accepted", **times)


def decide_containment(request: ContainmentCheck, settings: ResponseConfig) -> Decision:
    """May the playbook disable ``request.credential``, which AWS says belongs to ``request.owner_arn``?"""
    finding, owner = request.finding, request.owner_arn
    subject = f"{request.credential} of {owner}"
    covered = protected_match(owner, settings.protected) or protected_match(finding.principal, settings.protected)
    if covered:
        return _refuse(
            "REFUSED_PROTECTED",
            "protected-principal",
            f"{owner} is a protected principal (entry {covered}): Warden refused to touch {request.credential}. "
            "Investigate by hand.",
        )
    owner_ref = PrincipalRef.parse(owner)
    if owner_ref is None or owner_ref.account != settings.account_id or finding.account != settings.account_id:
        return _refuse(
            "REFUSED_MISMATCH",
            "foreign-account",
            f"{subject}: the finding (account {finding.account}) or the credential is not in this stack's "
            f"account {settings.account_id}; Warden acts only in its own account.",
        )
    if not same_principal(owner, finding.principal):
        return _refuse(
            "REFUSED_MISMATCH",
            "owner-mismatch",
            f"{request.credential} belongs to {owner}, not to the finding's principal {finding.principal}: "
            "the finding is wrong or forged, and nothing was changed.",
        )
    if not request.active:
        return _refuse("NO_ACTION", "already-inactive", f"{subject} was already inactive; nothing was changed.")
    if settings.mode != "auto":
        return _refuse(
            "DRY_RUN", "dry-run", f"Dry run (response mode {settings.mode}): Warden would have disabled {subject}."
        )
    if SEVERITY_RANK[finding.severity] < SEVERITY_RANK[settings.auto_min_severity]:
        return _refuse(
            "DRY_RUN",
            "below-threshold",
            f"Severity {finding.severity} is below {settings.auto_min_severity}, the lowest that is contained "
            f"automatically: Warden would have disabled {subject}.",
        )
    return Decision(act=True, status="CONTAINED", reason="contain", summary=f"Disable {subject}.")


def _refuse(status: Status, reason: str, summary: str) -> Decision:
    return Decision(act=False, status=status, reason=reason, summary=summary)


def identify_incident(request: IncidentCheck) -> Incident:
    """The incident key in a failed execution's input, without trusting the input to be JSON at all.

    JSONPath's ``States.StringToJson`` fails uncatchably on a string that is not JSON, which would make
    the failure recorder itself die unheard; here any input gives an answer.
    """
    document = request.input
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            return Incident(finding_id=None)
    candidate = document.get("id") if isinstance(document, dict) else None
    return Incident(finding_id=candidate if isinstance(candidate, str) and FINDING_ID.fullmatch(candidate) else None)


def evaluate(
    request: FindingCheck | ContainmentCheck | IncidentCheck, settings: ResponseConfig, now: datetime
) -> dict[str, Any]:
    """The response-policy function's one entry point: dispatch a request to its check."""
    if isinstance(request, FindingCheck):
        return check_finding(request, settings, now).model_dump(mode="json")
    if isinstance(request, IncidentCheck):
        return identify_incident(request).model_dump(mode="json")
    return decide_containment(request, settings).model_dump(mode="json")
