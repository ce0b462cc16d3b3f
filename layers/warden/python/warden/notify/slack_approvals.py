"""Slack's Approve / Reject buttons, answered: the interactivity request verified, read, and decided.

Slack posts a button click (``block_actions``) to the app's Request URL, here a Lambda function URL with
no IAM auth: the request is trusted only once its signature checks out with the app's signing secret
(kept in Secrets Manager) and its timestamp is within five minutes (the Slack SDK's ``SignatureVerifier``).
A request seen before in the window (same signature) is refused: a captured click cannot be replayed on
the same warm function, and on another one the incident is no longer awaiting approval (the decision is a
conditional write), so a replay never decides twice.

The button's value is the incident (finding) id, never the task token: :func:`warden.approvals.decide`
reads the token from the execution's history, records who decided, then answers Step Functions. Who may
decide is the ``SlackApprovers`` allow-list of Slack user ids (empty: anyone in the channel). Slack
expects an answer within three seconds; the decision is a handful of API calls, and the person sees the
result as a reply in the channel (``response_url``) and then as the playbook's own notification.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from pydantic import Field, field_validator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from warden.adapters.approvals import DynamoDBIncidentStore, StepFunctionsWorkflow
from warden.adapters.secrets import SecretsManagerSecrets
from warden.approvals import WorkflowError, decide
from warden.config import EnvironmentModel
from warden.errors import WardenError
from warden.notify.slack import APPROVE_ACTION_ID, REJECT_ACTION_ID
from warden.observability import logger, metrics

MAX_AGE_SECONDS = 300
"""Slack's replay window: a request signed longer ago than this is refused."""
MAX_BODY_BYTES = 64 * 1024
INCIDENT = re.compile(r"^[0-9a-f]{32}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
RESPONSE_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
"""``response_url`` is followed only to Slack's own hosts (the request is signed, but the URL is data)."""


class RequestRefused(WardenError):
    """The request is not a verified, well-formed button click: ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class ApprovalsConfig(EnvironmentModel):
    """The Slack approvals function's configuration, from its environment."""

    signing_secret_arn: str = Field(alias="WARDEN_SLACK_SIGNING_SECRET_ARN", min_length=1)
    incident_table: str = Field(alias="WARDEN_INCIDENT_TABLE", min_length=1)
    approvers: tuple[str, ...] = Field(default=(), alias="WARDEN_SLACK_APPROVERS")
    region: str = Field(alias="AWS_REGION", min_length=1)
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    secret_max_age_seconds: int = Field(default=300, alias="WARDEN_SLACK_SECRET_MAX_AGE_SECONDS", ge=0, le=86400)

    @field_validator("approvers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("approvers")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [item for item in value if not SLACK_USER.match(item)]
        if bad:
            raise ValueError(f"not Slack user ids (U... or W...): {len(bad)} item(s)")
        return value


@dataclass(frozen=True)
class Click:
    """One Approve or Reject click, as far as a decision needs it."""

    approve: bool
    incident: str
    user_id: str
    user_name: str
    team_id: str | None
    response_url: str | None

    @property
    def by(self) -> str:
        """Who decided, as the incident's history records it."""
        return f"slack:{self.team_id + '/' if self.team_id else ''}{self.user_id} ({self.user_name})"


class Decider(Protocol):
    """Approves or rejects the playbook waiting on an incident (:func:`warden.approvals.decide`, bound)."""

    def __call__(self, incident: str, *, approve: bool, by: str, reason: str | None) -> str:
        """The decision's summary; raises a :class:`~warden.errors.WardenError` when it is refused."""


Replies = Callable[[str, str], None]
"""Posts ``text`` to a ``response_url`` (a reply under the clicked message)."""


class ReplayGuard:
    """Signatures seen in the last ``MAX_AGE_SECONDS`` on this function instance."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._seen: dict[str, float] = {}
        self._clock = clock

    def first_time(self, signature: str) -> bool:
        now = self._clock()
        self._seen = {sig: at for sig, at in self._seen.items() if now - at <= MAX_AGE_SECONDS}
        if signature in self._seen:
            return False
        self._seen[signature] = now
        return True


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    raw = event.get("headers") or {}
    return {str(k).lower(): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def request_body(event: Mapping[str, Any]) -> str:
    """The raw body of a function-URL event, exactly as signed (base64-decoded when Lambda encoded it)."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise RequestRefused(400, "no body")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise RequestRefused(400, "body is not base64 UTF-8") from None
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise RequestRefused(413, "body too large")
    return body


def verify(
    event: Mapping[str, Any], body: str, signing_secret: str, guard: ReplayGuard, now: Callable[[], float]
) -> None:
    """Refuse (401) a request whose signature, timestamp or freshness does not check out."""
    headers = _headers(event)
    timestamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
    if not timestamp or not signature or not timestamp.isdigit() or len(timestamp) > 12:
        raise RequestRefused(401, "missing or malformed Slack signature headers")

    class _Clock:
        def now(self) -> float:
            return now()

    verifier = SignatureVerifier(signing_secret, clock=_Clock())  # type: ignore[arg-type]
    if abs(now() - int(timestamp)) > MAX_AGE_SECONDS:
        raise RequestRefused(401, "stale request: timestamp outside the five-minute window")
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        raise RequestRefused(401, "bad signature")
    if not guard.first_time(signature):
        raise RequestRefused(401, "replayed request")


def parse_click(body: str) -> Click:
    """The click in a ``block_actions`` payload (form field ``payload``); 400 for anything else."""
    fields = parse_qs(body, keep_blank_values=True, max_num_fields=20)
    raw = fields.get("payload", [None])[0]
    if not raw:
        raise RequestRefused(400, "no payload")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise RequestRefused(400, "payload is not JSON") from None
    if not isinstance(payload, Mapping) or payload.get("type") != "block_actions":
        raise RequestRefused(400, "not a block_actions payload")
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and len(actions) == 1 else None
    if not isinstance(action, Mapping) or action.get("action_id") not in {APPROVE_ACTION_ID, REJECT_ACTION_ID}:
        raise RequestRefused(400, "not a Warden approval button")
    incident = action.get("value")
    if not isinstance(incident, str) or not INCIDENT.match(incident):
        raise RequestRefused(400, "the button's value is not an incident id")
    user = payload.get("user")
    user_id = user.get("id") if isinstance(user, Mapping) else None
    if not isinstance(user_id, str) or not SLACK_USER.match(user_id):
        raise RequestRefused(400, "no Slack user id")
    name = user.get("username") or user.get("name") if isinstance(user, Mapping) else None
    team = payload.get("team")
    team_id = team.get("id") if isinstance(team, Mapping) and isinstance(team.get("id"), str) else None
    response_url = payload.get("response_url")
    return Click(
        approve=action["action_id"] == APPROVE_ACTION_ID,
        incident=incident,
        user_id=user_id,
        user_name=re.sub(r"[^\w.\-]", "", str(name or ""))[:40] or "unknown",
        team_id=team_id if team_id and re.fullmatch(r"[TE][A-Z0-9]{2,20}", team_id) else None,
        response_url=response_url if isinstance(response_url, str) and _slack_host(response_url) else None,
    )


def _slack_host(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and parts.hostname in RESPONSE_HOSTS


def _reason(exc: WardenError) -> str:
    """Why a decision was refused, fit for the channel: Step Functions' own messages may quote the task token,
    so a refusal by Step Functions is told by its error code only."""
    if isinstance(exc, WorkflowError):
        return f"Step Functions refused it ({exc.code}): the approval may have timed out; see warden playbook status."
    return str(exc)[:500]


def allowed(click: Click, approvers: tuple[str, ...]) -> bool:
    """Whether the clicking user may decide: anyone when the allow-list is empty."""
    return not approvers or click.user_id in approvers


class SlackApprovals:
    """Answers Slack's interactivity requests: verify, read, check the approver, decide, reply."""

    def __init__(
        self,
        *,
        signing_secret: Callable[[], str],
        approvers: tuple[str, ...],
        decide: Decider,
        reply: Replies | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = signing_secret
        self._approvers = approvers
        self._decide = decide
        self._reply = reply
        self._clock = clock
        self._guard = ReplayGuard(clock)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The function URL's answer: 200 once verified (the outcome goes to the channel), else 4xx."""
        try:
            body = request_body(event)
            verify(event, body, self._secret(), self._guard, self._clock)
            click = parse_click(body)
        except RequestRefused as exc:
            metrics.add_metric(name="SlackRequestsRefused", unit=MetricUnit.Count, value=1)
            logger.warning("slack request refused", extra={"http_status": exc.status, "reason": str(exc)})
            return {"statusCode": exc.status, "headers": {"Content-Type": "text/plain"}, "body": str(exc)}
        keys = {"incident": click.incident, "slack_user": click.user_id, "approve": click.approve}
        metrics.add_metric(name="SlackDecisionRequests", unit=MetricUnit.Count, value=1)
        if not allowed(click, self._approvers):
            logger.warning("slack decision refused: not an approver", extra=keys)
            text = f"<@{click.user_id}> is not on Warden's approver list: incident {click.incident} is unchanged."
        else:
            try:
                summary = self._decide(
                    click.incident,
                    approve=click.approve,
                    by=click.by,
                    reason=None if click.approve else "rejected in Slack",
                )
            except WardenError as exc:
                reason = _reason(exc)
                logger.warning("slack decision refused", extra={**keys, "reason": reason[:300]})
                text = f"Incident {click.incident}: not decided. {reason}"
            else:
                logger.info("slack decision delivered", extra=keys)
                text = f"<@{click.user_id}>: {summary}"
        if click.response_url and self._reply is not None:
            try:
                self._reply(click.response_url, text)
            except Exception as exc:  # the decision stands; the reply is a courtesy
                logger.warning("slack reply not delivered", extra={**keys, "error": type(exc).__name__})
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": ""}


# Slack waits three seconds for the answer: short timeouts, few retries.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2)


_SDK_LOGGER = logging.getLogger("warden.slack_approvals.slack_sdk")
"""Given to the Slack SDK instead of its own: silent, because its debug and error lines carry the URL (a
``response_url`` lets anyone post to the channel for a while)."""
_SDK_LOGGER.setLevel(logging.CRITICAL + 1)
_SDK_LOGGER.propagate = False
_SDK_LOGGER.addHandler(logging.NullHandler())


def _reply(response_url: str, text: str) -> None:
    """A reply in the channel under the message (visible to everyone), through the SDK's webhook client."""
    client = WebhookClient(response_url, timeout=1, logger=_SDK_LOGGER)
    client.send(text=text, response_type="in_channel", replace_original=False)


@lru_cache(maxsize=2)
def approvals(config: ApprovalsConfig) -> SlackApprovals:
    """The handler's collaborators, cached so that a warm function reuses its clients and cached secret."""
    session = boto3.session.Session(region_name=config.region)

    endpoint, settings = config.endpoint_url, _CLIENT_CONFIG
    secrets = SecretsManagerSecrets(
        session.client("secretsmanager", endpoint_url=endpoint, config=settings),
        max_age_seconds=config.secret_max_age_seconds,
    )
    store = DynamoDBIncidentStore(
        session.client("dynamodb", endpoint_url=endpoint, config=settings), config.incident_table
    )
    workflow = StepFunctionsWorkflow(session.client("stepfunctions", endpoint_url=endpoint, config=settings))

    def decide_incident(incident: str, *, approve: bool, by: str, reason: str | None) -> str:
        return decide(store, workflow, incident, approve=approve, by=by, reason=reason).summary

    return SlackApprovals(
        signing_secret=lambda: secrets.get(config.signing_secret_arn).strip(),
        approvers=config.approvers,
        decide=decide_incident,
        reply=_reply,
    )
