"""IAM service-specific credentials (Bedrock long-term API keys among them) on the emulator, as AWS has them.

moto 5.2.5 has no ``Create/List/Update/Delete/ResetServiceSpecificCredential``: its IAM answers them with
"not implemented", so neither a Bedrock long-term API key nor its containment (``UpdateServiceSpecificCredential
Status=Inactive``) could be exercised locally. :func:`emulate_service_specific_credentials` adds the five
actions to moto's IAM responses, over a per-account store kept on moto's IAM backend (so a moto reset empties
it like the rest of IAM). Answers are serialised by moto from botocore's model, so the query-protocol XML is
the shape AWS returns; what is modelled on AWS:

* only the services that issue such credentials: ``codecommit.amazonaws.com`` and ``cassandra.amazonaws.com``
  (a user name and a password) and ``bedrock.amazonaws.com`` (a long-term API key: an alias and a secret);
  anything else is ``NotSupportedService``;
* at most two credentials per user and service (``LimitExceeded``); ``CredentialAgeDays`` (1 to 36,600)
  only for a service with long-term API keys, giving an ``ExpirationDate`` after which the credential lists
  as ``Expired``;
* an unknown user or credential id, or a credential of another user, is ``NoSuchEntity``; without
  ``UserName`` the caller's own user is meant (a caller that is no IAM user must name one); ``AllUsers``
  lists every user's credentials and cannot be combined with ``UserName``;
* ``Status`` is ``Active`` or ``Inactive``; ``Reset`` issues a new password or secret, keeping the id;
* a user that still holds service-specific credentials cannot be deleted (``DeleteConflict``).

The secret's exact format is not reproduced beyond its documented ``ABSK`` prefix; nothing in Warden reads it.
"""

from __future__ import annotations

import base64
import functools
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.iam import exceptions
from moto.iam.models import IAMBackend
from moto.iam.responses import IamResponse

SERVICES_WITH_PASSWORDS = frozenset({"codecommit.amazonaws.com", "cassandra.amazonaws.com"})
"""Services whose credential is a user name and a password."""
SERVICES_WITH_API_KEYS = frozenset({"bedrock.amazonaws.com"})
"""Services whose credential is a long-term API key (an alias and a secret), which may expire."""
SUPPORTED_SERVICES = SERVICES_WITH_PASSWORDS | SERVICES_WITH_API_KEYS
PER_USER_AND_SERVICE = 2
MAX_AGE_DAYS = 36600
STATUSES = ("Active", "Inactive")
_STORE = "_warden_service_specific_credentials"
_ID_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class ServiceSpecificCredential:
    """One credential as IAM keeps it."""

    user_name: str
    service_name: str
    credential_id: str
    account: str
    create_date: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    status: str = "Active"
    expiration_date: datetime | None = None
    service_user_name: str | None = None
    service_password: str | None = None
    alias: str | None = None
    secret: str | None = None

    def current_status(self, now: datetime) -> str:
        """``Expired`` once past its expiration date, whatever it was set to."""
        if self.expiration_date is not None and now >= self.expiration_date:
            return "Expired"
        return self.status

    def renew_secret(self) -> None:
        """A new password (or API key secret): what Create issues and Reset replaces."""
        if self.service_name in SERVICES_WITH_API_KEYS:
            token = f"BedrockAPIKey-{_random(4).lower()}-at-{self.account}:{secrets.token_urlsafe(30)}"
            self.secret = "ABSK" + base64.b64encode(token.encode()).decode()
        else:
            self.service_password = base64.b64encode(secrets.token_bytes(33)).decode()

    def metadata(self, now: datetime) -> dict[str, Any]:
        """As ``ListServiceSpecificCredentials`` lists it: no password or secret."""
        listed: dict[str, Any] = {
            "UserName": self.user_name,
            "Status": self.current_status(now),
            "CreateDate": self.create_date,
            "ServiceSpecificCredentialId": self.credential_id,
            "ServiceName": self.service_name,
        }
        if self.service_user_name is not None:
            listed["ServiceUserName"] = self.service_user_name
        if self.alias is not None:
            listed["ServiceCredentialAlias"] = self.alias
        if self.expiration_date is not None:
            listed["ExpirationDate"] = self.expiration_date
        return listed

    def issued(self, now: datetime) -> dict[str, Any]:
        """As Create and Reset return it: the metadata with the password or the secret, shown this once."""
        shown = self.metadata(now)
        if self.service_password is not None:
            shown["ServicePassword"] = self.service_password
        if self.secret is not None:
            shown["ServiceCredentialSecret"] = self.secret
        return shown


