"""The migration step's CodeBuild path: start the runner once per request, then poll it.

A deploy goes to CodeBuild when the environment's runner is `codebuild`, or when any pending migration
carries `-- migrate:runner=codebuild` in its leading comments (how long pending work takes cannot be
known in advance, so the whole deploy moves). is_complete starts the build after the snapshot is ready
and polls it on later calls. The Provider refuses Data while IsComplete is false, so nothing can be
remembered between polls: this request's build is found again each time by the MIGRATOR_REQUEST
variable it was started with (CodeBuild's idempotency token lasts only 5 minutes), and what it did is
read back from the database's history.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.aws import budget, predictions
from migrator.aws.contract import (
    ENV_CLAIM,
    ENV_DEADLINE,
    ENV_REQUEST,
    RUNNER_CODEBUILD,
    RUNNER_PIPELINE,
    StepProperties,
)
from migrator.aws.step_data import NONE, StepData
from migrator.claim import Superseded
from migrator.errors import MigratorError, PendingInPipeline, RunnerFailed
from migrator.files import RUNNER_MARKER
from migrator.numbering import version_ranges

if TYPE_CHECKING:
    from migrator.aws.deploy import Deployment
    from migrator.plan import Plan

log = logging.getLogger("migrator")
PREFIX = "migrator-runner:"  # the runner's final line starts with it (migrator.aws.runner prints it)
REQUEST_VARIABLE = ENV_REQUEST
RUNNING = "IN_PROGRESS"
SEARCH_BUILDS = 100  # newest builds searched for this request's (one BatchGetBuilds call)
LOG_LINES = 15


def pipeline_command(env: str | None) -> str:
    return f"python -m migrator --env {env or 'ENV'} apply --change-set NAME"


def route(props: StepProperties, plan: Plan, fresh: bool = False, env: str | None = None) -> StepData:
    """{"RunsIn": "codebuild", ...} when this deploy must run in CodeBuild, {} for the Lambda.

    In pipeline mode nothing may be pending by now (the operator command applied it before the change
    set ran), except on a fresh database: its first deploy creates it, so nothing could run earlier.
    """
    if plan.is_noop:
        return {}
    if props.runner == RUNNER_PIPELINE and not fresh:
        pending = ", ".join(m.filename for m in plan.to_apply[:5])
        raise PendingInPipeline(
            f"pipeline mode: {pending} still pending when the change set ran; nothing was applied and the stack"
            " rolls back",
            hint=f"apply them first: prepare the change set, run `{pipeline_command(env)}`, then execute it"
            " (README: pipeline mode)",
        )
    marked = [m.filename for m in plan.to_apply if m.runs_in_codebuild]
    if props.runner != RUNNER_CODEBUILD and not marked:
        return {}
    why = f"{', '.join(marked[:5])} marked {RUNNER_MARKER}" if marked else "the environment's runner is codebuild"
    if not props.runner_project:
        raise MigratorError(
            f"this deploy must run in CodeBuild ({why}), but the stack has no runner project; nothing was applied",
            hint="deploy the stack version that creates the runner (stacks/runner.py) or remove the marker",
        )
    return {"RunsIn": RUNNER_CODEBUILD, "RunnerReason": why}


def request_key(event: Mapping[str, Any], props: StepProperties, data: StepData) -> str:
    """One CloudFormation request: its RequestId (every is_complete call carries it), else start time and token."""
    given = str(event.get("RequestId") or "")
    if given:
        return given
    return f"{props.deploy_token or 'manual'}@{data.get('StartedAt') or '0'}"


@dataclass(frozen=True)
class Build:
    id: str
    status: str
    phase: str
    request: str
    log_group: str | None
    log_stream: str | None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Build:
        variables = (raw.get("environment") or {}).get("environmentVariables") or []
        request = next((str(v.get("value")) for v in variables if v.get("name") == REQUEST_VARIABLE), "")
        logs = (raw.get("logs") or {}) if isinstance(raw.get("logs"), Mapping) else {}
        return cls(
            id=str(raw["id"]),
            status=str(raw.get("buildStatus") or RUNNING),
            phase=str(raw.get("currentPhase") or "?"),
            request=request,
            log_group=logs.get("groupName"),
            log_stream=logs.get("streamName"),
        )


@dataclass(frozen=True)
class Project:
    """One CodeBuild project's builds, through the client passed in (boto3, moto, or a test's fake)."""

    client: Any
    name: str

    def builds(self) -> Iterator[Build]:
        """The newest builds, newest first."""
        ids = self.client.list_builds_for_project(projectName=self.name, sortOrder="DESCENDING")["ids"]
        ids = ids[:SEARCH_BUILDS]
        if not ids:
            return
        for raw in self.client.batch_get_builds(ids=ids)["builds"]:
            yield Build.of(raw)

    def find(self, request: str) -> Build | None:
        return next((b for b in self.builds() if b.request == request), None)

    def start(
        self, request: str, deadline: float, timeout_minutes: int, source: str | None = None, claim: str | None = None
    ) -> Build:
        """`source` (bucket/key of an asset zip) replaces the project's: pipeline mode runs the new asset. `claim`:
        the runner applies only while it is the database's newest (migrator.claim)."""
        variables = {REQUEST_VARIABLE: request, ENV_DEADLINE: f"{deadline:.0f}"}
        if claim:
            variables[ENV_CLAIM] = claim
        overrides: dict[str, Any] = {"sourceTypeOverride": "S3", "sourceLocationOverride": source} if source else {}
        response = self.client.start_build(
            projectName=self.name,
            environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()],
            timeoutInMinutesOverride=timeout_minutes,
            queuedTimeoutInMinutesOverride=budget.QUEUED_TIMEOUT_MINUTES,
            idempotencyToken=hashlib.sha256(request.encode()).hexdigest()[:32],
            **overrides,
        )
        return Build.of(response["build"])

    def stop_running(self, keep: str | None = None) -> list[str]:
        """Stop every running build but `keep`'s request's: a rollback or Delete must not leave one applying."""
        stopped = []
        for build in self.builds():
            if build.status == RUNNING and build.request != keep:
                self.client.stop_build(id=build.id)
                stopped.append(build.id)
        return stopped


