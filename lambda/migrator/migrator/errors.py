"""Errors as values a user can act on: what failed, where, and what to do next."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrator.sqlsplit import Statement

# Control characters (but tab and newline) and Unicode's bidirectional controls: shown escaped in every message,
# so that a file name or a server's echo of a file cannot clear a terminal, rewrite a line or hide text.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with its hidden characters written as escapes (ESC as \\x1b, RLO as \\u202e)."""
    return _HIDDEN.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


class MigratorError(Exception):
    """A failure of the run (exit status 1): the database refused, drifted or was unreachable."""

    exit_status = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = printable(message)
        self.hint = hint
        # Versions earlier batches of the same run committed before this failure (apply sets it): what stays.
        self.committed: tuple[str, ...] = ()

    @property
    def hint(self) -> str:
        return self._hint

    @hint.setter
    def hint(self, value: str) -> None:
        self._hint = printable(value)

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class AuthenticationFailed(MigratorError):
    """The server refused the password (SQLSTATE 28P01): a retry with the same secret cannot help."""


class InvalidInput(MigratorError):
    """Bad files or arguments (exit status 2), found before the database is touched."""

    exit_status = 2


class LockTimeout(MigratorError):
    """Another run held the migration lock for longer than we may wait."""


class BudgetExhausted(MigratorError):
    """The run's time budget (e.g. the Lambda's remaining time) ran out between statements."""


class HistoryError(MigratorError):
    """The history is not this tool's, or it lost rows: replaying migrations would be a guess."""


# Why the plan refuses: apply would be a guess (status and plan report these instead of raising).


class ChecksumDrift(MigratorError):
    """An applied migration's file was edited after it ran."""


class VersionReused(ChecksumDrift):
    """The history's version N has another name than the folder's N: two branches took the same number."""


class OutOfOrder(MigratorError):
    """A pending migration is older than the newest applied one."""


class ForeignDatabase(MigratorError):
    """A database without history holds tables the schema does not know: it may not be this application's."""


# The splitter's refusals: ValueErrors, not MigratorErrors; files.py turns them into InvalidInput with the path.


class SplitError(ValueError):
    """The file cannot be split, or must not be run: at `line`, with a hint for the author.

    `statements` are the whole statements before the trouble and `start` where the rest begins:
    psql would have sent those, then (for an unterminated quote) the rest of the file as one."""

    hint = ""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line
        self.statements: list[Statement] = []
        self.start = 0


class UnterminatedSQL(SplitError):
    """A quote, dollar quote or comment is never closed."""

    hint = "close the quote or comment"

    def __init__(self, what: str, line: int) -> None:
        super().__init__(f"unterminated {what} starting at line {line}", line)


class SplitRefused(SplitError):
    """Something psql would treat specially, which a migration file must not contain."""

    def __init__(self, message: str, line: int, hint: str) -> None:
        super().__init__(message, line)
        self.hint = hint


# The deploy's own failures (the custom resource, the CodeBuild runner, snapshots, secrets).


class DeployFailed(Exception):
    """Raised by the custom-resource handlers to make the Provider answer FAILED; the message is the reason
    CloudFormation shows (only a raised exception makes it answer FAILED: a returned status is ignored)."""


class SecretError(MigratorError):
    """The secret cannot be read or lacks what a connection needs."""


class SnapshotError(MigratorError):
    """The pre-migration snapshot cannot be taken or did not complete."""


class SnapshotQuotaExceeded(SnapshotError):
    """CreateDBSnapshot refused: the account's manual snapshot quota (default 100 per Region) is reached."""


class RunnerFailed(MigratorError):
    """The CodeBuild runner ended without success; the message says how, what was committed, and its log."""


class PendingInPipeline(MigratorError):
    """Pipeline mode: the change set was executed before its migrations were applied."""


@dataclass(frozen=True)
class StatementFailure:
    """Where a statement failed and what the server said about it."""

    file: str
    line: int
    sqlstate: str
    server_message: str
    column: int | None = None  # where the server's position points, as psql's caret would

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"


class MigrationFailed(MigratorError):
    """A statement of a migration (or of schema.sql) failed; the transaction was rolled back."""

    def __init__(self, failure: StatementFailure, rolled_back: bool = True) -> None:
        outcome = (
            "nothing of this batch was applied"
            if rolled_back
            else "this no-transaction file may be partly applied; it is idempotent, fix and re-run"
        )
        super().__init__(
            f"{failure.where}: SQLSTATE {failure.sqlstate}: {failure.server_message}",
            hint=f"{outcome}; fix the statement at that line and run again",
        )
        self.failure = failure
        self.rolled_back = rolled_back
