"""Fixtures for tests that run the handler against moto server and a real database (handler, iam,
reliability): registered for the whole suite by tests/conftest.py's `pytest_plugins`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws import Environment, aws_environment, make_environment, moto_endpoint
from tests.support.lambda_context import LambdaContext
from tests.support.project import PROJECT


@pytest.fixture(scope="session")
def moto() -> Iterator[str]:
    with moto_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto: str, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Environment:
    """A fresh RDS record + secret in moto, pointing at a fresh real database; the handler's env set up."""
    for key, value in aws_environment(moto).items():
        monkeypatch.setenv(key, value)
    environment = make_environment(moto, db, PROJECT, tmp_path)
    monkeypatch.setenv("MIGRATOR_BUNDLE_ROOT", str(environment.bundle))
    monkeypatch.delenv("MIGRATOR_SECRET_ARN", raising=False)
    monkeypatch.delenv("MIGRATOR_INSTANCE", raising=False)
    return environment


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
