"""Step Functions as far as the Provider's waiter state machine uses it, read from its synthesized definition.

Task states whose Resource is a Lambda ARN, with Retry (IntervalSeconds, MaxAttempts, BackoffRate,
MaxDelaySeconds) and Catch; the waits between attempts go on the virtual clock. Anything else in a
definition (Choice, Wait, paths, Parameters) raises, so a change of the framework is noticed here
instead of being half-emulated.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.lambdas import VirtualClock

MAX_INPUT_BYTES = 256 * 1024  # Step Functions' payload limit for an execution's input
_SUPPORTED_TASK_KEYS = {"Type", "Resource", "Retry", "Catch", "End", "Next", "Comment"}


@dataclass(frozen=True)
class TaskOutcome:
    """A Lambda task's result: its output, or the error name and cause (the Lambda error payload as JSON)."""

    output: Any = None
    error: str | None = None
    cause: str | None = None


@dataclass
class Execution:
    arn: str
    definition: dict[str, Any]
    input: Any
    status: str = "RUNNING"
    attempts: list[tuple[str, float]] = field(default_factory=list)  # (state, virtual time) of each task attempt
    error: str | None = None
    cause: str | None = None


def _matches(error_equals: list[str], error: str) -> bool:
    if "States.ALL" in error_equals or error in error_equals:
        return True
    return "States.TaskFailed" in error_equals and error != "States.Timeout"


class StepFunctions:
    """Started executions queue up (StartExecution returns at once, as in AWS) and run when `run_pending` is called.

    `between_attempts`, when set, is called with the execution after each wait between two attempts of a task,
    right before the next: what happens meanwhile elsewhere (CloudFormation cancelling the custom resource and
    sending the rollback) happens there. Nothing stops an execution from outside: CloudFormation does not stop a
    cancelled custom resource's waiter, which polls on.
    """

    def __init__(
        self,
        definitions: dict[str, dict[str, Any]],
        run_task: Callable[[str, Any], TaskOutcome],
        clock: VirtualClock,
    ) -> None:
        self._definitions, self._run_task, self._clock = definitions, run_task, clock
        self.executions: list[Execution] = []
        self.between_attempts: Callable[[Execution], None] | None = None
        self._pending: list[Execution] = []

    def start_execution(self, state_machine_arn: str, execution_input: str) -> dict[str, Any]:
        """StartExecution's answer, or the error it would raise (as {"error": ...} for the harness)."""
        if state_machine_arn not in self._definitions:
            return {"error": {"name": "StateMachineDoesNotExist", "message": f"{state_machine_arn} does not exist"}}
        if len(execution_input.encode()) > MAX_INPUT_BYTES:
            return {"error": {"name": "InvalidExecutionInput", "message": "input exceeds 262144 bytes"}}
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{uuid.uuid4()}"
        execution = Execution(arn, self._definitions[state_machine_arn], json.loads(execution_input))
        self.executions.append(execution)
        self._pending.append(execution)
        return {"executionArn": arn}

    def run_pending(self) -> None:
        while self._pending:
            self._run(self._pending.pop(0))

    def _run(self, execution: Execution) -> None:
        states: dict[str, Any] = execution.definition["States"]
        name, data = str(execution.definition["StartAt"]), execution.input
        while True:
            state = states[name]
            if state["Type"] != "Task" or set(state) - _SUPPORTED_TASK_KEYS:
                raise NotImplementedError(f"waiter state {name} uses what the stand-in does not emulate: {state}")
            outcome = self._attempts(execution, name, state, data)
            if outcome.error is not None:
                catcher = next((c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], outcome.error)), None)
                if catcher is None:
                    execution.status, execution.error, execution.cause = "FAILED", outcome.error, outcome.cause
                    return
                if catcher.get("ResultPath", "$") != "$":
                    raise NotImplementedError(f"Catch with ResultPath {catcher['ResultPath']}")
                name, data = str(catcher["Next"]), {"Error": outcome.error, "Cause": outcome.cause}
                continue
            data = outcome.output
            if state.get("End"):
                execution.status = "SUCCEEDED"
                return
            name = str(state["Next"])

    def _attempts(self, execution: Execution, name: str, state: dict[str, Any], data: Any) -> TaskOutcome:
        """Run the task, retrying as its first matching retrier says; each retrier counts its own attempts."""
        retriers: list[dict[str, Any]] = state.get("Retry", [])
        used = [0] * len(retriers)
        while True:
            execution.attempts.append((name, self._clock.now()))
            outcome = self._run_task(str(state["Resource"]), data)
            if outcome.error is None:
                return outcome
            index = next((i for i, r in enumerate(retriers) if _matches(r["ErrorEquals"], outcome.error)), None)
            if index is None or used[index] >= int(retriers[index].get("MaxAttempts", 3)):
                return outcome
            retrier = retriers[index]
            delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** used[index]
            if "MaxDelaySeconds" in retrier:
                delay = min(delay, float(retrier["MaxDelaySeconds"]))
            used[index] += 1
            self._clock.advance(delay)
            if self.between_attempts is not None:
                self.between_attempts(execution)