def _clients() -> tuple[Any, Any]:
    from migrator.aws.clients import client  # timeouts sized to the invocation's time left

    return client("codebuild"), client("logs")


def stop_stale_builds(props: StepProperties, codebuild: Any = None) -> list[str]:
    """At the start of every request: builds of earlier requests still running are stopped. Never raises
    (a Delete or a rollback must not fail over housekeeping); the runner's own deadline bounds them anyway."""
    name = props.runner_project
    if not name:
        return []
    try:
        stopped = Project(codebuild or _clients()[0], str(name)).stop_running()
    except Exception as exc:
        log.warning("could not stop earlier runner builds of %s: %s: %s", name, type(exc).__name__, exc)
        return []
    if stopped:
        log.warning("stopped runner builds of earlier requests: %s", ", ".join(stopped))
    return stopped


def _since(plan: Plan, from_version: str) -> list[str]:
    """Versions the history records beyond the deploy's starting version: what this deploy committed."""
    start = int(from_version) if from_version.isdigit() else -1
    return [row.version for row in plan.applied if row.number > start]


@dataclass(frozen=True)
class Step:
    """One is_complete call on the CodeBuild path."""

    deployment: Deployment
    project: Project
    logs: Any
    props: StepProperties
    data: StepData
    request: str

    def poll(self) -> StepData | None:
        """None while the build runs (or was just started); the answer's data on success; raises on failure."""
        build = self.project.find(self.request)
        if build is None or build.status == RUNNING:  # a finished build is reported as it ended
            self._still_newest(build)
        if build is None:
            build = self._start()
            log.info("started the CodeBuild runner %s (%s)", build.id, self.data.get("RunnerReason", "codebuild"))
            return None
        if build.status == RUNNING:
            log.info("CodeBuild runner %s: %s", build.id, build.phase)
            return None
        if build.status == "SUCCEEDED":
            return self._succeeded(build)
        raise self._failed(build)

    def _still_newest(self, build: Build | None) -> None:
        """A newer request claimed the database (a rollback arrived between two polls): start nothing, and stop
        this request's build if it runs (its own check under the lock stops it before it applies anything)."""
        try:
            self.deployment.check_claim()
        except Superseded:
            if build is not None and build.status == RUNNING:
                self.project.client.stop_build(id=build.id)
            raise

    def _start(self) -> Build:
        now = time.time()
        started = float(self.data.get("StartedAt") or now)
        window = budget.build_window(started, self.props.build_timeout_seconds, self.props.runner_timeout_seconds, now)
        if window.minutes < budget.MIN_BUILD_MINUTES:
            left = started + self.props.build_timeout_seconds - now
            raise MigratorError(
                f"too little time left to start the CodeBuild runner ({max(0, left):.0f}s; a build needs at"
                f" least {budget.MIN_BUILD_MINUTES} min); nothing was applied",
                hint="deploy again (the snapshot is kept and reused), or raise migrationTimeoutMinutes",
            )
        return self.project.start(self.request, window.deadline, window.minutes, claim=self.deployment.claim)

    def _succeeded(self, build: Build) -> StepData:
        plan = self.deployment.plan()
        if not plan.is_noop:
            pending = ", ".join(m.filename for m in plan.to_apply[:5])
            raise RunnerFailed(
                f"the CodeBuild runner {build.id} succeeded, but {pending} are still pending",
                hint="another run changed the history meanwhile? deploy again",
            )
        version = plan.current_version or "none"
        applied = _since(plan, self.data.get("FromVersion", NONE))
        timings = predictions.encode(predictions.from_history(plan.applied, applied))
        return {
            "SchemaVersion": version,
            "ToVersion": version,
            "Applied": ",".join(applied),
            "RunnerBuild": build.id,
            "FileSeconds": timings,
        }

    def _committed(self) -> str:
        try:
            applied = _since(self.deployment.plan(), self.data.get("FromVersion", NONE))
        except Exception as exc:
            return f"unknown (cannot read the history: {type(exc).__name__})"
        return version_ranges(applied) if applied else "nothing (the batch rolled back)"

    def _failed(self, build: Build) -> RunnerFailed:
        return failure(build, log_tail(self.logs, build), self._committed())


