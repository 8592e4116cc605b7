"""Shared steps of the engine tests: run the CLI in-process, read a database's state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrator.catalog import Catalog, describe
from migrator.cli import main


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
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
            return []
        return [
            tuple(r)
            for r in conn.execute("SELECT version, checksum, applied_via FROM schema_migrations ORDER BY version")
        ]


def state(url: str) -> tuple[Catalog, list[tuple[str, str, str]]]:
    return catalog(url), history(url)


def run_sql(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text.encode())


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path
