"""The role migrations run as: it owns the application database and its schema, and nothing more.

No SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS: it cannot create databases or
roles, and (PostgreSQL 15+) cannot create objects in any other database's public schema. The
administrator (the RDS master user) only creates it and hands the application's objects over.
Its password is sent as a SCRAM verifier, so the clear text never reaches a server log.

RDS's master user is not a superuser, and PostgreSQL 16+ refuses any SUPERUSER, REPLICATION or
BYPASSRLS clause from a non-superuser (SQLSTATE 42501), even one that removes the attribute. So
those clauses are sent only by a superuser; otherwise the role's attributes are read back after
the hand-over, and a role that has one of them is refused instead of silently trusted.

The application's role (`ensure_app_role`) gets data rights only: SELECT/INSERT/UPDATE/DELETE on the
tables and USAGE/SELECT/UPDATE on the sequences of the application's schema, granted by the migration
role (the owner), and default privileges FOR ROLE the migration role, so that what later migrations
create is covered too. It owns nothing and is a member of nothing, so it cannot CREATE, ALTER or DROP.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from migrator import history
from migrator.catalog import OWNED_KINDS, kinds_sql
from migrator.errors import MigratorError
from migrator.lockout import refuse_lockouts

KIND_SQL = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE", "S": "SEQUENCE"}

_FOREIGN_OWNED = f"""
SELECT c.relkind, c.relname FROM pg_catalog.pg_class c
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ({kinds_sql(OWNED_KINDS)})
  AND c.relowner <> %(role)s::regrole
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d  -- sequences of serial/identity columns follow their table
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
""".encode()
_FOREIGN_FUNCTIONS = b"""
SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p
WHERE p.pronamespace = %(schema)s::regnamespace AND p.proowner <> %(role)s::regrole
"""


POWERS = ("rolsuper", "rolcreatedb", "rolcreaterole", "rolreplication", "rolbypassrls")
CLAUSES = {
    "rolsuper": "SUPERUSER",
    "rolcreatedb": "CREATEDB",
    "rolcreaterole": "CREATEROLE",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
}
_SUPERUSER_ONLY = ("rolsuper", "rolreplication", "rolbypassrls")  # PostgreSQL 16+: only a superuser may touch them


def _is_superuser(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def _refuse_powerful(
    conn: psycopg.Connection, role: str, powers: tuple[str, ...] = POWERS, what: str = "migration"
) -> None:
    row = conn.execute(
        f"SELECT {', '.join(powers)} FROM pg_catalog.pg_roles WHERE rolname = %s".encode(), (role,)
    ).fetchone()
    held = [CLAUSES[name] for name, has in zip(powers, row or (), strict=False) if has]
    if held:
        duty = "own the application database" if what == "migration" else "read and write the application's data"
        raise MigratorError(
            f"the {what} role {role} has {', '.join(held)}; it must {duty} and nothing"
            " more, and only a superuser can remove that; nothing was changed",
            hint=f"as a superuser (on RDS: open a support case or use another role): ALTER ROLE {role} NO{held[0]};"
            f" or name another role in the {what} secret",
        )


def _login_role(conn: psycopg.Connection, role: str, password: str, what: str) -> None:
    """Create `role` or update it: LOGIN, no power, the password as a SCRAM verifier (never clear text)."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    ident = sql.Identifier(role)
    if conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    superuser = _is_superuser(conn)
    if not superuser:
        _refuse_powerful(conn, role, _SUPERUSER_ONLY, what)
    clauses = " NOSUPERUSER NOREPLICATION NOBYPASSRLS" if superuser else ""
    conn.execute(
        sql.SQL("ALTER ROLE {} WITH LOGIN NOCREATEDB NOCREATEROLE" + clauses + " PASSWORD {}").format(
            ident, sql.Literal(verifier)
        )
    )
    _refuse_powerful(conn, role, what=what)  # what the ALTER could not remove, whoever ran it


def ensure_owner_role(
    conn: psycopg.Connection, role: str, password: str, database: str, schema: str = "public"
) -> None:
    """Create or update `role` and make it the owner of `database`, `schema` and everything in it."""
    ident = sql.Identifier(role)
    refuse_lockouts(conn, "the database was not handed over")
    with conn.transaction():
        _login_role(conn, role, password, "migration")
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(ident))  # the admin may hand objects over
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), ident))
        present = conn.execute(
            "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(%s)", ([schema, history.SCHEMA],)
        ).fetchall()
        for (name,) in present:  # the application's schema, and the history's once it exists
            _hand_over_schema(conn, role, name)


def _hand_over_schema(conn: psycopg.Connection, role: str, schema: str) -> None:
    ident = sql.Identifier(role)
    conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), ident))
    args = {"schema": schema, "role": role}
    for kind, name in conn.execute(_FOREIGN_OWNED, args).fetchall():
        conn.execute(
            sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(KIND_SQL[kind]), sql.Identifier(schema, name), ident)
        )
    for (signature,) in conn.execute(_FOREIGN_FUNCTIONS, args).fetchall():
        conn.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), ident))


_APP_GRANTS = (
    "GRANT USAGE ON SCHEMA {schema} TO {app}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
    "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}"
    " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
    "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app}",
)


def ensure_app_role(
    conn: psycopg.Connection, role: str, password: str, database: str, owner: str, schema: str = "public"
) -> None:
    """Create or update the application's `role`: log in, read and write the data of `schema`, no DDL.

    Run by the administrator after `ensure_owner_role(owner)`, whose membership lets it act as the owner:
    the grants are made as `owner` (SET ROLE), so they are the owner's to keep, and its default
    privileges cover every table and sequence later migrations create. Idempotent; the password is set
    from the role's secret each time, which is how it rotates.
    """
    if role == owner:
        raise MigratorError(f"the application role and the migration role are both {role}; they must differ")
    app = sql.Identifier(role)
    names = {"schema": sql.Identifier(schema), "app": app, "owner": sql.Identifier(owner)}
    with conn.transaction():
        _login_role(conn, role, password, "application")
        for granted in memberships(conn, role):  # it acts as itself only: no inherited ownership or rights
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(granted), app))
        kept = memberships(conn, role)
        if kept:
            raise MigratorError(
                f"the application role {role} is a member of {', '.join(kept)}, which this deploy cannot revoke;"
                " it must hold data rights only; nothing was changed",
                hint=f"as the role that granted it: REVOKE {kept[0]} FROM {role}",
            )
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), app))
        if conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
            return
        conn.execute(sql.SQL("SET ROLE {}").format(names["owner"]))
        for statement in _APP_GRANTS:
            conn.execute(sql.SQL(statement).format(**names))
        conn.execute("RESET ROLE")


def memberships(conn: psycopg.Connection, role: str) -> list[str]:
    rows = conn.execute(
        "SELECT r.rolname FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid = m.roleid"
        " WHERE m.member = %s::regrole",
        (role,),
    ).fetchall()
    return sorted({str(name) for (name,) in rows})
