"""Scratch databases a run makes beside the one it works on (a dump's replay, a rehearsal's copy).

Each is held, while it exists, by an advisory lock (its kind's class, its name) of the session that made it: one
whose lock is free and that nobody is connected to belongs to a run that died (SIGKILL, a closed laptop), and the
next run of its kind drops it. Advisory locks are per database, so a kind whose makers connect to different
databases marks its scratch databases with a comment naming their maker's (its first line: the history may add its count
below), and only those are judged.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

_LOCK = b"SELECT pg_catalog.pg_try_advisory_lock(%s, pg_catalog.hashtext(%s))"
_UNLOCK = b"SELECT pg_catalog.pg_advisory_unlock(%s, pg_catalog.hashtext(%s))"
_LEFTOVERS = b"""
SELECT d.datname FROM pg_catalog.pg_database d
 WHERE pg_catalog.starts_with(d.datname, %(prefix)s)
   AND (%(comment)s::text IS NULL OR pg_catalog.shobj_description(d.oid, 'pg_database') = %(comment)s
        OR pg_catalog.starts_with(pg_catalog.shobj_description(d.oid, 'pg_database'), %(comment)s || E'\n'))
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.datname = d.datname)
"""


def hold(conn: psycopg.Connection, lock_class: int, name: str) -> None:
    conn.execute(_LOCK, (lock_class, name))


def release(conn: psycopg.Connection, lock_class: int, name: str) -> None:
    conn.execute(_UNLOCK, (lock_class, name))


def drop_leftovers(conn: psycopg.Connection, prefix: str, lock_class: int, comment: str | None = None) -> list[str]:
    """Drop the scratch databases of runs that died; never one a live run holds or a session is connected to."""
    dropped = []
    for (name,) in conn.execute(_LEFTOVERS, {"prefix": prefix, "comment": comment}).fetchall():
        row = conn.execute(_LOCK, (lock_class, name)).fetchone()
        if not row or not row[0]:
            continue  # a live run's
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))  # refused if in use
            dropped.append(str(name))
        except psycopg.errors.ObjectInUse:
            pass
        finally:
            release(conn, lock_class, name)
    return dropped
