"""Compare the live schema with schema.sql, loaded into a scratch schema that is rolled back."""

from __future__ import annotations

import psycopg

from migrator.catalog import describe, differences
from migrator.execute import run_statements
from migrator.files import SchemaFile

SCRATCH = "migrator_verify_scratch"


def live_schema_name(conn: psycopg.Connection) -> str:
    """The schema a new session of this role creates objects in: the first of the database's and role's own
    search_path (the engine's session pins its own, see connect.ENGINE_SEARCH_PATH)."""
    with conn.transaction(force_rollback=True):
        conn.execute(b"SET LOCAL search_path TO DEFAULT")
        row = conn.execute(b"SELECT pg_catalog.current_schema()").fetchone()
    return str(row[0]) if row and row[0] else "public"


def verify(conn: psycopg.Connection, schema: SchemaFile) -> list[str]:
    """Differences between schema.sql and the live schema; empty when they match."""
    live = describe(conn, live_schema_name(conn))
    with conn.transaction(force_rollback=True):
        conn.execute(f"CREATE SCHEMA {SCRATCH}".encode())
        conn.execute(f"SET LOCAL search_path = {SCRATCH}".encode())
        run_statements(conn, schema.path, schema.statements)
        conn.execute(b"SET LOCAL search_path = pg_catalog, pg_temp")  # nothing schema.sql created answers for us
        expected = describe(conn, SCRATCH)
    return differences(expected, live)
