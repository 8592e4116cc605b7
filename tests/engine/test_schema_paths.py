"""schema.sql, the legacy adoption path and the --no-schema replay must build the same schema."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from migrator.catalog import differences
from migrator.files import load_migrations
from tests.engine.helpers import catalog, cli, history, run_with_psql, status_json
from tests.pg import scratch_database
from tests.support.project import PROJECT

MIGRATIONS = PROJECT / "migrations"
SCHEMA = PROJECT / "schema.sql"
ALL = load_migrations(MIGRATIONS)


def _psql_like(url: str, upto: int) -> None:
    """What the team did by hand: run files 000..upto with real psql, no history kept."""
    run_with_psql(url, [migration.path for migration in ALL[: upto + 1]])


@pytest.fixture(scope="module")
def reference(pg_admin: str) -> dict[str, str]:
    with scratch_database(pg_admin) as url:
        status = cli_plain(url, SCHEMA)
        assert status == 0
        return catalog(url)


def cli_plain(url: str, schema: Path | None) -> int:
    from migrator.cli import main

    argv = ["--database-url", url, "--migrations-dir", str(MIGRATIONS)]
    argv += ["--schema-file", str(schema)] if schema else ["--no-schema"]
    return main([*argv, "apply"])


def test_fresh_database_loads_schema_and_records_every_version(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, db, MIGRATIONS, SCHEMA, "apply")
    assert status == 0
    assert "loaded schema.sql" in out
    assert [(v, via) for v, _, via in history(db)] == [(m.version, "schema.sql") for m in ALL]
    created = re.findall(r"^CREATE TABLE (\S+) \(", SCHEMA.read_text(), flags=re.MULTILINE)
    assert created
    assert sorted(
        k.removeprefix("table ").removeprefix("public.") for k in catalog(db) if k.startswith("table ")
    ) == sorted(name.removeprefix("public.") for name in created)


def test_no_schema_replay_equals_schema_sql(db: str, reference: dict[str, str]) -> None:
    assert cli_plain(db, None) == 0
    assert differences(reference, catalog(db)) == []
    assert {via for *_, via in history(db)} == {"migration"}


@pytest.mark.parametrize("level", range(len(ALL)), ids=lambda k: f"legacy_at_{k:03d}")
def test_legacy_database_is_adopted_and_upgraded(
    level: int, db: str, reference: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _psql_like(db, level)
    plan = status_json(capsys, db, MIGRATIONS, SCHEMA)
    assert plan["applied"] == [] and len(plan["pending"]) == len(ALL)
    status, out, err = cli(capsys, db, MIGRATIONS, SCHEMA, "apply")
    assert status == 0, err
    assert "existing database without history" in out
    assert differences(reference, catalog(db)) == []
    assert [v for v, _, via in history(db) if via == "migration"] == [m.version for m in ALL]


@pytest.mark.parametrize("migration", ALL, ids=lambda m: m.version)
def test_each_migration_twice_equals_once(pg_admin: str, migration: object) -> None:
    index = ALL.index(migration)  # type: ignore[arg-type]
    with scratch_database(pg_admin) as once, scratch_database(pg_admin) as twice:
        _psql_like(once, index)
        _psql_like(twice, index)
        with psycopg.connect(twice, autocommit=True) as conn:
            for statement in ALL[index].statements:
                conn.execute(statement.sql.encode())
        assert differences(catalog(once), catalog(twice)) == []


def test_verify_is_clean_after_every_path(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    _psql_like(db, 3)
    assert cli(capsys, db, MIGRATIONS, SCHEMA, "apply")[0] == 0
    status, out, _ = cli(capsys, db, MIGRATIONS, SCHEMA, "verify")
    assert (status, "schema matches schema.sql" in out) == (0, True)


def test_schema_header_names_the_newest_migration() -> None:
    from migrator.files import load_schema_file

    assert load_schema_file(SCHEMA).version == ALL[-1].version