def _random(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def new_credential_id() -> str:
    """An id shaped like IAM's: ``ACCA`` and 17 upper-case letters and digits."""
    return "ACCA" + _random(17)


def credentials_of(backend: Any) -> dict[str, ServiceSpecificCredential]:
    """The account's credentials by id, kept on moto's IAM backend (emptied with it by a reset)."""
    store = getattr(backend, _STORE, None)
    if store is None:
        store = {}
        setattr(backend, _STORE, store)
    return store


class NotSupportedService(ServiceException):
    """IAM's ``ServiceNotSupportedException``."""

    code = "NotSupportedService"


def _invalid(message: str) -> Exception:
    return exceptions.ValidationError(message)


def _not_supported(service: str) -> Exception:
    return NotSupportedService(f"Service {service} is not supported for service-specific credentials.")


def _caller_user(response: Any) -> str:
    """The IAM user behind the request's access key: the user meant when ``UserName`` is left out."""
    user = response.backend.get_user_from_access_key_id(response.get_access_key())
    if user is None:
        raise _invalid("Must specify userName when calling with non-User credentials")
    return str(user.name)


def _user(response: Any) -> str:
    named = response._get_param("UserName")
    if named:
        response.backend.get_user(named)  # NoSuchEntity for an unknown user, as IAM answers
        return str(named)
    return _caller_user(response)


def _find(response: Any, user_name: str) -> ServiceSpecificCredential:
    credential_id = response._get_param("ServiceSpecificCredentialId")
    credential = credentials_of(response.backend).get(str(credential_id))
    if credential is None or credential.user_name != user_name:
        raise exceptions.NoSuchEntity(f"No such credential {credential_id} exists for user {user_name}.")
    return credential


def create_service_specific_credential(self: Any) -> Any:
    """``iam:CreateServiceSpecificCredential``."""

    user_name = _user(self)
    service = str(self._get_param("ServiceName") or "")
    if service not in SUPPORTED_SERVICES:
        raise _not_supported(service)
    age = self._get_int_param("CredentialAgeDays")
    if age is not None and service not in SERVICES_WITH_API_KEYS:
        raise _invalid(f"CredentialAgeDays is only valid for services that support long-term API keys, not {service}")
    if age is not None and not 1 <= age <= MAX_AGE_DAYS:
        raise _invalid(
            f"1 validation error detected: Value '{age}' at 'credentialAgeDays' failed to satisfy constraint: "
            f"Member must have value between 1 and {MAX_AGE_DAYS}"
        )
    store = credentials_of(self.backend)
    held = [c for c in store.values() if c.user_name == user_name and c.service_name == service]
    if len(held) >= PER_USER_AND_SERVICE:
        raise exceptions.LimitExceededException(
            f"Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: {PER_USER_AND_SERVICE}"
        )
    account = str(self.current_account)
    credential = ServiceSpecificCredential(
        user_name=user_name, service_name=service, credential_id=new_credential_id(), account=account
    )
    if service in SERVICES_WITH_API_KEYS:
        credential.alias = f"{user_name}-at-{account}"
        if age is not None:
            credential.expiration_date = credential.create_date + timedelta(days=age)
    else:
        credential.service_user_name = f"{user_name}-at-{account}"
    credential.renew_secret()
    store[credential.credential_id] = credential
    return ActionResult({"ServiceSpecificCredential": credential.issued(datetime.now(UTC))})


def list_service_specific_credentials(self: Any) -> Any:
    """``iam:ListServiceSpecificCredentials``, with ``ServiceName``, ``AllUsers`` and ``Marker``/``MaxItems``."""

    every_user = self._get_bool_param("AllUsers", False)
    if every_user and self._get_param("UserName"):
        raise _invalid("AllUsers cannot be specified together with UserName")
    user_name = None if every_user else _user(self)
    service = self._get_param("ServiceName")
    if service and service not in SUPPORTED_SERVICES:
        raise _not_supported(str(service))
    now = datetime.now(UTC)
    listed = [
        c.metadata(now)
        for c in credentials_of(self.backend).values()
        if (user_name is None or c.user_name == user_name) and (not service or c.service_name == service)
    ]
    listed.sort(key=lambda item: (item["UserName"], item["CreateDate"], item["ServiceSpecificCredentialId"]))
    start = int(self._get_param("Marker") or 0)
    size = self._get_int_param("MaxItems", 100)
    page = listed[start : start + size]
    result: dict[str, Any] = {"ServiceSpecificCredentials": page, "IsTruncated": start + size < len(listed)}
    if result["IsTruncated"]:
        result["Marker"] = str(start + size)
    return ActionResult(result)


def update_service_specific_credential(self: Any) -> Any:
    """``iam:UpdateServiceSpecificCredential``: ``Active`` or ``Inactive``."""

    status = self._get_param("Status")
    if status not in STATUSES:
        raise _invalid(
            f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{', '.join(STATUSES)}]"
        )
    _find(self, _user(self)).status = str(status)
    return EmptyResult()


def reset_service_specific_credential(self: Any) -> Any:
    """``iam:ResetServiceSpecificCredential``: a new password or secret for the same credential id."""

    credential = _find(self, _user(self))
    credential.renew_secret()
    return ActionResult({"ServiceSpecificCredential": credential.issued(datetime.now(UTC))})


def delete_service_specific_credential(self: Any) -> Any:
    """``iam:DeleteServiceSpecificCredential``."""

    credential = _find(self, _user(self))
    del credentials_of(self.backend)[credential.credential_id]
    return EmptyResult()


ACTIONS = {
    "create_service_specific_credential": create_service_specific_credential,
    "list_service_specific_credentials": list_service_specific_credentials,
    "update_service_specific_credential": update_service_specific_credential,
    "reset_service_specific_credential": reset_service_specific_credential,
    "delete_service_specific_credential": delete_service_specific_credential,
}


def _refusing_users_with_credentials(delete_user: Any) -> Any:
    @functools.wraps(delete_user)
    def delete(backend: Any, user_name: str) -> None:
        if any(c.user_name == user_name for c in credentials_of(backend).values()):
            raise exceptions.DeleteConflictException(
                "Cannot delete entity, must remove service specific credentials first."
            )
        delete_user(backend, user_name)

    delete.__warden_service_credentials__ = True  # type: ignore[attr-defined]
    return delete


def emulate_service_specific_credentials() -> None:
    """Add the five service-specific credential actions to moto's IAM (idempotent)."""
    for name, action in ACTIONS.items():
        if getattr(IamResponse, name, None) is not action:
            setattr(IamResponse, name, action)
    if not getattr(IAMBackend.delete_user, "__warden_service_credentials__", False):
        setattr(IAMBackend, "delete_user", _refusing_users_with_credentials(IAMBackend.delete_user))  # noqa: B010
