"""Bedrock model-invocation log records (CloudWatch Logs or S3 delivery).

Prompt and completion bodies are parsed only so that the record validates; they are excluded from
every dump and repr so that they can never reach a log line, a finding or a notification.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from warden.models.wire import WireModel


class InvocationIdentity(WireModel):
    arn: str


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
    timestamp: AwareDatetime
    account_id: str
    identity: InvocationIdentity
    region: str
    inference_region: str | None = None
    request_id: str
    operation: str
    model_id: str
    error_code: str | None = None
    input: InvocationInput = Field(default_factory=InvocationInput)
    output: InvocationOutput = Field(default_factory=InvocationOutput)

    @property
    def total_tokens(self) -> int:
        return (self.input.input_token_count or 0) + (self.output.output_token_count or 0)
