"""The engine's surface: status, plan, apply and verify over one connection.

Inputs (files) are read and checked before the database is touched; `apply`
holds the migration lock from reading the history to the last commit.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from migrator import history
from migrator.adopt import created_relations, database_is_empty, database_relations, unknown_relations
from migrator.apply import ApplyResult, apply_plan, preflight
from migrator.errors import ChecksumDrift, ForeignDatabase, InvalidInput, MigratorError, OutOfOrder
from migrator.execute import FileEvent
from migrator.files import Migration, SchemaFile, load_migrations, load_schema_file
from migrator.live import LockPolicy
from migrator.lock import DEFAULT_WAIT_S, migration_lock
from migrator.numbering import check_folder
from migrator.plan import INVALID, Plan, VersionState, make_plan
from migrator.plan import survey as version_states
from migrator.verify import older_than_migrations, verify


def default_applied_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Options:
    migrations_dir: Path
    schema_file: Path | None  # None: no schema.sql (--no-schema); every migration replays
    allow_out_of_order: bool = False
    lock_wait_seconds: float = DEFAULT_WAIT_S
    applied_by: str = field(default_factory=default_applied_by)
    deadline: float | None = None  # time.monotonic() after which no further statement starts
    on_file: FileEvent | None = None  # told as each file starts and ends (the CLI's progress lines)
    lock_policy: LockPolicy = field(default_factory=LockPolicy)  # lock-wait retries and the hold budget
    # Called under the migration lock before anything is planned or applied (a deploy's claim check).
    under_lock: Callable[[psycopg.Connection], None] | None = None


@dataclass(frozen=True)
class Inputs:
    migrations: list[Migration]
    schema: SchemaFile | None


def load_inputs(options: Options, lenient: bool = False) -> Inputs:
    """Read and check every file; InvalidInput before any connection is made (but, `lenient`, for a file whose
    statements cannot be read: `status` lists it as invalid, see files.load_migrations)."""
    check_folder(options.migrations_dir)  # one width of version numbers, before versions are compared
    migrations = load_migrations(options.migrations_dir, lenient)
    schema = None
    if options.schema_file is not None:
        schema = load_schema_file(options.schema_file)
        if schema.number not in {m.number for m in migrations}:
            raise InvalidInput(
                f"{schema.path}: schema-version {schema.version} names no migration in {options.migrations_dir}",
                hint="the header must name the newest migration that schema.sql includes",
            )
    return Inputs(migrations, schema)


def plan(
    conn: psycopg.Connection,
    inputs: Inputs,
    options: Options,
    applied: list[history.AppliedVersion] | None = None,
    checked: bool = True,
) -> Plan:
    """What apply would do, or apply's refusal (`checked`: what it refuses before running anything, too);
    `applied` is the history when the caller has just read it."""
    if applied is None:
        applied = history.read(conn)
    empty = not applied and database_is_empty(conn)
    unknown = [] if applied or empty else unknown_relations(conn, inputs.migrations, inputs.schema)
    made = make_plan(inputs.migrations, applied, empty, inputs.schema, options.allow_out_of_order, unknown)
    if checked and not made.is_noop:
        preflight(conn, made)
    return made


@dataclass(frozen=True)
class Survey:
    """The state of every version, whatever is wrong (`flyway info`), and the plan if apply would go on."""

    states: list[VersionState]
    applied: list[history.AppliedVersion]
    plan: Plan | None
    refusal: MigratorError | None  # why apply would refuse to run, when it would

    @property
    def current_version(self) -> str | None:
        return self.applied[-1].version if self.applied else None


def survey(conn: psycopg.Connection, inputs: Inputs, options: Options) -> Survey:
    """What `status` shows: never raises for drift, order or an unknown database, it reports them."""
    applied = history.read(conn)
    states = version_states(inputs.migrations, applied, options.allow_out_of_order)
    try:
        the_plan = plan(conn, inputs, options, applied, checked=False)
    except (ChecksumDrift, OutOfOrder, ForeignDatabase) as exc:
        return Survey(states=states, applied=applied, plan=None, refusal=exc)
    except InvalidInput as exc:  # a file loaded leniently that cannot be read (its state says so)
        if not any(s.state == INVALID for s in states):
            raise
        return Survey(states=states, applied=applied, plan=None, refusal=exc)
    try:
        if not the_plan.is_noop:
            preflight(conn, the_plan)
    except MigratorError as exc:  # what apply refuses before running anything: a pending file, the database
        return Survey(states=states, applied=applied, plan=None, refusal=exc)
    return Survey(states=states, applied=applied, plan=the_plan, refusal=None)


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    result: ApplyResult


def apply(conn: psycopg.Connection, inputs: Inputs, options: Options) -> ApplyOutcome:
    with migration_lock(conn, options.lock_wait_seconds):
        if options.under_lock is not None:
            options.under_lock(conn)
        with conn.transaction():
            history.move_legacy(conn)  # this tool's pre-2026-11 public.schema_migrations, moved whole
        the_plan = plan(conn, inputs, options)
        result = ApplyResult()
        if not the_plan.is_noop:
            result = apply_plan(
                conn, the_plan, options.applied_by, options.deadline, options.on_file, options.lock_policy
            )
    return ApplyOutcome(the_plan, result)


def baseline_migrations(inputs: Inputs, version: str) -> list[Migration]:
    """The migrations `baseline VERSION` records; InvalidInput (before connecting) if VERSION names none."""
    if not version.isdigit() or all(m.number != int(version) for m in inputs.migrations):
        raise InvalidInput(
            f"baseline {version}: no migration has that version",
            hint="name the newest migration the database already has, e.g. `baseline 007`",
        )
    return [m for m in inputs.migrations if m.number <= int(version)]


def baseline(conn: psycopg.Connection, inputs: Inputs, options: Options, version: str) -> list[str]:
    """Record every migration up to `version` as applied without running it (`flyway baseline`).

    For a database that already has what those migrations create but no history: one transaction,
    under the migration lock, and only while the history is empty, so it can never hide real drift.
    The history's `applied_by` says `baseline by …` (its `applied_via` admits only migration/schema.sql).
    """
    upto = baseline_migrations(inputs, version)
    with migration_lock(conn, options.lock_wait_seconds), conn.transaction():
        history.move_legacy(conn)
        applied = history.read(conn)
        if applied:
            raise MigratorError(
                f"this database already has a migration history (version {applied[-1].version});"
                " baseline is only for a database without one; nothing was recorded",
                hint="`status` shows its state; apply continues from there",
            )
        _refuse_unbuilt(conn, inputs, upto)
        history.ensure_table(conn)
        rows = [
            history.NewRow(
                version=m.version, name=m.name, checksum=m.checksum, execution_ms=0, applied_via=history.VIA_MIGRATION
            )
            for m in upto
        ]
        history.record(conn, rows, f"baseline by {options.applied_by}")
    return [m.version for m in upto]


def _refuse_unbuilt(conn: psycopg.Connection, inputs: Inputs, upto: list[Migration]) -> None:
    """Baseline records versions as already applied: refused when the database does not hold what they create.

    Checked under the lock, so a first `apply` racing the baseline cannot slip in between. Tables and views
    those migrations create and schema.sql still has must exist; at schema.sql's own version, verify's
    object-by-object comparison must find nothing."""
    newest = upto[-1].version
    refused = f"baseline {newest} refused: this database does not hold what migrations up to {newest} create"
    if database_is_empty(conn):
        raise MigratorError(
            f"{refused} (it has no tables); nothing was recorded",
            hint="a fresh database needs no baseline: `apply` builds it (from schema.sql) and records the versions",
        )
    still = created_relations(inputs.schema.statements) if inputs.schema is not None else None
    expected = {r for r in created_relations(s for m in upto for s in m.statements) if still is None or r in still}
    missing = sorted(r.removeprefix("public.") for r in expected - database_relations(conn))
    if not missing and inputs.schema is not None and inputs.schema.version == newest:
        missing = verify(conn, inputs.schema)
    if missing:
        shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise MigratorError(
            f"{refused}: {shown}; nothing was recorded",
            hint="`verify` lists every difference; baseline the version the database really has, or `apply`",
        )


def verify_schema(conn: psycopg.Connection, inputs: Inputs) -> tuple[str | None, list[str]]:
    """Whether schema.sql is older than the migrations (said first), and its differences from the database."""
    if inputs.schema is None:
        raise InvalidInput("verify needs schema.sql", hint="drop --no-schema, or pass --schema-file")
    applied = history.read(conn)
    stale = older_than_migrations(inputs.schema, inputs.migrations, applied[-1].version if applied else None)
    return stale, verify(conn, inputs.schema)
