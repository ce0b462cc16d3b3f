"""IAM principals compared as IAM compares them: by account, kind and name, whatever the path or letter case.

IAM user and role names are unique within an account case-insensitively, and a path is not part of a
principal's identity (``user/admins/alice`` and ``user/alice`` cannot both exist). An assumed-role session
(``arn:aws:sts::111122223333:assumed-role/Deployer/session``) acts as its role. So two ARNs name the same
principal when account, kind and lower-cased name agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

Kind = Literal["user", "role", "root"]


@dataclass(frozen=True)
class PrincipalRef:
    """The identity an ARN names: ``(account, kind, name)`` with the name lower-cased."""

    account: str
    kind: Kind
    name: str

    @classmethod
    def parse(cls, arn: str) -> PrincipalRef | None:
        """The principal an IAM or STS ARN names, or None when the ARN names no user, role or root."""
        parts = arn.strip().split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] not in {"iam", "sts"}:
            return None
        account, resource = parts[4], parts[5]
        kind, _, rest = resource.partition("/")
        if parts[2] == "iam" and resource == "root":
            return cls(account, "root", "root")
        if parts[2] == "iam" and kind in {"user", "role"} and rest:
            return cls(account, kind, rest.rsplit("/", 1)[-1].lower())  # type: ignore[arg-type]
        if parts[2] == "sts" and kind == "assumed-role" and rest:
            return cls(account, "role", rest.split("/", 1)[0].lower())
        return None

    def __str__(self) -> str:
        return f"{self.account}:{self.kind}/{self.name}"


def same_principal(a: str, b: str) -> bool:
    """Whether two ARNs name the same IAM principal (path and letter case of the name ignored)."""
    left, right = PrincipalRef.parse(a), PrincipalRef.parse(b)
    return left is not None and left == right


def protected_match(arn: str, protected: Iterable[str]) -> str | None:
    """The entry of ``protected`` that covers ``arn``, if any.

    An entry covers a principal when both name the same principal. An entry with ``*`` or ``?`` is a
    pattern (``arn:aws:iam::*:role/BreakGlass*``): it covers a principal whose account, kind and name
    match the pattern's, shell-style, the name compared in lower case and without its path, as IAM
    identifies principals. An entry that is not a user, role or root ARN never matches anything (the stack
    parameter's pattern refuses most such entries up front).
    """
    target = PrincipalRef.parse(arn)
    if target is None:
        return None
    for entry in protected:
        if "*" in entry or "?" in entry:
            if _pattern_covers(entry, target):
                return entry
        elif PrincipalRef.parse(entry) == target:
            return entry
    return None


def _pattern_covers(pattern: str, target: PrincipalRef) -> bool:
    parts = pattern.strip().split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] not in {"iam", "sts", "*"}:
        return False
    account, resource = parts[4], parts[5]
    kind, _, name = resource.partition("/")
    if target.kind == "root":
        return fnmatchcase(target.account, account or "*") and resource == "root"
    if not name or not fnmatchcase(target.kind, kind):
        return False
    return fnmatchcase(target.account, account or "*") and fnmatchcase(target.name, name.rsplit("/", 1)[-1].lower())
