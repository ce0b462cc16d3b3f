"""Bedrock model-invocation log records (CloudWatch Logs or S3 delivery).

Prompt and completion bodies are parsed only so that the record validates; they are excluded from
every dump and repr so that they can never reach a log line, a finding or a notification.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from warden.models.cloudtrail import EventTime, IdentityArn
from warden.models.wire import WireModel

INVOCATION_LOG_SOURCE = "bedrock.invocation-log"
"""The ``event_source`` of an invocation-log record, as detectors' ``consumes`` name it (the event name
is the record's ``operation``)."""


class InvocationIdentity(WireModel):
    arn: IdentityArn


class InvocationInput(WireModel):
    input_content_type: str | None = None
    input_token_count: int | None = None
    cache_read_input_token_count: int | None = None
    cache_write_input_token_count: int | None = None
    input_body_s3_path: str | None = None
    input_body_json: Any = Field(default=None, exclude=True, repr=False)


class InvocationOutput(WireModel):
    output_content_type: str | None = None
    output_token_count: int | None = None
    output_body_s3_path: str | None = None
    output_body_json: Any = Field(default=None, exclude=True, repr=False)


class ModelInvocationLog(WireModel):
    """One model-invocation log record (schemaType ``ModelInvocationLog``)."""

    schema_type: str = Field(pattern="^ModelInvocationLog$")
    schema_version: str | None = None
    timestamp: EventTime
    account_id: str
    identity: InvocationIdentity
    region: str
    inference_region: str | None = None
    request_id: str = Field(min_length=1, max_length=256)
    operation: str = Field(min_length=1, max_length=256)
    model_id: str = Field(min_length=1, max_length=2048)
    error_code: str | None = None
    input: InvocationInput = Field(default_factory=InvocationInput)
    output: InvocationOutput = Field(default_factory=InvocationOutput)

    @property
    def total_tokens(self) -> int:
        return (self.input.input_token_count or 0) + (self.output.output_token_count or 0)

    @property
    def event_id(self) -> str:
        return self.request_id

    @property
    def event_time(self) -> datetime:
        return self.timestamp

    @property
    def event_source(self) -> str:
        return INVOCATION_LOG_SOURCE

    @property
    def event_name(self) -> str:
        return self.operation

    @property
    def actor_arns(self) -> frozenset[str]:
        return frozenset({self.identity.arn})

    @property
    def account(self) -> str:
        return self.account_id
