"""Compare the live schema with schema.sql, loaded into a scratch schema that is rolled back."""

from __future__ import annotations

import psycopg

from migrator.catalog import Catalog, describe, differences
from migrator.execute import run_statements
from migrator.files import Migration, SchemaFile

SCRATCH = "migrator_verify_scratch"


def live_schema_name(conn: psycopg.Connection) -> str:
    """The schema a new session of this role creates objects in: the first of the database's and role's own
    search_path (the engine's session pins its own, see connect.ENGINE_SEARCH_PATH)."""
    with conn.transaction(force_rollback=True):
        conn.execute(b"SET LOCAL search_path TO DEFAULT")
        row = conn.execute(b"SELECT pg_catalog.current_schema()").fetchone()
    return str(row[0]) if row and row[0] else "public"


def unfinished(conn: psycopg.Connection, schema: str) -> list[str]:
    """What a definition comparison cannot see: an INVALID index (a failed or cancelled CREATE INDEX
    CONCURRENTLY, which serves no query) and a NOT VALID constraint (existing rows never checked)."""
    indexes = conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT i.indisvalid"
        " ORDER BY 1",
        (schema,),
    ).fetchall()
    constraints = conn.execute(
        "SELECT t.relname, k.conname FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class t ON t.oid = k.conrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s AND NOT k.convalidated"
        " ORDER BY 1, 2",
        (schema,),
    ).fetchall()
    return [
        *(
            f"index {name} is INVALID (a failed or cancelled CREATE INDEX CONCURRENTLY; it serves no query):"
            f" DROP INDEX CONCURRENTLY {name}; then build it again"
            for (name,) in indexes
        ),
        *(
            f"constraint {table}.{name} is NOT VALID (existing rows were never checked):"
            f" ALTER TABLE {table} VALIDATE CONSTRAINT {name}"
            for table, name in constraints
        ),
    ]


def verify(conn: psycopg.Connection, schema: SchemaFile) -> list[str]:
    """Differences between schema.sql and the live schema, and what the live schema left unfinished; empty when
    they match."""
    live_name = live_schema_name(conn)
    live = describe(conn, live_name)
    left = unfinished(conn, live_name)
    return differences(expected_catalog(conn, schema), live) + left


def expected_catalog(conn: psycopg.Connection, schema: SchemaFile) -> Catalog:
    """schema.sql's catalog, built in a scratch schema inside a transaction that is always rolled back: never
    committed, so no other session ever sees it, and it holds locks on its own new objects only."""
    with conn.transaction(force_rollback=True):
        conn.execute(f"CREATE SCHEMA {SCRATCH}".encode())
        conn.execute(f"SET LOCAL search_path = {SCRATCH}".encode())
        run_statements(conn, schema.path, schema.statements)
        conn.execute(b"SET LOCAL search_path = pg_catalog, pg_temp")  # nothing schema.sql created answers for us
        return describe(conn, SCRATCH)


def older_than_migrations(schema: SchemaFile, migrations: list[Migration], applied: str | None) -> str | None:
    """Why schema.sql cannot match (it predates the newest migration of the folder or of the database), said
    before any difference it causes; None when it names the newest. Cheap: its header, not a replay."""
    newest = max((m for m in migrations), key=lambda m: m.number, default=None)
    ahead = [
        f"{where} {version}"
        for where, version in (
            ("the database is at version", applied),
            ("the folder has", newest.version if newest else None),
        )
        if version is not None and int(version) > schema.number
    ]
    if not ahead:
        return None
    return (
        f"{schema.path.name} is older than the migrations: it includes up to version {schema.version}, but"
        f" {' and '.join(ahead)}; the differences may be only that. Run `make schema` (python -m migrator dump)"
        " to write it from the migrations, then verify again"
    )
