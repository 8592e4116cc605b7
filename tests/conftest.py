from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

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


@pytest.fixture
def role_name(pg_admin: str) -> Iterator[str]:
    """A migration role of this test's own. Request it before `db` (or fixtures using it), so that it
    is dropped after the database it came to own."""
    name = f"aalap_migrator_{uuid.uuid4().hex[:6]}"
    yield name
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
