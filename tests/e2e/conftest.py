"""The deploy lifecycle against emulated AWS: moto server by default, LocalStack when LOCALSTACK_ENDPOINT is set.

The same tests run on both backends; the LocalStack run is skipped, saying why, only when no
endpoint is given. PostgreSQL is real, and the secret points at it. The Provider framework is the
synthesized one, run under Node (see harness.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aws import Environment, aws_environment, localstack_endpoint, make_environment, moto_endpoint
from tests.conftest import PROJECT
from tests.e2e.cloudformation import Operation
from tests.e2e.harness import Deployer
from tests.e2e.template_model import stack_model
from tests.e2e.templates import Assembly, staging

STEP_PROPERTY = "e2e-step"
TIMINGS: list[tuple[str, float, float, str, str]] = []  # (test: step, wall s, simulated s, status, backend)


@pytest.fixture(scope="session", params=["moto", "localstack"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "localstack":
        given = localstack_endpoint()
        if not given:
            pytest.skip(
                "LOCALSTACK_ENDPOINT is not set (LocalStack needs Docker and an auth token;"
                " CI's localstack job sets it)"
            )
        yield given
        return
    with moto_endpoint() as started:
        yield started


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """Synthesized once per session: xdist workers share their session's temp root (the first one synthesizes)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return staging(shared / "e2e-staging-assembly")


def _with_role_secret(environment: Environment, role: str) -> Environment:
    """The migration role's own secret, unless the environment already comes with one."""
    if not environment.role_secret_arn:
        environment.role_secret_arn = environment.secrets().create_secret(
            Name=f"{environment.instance}-role", SecretString=json.dumps({"username": role, "password": "Role-E2e-1"})
        )["ARN"]
    return environment


@pytest.fixture
def deployer(
    endpoint: str,
    role_name: str,
    db: str,
    assembly: Assembly,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Deployer]:
    for key, value in aws_environment(endpoint).items():
        monkeypatch.setenv(key, value)
    environment = _with_role_secret(make_environment(endpoint, db, PROJECT, tmp_path), role_name)
    model = stack_model(
        assembly,
        {
            "SecretArn": environment.secret_arn,
            "MigratorSecretArn": environment.role_secret_arn,
            "InstanceIdentifier": environment.instance,
        },
    )
    backend = "localstack" if endpoint == localstack_endpoint() else "moto"

    def record(operation: Operation) -> None:
        step = (f"{request.node.name}: {operation.step}", operation.wall_s, operation.simulated_s, operation.status)
        request.node.user_properties.append((STEP_PROPERTY, (*step, backend)))

    started = Deployer(environment, model, tmp_path, record).start()
    yield started
    started.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Steps are recorded as user properties, so the table also comes back from xdist workers."""
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == STEP_PROPERTY and isinstance(value, tuple | list):
            step, wall, simulated, status, backend = value
            TIMINGS.append((str(step), float(wall), float(simulated), str(status), str(backend)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("deploy lifecycle per step: wall time, simulated (AWS) time, stack status")
        for step, wall, simulated, status, backend in TIMINGS:
            terminalreporter.write_line(f"{backend:10s} {wall * 1000:7.0f} ms {simulated:8.1f} s  {status:26s} {step}")
