"""Credentials and key material in free text: which kind, and a SHA-256 of the value, never the value.

Every pattern is a prefixed or labelled, high-entropy format that its issuer designed to be
recognisable (most issuers chose their prefixes for secret scanning), so a match is rarely anything
else. The kinds, and why each is worth a finding in a model's prompt or completion:

``aws-access-key-pair`` (HIGH)
    An access key id (``AKIA``/``ASIA`` and 16 characters) with a 40-character secret access key
    within :data:`PAIR_DISTANCE` characters of it: a working AWS credential. A lone key id is *not*
    reported: it is no secret (CloudTrail records, error messages and IAM listings carry key ids),
    and applications that summarise logs with a model would report it all day.
``aws-secret-access-key`` (HIGH)
    A 40-character secret labelled as one (``aws_secret_access_key = ...``, ``"SecretAccessKey": "..."``,
    or a string value under such a key), without its key id nearby: still the secret half.
``private-key`` (HIGH)
    A PEM private key block (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted or not) with a body. The digest
    is over the body's base64 characters with whitespace removed, so a responder can compare a key
    file: ``grep -v -- ----- key.pem | tr -d ' \\r\\n\\t' | sha256sum``. Header lines
    (``Proc-Type: ...``) are not part of it.
``bedrock-api-key`` (MEDIUM)
    A long-term Amazon Bedrock API key (``ABSK`` + base64 of ``BedrockAPIKey-...``) or a short-term one
    (``bedrock-api-key-`` + a presigned URL in base64): a bearer credential for Bedrock itself.
``github-token``, ``gitlab-token``, ``slack-token``, ``slack-webhook``, ``stripe-live-key``,
``google-api-key``, ``openai-api-key``, ``anthropic-api-key``, ``huggingface-token`` (MEDIUM)
    Source-code hosting and chat tokens (repository and message access), payment keys, and keys of
    other model providers: LLMjacking resells exactly such keys.

Documented example values are ignored: any value containing ``EXAMPLE`` (AWS documents
``AKIAIOSFODNN7EXAMPLE`` and ``wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY``; developers paste them
when they ask how to configure a tool), and values too uniform to be random (``ghp_xxxx...``).

Linear time: each pattern is a fixed prefix, then character classes with bounded or unbounded
repetition, with nothing after an unbounded run that can fail, and a look-behind that allows at most
one match attempt per run of token characters. Nothing backtracks more than a bounded distance, so a
long adversarial text costs time proportional to its length. Matches per text are capped, and a
pattern runs only when a literal that every match contains is in the text, so ordinary prose costs
a few substring tests.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from warden.models import Severity

PAIR_DISTANCE = 256
"""How far (characters) a secret access key may be from its key id to count as its pair."""
MAX_MATCHES = 50
"""Matches of one pattern considered per text: a text full of decoys cannot make a scan long."""
MAX_PEM_CHARS = 16_384
"""Most characters of a PEM block read after its header (an RSA-8192 key is about 6,500)."""
MIN_PEM_BODY = 64
"""Base64 characters a PEM block needs to be a key rather than a header quoted in prose."""

HIGH_KINDS = frozenset({"aws-access-key-pair", "aws-secret-access-key", "private-key"})

_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_KEY_LABEL = r"(?:aws[_-]?)?secret[_-]?access[_-]?key"
_LABELLED_SECRET = re.compile(
    rf"(?i:{_AWS_KEY_LABEL})[\"']?[ \t]{{0,8}}[:=][ \t]{{0,8}}[\"']?([A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])"
)
_LABEL_HINT = re.compile(r"[Ss][Ee][Cc][Rr][Ee][Tt]")
_SECRET_FIELD = re.compile(rf"(?i:{_AWS_KEY_LABEL})")
_BARE_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END ")
_BASE64 = re.compile(r"[A-Za-z0-9+/=]+")

_TOKENS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    # (kind, a literal every match contains: a cheap test before the pattern runs, pattern)
    ("bedrock-api-key", "ABSK", re.compile(r"(?<![A-Za-z0-9+/])ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{40,2048}={0,2}")),
    (
        "bedrock-api-key",
        "bedrock-api-key-",
        re.compile(r"(?<![A-Za-z0-9-])bedrock-api-key-[A-Za-z0-9+/]{64,8192}={0,2}"),
    ),
    ("github-token", "_", re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9_])")),
    (
        "github-token",
        "github_pat_",
        re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9_])"),
    ),
    ("gitlab-token", "glpat-", re.compile(r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20}(?![A-Za-z0-9_-])")),
    ("slack-token", "xox", re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[0-9]{6,20}-[A-Za-z0-9-]{8,250}")),
    (
        "slack-webhook",
        "hooks.slack.com",
        re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}"),
    ),
    ("stripe-live-key", "k_live_", re.compile(r"(?<![A-Za-z0-9_])[rs]k_live_[A-Za-z0-9]{20,247}")),
    ("google-api-key", "AIza", re.compile(r"(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])")),
    ("openai-api-key", "sk-", re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,400}")),
    (
        "openai-api-key",
        "T3BlbkFJ",
        re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}(?![A-Za-z0-9])"),
    ),
    (
        "anthropic-api-key",
        "sk-ant-",
        re.compile(r"(?<![A-Za-z0-9_-])sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,200}"),
    ),
    ("huggingface-token", "hf_", re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z]{34}(?![A-Za-z0-9_])")),
)


@dataclass(frozen=True)
class SecretMatch:
    """One secret found: its kind and the SHA-256 of its value (hex). Holds nothing of the text."""

    kind: str
    sha256: str

    @property
    def severity(self) -> Severity:
        return Severity.HIGH if self.kind in HIGH_KINDS else Severity.MEDIUM


def scan(text: str, field: str = "") -> Iterator[SecretMatch]:
    """The secrets in ``text`` (``field``: the key it sat under, which can label a bare secret key)."""
    yield from _aws(text, field)
    if "PRIVATE KEY" in text:
        yield from _private_keys(text)
    for kind, hint, pattern in _TOKENS:
        if hint not in text:
            continue
        for match in _capped(pattern.finditer(text)):
            value = match.group(0)
            if _plausible(value, prefix=_prefix_length(value)):
                yield SecretMatch(kind, _digest(value))


def _aws(text: str, field: str) -> Iterator[SecretMatch]:
    if _SECRET_FIELD.fullmatch(field) and _BARE_SECRET.fullmatch(text.strip()):
        secret = text.strip()
        if _plausible_secret(secret):
            yield SecretMatch("aws-secret-access-key", _digest(secret))
            return
    paired: set[str] = set()
    has_key_id = "AKIA" in text or "ASIA" in text
    key_ids = [m for m in _capped(_KEY_ID.finditer(text)) if _plausible(m.group(0), prefix=4)] if has_key_id else []
    if key_ids:
        secrets = [m for m in _capped(_SECRET.finditer(text), limit=4 * MAX_MATCHES) if _plausible_secret(m.group(0))]
        starts = [m.start() for m in secrets]
        for key_id in key_ids:
            partner = _nearest(key_id.start(), key_id.end(), secrets, starts)
            if partner is not None:
                paired.add(partner)
                yield SecretMatch("aws-access-key-pair", _digest(partner))
    if not _LABEL_HINT.search(text):
        return
    for match in _capped(_LABELLED_SECRET.finditer(text)):
        labelled = match.group(1)
        if labelled not in paired and _plausible_secret(labelled):
            yield SecretMatch("aws-secret-access-key", _digest(labelled))


def _nearest(start: int, end: int, secrets: list[re.Match[str]], starts: list[int]) -> str | None:
    """The secret candidate closest to the key id at [start, end), if within PAIR_DISTANCE."""
    index = bisect_left(starts, end)
    best: tuple[int, str] | None = None
    for candidate in secrets[max(0, index - 1) : index + 1]:
        gap = candidate.start() - end if candidate.start() >= end else start - candidate.end()
        if 0 <= gap <= PAIR_DISTANCE and (best is None or gap < best[0]):
            best = (gap, candidate.group(0))
    return best[1] if best else None


def _private_keys(text: str) -> Iterator[SecretMatch]:
    ends = [m.start() for m in _capped(_PEM_END.finditer(text), limit=4 * MAX_MATCHES)]
    for header in _capped(_PEM_BEGIN.finditer(text)):
        index = bisect_left(ends, header.end())
        stop = min(ends[index] if index < len(ends) else len(text), header.end() + MAX_PEM_CHARS)
        lines = text[header.end() : stop].splitlines()
        body = "".join("".join(_BASE64.findall(line)) for line in lines if ":" not in line)
        if len(body) >= MIN_PEM_BODY and _plausible(body, prefix=0):
            yield SecretMatch("private-key", _digest(body))


def _capped(matches: Iterator[re.Match[str]], limit: int = MAX_MATCHES) -> list[re.Match[str]]:
    kept: list[re.Match[str]] = []
    for match in matches:
        if len(kept) >= limit:
            break
        kept.append(match)
    return kept


def _prefix_length(value: str) -> int:
    """Characters of a token's fixed prefix, left out of the randomness check."""
    for separator in ("_", "-"):
        if separator in value[:16]:
            return value.rindex(separator, 0, 16) + 1
    return 4


def _plausible(value: str, *, prefix: int) -> bool:
    """Not a documented example, and random enough (``ghp_xxxx...`` and ``AKIAAAAA...`` are placeholders)."""
    if "EXAMPLE" in value.upper():
        return False
    random_part = value[prefix:]
    return len(set(random_part)) >= min(12, max(4, len(random_part) // 2))


def _plausible_secret(value: str) -> bool:
    """A secret access key: mixed case, not a hex digest (a 40-character SHA-1 sits near key ids in logs)."""
    if not _plausible(value, prefix=0):
        return False
    return any(c.islower() for c in value) and any(c.isupper() for c in value)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
