"""Run migration files' statements, turning a server error into a located MigrationFailed: a batch's files in
one libpq pipeline (`run_files`), or one statement at a time (`run_statements`)."""

from __future__ import annotations

import re
import selectors
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result

from migrator.errors import BudgetExhausted, MigrationFailed, MigratorError, StatementFailure
from migrator.sqlsplit import Statement

_MARK = "-- migrate:no-transaction"
_HINTS = {
    "55P03": "lock_timeout: another session holds a lock on that table; retry when traffic is low",
    "57014": "statement_timeout or cancel: the statement ran too long; raise --statement-timeout or split the work",
    "40P01": "deadlock with another session; retry",
    "25001": f"this statement cannot run inside a transaction: give it a file of its own whose first line is {_MARK!r}"
    " (that file then runs alone, statement by statement, outside any transaction)",
    "55P04": "a new enum value cannot be used in the transaction that added it: move the statements that use it into"
    " the next file (a file with an ALTER TYPE … ADD VALUE statement ends its transaction, so the files after it"
    " see the value committed; one run inside a DO block or a function does not count)",
}
_INLINE_BLOCK_LINE = re.compile(r"PL/pgSQL function inline_code_block line (\d+)")
_DOLLAR_QUOTE = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def _offset_in_file(statement: Statement, index: int) -> int:
    """The file offset of character `index` (0-based) of the statement's text as sent."""
    span = statement.source[statement.start : statement.end]
    return statement.start + len(span) - len(span.lstrip()) + index


def _line_and_column(statement: Statement, offset: int) -> tuple[int, int]:
    line = statement.source.count("\n", 0, offset) + 1
    return line, offset - statement.source.rfind("\n", 0, offset)


def _location(statement: Statement, error: psycopg.Error) -> tuple[int, int | None]:
    """Where in the file the error is: the server's position, or the line of a DO block's body it names."""
    position = error.diag.statement_position
    if position and position.isdigit():
        return _line_and_column(statement, _offset_in_file(statement, int(position) - 1))
    inline = _INLINE_BLOCK_LINE.search(error.diag.context or "")
    body = _DOLLAR_QUOTE.search(statement.sql)
    if inline and body:
        line, _ = _line_and_column(statement, _offset_in_file(statement, body.end()))
        return line + int(inline.group(1)) - 1, None
    return statement.line, None


def failure_of(path: Path, statement: Statement, error: psycopg.Error) -> StatementFailure:
    """The server's whole report (message, DETAIL, HINT, CONTEXT) and ours, at the file's line and column."""
    diag = error.diag
    parts = [(diag.message_primary or str(error)).strip()]
    parts += [
        f"{label}: {text.strip()}"
        for label, text in (("DETAIL", diag.message_detail), ("HINT", diag.message_hint), ("CONTEXT", diag.context))
        if text
    ]
    ours = _HINTS.get(error.sqlstate or "")
    if ours:
        parts.append(f"what to do: {ours}")
    line, column = _location(statement, error)
    return StatementFailure(
        file=path.name, line=line, sqlstate=error.sqlstate or "?????", server_message="; ".join(parts), column=column
    )


FileEvent = Callable[[str, Path, float | None], None]  # ("start" | "done" | "failed", file, seconds so far)
FileWork = tuple[Path, Sequence[Statement]]

# Statements sent and not yet answered before the sender waits for answers: memory stays bounded for
# a huge file, and the server always has work queued while this process prepares the next file.
IN_FLIGHT_HIGH, IN_FLIGHT_LOW = 2000, 500
_DEADLINE_SLACK_S = 1.0  # a statement_timeout this close to the deadline is the deadline's (set from it)
_LOOK_EVERY = 64  # statements of one file between looks at the answers that have arrived
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FATAL = pq.ExecStatus.FATAL_ERROR
_COPY = (pq.ExecStatus.COPY_IN, pq.ExecStatus.COPY_OUT, pq.ExecStatus.COPY_BOTH)


