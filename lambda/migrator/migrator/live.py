"""Migrating a database the application keeps using: a busy table means retry, never a failed deploy on the
first try, and a lock that blocks the application is never held past a budget.

One attempt waits at most lock_timeout for a lock (while it waits, every later query of that table queues
behind it). On 55P03 the attempt's transaction rolls back (what earlier batches committed stays) and runs
again after a growing, jittered pause, every attempt with the same limits, until the retry window is spent;
there is never a last attempt without a timeout. Outside a transaction only the failed statement runs again,
after dropping the INVALID index a failed CREATE INDEX CONCURRENTLY left (IF NOT EXISTS would skip it).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg
from psycopg import sql

from migrator.errors import MigrationFailed, MigratorError
from migrator.sqlsplit import Statement
from migrator.watch import Blocker, Overheld, Watch, conninfo_of

DEFAULT_LOCK_RETRY_WINDOW_S = 300.0  # five minutes of a busy table, then a clear failure naming who held it
DEFAULT_MAX_LOCK_HOLD_S = 10.0  # a blocking lock on an existing table, held from first seen to commit
FIRST_PAUSE_S, MAX_PAUSE_S = 0.5, 15.0
LOCK_NOT_AVAILABLE = "55P03"
T = TypeVar("T")
Say = Callable[[str], None]


@dataclass(frozen=True)
class LockPolicy:
    """How a run behaves against live traffic (the per-attempt wait is the session's lock_timeout)."""

    retry_window_s: float = DEFAULT_LOCK_RETRY_WINDOW_S
    max_hold_s: float | None = DEFAULT_MAX_LOCK_HOLD_S  # None or 0: no hold budget
    say: Say | None = None  # one line per lock wait and retry (the CLI's progress)


@dataclass
class LockStats:
    """What the run met, for `apply --json` and the deploy's metrics."""

    waits: list[dict[str, object]] = field(default_factory=list)  # one per failed attempt
    longest_hold_s: float = 0.0

    @property
    def retries(self) -> int:
        return len(self.waits)


class LockWaitsExhausted(MigratorError):
    """Every attempt within the retry window found the lock taken (55P03); nothing of that transaction applied."""


class LockHeldTooLong(MigratorError):
    """The batch held a lock that blocks the application past the hold budget; it was rolled back."""


def pause_s(attempt: int) -> float:
    """Exponential backoff with full jitter: spread retries of several runs apart, never a fixed beat."""
    return random.uniform(FIRST_PAUSE_S, min(MAX_PAUSE_S, FIRST_PAUSE_S * 2 ** (attempt - 1)))  # noqa: S311 (jitter)


def named(blockers: Sequence[Blocker]) -> str:
    if not blockers:
        return "the blocking session could not be seen (it ended, or the watch could not connect)"
    return "blocked by " + "; ".join(b.describe() for b in blockers)


def budget_for(policy: LockPolicy, headers: Sequence[float | None]) -> float | None:
    """The batch's hold budget: the run's, unless a file's `-- migrate:max-lock-hold=` header sanctions more
    (0 there: no limit for the batch that holds it)."""
    given = [h for h in headers if h is not None]
    if any(h == 0 for h in given):
        return None
    budget = max([*given, policy.max_hold_s or 0.0]) if given else policy.max_hold_s
    return budget or None


def start_watch(conn: psycopg.Connection, budget_s: float | None, say: Say | None) -> Watch:
    watch = Watch(conninfo_of(conn), conn.info.backend_pid, budget_s)
    watch.start_watching()
    if watch.error and say is not None:
        say(f"  note: the lock watch could not connect ({watch.error}); hold budget not enforced, blockers unseen")
    return watch


def held_too_long(over: Overheld, budget_s: float, failure: MigrationFailed | None) -> LockHeldTooLong:
    where = f" at {failure.failure.where}" if failure is not None else ""
    return LockHeldTooLong(
        f"the batch held {over.mode} on {over.relation} for more than {budget_s:g} s{where} (the application's"
        f" queries of {over.relation} wait while it is held); the batch was rolled back, nothing of it was applied",
        hint="move the slow work into a file of its own, make the change in smaller steps, or sanction it with"
        " `-- migrate:max-lock-hold=30min` in the file's leading comments (--max-lock-hold 0: no budget)",
    )


def exhausted(exc: MigrationFailed, attempts: int, window_s: float, blockers: Sequence[Blocker]) -> LockWaitsExhausted:
    return LockWaitsExhausted(
        f"{exc.failure.where}: a lock could not be had in {attempts} attempts over {window_s:g} s (SQLSTATE 55P03);"
        f" {named(blockers)}; nothing of this transaction was applied",
        hint="run again when that session has ended (or end it: SELECT pg_terminate_backend(PID)); raise"
        " --lock-retry-window to wait longer",
    )


@dataclass
class Retrier:
    """Runs one attempt after another within the policy's window (and the run's deadline)."""

    policy: LockPolicy
    stats: LockStats
    deadline: float | None = None

    def run(self, attempt: Callable[[int], T], watch_of: Callable[[], Watch], owned: bool = True) -> T:
        """`watch_of` gives each attempt its watch; `owned`: stopped after the attempt (else its owner stops it)."""
        started, number = time.monotonic(), 1
        while True:
            watch = watch_of()
            try:
                result = attempt(number)
            except MigrationFailed as exc:
                if owned:
                    watch.stop()
                self.stats.longest_hold_s = max(self.stats.longest_hold_s, watch.longest_hold_s)
                if watch.tripped is not None and watch.budget_s is not None:
                    raise held_too_long(watch.tripped, watch.budget_s, exc) from None
                if exc.failure.sqlstate != LOCK_NOT_AVAILABLE:
                    raise
                self._wait_or_give_up(exc, number, started, watch.blockers)
                number += 1
                continue
            if owned:
                watch.stop()
            self.stats.longest_hold_s = max(self.stats.longest_hold_s, watch.longest_hold_s)
            return result

    def _wait_or_give_up(self, exc: MigrationFailed, number: int, started: float, blockers: list[Blocker]) -> None:
        pause = pause_s(number)
        now = time.monotonic()
        self.stats.waits.append(
            {"attempt": number, "where": exc.failure.where, "blockers": [b.describe() for b in blockers]}
        )
        out_of_window = now + pause - started > self.policy.retry_window_s
        if out_of_window or (self.deadline is not None and now + pause >= self.deadline):
            raise exhausted(exc, number, self.policy.retry_window_s, blockers) from None
        if self.policy.say is not None:
            self.policy.say(
                f"  lock wait at {exc.failure.where} (attempt {number}): {named(blockers)}; retrying in {pause:.1f} s"
            )
        time.sleep(pause)


# --- INVALID indexes a failed or cancelled CREATE INDEX CONCURRENTLY leaves ---------------------------------------

_BUILDS = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:(?:\"[^\"]+\"|\w+)\.)?(\"[^\"]+\"|\w+)",
    re.IGNORECASE,
)


def invalid_indexes(conn: psycopg.Connection) -> dict[str, str]:
    """{qualified name: bare name} of every INVALID index the role can see (outside pg_catalog)."""
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text, c.relname FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    ).fetchall()
    return {str(qualified): str(bare) for qualified, bare in rows}


def builds(statement: Statement, bare: str) -> bool:
    """Does this statement build, concurrently, the index named `bare`?"""
    found = _BUILDS.match(statement.sql.lstrip())
    return found is not None and found.group(1).strip('"').lower() == bare.lower()


def drop_invalid(conn: psycopg.Connection, qualified: str) -> None:
    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.SQL(qualified)))
