"""Run a file's statements one by one, turning a server error into a located MigrationFailed."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from migrator.errors import MigrationFailed, MigratorError, StatementFailure
from migrator.sqlsplit import Statement

_MARK = "-- migrate:no-transaction"
_HINTS = {
    "55P03": "lock_timeout: another session holds a lock on that table; retry when traffic is low",
    "57014": "statement_timeout or cancel: the statement ran too long; raise --statement-timeout or split the work",
    "40P01": "deadlock with another session; retry",
    "25001": f"this statement cannot run inside a transaction: give it a file of its own whose first line is {_MARK!r}"
    " (that file then runs alone, statement by statement, outside any transaction)",
    "55P04": "a new enum value cannot be used in the transaction that added it, and the files of one batch share"
    f" one transaction: move ALTER TYPE … ADD VALUE into an earlier file whose first line is {_MARK!r}",
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
    return StatementFailure(path.name, line, error.sqlstate or "?????", "; ".join(parts), column=column)


PIPELINE_CHUNK = 500  # statements in flight at once: round trips saved, memory for a huge file still bounded


def run_statements(
    conn: psycopg.Connection,
    path: Path,
    statements: list[Statement],
    in_transaction: bool = True,
    before_each: Callable[[Path, Statement], None] | None = None,
    prelude: Sequence[bytes] = (),
) -> None:
    """Inside the batch's transaction, statements go out pipelined (without waiting for each answer, which
    psql does). One at a time outside a transaction (a pipeline would wrap them in an implicit one) and
    under a deadline (`before_each` is then checked before every statement, so the deadline is exact)."""
    if not in_transaction or before_each is not None:
        if prelude:
            conn.execute(b"; ".join(prelude))
        for statement in statements:
            if before_each is not None:
                before_each(path, statement)
            _pipelined(conn, path, [statement], in_transaction)
        return
    for first in range(0, max(1, len(statements)), PIPELINE_CHUNK):
        chunk = statements[first : first + PIPELINE_CHUNK]
        _pipelined(conn, path, chunk, in_transaction, prelude if first == 0 else ())


def _pipelined(
    conn: psycopg.Connection,
    path: Path,
    statements: list[Statement],
    in_transaction: bool,
    prelude: Sequence[bytes] = (),
) -> None:
    """`prelude` (the fresh-session reset) goes out in the same round trip, ahead of the statements."""
    sent: list[tuple[Statement, psycopg.Cursor[Any]]] = []
    try:
        if len(statements) == 1 and not prelude:
            conn.execute(statements[0].sql.encode("utf-8"), prepare=False)
            return
        with conn.pipeline():
            for query in prelude:
                conn.execute(query, prepare=False)
            for statement in statements:
                sent.append((statement, conn.execute(statement.sql.encode("utf-8"), prepare=False)))
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.OperationalError) and conn.broken:
            raise
        if not statements:  # only the session reset went out: the engine's own statements failed
            raise MigratorError(f"{path.name}: resetting the session before the file failed: {exc}") from None
        # Answers arrive in order: the failed statement is the first one without an answer.
        failed = next(
            (st for st, cursor in sent if cursor.pgresult is None), statements[0] if not sent else sent[-1][0]
        )
        raise MigrationFailed(failure_of(path, failed, exc), rolled_back=in_transaction) from None