def run_files(
    conn: psycopg.Connection,
    files: Sequence[FileWork],
    prelude: Sequence[bytes] = (),
    on_file: FileEvent | None = None,
    deadline: float | None = None,
) -> list[float]:
    """Run files, each after `prelude` (the fresh-session reset), in the open transaction; their seconds.

    One pipeline for all of them, as libpq's pipeline mode: each file's statements go out one by one
    (extended protocol, as psycopg sends them), the file ends with a Sync, and nothing waits for an
    answer unless too many are outstanding, so the server never idles while this process prepares
    the next file. Answers arrive in order, so each is matched to its file and statement exactly: the
    first error names its file, line and column, later files are not sent, and the caller rolls back.
    A file starts (`on_file`) when the server begins it, when the previous file's Sync is answered, and
    is done when its own Sync is: its seconds are the server's, as `psql -f` of that file would see.

    `deadline` (time.monotonic) bounds the whole run: no statement is sent after it, and a statement still
    running when it passes is cancelled; BudgetExhausted names where the run stopped, and the caller rolls back.
    """
    run = _Pipeline(conn, files, on_file, deadline)
    try:
        run.send(prelude)
        run.wait_until(lambda: not run.slots)
    except BaseException:
        run.abandon()
        raise
    finally:
        if run.selector is not None:
            run.selector.close()  # its file descriptor, once per batch
    run.pgconn.exit_pipeline_mode()
    stopped = run.stopped_at()
    if stopped is not None:
        raise _out_of_time(files, *stopped)
    if run.failure is not None:
        index, statement, result = run.failure
        path = files[index][0]
        error = error_from_result(result, encoding=conn.info.encoding)
        if error.sqlstate == "57014" and deadline is not None and time.monotonic() >= deadline - _DEADLINE_SLACK_S:
            raise _out_of_time(files, index, statement, True)  # the server's statement_timeout came first
        if statement is None:  # only the session reset went out: the engine's own statements failed
            raise _reset_failed(path, error)
        raise MigrationFailed(failure_of(path, statement, error), rolled_back=True)
    return [done - started for started, done in zip(run.started, run.finished, strict=True)]


def _reset_failed(path: Path, error: psycopg.Error) -> MigratorError:
    """The fresh-session reset before `path` failed (or refused the batch, see migrator.fresh_session)."""
    message = (error.diag.message_primary or str(error)).strip()
    return MigratorError(
        f"{path.name}: resetting the session before the file failed: {message}", hint=error.diag.message_hint or ""
    )


def _out_of_time(files: Sequence[FileWork], index: int, statement: Statement | None, running: bool) -> BudgetExhausted:
    path = files[index][0]
    where = f"{path.name}:{statement.line}" if statement is not None else path.name
    return BudgetExhausted(
        f"time budget exhausted {'at' if running else 'before'} {where}"
        f"{' (the statement was cancelled)' if running else ''}; the open batch was rolled back",
        hint="the batch is too long for one run (one Lambda invocation): split it, mark a file"
        " '-- migrate:runner=codebuild', or run it with `python -m migrator apply` from a host that can reach"
        " the database",
    )


