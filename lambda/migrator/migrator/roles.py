"""The role migrations run as: it owns the application database and its schema, and nothing more.

No SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS: it cannot create databases or
roles, and (PostgreSQL 15+) cannot create objects in any other database's public schema. The
administrator (the RDS master user) only creates it and hands the application's objects over.
Its password is sent as a SCRAM verifier, so the clear text never reaches a server log.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

_KIND = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE", "S": "SEQUENCE"}

_FOREIGN_OWNED = b"""
SELECT c.relkind, c.relname FROM pg_class c
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND c.relowner <> %(role)s::regrole
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype IN ('a', 'i'))  -- sequences of serial/identity columns follow their table
"""
_FOREIGN_FUNCTIONS = b"""
SELECT p.oid::regprocedure::text FROM pg_proc p
WHERE p.pronamespace = %(schema)s::regnamespace AND p.proowner <> %(role)s::regrole
"""


def ensure_owner_role(
    conn: psycopg.Connection, role: str, password: str, database: str, schema: str = "public"
) -> None:
    """Create or update `role` and make it the owner of `database`, `schema` and everything in it."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    ident = sql.Identifier(role)
    with conn.transaction():
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
        conn.execute(
            sql.SQL(
                "ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}"
            ).format(ident, sql.Literal(verifier))
        )
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(ident))  # the admin may hand objects over
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), ident))
        conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), ident))
        args = {"schema": schema, "role": role}
        for kind, name in conn.execute(_FOREIGN_OWNED, args).fetchall():
            conn.execute(
                sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(_KIND[kind]), sql.Identifier(schema, name), ident)
            )
        for (signature,) in conn.execute(_FOREIGN_FUNCTIONS, args).fetchall():
            conn.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), ident))
