"""Whether a non-empty database without history looks like this application's.

Adopting replays every migration into the database (they are idempotent), which is right for the
legacy production database this project started from, and wrong for anything else: an unrelated
database holding an `invoices` table would get the whole schema added to it. So it is adopted only
when every relation it holds is one the schema (schema.sql or the migrations) creates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import psycopg

from migrator.catalog import RELATION_KINDS, kinds_sql
from migrator.files import Migration, SchemaFile
from migrator.history import LEGACY_SCHEMA, LEGACY_TABLE, SCHEMA
from migrator.sqlsplit import Statement

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_CREATES = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:GLOBAL|LOCAL)\s+)?(?:UNLOGGED\s+)?"
    r"(?:TABLE|VIEW|MATERIALIZED\s+VIEW|FOREIGN\s+TABLE|RECURSIVE\s+VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<first>{_IDENT})(?:\s*\.\s*(?P<second>{_IDENT}))?",
    re.IGNORECASE,
)
# The application's relations: outside the system schemas and the history's (the legacy table included).
_USER_RELATIONS = f"""
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ({kinds_sql(RELATION_KINDS)})
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', '{SCHEMA}') AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT (n.nspname = '{LEGACY_SCHEMA}' AND c.relname = '{LEGACY_TABLE}')
"""
_RELATIONS_SQL = f"SELECT n.nspname, c.relname {_USER_RELATIONS} AND c.relispartition IS NOT TRUE".encode()
_COUNT_SQL = f"SELECT count(*) {_USER_RELATIONS}".encode()


def _name(identifier: str) -> str:
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def created_relations(statements: Iterable[Statement]) -> set[str]:
    """`schema.relation` of every table and view the statements create (unqualified names are public's)."""
    found: set[str] = set()
    for statement in statements:
        match = _CREATES.match(statement.source, statement.start)  # no copy of the statement
        if match is None:
            continue
        if match["second"]:
            found.add(f"{_name(match['first'])}.{_name(match['second'])}")
        else:
            found.add(f"public.{_name(match['first'])}")
    return found


def known_relations(migrations: Iterable[Migration], schema: SchemaFile | None) -> set[str]:
    known = created_relations(s for m in migrations for s in m.statements)
    return known | (created_relations(schema.statements) if schema is not None else set())


def database_relations(conn: psycopg.Connection) -> set[str]:
    return {f"{schema}.{name}" for schema, name in conn.execute(_RELATIONS_SQL)}


def unknown_relations(
    conn: psycopg.Connection, migrations: Iterable[Migration], schema: SchemaFile | None
) -> list[str]:
    """Relations of the database that neither schema.sql nor any migration creates, sorted."""
    known = known_relations(migrations, schema)
    return sorted(r.removeprefix("public.") for r in database_relations(conn) - known)


def database_is_empty(conn: psycopg.Connection) -> bool:
    """True when no user table exists outside the system schemas and the history's: a fresh database."""
    row = conn.execute(_COUNT_SQL).fetchone()
    return row is not None and row[0] == 0
