"""Compare the live schema with schema.sql, loaded into a scratch schema that is rolled back."""

from __future__ import annotations

import psycopg

from migrator.catalog import describe, differences
from migrator.execute import run_statements
from migrator.files import SchemaFile

SCRATCH = "migrator_verify_scratch"


def live_schema_name(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT current_schema()").fetchone()
    return str(row[0]) if row and row[0] else "public"


def verify(conn: psycopg.Connection, schema: SchemaFile) -> list[str]:
    """Differences between schema.sql and the live schema; empty when they match."""
    live = describe(conn, live_schema_name(conn))
    with conn.transaction(force_rollback=True):
        conn.execute(f"CREATE SCHEMA {SCRATCH}".encode())
        conn.execute(f"SET LOCAL search_path = {SCRATCH}".encode())
        run_statements(conn, schema.path, schema.statements)
        expected = describe(conn, SCRATCH)
    return differences(expected, live)
