from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.aws import Environment, aws_environment, make_environment, moto_endpoint
from tests.conftest import PROJECT


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


@dataclass
class LambdaContext:
    """What the handler reads from Lambda's context object."""

    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
