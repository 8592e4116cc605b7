"""One run at a time per database: a session advisory lock, waited for by polling.

Polling `pg_try_advisory_lock` (each try its own short transaction) instead of
blocking in `pg_advisory_lock` matters: a blocked waiter keeps a snapshot open,
and the holder's `CREATE INDEX CONCURRENTLY` then waits for it forever.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from migrator.errors import LockTimeout

LOCK_KEY = 0x6D69_6772_6174_6F72 >> 8  # "migrator", fits in int8
DEFAULT_WAIT_S = 60.0  # how long a run waits for another run's lock unless told otherwise
_CLASSID, _OBJID = LOCK_KEY >> 32, LOCK_KEY & 0xFFFF_FFFF

HOLDER_SQL = b"""
SELECT a.pid, coalesce(nullif(a.application_name, ''), '(none)'), a.usename,
       coalesce(host(a.client_addr), 'local'), a.backend_start, a.state
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _described(row: tuple[object, ...]) -> str:
    pid, app, user, addr, started, state = row
    if started is None:  # pg_stat_activity hides another role's session details from a role without pg_read_all_stats
        return f"pid {pid} (user {user}; its details are hidden from this role)"
    since = f"{started:%Y-%m-%d %H:%M:%S%z}"
    return f"pid {pid} (application_name {app!r}, user {user}, from {addr}, connected {since}, {state})"


def describe_holder(conn: psycopg.Connection) -> str:
    row = conn.execute(HOLDER_SQL, (_CLASSID, _OBJID), binary=True).fetchone()  # backend_start in any DateStyle
    return "a session that has since ended" if row is None else _described(row)


def held_by_another(conn: psycopg.Connection) -> str | None:
    """Who holds the migration lock, when another session does: read from pg_locks, never by taking the lock,
    so that a watcher (the drift check) can stand aside for a deploy without ever delaying it."""
    row = conn.execute(
        HOLDER_SQL + b" AND l.pid <> pg_catalog.pg_backend_pid()", (_CLASSID, _OBJID), binary=True
    ).fetchone()
    return None if row is None else _described(row)


def try_lock(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_catalog.pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    return bool(row and row[0])


@contextmanager
def migration_lock(conn: psycopg.Connection, wait_seconds: float, poll: float = 0.2) -> Iterator[None]:
    """Hold the lock for the whole run; give up after `wait_seconds`, naming the holder."""
    deadline = time.monotonic() + wait_seconds
    while not try_lock(conn):
        if time.monotonic() >= deadline:
            raise LockTimeout(
                f"another migration run holds the lock: {describe_holder(conn)}; waited {wait_seconds:g}s",
                hint="wait for that run to finish; if it is stuck, end it with SELECT pg_terminate_backend(<pid>)",
            )
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_catalog.pg_advisory_unlock(%s)", (LOCK_KEY,))