class _Pipeline:
    """The bookkeeping of `run_files`: what each answer belongs to, and when each file began and ended."""

    def __init__(
        self, conn: psycopg.Connection, files: Sequence[FileWork], on_file: FileEvent | None, deadline: float | None
    ) -> None:
        self.conn = conn
        self.deadline = deadline
        # The first statement the deadline kept from being sent: (file, statement, False).
        self.expired: tuple[int, Statement | None, bool] | None = None
        self.cancelled = False  # a statement running at the deadline was cancelled
        self.pgconn = conn.pgconn
        self.files = files
        self.on_file = on_file
        # One entry per answer expected, in order: (file, statement; None for the reset) or a file's Sync.
        self.slots: deque[tuple[int, Statement | None] | int] = deque()
        self.answered = False  # the first slot's query has its result (libpq ends each with a None)
        self.unanswered = 0
        self.sent = 0  # files sent so far
        self.started: list[float] = []
        self.finished: list[float] = []
        self.failure: tuple[int, Statement | None, pq.abc.PGresult] | None = None
        self.selector: selectors.BaseSelector | None = None
        self.pgconn.enter_pipeline_mode()

    def send(self, prelude: Sequence[bytes]) -> None:
        send, slots = self.pgconn.send_query_params, self.slots
        for index, (_path, statements) in enumerate(self.files):
            if self.failure is not None or self._expire_before(index, statements[0] if statements else None):
                return
            self.sent = index + 1
            self._start_due()
            for query in prelude:
                send(query, None)
                slots.append((index, None))
            self.unanswered += len(prelude)
            for number, statement in enumerate(statements, 1):
                if self._expire_before(index, statement):
                    self.pgconn.pipeline_sync()  # what was sent drains (the running statement is cancelled)
                    slots.append(index)
                    return
                send(statement.sql.encode("utf-8"), None)
                slots.append((index, statement))
                self.unanswered += 1
                if number % _LOOK_EVERY == 0:
                    self._keep_up()
                    if self.failure is not None:
                        break
            self.pgconn.pipeline_sync()
            slots.append(index)
            self._keep_up()

    def _keep_up(self) -> None:
        """Send what is buffered and take the answers that are in; wait only when too many are outstanding."""
        self.wait_until(lambda: True)
        if self.unanswered > IN_FLIGHT_HIGH:
            self.pgconn.send_flush_request()  # the server sends its answers now, not at the next Sync
            self.wait_until(lambda: self.unanswered < IN_FLIGHT_LOW)

    def wait_until(self, condition: Callable[[], bool]) -> None:
        pgconn = self.pgconn
        while True:
            unsent = pgconn.flush()
            pgconn.consume_input()
            self._take()
            if condition():
                return
            if self.selector is None:
                self.selector = selectors.DefaultSelector()
                self.selector.register(pgconn.socket, selectors.EVENT_READ)
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if unsent else 0)
            self.selector.modify(pgconn.socket, events)
            if not self.selector.select(self._until_deadline()):
                self._cancel_running()

    def _until_deadline(self) -> float | None:
        """How long a wait may last: until the deadline, then (once the running statement is cancelled) unbounded."""
        if self.deadline is None or self.cancelled:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def _expire_before(self, index: int, statement: Statement | None) -> bool:
        if self.deadline is None or time.monotonic() < self.deadline:
            return False
        if self.expired is None:
            self.expired = (index, statement, False)
        self._cancel_running()
        return True

    def _cancel_running(self) -> None:
        """Past the deadline with answers outstanding: cancel the statement the server runs (the pipeline then
        skips the rest), once; the server's statement_timeout is the backstop if the cancel is lost. The server
        sends a pipeline's answers only at a Sync, so which statement ran is known from the error it returns."""
        if self.deadline is None or time.monotonic() < self.deadline or self.cancelled or not self.unanswered:
            return
        self.cancelled = True
        self.conn.cancel_safe(timeout=10.0)

    def stopped_at(self) -> tuple[int, Statement | None, bool] | None:
        """Where the deadline stopped the run, if it did: the cancelled statement, else the first one not sent."""
        if self.cancelled and self.failure is not None:
            return self.failure[0], self.failure[1], True
        return self.expired

    def _take(self) -> None:
        pgconn, slots = self.pgconn, self.slots
        while slots and not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                if not self.answered:
                    return
                slots.popleft()
                self.unanswered -= 1
                self.answered = False
                continue
            status = result.status
            if status == _SYNC:
                index = slots.popleft()
                assert isinstance(index, int), "a Sync answered where a statement was expected"
                self._finish(index)
            elif status in _COPY:
                raise MigratorError("the server started a COPY in the middle of a migration; nothing was applied")
            else:
                if status == _FATAL and self.failure is None:
                    head = slots[0]
                    assert not isinstance(head, int)
                    self.failure = (head[0], head[1], result)
                self.answered = True

    def _start_due(self) -> None:
        """The next file starts when the one before it has finished and it has been sent."""
        index = len(self.started)
        if index == len(self.finished) and index < self.sent and self.failure is None and self.stopped_at() is None:
            self.started.append(time.perf_counter())
            if self.on_file is not None:
                self.on_file("start", self.files[index][0], None)

    def _finish(self, index: int) -> None:
        if index >= len(self.started):  # a file after the failed one: never started
            return
        self.finished.append(time.perf_counter())
        if self.on_file is not None:
            failed = any(stop is not None and stop[0] == index for stop in (self.failure, self.stopped_at()))
            self.on_file("failed" if failed else "done", self.files[index][0], self.finished[-1] - self.started[-1])
        self._start_due()

    def abandon(self) -> None:
        """Interrupted with answers outstanding: the connection cannot be reused; closing it rolls back."""
        if self.pgconn.status != pq.ConnStatus.OK:
            return
        if self.slots:
            self.pgconn.finish()
        else:
            self.pgconn.exit_pipeline_mode()


StatementRetry = Callable[[Callable[[], None], Statement], None]  # runs a statement's send, again if it must


def run_statements(
    conn: psycopg.Connection,
    path: Path,
    statements: list[Statement],
    in_transaction: bool = True,
    before_each: Callable[[Path, Statement], None] | None = None,
    prelude: Sequence[bytes] = (),
    retry: StatementRetry | None = None,
) -> None:
    """Inside the batch's transaction, statements go out pipelined (without waiting for each answer, which
    psql does), see `run_files`. One at a time outside a transaction (a pipeline would wrap them in an
    implicit one) and under a deadline (`before_each` is then checked before every statement, so the
    deadline is exact)."""
    if in_transaction and before_each is None:
        run_files(conn, [(path, statements)], prelude)
        return
    if prelude:
        try:
            conn.execute(b"; ".join(prelude))
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError) and conn.broken:
                raise
            raise _reset_failed(path, exc) from None
    for statement in statements:
        if before_each is not None:
            before_each(path, statement)
        if retry is None:
            _one(conn, path, statement, in_transaction)
        else:
            retry(lambda s=statement: _one(conn, path, s, in_transaction), statement)  # type: ignore[misc]


def _one(conn: psycopg.Connection, path: Path, statement: Statement, in_transaction: bool) -> None:
    try:
        conn.execute(statement.sql.encode("utf-8"), prepare=False)
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.OperationalError) and conn.broken:
            raise
        raise MigrationFailed(failure_of(path, statement, exc), rolled_back=in_transaction) from None
