"""Shared steps of the engine tests: run the CLI in-process, read a database's state."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from migrator import history as history_table
from migrator.catalog import Catalog, describe
from migrator.cli import main
from migrator.embedded import _tool
from migrator.files import load_migrations
from migrator.lock import LOCK_KEY


def cli(
    capsys: pytest.CaptureFixture[str], url: str, migrations: Path, schema: Path | None, *args: str
) -> tuple[int, str, str]:
    argv = ["--database-url", url, "--migrations-dir", str(migrations), "--lock-wait", "2"]
    argv += ["--schema-file", str(schema)] if schema else ["--no-schema"]
    status = main([*argv, *args])
    out, err = capsys.readouterr()
    return status, out, err


def status_json(capsys: pytest.CaptureFixture[str], url: str, migrations: Path, schema: Path | None) -> dict[str, Any]:
    status, out, err = cli(capsys, url, migrations, schema, "--json", "status")
    assert status == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def catalog(url: str) -> Catalog:
    with psycopg.connect(url) as conn:
        return describe(conn)


def history(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        return [(row.version, row.checksum, row.applied_via) for row in history_table.read(conn)]


def lock_is_free(url: str) -> bool:
    """Can another session take the migration lock (i.e. did the last run release it)?"""
    with psycopg.connect(url, autocommit=True) as other:
        return other.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone() == (True,)


def state(url: str) -> tuple[Catalog, list[tuple[str, str, str]]]:
    return catalog(url), history(url)


def run_sql(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text.encode())


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def reset_database(url: str) -> None:
    """Back to an empty database: the application's schema, the history and its remembered row count."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS migrator CASCADE")
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(name[0])))


def run_with_psql(url: str, files: Sequence[Path]) -> None:
    """Run `files` with real psql, as the team did by hand before the migrator (no history kept):
    psql's own splitting, autocommit, stopping at the first error."""
    argv = [_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
    for path in files:
        argv += ["-f", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def psql_per_file(url: str, folder: Path) -> None:
    """Each migration of `folder` in a psql session of its own, as the seed's process ran them: one
    transaction per file (`-1`), except a file marked no-transaction, which its author runs without."""
    for migration in load_migrations(folder):
        single = [] if migration.no_transaction else ["-1"]
        subprocess.run(
            [_tool("psql"), "-X", "-q", *single, "-v", "ON_ERROR_STOP=1", "-f", str(migration.path), url],
            check=True,
            capture_output=True,
            text=True,
        )


def psql_first_failure(url: str, folder: Path) -> tuple[str, str] | None:
    """As `psql_per_file`, up to the first file psql fails on: that file's name and the SQLSTATE it reported."""
    for migration in load_migrations(folder):
        single = [] if migration.no_transaction else ["-1"]
        argv = [_tool("psql"), "-X", "-q", *single, "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]
        done = subprocess.run(
            [*argv, "-f", str(migration.path), url],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            found = re.search(r"ERROR:  (\w{5}):", done.stderr)
            assert found is not None, done.stderr
            return migration.path.name, found.group(1)
    return None


def pg_dump_text(url: str) -> str:
    """pg_dump of schema and data, without the engine's own schema."""
    done = subprocess.run(
        [_tool("pg_dump"), "--no-owner", "--no-privileges", "--exclude-schema=migrator", "-d", url],
        check=True,
        capture_output=True,
        text=True,
    )
    return "\n".join(line for line in done.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def foreign_keys(url: str) -> list[tuple[str, str, str, bool]]:
    """Every foreign key: (table, referenced table, pg_constraint.confdeltype, is its first column indexed)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("""
            SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.confdeltype::text,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
            FROM pg_constraint c WHERE c.contype = 'f'""").fetchall()
    return [(child, parent, action, indexed) for child, parent, action, indexed in rows]


def assert_team_rules(url: str) -> None:
    """The rules of the seed's schema, for every foreign key there is: ON DELETE CASCADE, its column indexed."""
    keys = foreign_keys(url)
    assert keys
    assert [(child, parent) for child, parent, action, _ in keys if action != "c"] == [], "ON DELETE CASCADE"
    assert [(child, parent) for child, parent, _, indexed in keys if not indexed] == [], "foreign key not indexed"
