"""Real PostgreSQL for tests, behaving like RDS where the deploy path can tell.

By default each test process starts an RDS-like embedded server: TLS only (as `rds.force_ssl=1`),
scram-sha-256 passwords, the parameter group's logging settings, and a master user that is NOT a
superuser (`LOGIN CREATEROLE CREATEDB`, member of an `rds_superuser`-like NOLOGIN role, owner of each
application database). `DATABASE_URL` points at another server instead (given as a superuser URL);
the same master role is created there. The superuser is for fixtures and inspection only: every
database a test gets is owned by, and connected to as, the master user.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

MASTER_USER = "aalap_admin"  # stacks/database.py's MASTER_USERNAME
MASTER_PASSWORD = "Master-Rds-Like-7q2"
RDS_SUPERUSER = "rds_superuser"
# What RDS grants rds_superuser that matters to us: signalling backends and reading server state.
_RDS_SUPERUSER_GRANTS = ("pg_signal_backend", "pg_monitor")
# The parameter group's settings (stacks/database.py), beside rds.force_ssl which pg_hba enforces.
RDS_PARAMETER_SETTINGS = ("log_min_duration_statement=1000", "log_lock_waits=on")


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
    """The plain embedded server (benchmarks); tests use the RDS-like one from tests/conftest.py."""
    from migrator.embedded import default_server

    return os.environ.get("DATABASE_URL") or default_server().ensure_running()


def ensure_rds_roles(admin: str) -> None:
    """Create the rds_superuser-like role and the master user, as RDS has them; idempotent."""
    with psycopg.connect(admin, autocommit=True) as conn:
        for role, attributes in ((RDS_SUPERUSER, "NOLOGIN"), (MASTER_USER, "LOGIN CREATEROLE CREATEDB")):
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                continue
            try:
                conn.execute(sql.SQL("CREATE ROLE {} " + attributes).format(sql.Identifier(role)))
            except errors.DuplicateObject:  # another test process won the race
                continue
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH NOSUPERUSER LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
                sql.Identifier(MASTER_USER), sql.Literal(MASTER_PASSWORD)
            )
        )
        for granted in (*_RDS_SUPERUSER_GRANTS, RDS_SUPERUSER):
            grantee = RDS_SUPERUSER if granted != RDS_SUPERUSER else MASTER_USER
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(granted), sql.Identifier(grantee)))


def as_master(admin: str, dbname: str) -> str:
    """`admin`'s connection target, logged in as the master user to `dbname`."""
    params = {k: str(v) for k, v in conninfo_to_dict(admin).items() if v is not None}
    return make_conninfo(**(params | {"user": MASTER_USER, "password": MASTER_PASSWORD, "dbname": dbname}))


@contextmanager
def scratch_database(admin: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty database owned by the master user, dropped afterwards; yields the master's conninfo."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    ensure_rds_roles(admin)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                sql.Identifier(name), sql.Identifier(MASTER_USER)
            )
        )
    try:
        yield as_master(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def superuser_view(admin: str, conninfo: str) -> str:
    """The superuser's connection to the database `conninfo` names: for inspection only."""
    params = {k: str(v) for k, v in conninfo_to_dict(admin).items() if v is not None}
    return make_conninfo(**(params | {"dbname": str(conninfo_to_dict(conninfo)["dbname"])}))


@contextmanager
def throwaway_role(admin: str, prefix: str) -> Iterator[str]:
    """A role name of one test's own, dropped afterwards; enter it before the database it will own."""
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
