"""The deploy lifecycle against emulated AWS, the same scenarios on two tiers.

- moto: moto server for RDS and Secrets Manager.
- localstack: "LocalStack community + moto RDS". LocalStack community, started here on the host
  (tests/support/localstack.py), serves Secrets Manager; RDS is a paid feature there (every call
  answers 501), so moto server serves RDS. With LOCALSTACK_ENDPOINT set (a LocalStack someone
  else runs, e.g. CI's optional Pro job) everything goes to that endpoint instead.

The LocalStack tier skips only where no Python 3.13 is found, and says so. One LocalStack serves
the whole run: the xdist workers share it (a file lock and a list of users; the last one stops it).
PostgreSQL is real, and the secret points at it. The Provider framework is the synthesized one,
run under Node (see harness.py); CloudFormation and Step Functions are the stand-ins in
cloudformation.py and waiter.py on both tiers (LocalStack community runs no custom resource, and
no Lambda without Docker).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.aws import codebuild
from tests.aws import Aws, Environment, aws_environment, localstack_endpoint, make_environment, moto_endpoint
from tests.e2e.cloudformation import Operation
from tests.e2e.harness import Deployer
from tests.e2e.template_model import stack_model
from tests.e2e.templates import Assembly, stack_template
from tests.support.fake_codebuild import FakeCodeBuild, FakeLogs
from tests.support.localstack import TIER as LOCALSTACK
from tests.support.localstack import LocalStack, PythonNotFound, find_python, shared
from tests.support.project import PROJECT
from tests.support.runner import runner_environment

STEP_PROPERTY = "e2e-step"
LOCALSTACK_PROPERTY = "e2e-localstack"
MOTO = "moto server"
TIMINGS: list[tuple[str, float, float, str, str]] = []  # (test: step, wall s, simulated s, status, backend)
LOCALSTACK_STATS: list[dict[str, Any]] = []


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    with moto_endpoint() as started:
        yield started


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """LocalStack community on the host, one per test run, shared by the xdist workers.

    It skips only when no Python 3.13 is found, saying so; with LOCALSTACK_REQUIRED set (CI) it fails instead.
    """
    try:
        find_python()
    except PythonNotFound as missing:
        if os.environ.get("LOCALSTACK_REQUIRED"):
            pytest.fail(f"LOCALSTACK_REQUIRED is set: {missing}")
        pytest.skip(str(missing))
    base = tmp_path_factory.getbasetemp()
    run = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # shared by this run's workers
    with shared(run / "localstack") as started:
        yield started


@pytest.fixture(scope="session", params=["moto", "localstack+moto-rds"])
def emulated(request: pytest.FixtureRequest, moto_server: str) -> Aws:
    """Which endpoint serves each AWS service the lifecycle uses."""
    if request.param == "moto":
        return Aws(MOTO, moto_server)
    given = localstack_endpoint()
    if given:
        return Aws(f"LocalStack at {given}", given)
    started: LocalStack = request.getfixturevalue("localstack")
    return Aws(label=LOCALSTACK, default=started.endpoint, services={"rds": moto_server})


@pytest.fixture(scope="session")
def assembly(cdk_assembly: Path) -> Assembly:
    """The staging stack of the session's one synth of the default app (shared by the xdist workers)."""
    return Assembly(cdk_assembly, stack_template(cdk_assembly))


def _with_role_secret(environment: Environment, role: str) -> Environment:
    """The migration role's own secret, unless the environment already comes with one."""
    if not environment.role_secret_arn:
        environment.role_secret_arn = environment.secrets().create_secret(
            Name=f"{environment.instance}-role", SecretString=json.dumps({"username": role, "password": "Role-E2e-1"})
        )["ARN"]
    return environment


def _app_secret(environment: Environment, role: str) -> str:
    """The application role's own secret: the deploy creates that role and keeps its password."""
    secret = json.dumps({"username": role, "password": "App-E2e-1"})
    return str(environment.secrets().create_secret(Name=f"{environment.instance}-app", SecretString=secret)["ARN"])


