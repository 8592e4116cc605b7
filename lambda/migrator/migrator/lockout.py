"""Settings a migration must not leave behind: the ones that lock everybody out of the database.

The migration role owns the database, so a file may run `ALTER DATABASE … CONNECTION LIMIT 0`,
`… ALLOW_CONNECTIONS false` or `… SET default_transaction_read_only = on`. The application, the next deploy's
hand-over (RDS's master is no superuser: a limit of 0 refuses it too) and the engine itself would be shut out.
A batch that sets one is rolled back; the hand-over refuses such a database with the statement that undoes it.
Other database- and role-level settings (timezone, search_path) stay: migrations may mean them.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from migrator.errors import MigratorError

_FOUND = b"""
SELECT d.datname, d.datconnlimit, d.datallowconn,
       EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) AS c(setting)
               WHERE s.setdatabase IN (0, d.oid) AND (s.setrole = 0 OR s.setrole = ANY (
                   SELECT oid FROM pg_catalog.pg_roles WHERE rolname IN (session_user, current_user)))
                 AND pg_catalog.lower(c.setting) IN ('default_transaction_read_only=on',
                     'default_transaction_read_only=true', 'default_transaction_read_only=1'))
FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()
"""


def lockouts(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(what is set, the statement that undoes it) for each lock-out setting of the current database."""
    row = conn.execute(_FOUND).fetchone()
    if row is None:
        return []
    name, limit, allowed, read_only = row
    quoted = sql.Identifier(str(name)).as_string()
    found = []
    if limit == 0:
        found.append(("CONNECTION LIMIT 0", f"ALTER DATABASE {quoted} CONNECTION LIMIT -1"))
    if not allowed:
        found.append(("ALLOW_CONNECTIONS false", f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS true"))
    if read_only:
        found.append(
            ("default_transaction_read_only = on", f"ALTER DATABASE {quoted} RESET default_transaction_read_only")
        )
    return found


def refuse_lockouts(conn: psycopg.Connection, when: str) -> None:
    found = lockouts(conn)
    if found:
        raise MigratorError(
            f"{when}: the database has {', '.join(what for what, _ in found)}, which locks the application and"
            " every later deploy out",
            hint=f"remove it from the migration; where it is already set: {'; '.join(fix for _, fix in found)}",
        )
