"""The Provider framework's own JavaScript, run under the project's Node with provider_harness.js.

One Node process per test stands in for the framework's warm Lambda containers. Python sends it a
"run" request per invocation; while the framework runs, every outbound call it makes (invoke a user
function, start the waiter, PUT the response) comes back to Python as a request on the same pipe,
answered before the framework continues. JSON lines on stdin/stdout, strictly one exchange at a
time, so there is nothing to deadlock on; a reader thread only puts a bound on waiting for Node.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from tests.aws import REGION
from tests.e2e.lambdas import VirtualClock
from tests.e2e.template_model import Function
from tests.support.project import PROJECT

NODE = PROJECT / "node_modules" / ".bin" / "node"
HARNESS = Path(__file__).with_name("provider_harness.js")
REPLY_TIMEOUT_S = 120.0  # real seconds: Node never needs long; a hang must fail the test, not stall it


class Outbound(Protocol):
    """Where the framework's outbound calls land (the Lambda, Step Functions and S3 stand-ins)."""

    def invoke(self, function_arn: str, payload: str) -> dict[str, Any]: ...

    def start_execution(self, state_machine_arn: str, execution_input: str) -> dict[str, Any]: ...

    def http_request(self, options: dict[str, Any], body: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FrameworkResult:
    """One framework invocation: its return value or the error Lambda would report, and its console output."""

    function: Function
    result: Any
    error: dict[str, Any] | None
    logs: list[str] = field(default_factory=list)


class FrameworkProcess:
    """A Node process running provider_harness.js over the framework asset directory."""

    def __init__(self, asset: Path, outbound: Outbound, clock: VirtualClock, stderr: Path) -> None:
        self._outbound, self._clock = outbound, clock
        self._stderr_path = stderr
        self._stderr = stderr.open("w")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "NODE_PATH": str(PROJECT / "node_modules"),  # the asset sits outside the project: find @aws-sdk/*
            "AWS_REGION": REGION,
        }
        self._process = subprocess.Popen(
            [str(NODE), str(HARNESS), str(asset)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self._process.stdout is not None
        threading.Thread(target=_pump, args=(self._process.stdout, self._lines), daemon=True).start()

    def run(self, function: Function, event: dict[str, Any]) -> FrameworkResult:
        """Invoke one framework entry point (onEvent, isComplete, onTimeout) and serve its outbound calls."""
        context = {
            "functionName": function.name,
            "invokedFunctionArn": function.arn,
            "awsRequestId": event.get("RequestId", "-"),
            "memoryLimitInMB": function.memory_mb,
            "timeoutMs": function.timeout_s * 1000,
        }
        started = self._clock.now()
        self._send(
            {
                "type": "run",
                "entry": function.entry,
                "event": event,
                "environment": function.environment,
                "context": context,
            }
        )
        while True:
            message = self._receive()
            if message["type"] == "result":
                break
            self._send(self._serve(message))
        error = None if message["ok"] else dict(message["error"])
        if self._clock.now() - started > function.timeout_s:
            error = {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {function.timeout_s} s"}
        return FrameworkResult(function, message.get("result"), error, list(message["logs"]))

    def _serve(self, message: dict[str, Any]) -> dict[str, Any]:
        kind = message["type"]
        if kind == "invoke":
            return self._outbound.invoke(message["functionName"], message["payload"])
        if kind == "startExecution":
            return self._outbound.start_execution(message["stateMachineArn"], message["input"])
        if kind == "httpRequest":
            return self._outbound.http_request(message["options"], message["body"])
        raise AssertionError(f"the harness asked for something unknown: {message}")

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()

    def _receive(self) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=REPLY_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"the Node harness did not answer within {REPLY_TIMEOUT_S:.0f} s") from None
        if line is None:
            self._process.wait(timeout=10)
            raise AssertionError(f"the Node harness exited ({self._process.returncode}): {self._crash_text()}")
        message: dict[str, Any] = json.loads(line)
        return message

    def _crash_text(self) -> str:
        self._stderr.flush()
        return self._stderr_path.read_text()[-4000:]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()  # the harness exits at end of input
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)