@pytest.fixture
def deployer(
    emulated: Aws,
    role_name: str,
    app_role_name: str,
    db: str,
    assembly: Assembly,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Deployer]:
    for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]:
        monkeypatch.delenv(key)  # only the endpoints of this tier
    for key, value in aws_environment(emulated).items():
        monkeypatch.setenv(key, value)
    environment = _with_role_secret(make_environment(emulated, db, PROJECT, tmp_path), role_name)
    model = stack_model(
        assembly,
        {
            "SecretArn": environment.secret_arn,
            "MigratorSecretArn": environment.role_secret_arn,
            "AppSecretArn": _app_secret(environment, app_role_name),
            "RunnerProject": f"{environment.instance}-runner",  # no migration here asks for CodeBuild
            "InstanceIdentifier": environment.instance,
        },
    )

    def record(operation: Operation) -> None:
        step = (f"{request.node.name}: {operation.step}", operation.wall_s, operation.simulated_s, operation.status)
        request.node.user_properties.append((STEP_PROPERTY, (*step, emulated.label)))

    ours: LocalStack | None = request.getfixturevalue("localstack") if emulated.label == LOCALSTACK else None
    started = Deployer(environment, model, tmp_path, record).start()
    yield started
    started.close()
    _remove_rds_records(environment)
    if ours is not None:  # start-up time and peak memory so far, for the summary (also from xdist workers)
        request.node.user_properties.append((LOCALSTACK_PROPERTY, ours.stats()))


def _remove_rds_records(environment: Environment) -> None:
    """moto keeps one account per process, whichever server serves it: leave no snapshot for other tests to count."""
    rds = environment.rds()
    for snapshot in rds.describe_db_snapshots(DBInstanceIdentifier=environment.instance)["DBSnapshots"]:
        rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])
    rds.delete_db_instance(DBInstanceIdentifier=environment.instance, SkipFinalSnapshot=True)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Steps are recorded as user properties, so the table also comes back from xdist workers."""
    for name, value in report.user_properties:
        if name == LOCALSTACK_PROPERTY and report.when == "teardown" and isinstance(value, dict):
            LOCALSTACK_STATS.append(value)
        if name == STEP_PROPERTY and report.when == "call" and isinstance(value, tuple | list):
            step, wall, simulated, status, backend = value
            TIMINGS.append((str(step), float(wall), float(simulated), str(status), str(backend)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("deploy lifecycle per step: wall time, simulated (AWS) time, stack status")
        for step, wall, simulated, status, backend in TIMINGS:
            terminalreporter.write_line(f"{backend:31s} {wall * 1000:6.0f} ms {simulated:7.1f} s  {status:24s} {step}")
    if LOCALSTACK_STATS:
        last = LOCALSTACK_STATS[-1]
        venv = f"built in {last['venv_s']:.0f} s" if last["venv_built"] else "cached"
        terminalreporter.write_line(
            f"{LOCALSTACK}: venv {venv}; healthy {last['start_s']:.1f} s after start;"
            f" peak RSS of its process tree {max(s['peak_rss_mb'] for s in LOCALSTACK_STATS)} MB"
        )


POLL_INTERVAL_S = 15  # the waiter's interval (the Provider framework's queryInterval default)


class RequestBundleCodeBuild(FakeCodeBuild):
    """Each build runs the bundle of the request that started it, as the asset CodeBuild downloads would be.

    The waiter's clock is virtual (15 s between polls pass at once), so a build would look stuck for the
    whole Provider timeout; each read of a running build waits up to one poll interval of real time for
    it instead, so that a build never gets less real time than the polls say has passed."""

    def batch_get_builds(self, ids: list[str]) -> dict[str, Any]:
        for build in (self.builds[i] for i in ids if i in self.builds):
            with contextlib.suppress(subprocess.TimeoutExpired):
                build.process.wait(timeout=POLL_INTERVAL_S)
        return super().batch_get_builds(ids)


@pytest.fixture
def builds(deployer: Deployer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCodeBuild]:
    env = deployer.environment
    variables = runner_environment(
        env.secret_arn, env.bundle, 0, role_secret_arn=env.role_secret_arn, MIGRATOR_IDLE_TIMEOUT="5"
    )
    fake = RequestBundleCodeBuild(
        f"{env.instance}-runner",
        variables,
        seconds_per_minute=1,
        bundle_for=lambda _params: os.environ["MIGRATOR_BUNDLE_ROOT"],  # the request's, set per invocation
    )
    monkeypatch.setattr(codebuild, "_clients", lambda: (fake, FakeLogs(fake)))
    yield fake
    fake.wait_all()
