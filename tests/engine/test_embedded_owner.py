"""The embedded server runs migrations as an ordinary owner role, as RDS does, never as its superuser.

A SET ROLE from a superuser session would be undone by a file's RESET ROLE and by the engine's per-file reset,
so the run logs in as the owner. A database the superuser created before the role existed is handed over.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from migrator.embedded import LOCAL_OWNER, EmbeddedPostgres
from tests.engine.helpers import cli, write

pytestmark = pytest.mark.slow  # initdb and a server start of its own


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    started = EmbeddedPostgres(tmp_path / "pg", port=54329)
    started.ensure_running()
    yield started
    started.remove_data()  # not the binaries: the suite's own server runs on them


def test_an_older_superuser_database_is_handed_to_the_owner_role_and_migrated_as_it(
    server: EmbeddedPostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(server.conninfo(), autocommit=True) as superuser:
        superuser.execute("CREATE DATABASE app")
    with psycopg.connect(server.conninfo("app"), autocommit=True) as superuser:
        superuser.execute("CREATE TABLE early (id int)")
    url = server.ensure_database("app")
    assert conninfo_to_dict(url)["user"] == LOCAL_OWNER
    write(
        tmp_path,
        "001_early.sql",
        "CREATE TABLE IF NOT EXISTS early (id int);\nALTER TABLE early ADD COLUMN note text;\n",
    )
    write(tmp_path, "002_reset.sql", "RESET ROLE;\nCREATE TABLE later (id int);\n")
    write(tmp_path, "003_trusted.sql", "CREATE EXTENSION IF NOT EXISTS pgcrypto;\n")  # trusted: an owner may
    status, _, err = cli(capsys, url, tmp_path, None, "apply")
    assert status == 0, err
    with psycopg.connect(server.conninfo("app")) as superuser:
        owners = superuser.execute("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'")
        assert dict(owners.fetchall()) == {"early": LOCAL_OWNER, "later": LOCAL_OWNER}
        powers = superuser.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s", (LOCAL_OWNER,)
        )
        assert powers.fetchone() == (False, False, False)
    assert server.ensure_database("app") == url  # idempotent
