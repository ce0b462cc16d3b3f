"""Step Functions Lambda tasks, run in-process: moto's interpreter would need Docker to run a function.

moto's Step Functions interpreter runs inside this process (the embedded server). Its ``lambda:invoke``
integration is routed here: a function the local stack registered by ARN runs its real handler
synchronously, as Lambda runs a RequestResponse invocation; an error comes back as Lambda reports an
unhandled one (``FunctionError`` with ``errorType`` and ``errorMessage``), so that the definition's
Retry and Catch see what they would in AWS. Unknown functions go to moto as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

_FUNCTIONS: dict[str, Callable[[Any], Any]] = {}
_MOTO_INVOKE = lambda_eval_utils._invoke_lambda_function


def register(arn: str, handler: Callable[[Any], Any]) -> None:
    """Route Step Functions invocations of ``arn`` (or its bare function name) to ``handler``."""
    _FUNCTIONS[arn] = handler
    _FUNCTIONS[arn.rsplit(":", 1)[-1]] = handler
    lambda_eval_utils._invoke_lambda_function = _invoke


def _invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
    handler = _FUNCTIONS.get(str(parameters.get("FunctionName")))
    if handler is None:
        return _MOTO_INVOKE(parameters=parameters, region=region, state_credentials=state_credentials)  # type: ignore[no-any-return]
    payload = parameters.get("Payload") or b"{}"
    try:
        result = handler(json.loads(payload))
    except Exception as exc:  # what Lambda reports for an unhandled error
        error = {"errorType": type(exc).__name__, "errorMessage": str(exc)[:1000]}
        return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": error}
    return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": json.loads(json.dumps(result, default=str))}
