"""Each file runs as in a psql session of its own, and the history cannot be moved, hijacked or lost silently."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from migrator import history as history_sql
from migrator.connect import DEFAULT_LOCK_TIMEOUT
from tests.engine.helpers import cli, history, run_sql, status_json, write
from tests.support.migrations import COUNT, NEWEST, NEXT, later

Capture = pytest.CaptureFixture[str]


def _database(url: str) -> sql.Identifier:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return sql.Identifier(row[0])


def _tables(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}


# History (issue 9, items 1-3)


def test_a_database_search_path_does_not_move_the_history(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    with psycopg.connect(at_newest, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET search_path = app, public").format(_database(at_newest)))
    write(migrations_dir, f"{NEXT}_app_schema.sql", "CREATE SCHEMA app;\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    write(migrations_dir, f"{later(2)}_app_table.sql", "CREATE TABLE app.things (id int);\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0, err
    assert [v for v, *_ in history(at_newest)][-2:] == [NEXT, later(2)]
    assert _tables(at_newest, "app") == {"things"}, "nothing of the migrator's landed in the user's schema"
    assert status_json(capsys, at_newest, migrations_dir, schema_file)["pending"] == []


def _to_legacy_layout(url: str) -> None:
    """Today's databases: the history as public.schema_migrations, no remembered row count."""
    run_sql(
        url,
        "ALTER TABLE migrator.history SET SCHEMA public; ALTER TABLE public.history RENAME TO schema_migrations;"
        " DROP SCHEMA migrator",
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(_database(url)))


