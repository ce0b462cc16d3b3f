"""Function configuration: a validated model read from the environment at the handler edge."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from warden.errors import ConfigurationError


class DetectorConfig(BaseModel):
    """What a detector function needs to know about the stack it runs in.

    Frozen and hashable, so that adapters built from it can be cached per configuration.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    state_table: str = Field(alias="WARDEN_STATE_TABLE", min_length=1)
    findings_bus: str = Field(alias="WARDEN_FINDINGS_BUS", min_length=1)
    dead_letter_queue_url: str = Field(alias="WARDEN_DEAD_LETTER_QUEUE_URL", min_length=1)
    idempotency_table: str | None = Field(default=None, alias="WARDEN_IDEMPOTENCY_TABLE")
    self_principals: tuple[str, ...] = Field(default=(), alias="WARDEN_SELF_PRINCIPALS")
    region: str = Field(alias="AWS_REGION", min_length=1)
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")

    @field_validator("self_principals", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> DetectorConfig:
        env = dict(os.environ if environ is None else environ)
        env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", ""))
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        try:
            return cls.model_validate({key: value for key, value in env.items() if key in known})
        except ValidationError as exc:
            missing = ", ".join(str(err["loc"][0]) for err in exc.errors(include_input=False))
            raise ConfigurationError(f"invalid or missing environment variables: {missing}") from exc
