"""What Lambda makes of an invocation's outcome for the services that invoked it: a response payload, or an error.

On AWS the runtime serializes the handler's return value to JSON; a value JSON cannot hold is the function error
``Runtime.MarshalError``, not a response. A raised exception becomes the Python runtime's error document
(``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``), and a handler past its Timeout becomes Lambda's own
``Sandbox.Timedout`` error. The event source mappings and the asynchronous invoker read these, as Lambda's own pollers
and its asynchronous event queue do.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import Any

from local.gateway.runtime import Invocation


@dataclass(frozen=True)
class FunctionResult:
    """``error`` is False and ``payload`` the response as JSON would carry it; or ``error`` is True and ``payload``
    the error document Lambda reports (``X-Amz-Function-Error: Unhandled``)."""

    error: bool
    payload: Any


def function_result(invocation: Invocation, timeout_seconds: float) -> FunctionResult:
    if invocation.outcome == "ok":
        try:
            # Round-tripped as the runtime would: a tuple arrives as a list, a non-string key as a string.
            return FunctionResult(False, json.loads(json.dumps(invocation.result)))
        except (TypeError, ValueError) as error:
            return FunctionResult(
                True, _error_document("Runtime.MarshalError", f"Unable to marshal response: {error}", invocation)
            )
    if invocation.outcome == "timeout":
        return FunctionResult(
            True,
            {
                "errorType": "Sandbox.Timedout",
                "errorMessage": (
                    f"RequestId: {invocation.request_id} Error: Task timed out after {timeout_seconds:.2f} seconds"
                ),
            },
        )
    if invocation.outcome == "error" and invocation.error is not None:
        raised = invocation.error
        document = _error_document(type(raised).__name__, str(raised), invocation)
        document["stackTrace"] = traceback.format_list(traceback.extract_tb(raised.__traceback__))
        return FunctionResult(True, document)
    # Throttled or abandoned: Lambda never ran the handler to an answer.
    return FunctionResult(True, _error_document("Lambda.Unavailable", f"invocation {invocation.outcome}", invocation))


def _error_document(error_type: str, message: str, invocation: Invocation) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": invocation.request_id}
