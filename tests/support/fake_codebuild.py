"""A CodeBuild (and CloudWatch Logs) client whose builds really run the runner as a subprocess.

moto's CodeBuild records builds but runs nothing, drops environment-variable overrides and reports
every build SUCCEEDED on the first read; this fake runs `python -m migrator.aws.runner` with the
project's variables plus the build's overrides, reports IN_PROGRESS while it runs, SUCCEEDED or FAILED
by its exit status, TIMED_OUT (killing it) once it outlives its timeout, STOPPED after stop_build, and
serves its output as the build's log stream. `seconds_per_minute` shrinks build timeouts for tests.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.runner import start_runner


@dataclass
class FakeBuild:
    id: str
    process: subprocess.Popen[str]
    variables: dict[str, str]
    timeout_s: float
    started: float = field(default_factory=time.monotonic)
    status: str = "IN_PROGRESS"
    output: list[str] = field(default_factory=list)

    def refresh(self) -> None:
        if self.status != "IN_PROGRESS":
            return
        if self.process.poll() is None and time.monotonic() - self.started > self.timeout_s:
            self.process.send_signal(signal.SIGKILL)  # CodeBuild tears the container down
            self.process.wait()
            self.status = "TIMED_OUT"
        elif self.process.returncode is not None:
            self.status = "SUCCEEDED" if self.process.returncode == 0 else "FAILED"


class FakeCodeBuild:
    """`bundle_for(params)` says which bundle a build runs (as the asset CodeBuild would download for it);
    None, or no hook: the project's environment says."""

    def __init__(
        self,
        project: str,
        environment: Mapping[str, str],
        seconds_per_minute: float = 60,
        bundle_for: Callable[[Mapping[str, Any]], str | None] | None = None,
    ) -> None:
        self.project, self.environment, self.seconds_per_minute = project, dict(environment), seconds_per_minute
        self.bundle_for = bundle_for
        self.builds: dict[str, FakeBuild] = {}
        self.order: list[str] = []
        self.started: list[dict[str, Any]] = []  # every start_build call's parameters
        self._numbers = itertools.count(1)

    def start_build(self, **params: Any) -> dict[str, Any]:
        assert params["projectName"] == self.project
        self.started.append(params)
        overrides = {v["name"]: v["value"] for v in params.get("environmentVariablesOverride", [])}
        variables = self.environment | overrides
        bundle = self.bundle_for(params) if self.bundle_for is not None else None
        if bundle is not None:
            variables["MIGRATOR_BUNDLE_ROOT"] = bundle
        build_id = f"{self.project}:{uuid.uuid4()}"
        build = FakeBuild(
            build_id,
            start_runner(variables),
            variables,
            params.get("timeoutInMinutesOverride", 60) * self.seconds_per_minute,
        )
        threading.Thread(target=self._collect, args=(build,), daemon=True).start()
        self.builds[build_id] = build
        self.order.insert(0, build_id)
        return {"build": self._describe(build)}

    @staticmethod
    def _collect(build: FakeBuild) -> None:
        assert build.process.stdout is not None
        for line in build.process.stdout:
            build.output.append(line.rstrip("\n"))

    def list_builds_for_project(self, projectName: str, sortOrder: str = "DESCENDING") -> dict[str, Any]:
        assert projectName == self.project and sortOrder == "DESCENDING"
        return {"ids": list(self.order)}

    def batch_get_builds(self, ids: list[str]) -> dict[str, Any]:
        assert len(ids) <= 100, "BatchGetBuilds takes at most 100 ids"
        found = [self.builds[i] for i in ids if i in self.builds]
        for build in found:
            build.refresh()
        return {"builds": [self._describe(b) for b in found]}

    def stop_build(self, id: str) -> dict[str, Any]:
        build = self.builds[id]
        if build.status == "IN_PROGRESS":
            build.process.send_signal(signal.SIGKILL)
            build.process.wait()
            build.status = "STOPPED"
        return {"build": self._describe(build)}

    def _describe(self, build: FakeBuild) -> dict[str, Any]:
        return {
            "id": build.id,
            "buildStatus": build.status,
            "currentPhase": "BUILD" if build.status == "IN_PROGRESS" else "COMPLETED",
            "environment": {
                "environmentVariables": [
                    {"name": k, "value": v, "type": "PLAINTEXT"}
                    for k, v in build.variables.items()
                    if k.startswith("MIGRATOR_")
                ]
            },
            "logs": {"groupName": f"/aws/codebuild/{self.project}", "streamName": build.id.split(":", 1)[1]},
        }

    def wait_all(self) -> None:
        for build in self.builds.values():
            if build.process.poll() is None:
                build.process.send_signal(signal.SIGKILL)
            build.process.wait()


class FakeLogs:
    def __init__(self, codebuild: FakeCodeBuild) -> None:
        self.codebuild = codebuild
        self.calls: list[dict[str, Any]] = []

    def get_log_events(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        assert params["startFromHead"] is False
        build = self.codebuild.builds[f"{self.codebuild.project}:{params['logStreamName']}"]
        time.sleep(0.2)  # the collector thread drains the pipe after the process ends
        lines = build.output[-params["limit"] :]
        return {"events": [{"timestamp": 0, "message": line} for line in lines]}


def create_project(api: Any, name: str) -> None:
    """A runner-shaped project in moto's CodeBuild (the image the stack pins), for wiring tests."""
    api.create_project(
        name=name,
        source={"type": "S3", "location": "bucket/asset.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "ARM_CONTAINER",
            "image": "aws/codebuild/amazonlinux-aarch64-standard:4.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=f"arn:aws:iam::123456789012:role/{name}",
    )
