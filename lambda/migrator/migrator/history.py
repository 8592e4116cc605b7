"""The `schema_migrations` table: which versions this database has, and how they got there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg

TABLE = "schema_migrations"

CREATE_SQL = b"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version       text PRIMARY KEY,
    name          text NOT NULL,
    checksum      text NOT NULL,
    applied_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    execution_ms  integer NOT NULL,
    applied_by    text NOT NULL,
    applied_via   text NOT NULL CHECK (applied_via IN ('migration', 'schema.sql'))
)
"""


@dataclass(frozen=True)
class AppliedVersion:
    version: str
    name: str
    checksum: str
    applied_at: datetime
    execution_ms: int
    applied_by: str
    applied_via: str

    @property
    def number(self) -> int:
        return int(self.version)


@dataclass(frozen=True)
class NewRow:
    version: str
    name: str
    checksum: str
    execution_ms: int
    applied_via: str


def exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
    return bool(row and row[0])


def read(conn: psycopg.Connection) -> list[AppliedVersion]:
    if not exists(conn):
        return []
    rows = conn.execute(
        b"SELECT version, name, checksum, applied_at, execution_ms, applied_by, applied_via FROM schema_migrations"
    ).fetchall()
    return sorted((AppliedVersion(*row) for row in rows), key=lambda a: a.number)


def ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(CREATE_SQL)


def record(conn: psycopg.Connection, rows: Iterable[NewRow], applied_by: str) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            b"INSERT INTO schema_migrations"
            b" (version, name, checksum, execution_ms, applied_by, applied_via)"
            b" VALUES (%s, %s, %s, %s, %s, %s)",
            [(r.version, r.name, r.checksum, r.execution_ms, applied_by, r.applied_via) for r in rows],
        )


def database_is_empty(conn: psycopg.Connection) -> bool:
    """True when no user table exists outside the system schemas (history aside): a fresh database."""
    row = conn.execute(
        b"SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        b" WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        b" AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        b" AND n.nspname NOT LIKE 'pg\\_%%' AND c.relname <> 'schema_migrations'"
    ).fetchone()
    return row is not None and row[0] == 0
