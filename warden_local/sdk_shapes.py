"""aws-sdk Task parameters and results in the letter case Step Functions uses, on moto's interpreter.

Step Functions names every member of an ``aws-sdk`` integration's request and response in PascalCase,
whatever the service's own API uses: Bedrock's ``loggingConfig`` is ``LoggingConfig`` in a definition, and
GetModelInvocationLoggingConfiguration answers ``{"LoggingConfig": {"CloudWatchConfig": ...}}``. moto's
interpreter hands parameters to boto3 as written and returns boto3's answer as it is, so a definition
written for AWS would fail there (and one written for moto would fail in AWS). :func:`pascal_case_sdk_members`
converts both ways by the service's botocore model: structure members only, never map keys or the
content of strings (an IAM policy document keeps its ``aws:`` keys). IAM's members are PascalCase already,
so its calls are unchanged. Errors are named ``Bedrock.<Exception>`` as in AWS.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape

SERVICE_ERROR_NAMES = {"bedrock": "Bedrock"}


@functools.cache
def _operation(service: str, api_action: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(api_action[0].upper() + api_action[1:])


def to_api(value: Any, shape: Shape | None) -> Any:
    """Step Functions' PascalCase request members renamed to the model's own member names."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        by_case = {name.lower(): name for name in shape.members}
        renamed = {by_case.get(key.lower(), key): item for key, item in value.items()}
        return {key: to_api(item, shape.members.get(str(key))) for key, item in renamed.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [to_api(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: to_api(item, shape.value) for key, item in value.items()}
    return value


def to_sfn(value: Any, shape: Shape | None) -> Any:
    """A boto3 answer with every structure member in PascalCase, as Step Functions returns it."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {key[:1].upper() + key[1:]: to_sfn(item, shape.members.get(key)) for key, item in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [to_sfn(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: to_sfn(item, shape.value) for key, item in value.items()}
    return value


def pascal_case_sdk_members() -> None:
    """Patch moto's aws-sdk Task to take and give PascalCase members (idempotent)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    for service, name in SERVICE_ERROR_NAMES.items():
        aws_sdk._SERVICE_ERROR_NAMES.setdefault(service, name)
    task = aws_sdk.StateTaskServiceAwsSdk
    original = task._eval_service_task
    if getattr(original, "__warden_pascal__", False):
        return

    @functools.wraps(original)
    def evaluate(self: Any, *, env: Any, normalised_parameters: dict[str, Any], **rest: Any) -> Any:
        try:
            operation = _operation(self._get_boto_service_name(), self.resource.api_action)
        except Exception:  # an unknown service or action fails in the original call, as in AWS
            operation = None
        if operation is not None:
            normalised_parameters = to_api(normalised_parameters, operation.input_shape)
        result = original(self, env=env, normalised_parameters=normalised_parameters, **rest)
        if operation is not None and env.stack:
            env.stack.append(to_sfn(env.stack.pop(), operation.output_shape))
        return result

    evaluate.__warden_pascal__ = True  # type: ignore[attr-defined]
    setattr(task, "_eval_service_task", evaluate)  # noqa: B010 (a method patched in place)
