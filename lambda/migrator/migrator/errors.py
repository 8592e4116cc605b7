"""Errors as values a user can act on: what failed, where, and what to do next."""

from __future__ import annotations

from dataclasses import dataclass


class MigratorError(Exception):
    """A failure of the run (exit status 1): the database refused, drifted or was unreachable."""

    exit_status = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class AuthenticationFailed(MigratorError):
    """The server refused the password (SQLSTATE 28P01): a retry with the same secret cannot help."""


class InvalidInput(MigratorError):
    """Bad files or arguments (exit status 2), found before the database is touched."""

    exit_status = 2


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
