from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import admin_conninfo, scratch_database

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_admin() -> str:
    return admin_conninfo()


@pytest.fixture
def db(pg_admin: str) -> Iterator[str]:
    with scratch_database(pg_admin) as conninfo:
        yield conninfo


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    """A private copy of the project's migrations, free to add to or break."""
    target = tmp_path / "migrations"
    shutil.copytree(PROJECT / "migrations", target, ignore=shutil.ignore_patterns("*.md"))
    return target


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    target = tmp_path / "schema.sql"
    shutil.copy(PROJECT / "schema.sql", target)
    return target
