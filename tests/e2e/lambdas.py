"""Lambda as the lifecycle needs it: a virtual clock, the context object, and the Python runtime.

Time is real while code runs and simulated while nothing does (the waiter's 15 s between polls),
so a deploy that would take minutes in AWS takes a second here, yet every handler still sees the
time left that its configured Timeout gives it, and a function that overruns its Timeout fails as
Lambda would fail it.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.e2e.template_model import Function


class VirtualClock:
    """Seconds since the clock started: the real time spent running code plus the waits that were skipped."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._skipped = 0.0

    def now(self) -> float:
        return time.monotonic() - self._started + self._skipped

    def advance(self, seconds: float) -> None:
        self._skipped += seconds


@dataclass
class LambdaContext:
    """The Python runtime's context object; the time left follows the function's Timeout on the virtual clock."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    clock: VirtualClock
    deadline: float

    @classmethod
    def starting(cls, function: Function, clock: VirtualClock) -> LambdaContext:
        return cls(
            function.name, function.arn, function.memory_mb, str(uuid.uuid4()), clock, clock.now() + function.timeout_s
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock.now()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """What Lambda's synchronous Invoke answers: the payload, and FunctionError when the function failed."""

    payload: str
    function_error: str | None
    seconds: float


@contextmanager
def function_environment(variables: dict[str, str], overrides: dict[str, str]) -> Iterator[None]:
    """The function's configured environment for one call, then `overrides` (where its code is).

    A variable of the template that the test process set itself keeps the test's value: a test CA
    bundle or endpoint is what the emulated world needs.
    """
    chosen = {k: v for k, v in variables.items() if k not in os.environ} | overrides
    before = {k: os.environ.get(k) for k in chosen}
    os.environ.update(chosen)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _error_payload(exc: BaseException, request_id: str) -> str:
    """The Python runtime's answer for an uncaught exception (what the framework reads errorMessage from)."""
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(exc.__traceback__),
        }
    )


def _timed_out(function: Function, request_id: str) -> str:
    return json.dumps(
        {
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after {function.timeout_s:.2f} seconds",
            "errorType": "Sandbox.Timedout",
        }
    )


def invoke_python(function: Function, payload: str, clock: VirtualClock, overrides: dict[str, str]) -> Invocation:
    """Run a Python function's handler in this process, as a synchronous Invoke would.

    The handler is looked up by name on every call, as Lambda imports it, so a test's monkeypatch applies.
    """
    module, name = function.handler.rsplit(".", 1)
    entry = getattr(importlib.import_module(module), name)
    context = LambdaContext.starting(function, clock)
    started = clock.now()
    error: str | None = None
    with function_environment(function.environment, overrides):
        try:
            body = json.dumps(entry(json.loads(payload), context))
        except Exception as exc:
            body, error = _error_payload(exc, context.aws_request_id), "Unhandled"
    if clock.now() > context.deadline:
        body, error = _timed_out(function, context.aws_request_id), "Unhandled"
    return Invocation(body, error, clock.now() - started)
