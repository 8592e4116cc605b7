"""A user's first migrations keep the schema-level checks green: on a copy of the project's folder, a table
migration and a no-transaction index migration are created the documented way (`new`), schema.sql is
regenerated as `make schema` does, and every check that reads schema.sql or the folder runs on that copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migrator.catalog import differences
from migrator.dump import dump_schema
from migrator.files import load_migrations, load_schema_file
from tests.engine.helpers import assert_team_rules, catalog, cli, history, pg_dump_text, psql_per_file
from tests.pg import scratch_database
from tests.support.migrations import FOLDER, later

Capture = pytest.CaptureFixture[str]

TABLE = """
CREATE TABLE IF NOT EXISTS widgets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
"""
INDEX = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_widgets_name ON widgets (name);\n"


@pytest.fixture(scope="module")
def user_project(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(migrations, schema.sql) of a copy of the project after the user's two migrations and `make schema`."""
    from migrator.cli import main

    root = tmp_path_factory.mktemp("user-project")
    folder, schema = root / "migrations", root / "schema.sql"
    shutil.copytree(FOLDER, folder)
    for args, body in ((["add_widget_table"], TABLE), (["add_widget_name_index", "--no-transaction"], INDEX)):
        assert main(["--migrations-dir", str(folder), "new", *args]) == 0
        (created,) = [m.path for m in load_migrations(folder) if m.version == later(1 + (body is INDEX))]
        created.write_text(created.read_text() + body)
    dump_schema(folder, schema, pg_admin, check=False)
    return folder, schema


def test_the_new_files_are_numbered_after_the_newest_and_schema_sql_includes_them(
    user_project: tuple[Path, Path], pg_admin: str
) -> None:
    folder, schema = user_project
    added = load_migrations(folder)[-2:]
    assert [(m.version, m.no_transaction) for m in added] == [(later(1), False), (later(2), True)]
    assert load_schema_file(schema).version == later(2)
    assert "CREATE TABLE widgets" in schema.read_text() and "idx_widgets_name" in schema.read_text()
    assert dump_schema(folder, schema, pg_admin, check=True).stale is False


def test_a_fresh_database_loads_the_new_schema_and_verifies(
    user_project: tuple[Path, Path], db: str, capsys: Capture
) -> None:
    folder, schema = user_project
    status, out, err = cli(capsys, db, folder, schema, "apply")
    assert status == 0, err
    assert "loaded schema.sql" in out
    assert [v for v, _, _ in history(db)] == [m.version for m in load_migrations(folder)]
    assert cli(capsys, db, folder, schema, "verify")[0] == 0
    assert_team_rules(db)


def test_the_replay_builds_what_schema_sql_builds(
    user_project: tuple[Path, Path], pg_admin: str, capsys: Capture
) -> None:
    folder, schema = user_project
    with scratch_database(pg_admin, "loaded") as loaded, scratch_database(pg_admin, "replayed") as replayed:
        assert cli(capsys, loaded, folder, schema, "apply")[0] == 0
        status, _, err = cli(capsys, replayed, folder, None, "apply")
        assert status == 0, err
        assert differences(catalog(loaded), catalog(replayed)) == []


def test_engine_and_psql_per_file_agree_on_the_users_folder(
    user_project: tuple[Path, Path], pg_admin: str, db: str, capsys: Capture
) -> None:
    folder, _ = user_project
    status, _, err = cli(capsys, db, folder, None, "apply")
    assert status == 0, err
    with scratch_database(pg_admin, "psql") as by_psql:
        psql_per_file(by_psql, folder)
        assert pg_dump_text(db) == pg_dump_text(by_psql)
