"""Carry out a Plan: each batch, with its history rows, commits whole or not at all."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import psycopg

from migrator import history
from migrator.connect import pin_search_path
from migrator.errors import BudgetExhausted, MigrationFailed, MigratorError
from migrator.execute import FileEvent, FileWork, StatementRetry, run_files, run_statements
from migrator.files import Migration
from migrator.fresh_session import (
    SESSION_END,
    alters_defaults,
    may_defer,
    refuse_custom_settings_read_later,
    refuse_read_only,
    reset_sql,
    settle_deferred,
)
from migrator.history import VIA_MIGRATION, VIA_SCHEMA, NewRow
from migrator.live import (
    LockPolicy,
    LockStats,
    Retrier,
    budget_for,
    builds,
    drop_invalid,
    invalid_indexes,
    start_watch,
)
from migrator.lockout import refuse_lockouts
from migrator.numbering import version_ranges
from migrator.plan import Plan
from migrator.sqlsplit import Statement
from migrator.watch import Watch


class FileTiming(NamedTuple):
    """How long one migration file took in this run (its history row's execution_ms)."""

    version: str
    name: str
    seconds: float


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    recorded_by_schema: list[str] = field(default_factory=list)
    schema_loaded: bool = False
    seconds: float = 0.0
    lock: LockStats = field(default_factory=LockStats)  # lock waits retried, the longest blocking hold
    timings: list[FileTiming] = field(default_factory=list)  # each migration file applied (not schema.sql)


def _ms_since(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


Guard = Callable[[Path, Statement], None] | None


def deadline_guard(deadline: float | None) -> Guard:
    """Stop before a statement once `deadline` (time.monotonic) has passed: the open batch rolls back.

    statement_timeout bounds one statement; this bounds the sum of many short ones.
    """
    if deadline is None:
        return None

    def guard(path: Path, statement: Statement) -> None:
        if time.monotonic() >= deadline:
            raise BudgetExhausted(
                f"time budget exhausted before {path.name}:{statement.line}; the open batch was rolled back",
                hint="the batch is too long for one run (one Lambda invocation): split it, or run it with"
                " `python -m migrator apply` from a host that can reach the database",
            )

    return guard


def bound_session(conn: psycopg.Connection, deadline: float | None) -> None:
    """Before a batch: no statement, and (PostgreSQL 17+) no transaction, may outlive `deadline`.

    The guard only refuses to start a statement; these make the server end one that runs past it,
    even if this process is gone. transaction_timeout ends the session, so it trails by a second.
    """
    if deadline is None:
        return
    left_ms = max(1000, int((deadline - time.monotonic()) * 1000))
    conn.execute("SELECT pg_catalog.set_config('statement_timeout', %s, false)", (f"{left_ms}ms",))
    if conn.info.server_version >= 170000:
        conn.execute("SELECT pg_catalog.set_config('transaction_timeout', %s, false)", (f"{left_ms + 1000}ms",))


@dataclass(frozen=True)
class Batch:
    """What every file of one batch runs with: the fresh-session reset, the deadline (and its guard for files
    outside a transaction, which go one statement at a time), an observer."""

    fresh_session: tuple[bytes, ...]
    guard: Guard
    on_file: FileEvent | None = None
    deadline: float | None = None
    deferred_in_database: bool = False  # INITIALLY DEFERRED constraints existed when the batch began


def _run_file(
    conn: psycopg.Connection,
    path: Path,
    statements: list[Statement],
    in_tx: bool,
    batch: Batch,
    retry: StatementRetry | None = None,
) -> None:
    def run() -> None:
        try:
            run_statements(
                conn, path, statements, in_tx, before_each=batch.guard, prelude=batch.fresh_session, retry=retry
            )
        finally:
            if not in_tx and not conn.broken:  # a no-transaction file's SETs outlive it: the engine's path again
                pin_search_path(conn)

    if batch.on_file is None:
        run()
        return
    batch.on_file("start", path, None)
    started = time.perf_counter()
    try:
        run()
    except BaseException:
        batch.on_file("failed", path, time.perf_counter() - started)
        raise
    batch.on_file("done", path, time.perf_counter() - started)


def _run_migration(
    conn: psycopg.Connection, migration: Migration, in_transaction: bool, batch: Batch, retry: StatementRetry | None
) -> NewRow:
    start = time.perf_counter()
    _run_file(conn, migration.path, migration.statements, in_transaction, batch, retry)
    return NewRow(
        version=migration.version,
        name=migration.name,
        checksum=migration.checksum,
        execution_ms=_ms_since(start),
        applied_via=VIA_MIGRATION,
    )


def _record(conn: psycopg.Connection, rows: list[NewRow], applied_by: str, batch: Batch, before: set[str]) -> None:
    conn.execute(b"; ".join(batch.fresh_session))  # whatever the last file set, the engine writes as itself
    pin_search_path(conn)  # and resolves names in pg_catalog only, whatever search_path the database has
    history.record(conn, rows, applied_by)
    history.check_written(conn, before, (row.version for row in rows))


def _batch_work(files: list[Migration], previous: Migration | None, batch: Batch) -> list[FileWork]:
    """Each file's statements, with what a session's end would do around them: before a file that follows
    another, the discarding of its session state; at the end of each file once deferred
    constraints may exist, the settling of their checks (see migrator.fresh_session)."""
    work: list[FileWork] = []
    defers = batch.deferred_in_database
    for migration in files:
        statements = migration.statements[1:] if migration.sets_transaction else migration.statements
        if previous is not None:
            statements = [*SESSION_END, *statements]
        defers = defers or may_defer(migration.text)
        if defers:
            statements = [*statements, *settle_deferred(migration.text)]
        work.append((migration.path, statements))
        previous = migration
    return work


def _transactional_batch(
    conn: psycopg.Connection,
    plan: Plan,
    files: list[Migration],
    first: bool,
    previous: Migration | None,
    applied_by: str,
    batch: Batch,
) -> list[NewRow]:
    """One transaction: the files pipelined one after another (see `run_files`, which keeps the deadline), then
    their history rows. The command line, the Lambda and the CodeBuild runner all take this one path."""
    schema = plan.load_schema if first else None
    if schema is not None and may_defer(schema.text):
        batch = replace(batch, deferred_in_database=True)
    work = _batch_work(files, previous, batch)
    if schema is not None:
        work.insert(0, (schema.path, schema.statements))
    with conn.transaction():
        if files and files[0].sets_transaction:  # before anything of ours: it must be the transaction's first
            opening = files[0].statements[0]
            run_statements(conn, files[0].path, [opening], in_transaction=True)
        history.ensure_table(conn)
        before = history.versions(conn)
        seconds = run_files(conn, work, batch.fresh_session, batch.on_file, batch.deadline)
        rows: list[NewRow] = []
        if schema is not None:
            ms = round(seconds.pop(0) * 1000)
            rows += [
                NewRow(version=m.version, name=m.name, checksum=m.checksum, execution_ms=ms, applied_via=VIA_SCHEMA)
                for m in plan.recorded_by_schema
            ]
        rows += [
            NewRow(
                version=m.version,
                name=m.name,
                checksum=m.checksum,
                execution_ms=round(s * 1000),
                applied_via=VIA_MIGRATION,
            )
            for m, s in zip(files, seconds, strict=True)
        ]
        _record(conn, rows, applied_by, batch, before)
        refuse_lockouts(conn, "this batch was rolled back")
    return rows


def _standalone(
    conn: psycopg.Connection,
    migration: Migration,
    previous: Migration | None,
    applied_by: str,
    batch: Batch,
    live: Live,
) -> list[NewRow]:
    with conn.transaction():
        history.ensure_table(conn)
        before = history.versions(conn)
    if previous is not None:
        conn.execute(b"; ".join(s.sql.encode() for s in SESSION_END))
    invalid_before = invalid_indexes(conn)
    watch = start_watch(conn, None, live.policy.say)  # blockers of the statements' lock waits
    try:
        row = _run_migration(conn, migration, False, batch, live.statement_retry(conn, watch))
        _settle_invalid(conn, migration, invalid_before, live, batch)
    finally:
        watch.stop()
    try:
        with conn.transaction():
            history.ensure_table(conn)  # the file may have dropped it: the next run then sees rows missing
            _record(conn, [row], applied_by, batch, before)
            refuse_lockouts(conn, f"{migration.filename} was not recorded as applied")
    except MigratorError as exc:
        exc.hint = f"{migration.filename} ran outside a transaction and stays applied, unrecorded; {exc.hint}"
        raise
    return [row]


@dataclass
class Live:
    """The run's lock policy, applied to each batch: retries of its lock waits, the watch of its holds."""

    policy: LockPolicy
    stats: LockStats
    deadline: float | None

    def transaction(
        self, conn: psycopg.Connection, attempt: Callable[[], list[NewRow]], headers: list[float | None]
    ) -> list[NewRow]:
        budget = budget_for(self.policy, headers)
        retrier = Retrier(self.policy, self.stats, self.deadline)
        return retrier.run(lambda _number: attempt(), lambda: start_watch(conn, budget, self.policy.say))

    def statement_retry(self, conn: psycopg.Connection, watch: Watch) -> StatementRetry:
        """Outside a transaction only the failed statement runs again, after dropping the INVALID index a failed
        CREATE INDEX CONCURRENTLY of it left (IF NOT EXISTS would skip it, leaving an index that serves nothing)."""
        retrier = Retrier(self.policy, self.stats, self.deadline)

        def run(send: Callable[[], None], statement: Statement) -> None:
            def attempt(number: int) -> None:
                if number > 1:
                    for qualified, bare in invalid_indexes(conn).items():
                        if builds(statement, bare):
                            drop_invalid(conn, qualified)
                send()

            retrier.run(attempt, lambda: watch, owned=False)

        return run


def _settle_invalid(
    conn: psycopg.Connection, migration: Migration, before: dict[str, str], live: Live, batch: Batch
) -> None:
    """After a no-transaction file, no INVALID index it should have built may remain: one it builds is dropped and
    built again (an earlier cancelled build that IF NOT EXISTS skipped); one it left otherwise fails the run."""
    for qualified, bare in invalid_indexes(conn).items():
        statements = [s for s in migration.statements if builds(s, bare)]
        if statements:
            if live.policy.say is not None:
                live.policy.say(f"  index {qualified} is INVALID (an earlier build was cancelled): building it again")
            drop_invalid(conn, qualified)
            _run_file(conn, migration.path, statements, False, replace(batch, on_file=None))  # in the file's session
        elif qualified not in before:
            raise MigratorError(
                f"{migration.filename} left index {qualified} INVALID (it serves no query); the file is not recorded"
                " as applied",
                hint=f"DROP INDEX CONCURRENTLY {qualified}; then run again",
            )
    still = [q for q, bare in invalid_indexes(conn).items() if any(builds(s, bare) for s in migration.statements)]
    if still:
        raise MigratorError(
            f"{migration.filename}: index {', '.join(still)} is still INVALID after building it again",
            hint=f"DROP INDEX CONCURRENTLY {still[0]}; check the data (a unique index over duplicates?), run again",
        )


def _with_progress(exc: MigratorError, result: ApplyResult) -> MigratorError:
    exc.committed = (*result.recorded_by_schema, *result.applied)
    if exc.committed:
        done = version_ranges(exc.committed)
        exc.hint = f"earlier batches were committed before this one (versions {done}); {exc.hint}"
    return exc


def _interrupted(files: list[Migration], result: ApplyResult) -> MigratorError:
    """Ctrl-C (SIGINT) in a batch: what of it stays, in the words other failures use."""
    earlier = "" if result.applied or result.recorded_by_schema else "nothing was applied before it; "
    if files and files[0].no_transaction:
        return MigratorError(
            f"interrupted while {files[0].filename} ran outside a transaction: the statements it had finished"
            " stay applied, and it is not recorded as applied",
            hint=f"{earlier}check what it did (it should be idempotent), then run again",
        )
    versions = version_ranges([m.version for m in files]) or "schema.sql"
    return MigratorError(
        f"interrupted: the batch in progress (versions {versions}) was rolled back", hint=f"{earlier}run again"
    )


def _refuse_backslash_strings(conn: psycopg.Connection) -> None:
    """Files are split as psql reads them with standard_conforming_strings on; a server default of off
    (ALTER DATABASE/ROLE … SET) would make the server read backslashes in '…' differently."""
    row = conn.execute("SELECT pg_catalog.current_setting('standard_conforming_strings')").fetchone()
    if row and row[0] != "on":
        raise MigratorError(
            "standard_conforming_strings is off for this database or role; nothing was applied",
            hint="ALTER DATABASE … RESET standard_conforming_strings (and ALTER ROLE …), as PostgreSQL's"
            " default is on; use E'…' strings where backslash escapes are meant",
        )


def preflight(conn: psycopg.Connection, plan: Plan) -> None:
    """What apply refuses before it runs anything. `plan`, `status` and a deploy's first step (before its snapshot)
    look too, so that a refusal is said where it is cheapest: never after a snapshot was taken for nothing."""
    _refuse_backslash_strings(conn)
    refuse_read_only(plan.to_apply)
    refuse_custom_settings_read_later(conn, plan.to_apply)


def apply_plan(
    conn: psycopg.Connection,
    plan: Plan,
    applied_by: str,
    deadline: float | None = None,
    on_file: FileEvent | None = None,
    policy: LockPolicy | None = None,
) -> ApplyResult:
    """Apply `plan` on a locked, autocommit connection. Without no-transaction files: one transaction.
    A batch whose lock waits time out runs again within the policy's window (see migrator.live)."""
    preflight(conn, plan)
    result = ApplyResult()
    live = Live(policy or LockPolicy(), result.lock, deadline)
    started = time.perf_counter()
    guard = deadline_guard(deadline)
    batches = plan.batches()
    if plan.load_schema is not None and (not batches or batches[0][0].no_transaction or batches[0][0].sets_transaction):
        batches.insert(0, [])  # schema.sql always loads in a transaction of its own
    # A file that may have changed the database's or role's settings: the files after it read them again.
    defaults_changed = plan.load_schema is not None and alters_defaults(plan.load_schema.text)
    previous: Migration | None = None  # the file run last, whose session state the next one must not see
    for index, files in enumerate(batches):
        defaults_changed = defaults_changed or any(alters_defaults(m.text) for m in files[:-1])

        def batch_of() -> Batch:  # every attempt sets its limits again, from the time left
            bound_session(conn, deadline)
            reset = reset_sql(conn, defaults_changed)  # noqa: B023
            return Batch(reset.prelude, guard, on_file, deadline, reset.deferred_in_database)

        try:
            if files and files[0].no_transaction:
                rows = _standalone(conn, files[0], previous, applied_by, batch_of(), live)
            else:
                rows = live.transaction(
                    conn,
                    lambda: _transactional_batch(conn, plan, files, index == 0, previous, applied_by, batch_of()),  # noqa: B023
                    [m.max_lock_hold_s for m in files],
                )
        except (MigrationFailed, MigratorError) as exc:
            raise _with_progress(exc, result) from None
        except KeyboardInterrupt:
            raise _with_progress(_interrupted(files, result), result) from None
        except psycopg.OperationalError as exc:
            raise _with_progress(
                MigratorError(
                    f"lost the database connection: {str(exc).strip()}",
                    hint="the open transaction was rolled back by the server; run again",
                ),
                result,
            ) from None
        previous = files[-1] if files else previous
        defaults_changed = defaults_changed or (previous is not None and alters_defaults(previous.text))
        for row in rows:
            (result.recorded_by_schema if row.applied_via == VIA_SCHEMA else result.applied).append(row.version)
            if row.applied_via == VIA_MIGRATION:
                result.timings.append(FileTiming(row.version, row.name, row.execution_ms / 1000))
        result.schema_loaded |= any(r.applied_via == VIA_SCHEMA for r in rows)
    result.seconds = time.perf_counter() - started
    return result
