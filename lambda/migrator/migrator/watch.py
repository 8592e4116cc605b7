"""A second session that watches the engine's while a batch runs: who blocks it while it waits for a lock, and
how long it has held a lock that blocks the application's reads or writes of a table that existed before.

The engine's own session cannot do either: while it waits in the lock queue it runs nothing, and after the
55P03 the server no longer names the blockers; a lock, once granted, is held until the batch commits, however
long the rest of the batch takes. This thread polls pg_locks and pg_blocking_pids about every 100 ms from its
own connection (the same role: it needs no privilege to see its own locks or to cancel its own backend), and
when the hold budget is spent it cancels the engine's running statement, again at every poll until the batch's
transaction has ended (a cancel that arrives between statements is lost). A frozen client freezes this thread
too, so the server-side bounds (statement_timeout, idle_in_transaction_session_timeout) stay the backstop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

POLL_S = 0.1
# Locks that block the application: SHARE blocks writes, the stronger ones writes or reads too. ROW EXCLUSIVE
# (a backfill's UPDATE) and SHARE UPDATE EXCLUSIVE (CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT) do not.
BLOCKING_MODES = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")

_HELD = """
SELECT l.relation::oid::bigint, l.relation::regclass::text, l.mode
  FROM pg_catalog.pg_locks l
 WHERE l.pid = %(pid)s AND l.granted AND l.locktype = 'relation' AND l.mode = ANY(%(modes)s)
   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
"""
_BLOCKERS = """
SELECT a.pid, a.application_name, a.usename::text, a.state,
       EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - a.xact_start)::float8
  FROM pg_catalog.pg_stat_activity a
 WHERE a.pid = ANY(pg_catalog.pg_blocking_pids(%(pid)s))
"""


@dataclass(frozen=True)
class Blocker:
    """A session the engine waited behind. Every role sees pid and application_name; user, state and the age of
    its transaction only with pg_read_all_stats or for its own role (None: not visible, said as unknown)."""

    pid: int
    application_name: str
    user: str | None
    state: str | None
    xact_seconds: float | None

    def describe(self) -> str:
        age = "unknown" if self.xact_seconds is None else f"{self.xact_seconds:.1f} s"
        return (
            f"pid {self.pid} (application_name '{self.application_name}', user {self.user or 'unknown'},"
            f" state {self.state or 'unknown'}, transaction open for {age})"
        )


@dataclass(frozen=True)
class Overheld:
    """The lock that spent the hold budget."""

    relation: str
    mode: str
    held_s: float


def conninfo_of(conn: psycopg.Connection) -> str:
    """The engine connection's own parameters (password included, from libpq): the watcher connects as it did.
    Never printed or logged."""
    given = {o.keyword.decode(): o.val.decode() for o in conn.pgconn.info if o.val is not None and o.val != b""}
    given.pop("options", None)  # the runner's startup bounds are for the engine's session
    return make_conninfo(**given, application_name="aalap-migrator-watch")


class Watch(threading.Thread):
    """Polls until `stop()`: the last blockers seen, the longest hold, and whether the budget tripped."""

    def __init__(self, conninfo: str, pid: int, budget_s: float | None, exempt: Iterable[int] = ()) -> None:
        super().__init__(name="migrator-watch", daemon=True)
        self._conninfo, self.pid, self.budget_s = conninfo, pid, budget_s
        self._exempt = set(exempt)  # relations created by this batch (or the history): nobody else uses them
        self._existing: set[int] | None = None
        self._first_seen: dict[int, float] = {}
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self.blockers: list[Blocker] = []
        self.tripped: Overheld | None = None
        self.longest_hold_s = 0.0
        self.error: str | None = None  # why the watch could not run (the batch runs without it)

    def start_watching(self, connect_timeout_s: int = 5) -> None:
        """Start, and return once the watch has its connection and knows which relations existed before."""
        self._connect_timeout = connect_timeout_s
        self.start()
        self._ready.wait(connect_timeout_s + 1)

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)

    def run(self) -> None:
        try:
            with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._connect_timeout) as conn:
                rows = conn.execute("SELECT oid::bigint FROM pg_catalog.pg_class").fetchall()
                self._existing = {row[0] for row in rows} - self._exempt
                self._ready.set()
                while not self._stopped.wait(POLL_S):
                    self._poll(conn)
        except psycopg.Error as exc:
            self.error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
        finally:
            self._ready.set()

    def _poll(self, conn: psycopg.Connection) -> None:
        now = time.monotonic()
        blockers = [Blocker(*row) for row in conn.execute(_BLOCKERS, {"pid": self.pid}).fetchall()]
        if blockers:
            self.blockers = blockers
        held = conn.execute(_HELD, {"pid": self.pid, "modes": list(BLOCKING_MODES)}).fetchall()
        counted = [(oid, name, mode) for oid, name, mode in held if self._existing and oid in self._existing]
        self._first_seen = {oid: self._first_seen.get(oid, now) for oid, _, _ in counted}
        for oid, name, mode in counted:
            held_s = now - self._first_seen[oid]
            self.longest_hold_s = max(self.longest_hold_s, held_s)
            if self.budget_s is not None and held_s > self.budget_s:
                if self.tripped is None:
                    self.tripped = Overheld(name, mode, held_s)
                conn.execute("SELECT pg_catalog.pg_cancel_backend(%s)", (self.pid,))
                return
