"""Real PostgreSQL for tests: the embedded server by default, or the one DATABASE_URL names."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator.embedded import default_server


def migrator_argv(url: str, migrations: Path, *args: str, schema: Path | None = None) -> list[str]:
    """`python -m migrator` against `url`: with `schema`, or --no-schema without one; `args` end with the command."""
    schema_args = ["--schema-file", str(schema)] if schema else ["--no-schema"]
    return [
        sys.executable,
        "-m",
        "migrator",
        "--database-url",
        url,
        "--migrations-dir",
        str(migrations),
        *schema_args,
        *args,
    ]


def admin_conninfo() -> str:
    return os.environ.get("DATABASE_URL") or default_server().ensure_running()


@contextmanager
def scratch_database(admin: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty database for one test, dropped afterwards (connections and all)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin)
    params["dbname"] = name
    try:
        yield make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
