"""Secrets Manager: a secret's string value, cached for a while, never logged and never put in an error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError

from warden.errors import WardenError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

DEFAULT_MAX_AGE_SECONDS = 300
"""A warm function reads a rotated secret within five minutes, and a burst of notifications reads it once."""


class SecretUnavailableError(WardenError):
    """The secret could not be read or has no string value. The message names the cause, never the value."""


class SecretsManagerSecrets:
    """Reads secrets by ARN through Powertools' parameters utility, which caches each value for ``max_age``."""

    def __init__(self, client: SecretsManagerClient, *, max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._max_age = max_age_seconds

    def get(self, secret_arn: str, *, refresh: bool = False) -> str:
        """The secret's ``SecretString``; ``refresh`` skips the cache (after the value was refused downstream)."""
        try:
            value = self._provider.get(secret_arn, max_age=self._max_age, force_fetch=refresh)
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__  # Powertools raises it inside its except clause
            code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
            reason = code or (type(cause).__name__ if isinstance(cause, BotoCoreError) else "GetParameterError")
            raise SecretUnavailableError(f"the secret could not be read ({reason})") from None
        if not isinstance(value, str) or not value.strip():
            raise SecretUnavailableError("the secret has no string value")
        return value
