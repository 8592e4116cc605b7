from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.pg import RDS_PARAMETER_SETTINGS, scratch_database, throwaway_role
from tests.support.project import PROJECT
from tests.support.tls_server import TlsServer, start_tls_server

# Shared across folders: moto server, a handler environment on a fresh database and Lambda's context (handler, iam,
# reliability); the default app's assembly and templates, synthesized once per session (cdk, iam, e2e).
pytest_plugins = ["tests.support.aws_fixtures", "tests.support.cdk_fixtures"]


@pytest.fixture(scope="session")
def tls_server() -> Iterator[TlsServer]:
    """One RDS-like server per test process: TLS only, scram, the parameter group's settings."""
    # Not under pytest's tmp dir: that is private to root, and the server may run as `nobody`.
    root = Path(tempfile.mkdtemp(prefix="migrator-rds-"))
    root.chmod(0o755)
    started = start_tls_server(root, RDS_PARAMETER_SETTINGS)
    yield started
    started.server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin(request: pytest.FixtureRequest) -> str:
    """The superuser: for fixtures and inspection only (DATABASE_URL, or the RDS-like server)."""
    given = os.environ.get("DATABASE_URL")
    if not given:
        server: TlsServer = request.getfixturevalue("tls_server")
        given = server.verified_url()
    # The handler connects with verify-full against MIGRATOR_SSLROOTCERT, as in Lambda: here, the test CA.
    ca = conninfo_to_dict(given).get("sslrootcert")
    if ca:
        os.environ["MIGRATOR_SSLROOTCERT"] = str(ca)
    return given


@pytest.fixture
def db(pg_admin: str) -> Iterator[str]:
    """A fresh database owned by the RDS-like master user; the conninfo logs in as that user."""
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
    with throwaway_role(pg_admin, "aalap_migrator") as name:
        yield name


@pytest.fixture
def app_role_name(pg_admin: str) -> Iterator[str]:
    """An application role of this test's own; like `role_name`, request it before `db`."""
    with throwaway_role(pg_admin, "aalap_app") as name:
        yield name
