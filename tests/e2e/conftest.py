"""The deploy lifecycle against emulated AWS: moto server by default, LocalStack when LOCALSTACK_ENDPOINT is set.

The same tests run on both backends; the LocalStack run is skipped, saying why, only
when no endpoint is given. PostgreSQL is real, and the secret points at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aws import aws_environment, localstack_endpoint, moto_endpoint
from tests.e2e.deploy import Deployer

TIMINGS: list[tuple[str, str, float]] = []


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


@pytest.fixture
def deployer(
    endpoint: str,
    role_name: str,
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Deployer:
    for key, value in aws_environment(endpoint).items():
        monkeypatch.setenv(key, value)
    backend = "localstack" if endpoint == localstack_endpoint() else "moto"
    return Deployer.start(
        endpoint,
        db,
        role_name,
        tmp_path,
        monkeypatch,
        lambda step, seconds: TIMINGS.append((backend, f"{request.node.name}: {step}", seconds)),
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("deploy lifecycle wall time per step")
        for backend, step, seconds in TIMINGS:
            terminalreporter.write_line(f"{backend:10s} {seconds * 1000:8.0f} ms  {step}")
