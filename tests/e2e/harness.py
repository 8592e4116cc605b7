"""One test's deploy world: CloudFormation, the real Provider framework (Node), Step Functions, Lambda.

CloudFormation invokes the ServiceToken function (the framework's onEvent, JavaScript); the
framework invokes the user functions (our Python handlers, in this process) and starts the waiter;
the waiter runs the framework's isComplete (and onTimeout) on the schedule its definition gives;
the framework PUTs the response, which the CloudFormation stand-in reads. AWS services the handlers
use (RDS, Secrets Manager) are moto or LocalStack; the database is a real PostgreSQL.

The user functions' code is versioned with the properties: the migrations and schema.sql in the
Lambda asset come from the same synth as the Fingerprint property, and CloudFormation updates the
functions (dependencies of the custom resource) before it sends the Update. Each request runs
against the bundle its properties describe, kept as a copy per fingerprint (MIGRATOR_BUNDLE_ROOT),
never against whatever the test wrote since. No AWS document says the functions are restored before
the rollback Update: `update_cancelled_between_polls` runs the stale poll on the forward code, the
worst case, and correctness rests on the claim (migrator.claim), not on that order.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.bundle import describe_bundle
from tests.aws import Environment, deploy_token
from tests.e2e.cloudformation import Operation, ResponseBucket, Stack
from tests.e2e.lambdas import Invocation, VirtualClock, invoke_python
from tests.e2e.node_framework import FrameworkProcess, FrameworkResult
from tests.e2e.template_model import Function, StackModel
from tests.e2e.waiter import Execution, StepFunctions, TaskOutcome


@dataclass(frozen=True)
class UserCall:
    """One invocation of a user (Python) function, as the framework made it."""

    function: Function
    event: dict[str, Any]
    answer: Invocation


@dataclass
class Deployer:
    """Deploys the synthesized stack's custom resource for a test's emulated environment, step by step."""

    environment: Environment
    model: StackModel
    workdir: Path
    record: Callable[[Operation], None]
    clock: VirtualClock = field(default_factory=VirtualClock)
    releases: dict[str, Path] = field(default_factory=dict)  # Fingerprint -> the bundle built with it
    user_calls: list[UserCall] = field(default_factory=list)
    framework_runs: list[FrameworkResult] = field(default_factory=list)
    _node: FrameworkProcess | None = None
    _code: Path | None = None  # the bundle the user functions run right now

    def __post_init__(self) -> None:
        self.bucket = ResponseBucket(self.clock)
        self.step_functions = StepFunctions(self.model.state_machines, self._run_task, self.clock)
        self.stack = Stack(self.model, self._invoke_service_token, self.bucket, self.clock)

    def start(self) -> Deployer:
        framework = self.model.function(self.model.service_token)
        self._node = FrameworkProcess(framework.asset, self, self.clock, self.workdir / "provider-harness.stderr")
        return self

    def close(self) -> None:
        if self._node is not None:
            self._node.close()

    # What a test does -------------------------------------------------------------------------

    def add_migration(self, name: str, sql: str) -> None:
        self.environment.add_migration(name, sql)

    def remove_migration(self, name: str) -> None:
        (self.environment.bundle / "migrations" / name).unlink()

    def properties(self) -> dict[str, Any]:
        """What a fresh synth would give the custom resource for the bundle as it is now."""
        bundle = describe_bundle(self.environment.bundle / "migrations", self.environment.bundle / "schema.sql")
        self._release(bundle.fingerprint)
        described = {
            "Fingerprint": bundle.fingerprint,
            "Migrations": list(bundle.migrations),
            "NewestVersion": bundle.newest_version,
        }
        if "DeployToken" in self.model.template_properties:
            described["DeployToken"] = deploy_token()
        return self.model.resolved_properties() | described

    def deploy(self, step: str) -> Operation:
        return self._recorded(self.stack.deploy(step, self.properties()))

    def update_with_failing_neighbour(self, step: str, neighbour_fails: Callable[[], None]) -> Operation:
        """An Update whose custom resource succeeds and another resource then fails: CloudFormation rolls back."""
        return self._recorded(self.stack.update(step, self.properties(), neighbour_fails))

    def update_cancelled_between_polls(self, step: str, polls: int, then: Callable[[], None]) -> Operation:
        """An Update whose waiter has polled `polls` times when another resource of the update fails: CloudFormation
        cancels the custom resource and sends the rollback Update before the next poll, which still comes (nothing
        stops the cancelled request's waiter). `then` runs once the rollback answered (say, the snapshot the forward
        request waits for becomes available). That stale poll runs the forward's code, the worst case: no AWS
        document says CloudFormation restores the functions before it sends the rollback."""
        forward = self.properties()
        forward_code, started = self.releases[forward["Fingerprint"]], len(self.step_functions.executions)

        def cancel(execution: Execution) -> None:
            executions = self.step_functions.executions
            forwards = started < len(executions) and execution is executions[started]
            if forwards and self.stack.cancelling and len(execution.attempts) == polls:
                self.stack.cancel()
                self._code = forward_code
                then()

        self.step_functions.between_attempts = cancel
        try:
            return self._recorded(self.stack.update(step, forward))
        finally:
            self.step_functions.between_attempts = None

    def delete(self, step: str) -> Operation:
        return self._recorded(self.stack.delete(step))

    def invoke_function(self, event: dict[str, Any]) -> Invocation:
        """Invoke the migration function directly, as the drift schedule or an operator does: the code and the
        configured environment the last deploy left."""
        assert self._code is not None, "deploy first: the function runs the code a deploy left"
        (function,) = [f for f in self.model.functions.values() if f.handler.endswith(".on_event")]
        return invoke_python(function, json.dumps(event), self.clock, {"MIGRATOR_BUNDLE_ROOT": str(self._code)})

    def snapshot_ids(self) -> list[str]:
        found = self.environment.rds().describe_db_snapshots(
            DBInstanceIdentifier=self.environment.instance, SnapshotType="manual"
        )["DBSnapshots"]
        return sorted(s["DBSnapshotIdentifier"] for s in found)

    def _release(self, fingerprint: str) -> None:
        """Freeze the bundle as this synth packages it (a later add_migration must not change deployed code)."""
        if fingerprint not in self.releases:
            target = self.workdir / "releases" / fingerprint[:16]
            shutil.copytree(self.environment.bundle, target)
            self.releases[fingerprint] = target

    def _recorded(self, operation: Operation) -> Operation:
        self.record(operation)
        return operation

    # The AWS side -----------------------------------------------------------------------------

    def _invoke_service_token(self, event: dict[str, Any]) -> None:
        """CloudFormation's asynchronous invoke of the ServiceToken; the waiters it starts run afterwards.

        The user functions run the code deployed with the request's properties (see the module's docstring).
        """
        self._code = self.releases[event["ResourceProperties"]["Fingerprint"]]
        self.framework_runs.append(self._framework().run(self.model.function(event["ServiceToken"]), event))
        self.step_functions.run_pending()

    def _run_task(self, resource: str, task_input: Any) -> TaskOutcome:
        """A waiter task: the framework function the state's Resource names, with the state's input."""
        result = self._framework().run(self.model.function(resource), task_input)
        self.framework_runs.append(result)
        if result.error is None:
            return TaskOutcome(output=result.result)
        return TaskOutcome(error=str(result.error["errorType"]), cause=json.dumps(result.error))

    def _framework(self) -> FrameworkProcess:
        assert self._node is not None, "Deployer.start() first"
        return self._node

    # Outbound: the framework's calls, served for the Node harness ----------------------------

    def invoke(self, function_arn: str, payload: str) -> dict[str, Any]:
        try:
            function = self.model.function(function_arn)
        except LookupError as exc:
            return {"error": {"name": "ResourceNotFoundException", "message": str(exc)}}
        if not function.runtime.startswith("python"):
            raise AssertionError(
                f"the framework invoked {function.logical_id} ({function.runtime}), not a user function"
            )
        assert self._code is not None, "a user function was invoked outside a CloudFormation request"
        answer = invoke_python(function, payload, self.clock, {"MIGRATOR_BUNDLE_ROOT": str(self._code)})
        self.user_calls.append(UserCall(function, json.loads(payload), answer))
        return {"payload": answer.payload, "functionError": answer.function_error}

    def start_execution(self, state_machine_arn: str, execution_input: str) -> dict[str, Any]:
        return self.step_functions.start_execution(state_machine_arn, execution_input)

    def http_request(self, options: dict[str, Any], body: str) -> dict[str, Any]:
        return self.bucket.http_request(options, body)
