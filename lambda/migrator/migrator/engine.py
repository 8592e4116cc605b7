"""The engine's surface: status, plan, apply and verify over one connection.

Inputs (files) are read and checked before the database is touched; `apply`
holds the migration lock from reading the history to the last commit.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from migrator import history
from migrator.apply import ApplyResult, apply_plan
from migrator.errors import InvalidInput
from migrator.files import Migration, SchemaFile, load_migrations, load_schema_file
from migrator.lock import migration_lock
from migrator.plan import Plan, make_plan
from migrator.verify import verify


def default_applied_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Options:
    migrations_dir: Path
    schema_file: Path | None
    use_schema: bool = True
    allow_out_of_order: bool = False
    lock_wait_seconds: float = 60.0
    applied_by: str = field(default_factory=default_applied_by)
    deadline: float | None = None  # time.monotonic() after which no further statement starts


@dataclass(frozen=True)
class Inputs:
    migrations: list[Migration]
    schema: SchemaFile | None


def load_inputs(options: Options) -> Inputs:
    """Read and check every file; InvalidInput before any connection is made."""
    migrations = load_migrations(options.migrations_dir)
    schema = None
    if options.use_schema and options.schema_file is not None:
        schema = load_schema_file(options.schema_file)
        if schema.number not in {m.number for m in migrations}:
            raise InvalidInput(
                f"{schema.path}: schema-version {schema.version} names no migration in {options.migrations_dir}",
                hint="the header must name the newest migration that schema.sql includes",
            )
    return Inputs(migrations, schema)


def plan(conn: psycopg.Connection, inputs: Inputs, options: Options) -> Plan:
    applied = history.read(conn)
    empty = not applied and history.database_is_empty(conn)
    return make_plan(inputs.migrations, applied, empty, inputs.schema, options.allow_out_of_order)


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    result: ApplyResult


def apply(conn: psycopg.Connection, inputs: Inputs, options: Options) -> ApplyOutcome:
    with migration_lock(conn, options.lock_wait_seconds):
        with conn.transaction():
            history.move_legacy(conn)  # this tool's pre-2026-11 public.schema_migrations, moved whole
        the_plan = plan(conn, inputs, options)
        result = ApplyResult()
        if not the_plan.is_noop:
            result = apply_plan(conn, the_plan, options.applied_by, options.deadline)
    return ApplyOutcome(the_plan, result)


def verify_schema(conn: psycopg.Connection, inputs: Inputs) -> list[str]:
    if inputs.schema is None:
        raise InvalidInput("verify needs schema.sql", hint="drop --no-schema, or pass --schema-file")
    return verify(conn, inputs.schema)
