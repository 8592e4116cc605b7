"""Which deploy request owns the database's migrations now: a one-row marker in the engine's schema.

CloudFormation can cancel a running custom resource and send the rollback while the forward request's
waiter still polls. Each request writes its claim under the migration lock before any other work, and every
poll reads it again under the lock before it starts a build or an apply: a stale poll finds a newer claim
and stops instead of applying after the rollback arrived (asking CloudFormation instead would need its
endpoint in subnets without NAT).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from migrator.errors import MigratorError
from migrator.history import SCHEMA

TABLE = "deploy_claim"


class Superseded(MigratorError):
    """A newer request of the same resource claimed the database: this one's work stops."""


def write(conn: psycopg.Connection, claim: str) -> None:
    """Record `claim` as the newest request (the caller holds the migration lock)."""
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (one boolean PRIMARY KEY DEFAULT true CHECK (one), claim text NOT NULL,"
                " claimed_at timestamptz NOT NULL DEFAULT pg_catalog.now())"
            ).format(sql.Identifier(SCHEMA, TABLE))
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} AS c (claim) VALUES (%s) ON CONFLICT (one)"
                " DO UPDATE SET claim = EXCLUDED.claim, claimed_at = pg_catalog.now()"
            ).format(sql.Identifier(SCHEMA, TABLE)),
            (claim,),
        )


def current(conn: psycopg.Connection) -> str | None:
    found = conn.execute("SELECT pg_catalog.to_regclass(%s)", (f"{SCHEMA}.{TABLE}",)).fetchone()
    if not found or found[0] is None:
        return None
    row = conn.execute(sql.SQL("SELECT claim FROM {}").format(sql.Identifier(SCHEMA, TABLE))).fetchone()
    return None if row is None else str(row[0])


def check(conn: psycopg.Connection, claim: str) -> None:
    """Raise Superseded unless `claim` is still the newest (the caller holds the migration lock)."""
    newest = current(conn)
    if newest is not None and newest != claim:
        raise Superseded(
            f"a newer deploy request ({newest}) claimed this database after this one ({claim}), as CloudFormation"
            " does when it cancels an update and rolls back: this request stops here; it applied nothing more",
            hint="nothing to do: the newer request carries on",
        )
