"""Migrations are untrusted input: what a migration file creates or sets never runs as whoever connects next.

The migration role owns the database, so a file may create `public.set_config(text, text, boolean)` (and
the other functions the engine calls) and make the database's search_path put `public` first. Each such
function records who called it into a table anyone may write. The master's hand-over (as RDS's non-superuser
master), a superuser's `status`, and the role's own next `apply` must leave that table empty.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator.connect import SessionLimits, connect
from migrator.errors import MigratorError
from migrator.roles import ensure_owner_role
from tests.engine.helpers import cli, write
from tests.pg import superuser_view

Capture = pytest.CaptureFixture[str]
PASSWORD = "Role-Pass-57"

# Functions the engine calls by name (and the catalog views it reads), shadowed in public: each logs its caller.
_TRAPS = {
    "set_config(text, text, boolean)": ("text", "pg_catalog.set_config($1, $2, $3)"),
    "current_setting(text)": ("text", "pg_catalog.current_setting($1)"),
    "current_setting(text, boolean)": ("text", "pg_catalog.current_setting($1, $2)"),
    "pg_try_advisory_lock(bigint)": ("boolean", "pg_catalog.pg_try_advisory_lock($1)"),
    "pg_advisory_unlock(bigint)": ("boolean", "pg_catalog.pg_advisory_unlock($1)"),
    "unnest(text[])": ("SETOF text", "pg_catalog.unnest($1)"),
    "now()": ("timestamptz", "pg_catalog.now()"),
}


def hostile_file() -> str:
    functions = "".join(
        f"CREATE FUNCTION public.{signature} RETURNS {returns} LANGUAGE plpgsql AS $f$\n"
        f"BEGIN INSERT INTO public.hijacked VALUES (current_user, '{signature}'); "
        f"RETURN {'QUERY SELECT ' if returns.startswith('SETOF') else ''}{call}; END $f$;\n"
        for signature, (returns, call) in _TRAPS.items()
    )
    return (
        "CREATE TABLE public.hijacked (by_role name, via text);\n"
        "GRANT INSERT ON public.hijacked TO PUBLIC;\n"
        "CREATE VIEW public.pg_roles AS SELECT * FROM pg_catalog.pg_roles;\n"
        f"{functions}"
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', current_database());"
        " END $$;\n"
    )


def _as(url: str, role: str) -> str:
    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    return make_conninfo(**(params | {"user": role, "password": PASSWORD}))


def hand_over(master_url: str, role: str) -> None:
    """What on_event does as the master: connect (the engine's own way), then hand the database over."""
    with connect(master_url, SessionLimits()) as admin:
        ensure_owner_role(admin, role, PASSWORD, str(conninfo_to_dict(master_url)["dbname"]))


def hijacks(pg_admin: str, db: str) -> list[tuple[str, str]]:
    with psycopg.connect(superuser_view(pg_admin, db)) as inspector:
        return [(str(who), str(via)) for who, via in inspector.execute("SELECT by_role, via FROM public.hijacked")]


@pytest.fixture
def poisoned(role_name: str, db: str, tmp_path: Path, capsys: Capture) -> tuple[str, Path]:
    """The database after the role applied the hostile file: (the role's URL, its migrations folder)."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    write(folder, "001_hostile.sql", hostile_file())
    hand_over(db, role_name)
    role_url = _as(db, role_name)
    status, _, err = cli(capsys, role_url, folder, None, "apply")
    assert status == 0, err
    return role_url, folder


def test_the_masters_next_hand_over_runs_nothing_a_migration_created(
    poisoned: tuple[str, Path], pg_admin: str, db: str, role_name: str
) -> None:
    hand_over(db, role_name)
    assert hijacks(pg_admin, db) == []
    with psycopg.connect(superuser_view(pg_admin, db)) as inspector:
        powers = inspector.execute(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_authid WHERE rolname = %s", (role_name,)
        ).fetchone()
    assert powers == (False,)


def test_a_superusers_status_runs_nothing_a_migration_created(
    poisoned: tuple[str, Path], pg_admin: str, db: str, capsys: Capture
) -> None:
    _, folder = poisoned
    status, out, err = cli(capsys, superuser_view(pg_admin, db), folder, None, "status")
    assert status == 0, err
    assert "001" in out
    assert hijacks(pg_admin, db) == []


def test_the_engines_statements_between_and_after_files_run_nothing_a_migration_created(
    poisoned: tuple[str, Path], pg_admin: str, db: str, capsys: Capture
) -> None:
    role_url, folder = poisoned
    write(folder, "002_sets_its_own_path.sql", "SET search_path = public, pg_catalog;\nCREATE TABLE t2 (id int);\n")
    write(folder, "003_no_tx.sql", "-- migrate:no-transaction\nSET search_path = public;\nCREATE TABLE t3 (id int);\n")
    status, _, err = cli(capsys, role_url, folder, None, "apply")
    assert status == 0, err
    assert hijacks(pg_admin, db) == []


def test_files_still_see_the_databases_search_path(poisoned: tuple[str, Path], db: str, capsys: Capture) -> None:
    """The fix pins the engine's own statements, not the files': a database search_path stays in force for them,
    as a new psql session would see it."""
    role_url, folder = poisoned
    write(folder, "002_where.sql", "CREATE TABLE seen_path AS SELECT pg_catalog.current_setting('search_path') AS p;\n")
    assert cli(capsys, role_url, folder, None, "apply")[0] == 0
    with psycopg.connect(role_url) as conn:
        assert conn.execute("SELECT p FROM public.seen_path").fetchone() == ("public, pg_catalog",)


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("CONNECTION LIMIT 0", "CONNECTION LIMIT 0"),
        ("SET default_transaction_read_only = on", "default_transaction_read_only = on"),
    ],
)
def test_a_batch_that_locks_everybody_out_is_rolled_back(
    db: str, tmp_path: Path, capsys: Capture, setting: str, shown: str
) -> None:
    write(tmp_path, "001_first.sql", "CREATE TABLE first_table (id int);\n")
    write(
        tmp_path,
        "002_lockout.sql",
        f"DO $$ BEGIN EXECUTE format('ALTER DATABASE %I {setting}', current_database()); END $$;\n",
    )
    status, _, err = cli(capsys, db, tmp_path, None, "apply")
    assert status == 1, err
    assert f"this batch was rolled back: the database has {shown}" in err
    with psycopg.connect(db) as conn:  # still possible: nothing of the batch stayed
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'first_table'").fetchone() == (0,)


def test_the_hand_over_refuses_a_read_only_database_with_the_statement_that_undoes_it(
    pg_admin: str, db: str, role_name: str
) -> None:
    name = str(conninfo_to_dict(db)["dbname"])
    with psycopg.connect(pg_admin, autocommit=True) as superuser:
        superuser.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'.encode())
    with pytest.raises(MigratorError) as refused:
        hand_over(db, role_name)
    assert "the database was not handed over: the database has default_transaction_read_only = on" in str(refused.value)
    assert f'ALTER DATABASE "{name}" RESET default_transaction_read_only' in refused.value.hint