def log_tail(logs: Any, build: Build) -> list[str]:
    """The last lines of a build's log; never raises (the failure being reported matters more)."""
    if not (build.log_group and build.log_stream):
        return []
    try:
        events = logs.get_log_events(
            logGroupName=build.log_group, logStreamName=build.log_stream, limit=LOG_LINES, startFromHead=False
        )["events"]
    except Exception as exc:
        return [f"(log unavailable: {type(exc).__name__})"]
    return [str(e.get("message", "")).rstrip() for e in events if str(e.get("message", "")).strip()]


def final_line(lines: list[str]) -> str | None:
    """The runner's own verdict (its last `migrator-runner:` line), if the log has it."""
    return next((line for line in reversed(lines) if line.startswith(PREFIX)), None)


def failure(build: Build, lines: list[str], committed: str) -> RunnerFailed:
    final = final_line(lines)
    head = f"{final}; " if final else ""
    tail = " | ".join(line for line in lines if line != final)[-600:]
    return RunnerFailed(
        f"{head}CodeBuild runner {build.id} ended {build.status} in phase {build.phase}; committed:"
        f" {committed}; log tail: {tail or '(none)'}",
        hint="see the build's log in CodeBuild; fix the migration and deploy again",
    )


def poll(deployment: Deployment, event: Mapping[str, Any], data: StepData, clients: Any = None) -> StepData | None:
    """The handler's entry: one poll of this request's runner build."""
    props = deployment.request
    codebuild, logs = clients or _clients()
    step = Step(
        deployment=deployment,
        project=Project(codebuild, str(props.runner_project)),
        logs=logs,
        props=props,
        data=data,
        request=request_key(event, props, data),
    )
    return step.poll()