def test_a_legacy_history_is_read_in_place_and_moved_by_the_next_apply(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    before = history(at_newest)
    _to_legacy_layout(at_newest)
    assert "schema_migrations" in _tables(at_newest, "public")
    assert status_json(capsys, at_newest, migrations_dir, schema_file)["pending"] == []  # read-only: left in place
    assert "schema_migrations" in _tables(at_newest, "public")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0  # nothing pending: still moved
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0  # and again: idempotent
    assert "schema_migrations" not in _tables(at_newest, "public")
    assert history(at_newest) == before


@pytest.mark.parametrize(
    "foreign",
    [
        "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty bool NOT NULL DEFAULT false)",  # golang
        "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)",  # dbmate, Rails
    ],
)
def test_another_tools_schema_migrations_is_left_alone(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture, foreign: str
) -> None:
    run_sql(db, foreign + "; INSERT INTO schema_migrations (version) VALUES ('20240101')")
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert status == 0, err
    assert [v for v, *_ in history(db)][-1] == NEWEST
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT version::text FROM public.schema_migrations").fetchall() == [("20240101",)]


def test_a_foreign_table_in_the_historys_place_is_refused(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    run_sql(db, "CREATE SCHEMA migrator; CREATE TABLE migrator.history (id int)")
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert status == 1
    assert "migrator.history exists but is not this tool's history" in err and "Traceback" not in err


def test_a_dropped_history_stops_the_next_run_instead_of_replaying(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_oops.sql", "-- migrate:no-transaction\nDROP TABLE migrator.history;\n")
    for command in ("apply", "status", "apply"):  # the run whose file dropped it stops, and so does every next one
        status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, command)
        assert status == 1, command
        assert f"but this database recorded {COUNT} applied versions: a migration or a person dropped" in err
        assert "Traceback" not in err
    with psycopg.connect(at_newest, autocommit=True) as conn:  # a person empties part of it
        conn.execute(history_sql.CREATE_SQL)
        conn.execute("INSERT INTO migrator.history VALUES ('000', 'x', 'x', now(), 1, 'x', 'migration')")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert (status, "holds 1 rows" in err) == (1, True)


# Session state between files (item 4)


def test_each_file_starts_with_a_fresh_sessions_settings_and_role(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(
        migrations_dir,
        f"{NEXT}_dump_style.sql",
        "SELECT pg_catalog.set_config('search_path', '', false);\nSET statement_timeout = 0;\nSET lock_timeout = 0;\n"
        "SET ROLE rds_superuser;\nCREATE TEMPORARY TABLE scratch (id int);\n",
    )
    write(
        migrations_dir,
        f"{later(2)}_plain.sql",
        "CREATE TABLE settings_seen AS SELECT current_setting('statement_timeout') AS statement_timeout,"
        " current_setting('lock_timeout') AS lock_timeout, current_setting('search_path') AS search_path,"
        " current_user::text AS who;\n",
    )
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "--statement-timeout", "15min", "apply")
    assert status == 0, err
    with psycopg.connect(at_newest) as conn:
        seen = conn.execute("SELECT statement_timeout, lock_timeout, search_path, who FROM settings_seen").fetchone()
        user = conn.execute("SELECT current_user::text").fetchone()
    assert user is not None
    assert seen == ("15min", DEFAULT_LOCK_TIMEOUT, '"$user", public', user[0])
    assert [v for v, *_ in history(at_newest)][-2:] == [NEXT, later(2)]


# Errors people can act on (items 12-13)


def _error(at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture, text: str) -> str:
    write(migrations_dir, f"{NEXT}_bad.sql", text)
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    return err


def test_an_error_inside_a_do_block_points_inside_it_with_its_context(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    text = "-- two lines\n-- of comment\nDO $$\nBEGIN\n  PERFORM 1;\n"
    text += "  RAISE EXCEPTION 'boom' USING HINT = 'h1';\nEND\n$$;\n"
    err = _error(at_newest, migrations_dir, schema_file, capsys, text)
    assert f"{NEXT}_bad.sql:6: SQLSTATE P0001: boom" in err
    assert "HINT: h1" in err and "CONTEXT: PL/pgSQL function inline_code_block line 4 at RAISE" in err


def test_a_positioned_error_gives_line_and_column_and_the_servers_hint(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    err = _error(
        at_newest, migrations_dir, schema_file, capsys, "SELECT 1;\nCREATE TABLE x (\n  id int,\n  n txet\n);\n"
    )
    assert f'{NEXT}_bad.sql:4:5: SQLSTATE 42704: type "txet" does not exist' in err
    err = _error(at_newest, migrations_dir, schema_file, capsys, "SELECT 1;\n  SELECT lower(1);\n")
    assert f"{NEXT}_bad.sql:2:10: SQLSTATE 42883" in err and "HINT: No function matches" in err


def test_concurrently_in_a_transaction_names_the_no_transaction_marker(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    err = _error(at_newest, migrations_dir, schema_file, capsys, "CREATE INDEX CONCURRENTLY i ON projects (name);\n")
    assert "SQLSTATE 25001" in err and "first line is '-- migrate:no-transaction'" in err


def test_a_new_enum_value_used_in_its_transaction_names_the_remedy(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_type.sql", "-- migrate:no-transaction\nCREATE TYPE mood AS ENUM ('ok');\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    write(migrations_dir, f"{later(2)}_bad.sql", "ALTER TYPE mood ADD VALUE 'great';\nSELECT 'great'::mood;\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    assert (
        f"{later(2)}_bad.sql:2" in err
        and "SQLSTATE 55P04" in err
        and "move the statements that use it into the next file" in err
    )


def test_a_database_reading_backslashes_the_old_way_is_refused(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    with psycopg.connect(at_newest, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET standard_conforming_strings = off").format(_database(at_newest)))
    write(migrations_dir, f"{NEXT}_path.sql", "INSERT INTO users (email) VALUES ('c:\\new\\table@example.com');\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1 and "standard_conforming_strings is off" in err
    assert [v for v, *_ in history(at_newest)][-1] == NEWEST


def test_a_database_writing_dates_another_way_is_read(pg_admin: str, db: str, tmp_path: Path, capsys: Capture) -> None:
    """A database's DateStyle (German, SQL) is the files' as in psql's session; the engine's reads of its history
    and of the lock holder's start failed with a traceback (psycopg reads text timestamps only as ISO)."""
    from migrator.lock import describe_holder, try_lock
    from tests.pg import superuser_view

    write(tmp_path, "001_first.sql", "CREATE TABLE t (d date);\n")
    assert cli(capsys, db, tmp_path, None, "apply")[0] == 0
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET DateStyle = 'German'").format(_database(db)))
    write(tmp_path, "002_german.sql", "INSERT INTO t VALUES ('31.12.2026');\n")  # DMY, as psql's session reads it
    status, _, err = cli(capsys, db, tmp_path, None, "apply")
    assert status == 0, err
    status, _, err = cli(capsys, db, tmp_path, None, "--json", "status")
    assert status == 0 and "Traceback" not in err, err
    with psycopg.connect(db, autocommit=True) as holder, psycopg.connect(superuser_view(pg_admin, db)) as other:
        assert try_lock(holder)
        assert "connected 20" in describe_holder(other)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT d::text FROM t").fetchone() == ("31.12.2026",)
