"""The history table: which versions this database has, and how they got there.

It lives in its own schema, `migrator.history`, always named with its schema: a migration that
sets `search_path` (or a pg_dump file's `set_config('search_path', '', false)`) cannot move it,
and the name cannot collide with golang-migrate's, dbmate's or Rails' `schema_migrations`.
Databases that have this tool's earlier `public.schema_migrations` are moved here by `apply`,
under the lock, in one transaction. How many rows the history holds is also kept outside the
table, as a line of the database's comment (a custom database setting would need a superuser on
PostgreSQL 15+), so a history that was dropped or emptied is noticed instead of every migration
being replayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg
from psycopg import errors, sql
from psycopg.rows import class_row

from migrator.errors import HistoryError

SCHEMA = "migrator"
TABLE = "history"
QUALIFIED = f"{SCHEMA}.{TABLE}"
LEGACY_SCHEMA, LEGACY_TABLE = "public", "schema_migrations"  # this tool's table before 2026-11
COUNT_KEY = "migrator:history_rows"  # the database comment's line: f"{COUNT_KEY}={rows}"
COUNT_MARK = re.compile(rf"^{re.escape(COUNT_KEY)}=(\d+)$", re.MULTILINE)
COLUMNS = ("version", "name", "checksum", "applied_at", "execution_ms", "applied_by", "applied_via")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {{}}.{{}}"

# How a version got into the history: its own file ran, or schema.sql (a fresh database) included it.
AppliedVia = Literal["migration", "schema.sql"]
VIA_MIGRATION: AppliedVia = "migration"
VIA_SCHEMA: AppliedVia = "schema.sql"
APPLIED_VIA: tuple[AppliedVia, ...] = (VIA_MIGRATION, VIA_SCHEMA)

CREATE_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {QUALIFIED} (
    version       text PRIMARY KEY,
    name          text NOT NULL,
    checksum      text NOT NULL,
    applied_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    execution_ms  integer NOT NULL,
    applied_by    text NOT NULL,
    applied_via   text NOT NULL CHECK (applied_via IN ({", ".join(f"'{via}'" for via in APPLIED_VIA)}))
)
""".encode()
_COLUMNS_SQL = b"""
SELECT array_agg(a.attname::text) FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
"""
_COMMENT_SQL = b"""
SELECT pg_catalog.shobj_description(oid, 'pg_database'), datname FROM pg_catalog.pg_database
WHERE datname = current_database()
"""


@dataclass(frozen=True)
class AppliedVersion:
    version: str
    name: str
    checksum: str
    applied_at: datetime
    execution_ms: int
    applied_by: str
    applied_via: AppliedVia

    @property
    def number(self) -> int:
        return int(self.version)


@dataclass(frozen=True)
class NewRow:
    version: str
    name: str
    checksum: str
    execution_ms: int
    applied_via: AppliedVia


def _columns(conn: psycopg.Connection, schema: str, table: str) -> set[str] | None:
    row = conn.execute(_COLUMNS_SQL, (schema, table)).fetchone()
    return set(row[0]) if row and row[0] else None


def _is_ours(columns: set[str] | None) -> bool:
    return columns is not None and set(COLUMNS) <= columns


def _where(conn: psycopg.Connection) -> tuple[str, str] | None:
    """The table holding this tool's history: the current place, the legacy one, or none yet."""
    current = _columns(conn, SCHEMA, TABLE)
    if current is not None:
        if not _is_ours(current):
            raise HistoryError(
                f"{QUALIFIED} exists but is not this tool's history (columns: {', '.join(sorted(current))})",
                hint=f"rename or drop that table; {QUALIFIED} is where the migrator keeps its history",
            )
        return SCHEMA, TABLE
    if _is_ours(_columns(conn, LEGACY_SCHEMA, LEGACY_TABLE)):
        return LEGACY_SCHEMA, LEGACY_TABLE
    return None  # a foreign public.schema_migrations (golang-migrate, dbmate, Rails) is not ours: left alone


def _comment(conn: psycopg.Connection) -> tuple[str, str]:
    row = conn.execute(_COMMENT_SQL).fetchone()
    assert row is not None
    return row[0] or "", row[1]


def recorded_count(conn: psycopg.Connection) -> int | None:
    found = COUNT_MARK.search(_comment(conn)[0])
    return int(found.group(1)) if found else None


_VERSION = re.compile(r"[0-9]+")


def read(conn: psycopg.Connection) -> list[AppliedVersion]:
    where = _where(conn)
    rows: list[AppliedVersion] = []
    if where is not None:
        select = sql.SQL(_SELECT).format(*map(sql.Identifier, where))
        # Binary: a timestamp in text follows the database's DateStyle, which psycopg reads only as ISO.
        rows = conn.cursor(row_factory=class_row(AppliedVersion), binary=True).execute(select).fetchall()
        _refuse_odd_versions(rows, ".".join(where))
    _check_count(conn, None if where is None else len(rows))
    return sorted(rows, key=lambda a: a.number)


