"""What every Bedrock detector needs to know about Bedrock's CloudTrail events, on both of its endpoints.

Bedrock inference reaches CloudTrail from two event sources:

``bedrock.amazonaws.com``
    The ``bedrock-runtime`` endpoint (and the control plane). ``InvokeModel``,
    ``InvokeModelWithResponseStream``, ``Converse`` and ``ConverseStream`` are read-only
    *management* events, logged by default; the model is ``requestParameters.modelId``; a call
    signed with a Bedrock API key carries ``additionalEventData.callWithBearerToken``.

``bedrock-mantle.amazonaws.com``
    The OpenAI- and Anthropic-compatible endpoint (``bedrock-mantle.<region>.api.aws``: Responses,
    Chat Completions, Embeddings, Anthropic Messages). Per the Bedrock user guide ("Monitor
    bedrock-mantle API calls using CloudTrail"), every inference route is logged under the one event
    name ``CreateInference``, as a *data* event (``managementEvent: false``, ``readOnly: false``),
    which a trail records only when an advanced event selector asks for ``AWS::BedrockMantle::*``
    data events. Its model is ``requestParameters.model``, and the bearer-token flag sits in
    ``requestParameters.callWithBearerToken`` (not in ``additionalEventData``). ``ListModels`` and
    ``GetModel`` are management events (the endpoint's model enumeration). ``GetInference``,
    ``CancelInference``, ``DeleteInference`` (stored responses) and ``CountTokens`` do not run a
    model and are not counted as invocations. The user guide does not document the error codes the
    endpoint writes to ``errorCode``; :func:`probing_error` matches them by prefix, case-insensitively.

Not confirmed: the EventBridge ``source`` of mantle events (by the usual rule, ``aws.bedrock-mantle``);
match them on ``detail.eventSource``.
"""

from __future__ import annotations

from typing import Any

from warden.models import CloudTrailRecord

BEDROCK = "bedrock.amazonaws.com"
MANTLE = "bedrock-mantle.amazonaws.com"
SOURCES = frozenset({BEDROCK, MANTLE})

RUNTIME_INVOCATIONS = frozenset(
    {"InvokeModel", "InvokeModelWithResponseStream", "InvokeModelWithBidirectionalStream", "Converse", "ConverseStream"}
)
MANTLE_INVOCATIONS = frozenset({"CreateInference"})
MANTLE_RECON = frozenset({"ListModels", "GetModel"})
"""The mantle endpoint's model enumeration: what ``ListFoundationModels``/``GetFoundationModel`` are on the other."""

INVOCATIONS = frozenset(
    {(BEDROCK, name) for name in RUNTIME_INVOCATIONS} | {(MANTLE, name) for name in MANTLE_INVOCATIONS}
)
"""Every ``(eventSource, eventName)`` that runs a model (and costs money when it succeeds)."""
MODEL_ACCESS_CHECKS = frozenset(
    {
        (BEDROCK, "ListFoundationModels"),
        (BEDROCK, "GetFoundationModelAvailability"),
        (MANTLE, "ListModels"),
        (MANTLE, "GetModel"),
    }
)
"""Calls that ask which models a credential may use: their denials are part of probing a key."""

PROBING_ERRORS = ("accessdenied", "validation", "resourcenotfound")
"""Error-code prefixes (lower case, ``_`` and ``-`` removed) of a call that never reached a model:
``AccessDenied``/``AccessDeniedException``, ``ValidationException``, ``ResourceNotFoundException``.
Throttling, quota and model errors are load, not probing, and are left out."""

GEO_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
"""Prefixes of cross-region inference profile ids: ``us.anthropic.claude...`` is the same model."""


def is_invocation(record: CloudTrailRecord) -> bool:
    return (record.event_source, record.event_name) in INVOCATIONS


def model_of(record: CloudTrailRecord) -> str | None:
    """The model id a call names (``modelId`` on the runtime, ``model`` on mantle), as logged."""
    params = record.request_parameters or {}
    for field in ("modelId", "modelIdentifier", "model"):
        value = params.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def model_family(model: str) -> str:
    """The model a model id, ARN or inference profile stands for: ``anthropic.claude-3-haiku-20240307-v1:0``.

    An ARN is reduced to its resource id, a cross-region profile loses its geography prefix, and the
    result is lower-cased, so that moving an application to an inference profile is not a new model.
    """
    value = model.strip().lower()
    if value.startswith("arn:"):
        value = value.rsplit("/", 1)[-1]
    for prefix in GEO_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def _flag(container: dict[str, Any] | None) -> bool:
    value = (container or {}).get("callWithBearerToken")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def bearer_token(record: CloudTrailRecord) -> bool:
    """Signed with a Bedrock API key: ``additionalEventData`` on the runtime, ``requestParameters`` on mantle."""
    return _flag(record.additional_event_data) or _flag(record.request_parameters)


def probing_error(record: CloudTrailRecord) -> str | None:
    """The error code if the call failed the way a probe of an unusable model or key fails, else None."""
    code = record.error_code
    if not code:
        return None
    normal = code.lower().replace("_", "").replace("-", "")
    return code if normal.startswith(PROBING_ERRORS) else None


def credential(record: CloudTrailRecord) -> str:
    """What signed the call: ``bedrock-api-key``, ``long-term-access-key``, ``temporary-session``..."""
    return "bedrock-api-key" if bearer_token(record) else record.user_identity.credential_type


def playbook_for(*, bearer: bool, access_key_id: str | None, identity_type: str | None) -> str | None:
    """The containment that fits a credential (None: notify only).

    A Bedrock API key is not revoked by deactivating access keys or revoking sessions, so it comes
    first; then an IAM user's long-term key, then an assumed-role session.
    """
    if bearer:
        return "contain-bedrock-api-key"
    key = access_key_id or ""
    if key.startswith("AKIA") and identity_type == "IAMUser":
        return "contain-access-key"
    if key.startswith("ASIA") and identity_type == "AssumedRole":
        return "revoke-role-sessions"
    return None


def playbook(record: CloudTrailRecord) -> str | None:
    """The containment that fits the credential behind a call (see :func:`playbook_for`)."""
    identity = record.user_identity
    return playbook_for(bearer=bearer_token(record), access_key_id=identity.access_key_id, identity_type=identity.type)


def credential_of(*, bearer: bool, access_key_id: str | None) -> str:
    if bearer:
        return "bedrock-api-key"
    key = access_key_id or ""
    if key.startswith("AKIA"):
        return "long-term-access-key"
    if key.startswith("ASIA"):
        return "temporary-session"
    return "unknown"


def baseline_key(record: CloudTrailRecord) -> str | None:
    """Whose baseline a call belongs to: a session's role (or issuing user), else the caller itself.

    A role's sessions are many and short-lived (one per task, pod or Lambda container), but they run
    the same code: keyed by the session ARN, every new session would start a new baseline and never
    leave its warm-up.
    """
    identity = record.user_identity
    return identity.issuer_arn or identity.arn
