"""Run a file's statements one by one, turning a server error into a located MigrationFailed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg

from migrator.errors import MigrationFailed, StatementFailure
from migrator.sqlsplit import Statement

_HINTS = {
    "55P03": "lock_timeout: another session holds a lock on that table; retry when traffic is low",
    "57014": "statement_timeout or cancel: the statement ran too long; raise --statement-timeout or split the work",
    "40P01": "deadlock with another session; retry",
}


def _line_of(statement: Statement, error: psycopg.Error) -> int:
    position = error.diag.statement_position
    if position and position.isdigit():
        return statement.line + statement.sql.count("\n", 0, int(position) - 1)
    return statement.line


def failure_of(path: Path, statement: Statement, error: psycopg.Error) -> StatementFailure:
    message = (error.diag.message_primary or str(error)).strip()
    detail = error.diag.message_detail
    hint = _HINTS.get(error.sqlstate or "")
    extra = "".join(f" ({part})" for part in (detail, hint) if part)
    return StatementFailure(path.name, _line_of(statement, error), error.sqlstate or "?????", message + extra)


def run_statements(
    conn: psycopg.Connection,
    path: Path,
    statements: list[Statement],
    in_transaction: bool = True,
    before_each: Callable[[Path, Statement], None] | None = None,
) -> None:
    for statement in statements:
        if before_each is not None:
            before_each(path, statement)
        try:
            conn.execute(statement.sql.encode("utf-8"), prepare=False)
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError) and conn.broken:
                raise
            raise MigrationFailed(failure_of(path, statement, exc), rolled_back=in_transaction) from None