def _refuse_odd_versions(rows: list[AppliedVersion], table: str) -> None:
    """Only this tool writes the history, and only numbers: another row is a person's or a migration's doing."""
    odd = next((row for row in rows if not _VERSION.fullmatch(row.version)), None)
    if odd is not None:
        raise HistoryError(
            f"the history {table} has a row whose version is not a number: version {odd.version!r},"
            f" name {odd.name!r}, applied {odd.applied_at:%Y-%m-%d %H:%M} by {odd.applied_by!r}; nothing was changed",
            hint=f"correct or delete that row (DELETE FROM {table} WHERE version = '…'), after finding who wrote it",
        )


def versions(conn: psycopg.Connection) -> set[str]:
    """The versions the history holds now (its table exists: call after `ensure_table`)."""
    return {str(version) for (version,) in conn.execute(f"SELECT version FROM {QUALIFIED}".encode()).fetchall()}


def check_written(conn: psycopg.Connection, before: set[str], written: Iterable[str]) -> None:
    """The history after a batch must be what it was plus exactly what the engine wrote: a trigger or rule
    that swallowed the rows, or a migration that wrote rows of its own, would make versions lie."""
    new = set(written)
    now = versions(conn)
    lost, foreign = sorted(new - now), sorted(now - before - new)
    if lost:
        raise HistoryError(
            f"the history {QUALIFIED} did not keep the rows just written for versions {', '.join(lost)}"
            " (a trigger or rule on it?)",
            hint=f"remove what a migration attached to {QUALIFIED}; the engine alone writes it",
        )
    if foreign:
        raise HistoryError(
            f"versions {', '.join(foreign)} appeared in the history {QUALIFIED} during this batch, written by a"
            " migration, not by the engine (they would never run)",
            hint="a migration must not write the migrator's history; remove those statements",
        )


def _check_count(conn: psycopg.Connection, rows: int | None) -> None:
    """Fewer rows than this database remembers recording (None: no table at all) means the history was lost."""
    expected = recorded_count(conn)
    if expected is None or (rows or 0) >= expected:
        return
    state = "is gone" if rows is None else f"holds {rows} rows"
    raise HistoryError(
        f"the migration history {QUALIFIED} {state}, but this database recorded {expected} applied versions:"
        " a migration or a person dropped or emptied it; nothing more is applied",
        hint="restore the history (e.g. from the pre-migration snapshot); to start over deliberately, remove"
        f" the line '{COUNT_KEY}=…' from the database's comment (COMMENT ON DATABASE)",
    )


def ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(CREATE_SQL)


def move_legacy(conn: psycopg.Connection) -> bool:
    """Move this tool's legacy table into the current one; call in a transaction, under the lock."""
    if _where(conn) != (LEGACY_SCHEMA, LEGACY_TABLE):
        return False
    ensure_table(conn)
    conn.execute(
        sql.SQL("INSERT INTO {}.{} ({cols}) " + _SELECT + " ON CONFLICT (version) DO NOTHING").format(
            sql.Identifier(SCHEMA),
            sql.Identifier(TABLE),
            sql.Identifier(LEGACY_SCHEMA),
            sql.Identifier(LEGACY_TABLE),
            cols=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        )
    )
    conn.execute(sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(LEGACY_SCHEMA), sql.Identifier(LEGACY_TABLE)))
    _remember_count(conn)
    return True


_COUNT_SQL = f"SELECT count(*) FROM {QUALIFIED}".encode()
_INSERT = (
    f"INSERT INTO {QUALIFIED} (version, name, checksum, execution_ms, applied_by, applied_via)".encode()
    + b" SELECT version, name, checksum, execution_ms, %s, applied_via FROM ROWS FROM ("
    b"pg_catalog.unnest(%s::pg_catalog.text[]), pg_catalog.unnest(%s::pg_catalog.text[]),"
    b" pg_catalog.unnest(%s::pg_catalog.text[]), pg_catalog.unnest(%s::pg_catalog.int4[]),"
    b" pg_catalog.unnest(%s::pg_catalog.text[])"
    b") WITH ORDINALITY AS r(version, name, checksum, execution_ms, applied_via, n) ORDER BY n"
)


def record(conn: psycopg.Connection, rows: Iterable[NewRow], applied_by: str) -> None:
    created_now = conn.execute(_COUNT_SQL).fetchone()
    _check_count(conn, created_now[0] if created_now else 0)  # a file of this run may have dropped it
    new = list(rows)
    conn.execute(  # one statement for the whole batch: a row per file, in order, applied_at per row
        _INSERT,
        (
            applied_by,
            [r.version for r in new],
            [r.name for r in new],
            [r.checksum for r in new],
            [r.execution_ms for r in new],
            [r.applied_via for r in new],
        ),
    )
    _remember_count(conn)


def _remember_count(conn: psycopg.Connection) -> None:
    """Keep the row count in the database's comment (the owner's right); without that right, go on without it."""
    row = conn.execute(_COUNT_SQL).fetchone()
    assert row is not None
    comment, database = _comment(conn)
    kept = COUNT_MARK.sub("", comment).strip()
    mark = f"{COUNT_KEY}={row[0]}"
    statement = sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        sql.Identifier(database), sql.Literal(f"{kept}\n{mark}" if kept else mark)
    )
    try:
        with conn.transaction():  # a savepoint: a refusal must not abort the batch
            conn.execute(statement)
    except errors.InsufficientPrivilege:
        pass
