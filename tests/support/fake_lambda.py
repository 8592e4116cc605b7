"""The deployed migration function as the operator commands invoke it: the real handler, in-process."""

from __future__ import annotations

import io
import json
from typing import Any

from migrator.aws import handler
from tests.support.lambda_context import LambdaContext


class FakeLambda:
    """Runs the real handler in-process, as Lambda would with the function's environment; `fail` answers as a
    function that timed out."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.calls = fail, 0

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            body = {"errorMessage": "Task timed out after 180.00 seconds", "errorType": "Sandbox.Timedout"}
            return {"FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        answer = handler.on_event(json.loads(Payload), LambdaContext())
        return {"Payload": io.BytesIO(json.dumps(answer, default=str).encode())}
