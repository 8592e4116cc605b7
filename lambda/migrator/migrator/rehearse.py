"""`rehearse`: the pending migrations applied, by the same engine and limits, to a copy of the target database on
its own server, measured file by file; the copy is dropped afterwards and the source keeps its schema and history.

The copy is made as `copying` says (the engine builds the source's schema from its history, then one snapshot's
rows are streamed in); the batch runs with `measure`'s samples added to each pending file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator import engine, history, measure
from migrator.adopt import database_is_empty
from migrator.catalog import Catalog, describe
from migrator.connect import SessionLimits, connect
from migrator.copying import Copied, copy_rows, same_schema, scratch_copy
from migrator.errors import MigratorError
from migrator.files import Migration
from migrator.live import invalid_indexes
from migrator.verify import live_schema_name, unfinished
from migrator.watch import conninfo_of

Say = Callable[[str], None]
# Who can rehearse a database locally: a deployed one's master user may create databases but not read the migration
# role's objects, and its migration role the reverse.
CAN_REHEARSE = (
    "rehearse as a role that may do both; a deployed environment's master user may create databases but not read"
    " the migration role's objects, and its migration role the reverse: rehearse it with `--env ENV rehearse`"
    " (a restored copy)"
)
_CLOCK = b"SELECT pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())"
_SIZE = b"SELECT pg_catalog.pg_database_size(pg_catalog.current_database())"


@dataclass(frozen=True)
class RehearsedFile:
    migration: Migration
    measured: measure.FileMeasure


@dataclass
class Rehearsal:
    """What a rehearsal found; `error` is the failure of a pending file on the copy (exit 1)."""

    source_version: str | None
    target_version: str | None
    copy_name: str | None = None
    copied: Copied | None = None
    copy_seconds: float = 0.0
    files: list[RehearsedFile] = field(default_factory=list)
    verify: list[str] | None = None  # None: skipped (--no-schema, a failed file, or nothing pending)
    invalid_indexes: list[str] = field(default_factory=list)
    not_valid_constraints: list[str] = field(default_factory=list)
    size_before: int | None = None
    size_after: int | None = None
    source_unchanged: bool = True
    seconds: float = 0.0
    error: MigratorError | None = None
    notes: list[str] = field(default_factory=list)  # what the measurement could not see


def _source_state(conn: psycopg.Connection, schema: str) -> tuple[Catalog, list[history.AppliedVersion]]:
    """What `source_unchanged` compares: the schema and the history (other sessions may change the data)."""
    return describe(conn, schema), history.read(conn)


def _refuse_unrehearsable(conn: psycopg.Connection, survey: engine.Survey) -> engine.Survey:
    if survey.refusal is not None:
        raise survey.refusal  # apply would refuse on the source: there is nothing faithful to rehearse
    assert survey.plan is not None
    if not survey.plan.applied and not database_is_empty(conn):
        raise MigratorError(
            "the source has tables but no migration history: its copy cannot be built from migrations;"
            " nothing was rehearsed",
            hint="`baseline VERSION` records the version it has (see docs/migrations.md), then rehearse",
        )
    return survey


def _build_inputs(inputs: engine.Inputs, applied: list[history.AppliedVersion]) -> engine.Inputs:
    """The source's own versions: schema.sql when the source has every version it includes, else a replay."""
    have = {a.version for a in applied}
    migrations = [m for m in inputs.migrations if m.version in have]
    schema = inputs.schema
    if schema is not None and any(m.version not in have for m in inputs.migrations if m.number <= schema.number):
        schema = None
    return engine.Inputs(migrations, schema)


def rehearse(
    source: psycopg.Connection, inputs: engine.Inputs, options: engine.Options, limits: SessionLimits, say: Say
) -> Rehearsal:
    started = time.perf_counter()
    schema = live_schema_name(source)
    try:
        before = _source_state(source, schema)
        survey = _refuse_unrehearsable(source, engine.survey(source, inputs, options))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigratorError(
            f"{source.info.user} may not read the source's migration history or schema (SQLSTATE 42501:"
            f" {(exc.diag.message_primary or str(exc)).strip()}); nothing was rehearsed",
            hint=f"a rehearsal reads every table and the history and creates a database: {CAN_REHEARSE}",
        ) from None
    plan = survey.plan
    assert plan is not None
    found = Rehearsal(source_version=plan.current_version, target_version=plan.target_version)
    if plan.is_noop:
        return found
    say(
        f"copying {source.info.dbname} on its server: while its rows are read the copy holds ACCESS SHARE on each of"
        " its tables (a deploy's ALTER TABLE there waits meanwhile); for production, rehearse a restored copy"
        " (--env ENV rehearse) rather than the live instance"
    )
    with scratch_copy(source) as name:
        found.copy_name = name
        with connect(_copy_conninfo(source, name), limits) as copy:
            _make_copy(source, copy, inputs, options, plan.applied, schema, found)
            say(f"copied {found.copied.rows if found.copied else 0} rows into {name} in {found.copy_seconds:.1f} s")
            _apply_measured(source, copy, inputs, options, plan.to_apply, schema, found)
    found.source_unchanged = _source_state(source, schema) == before
    found.seconds = time.perf_counter() - started
    return found


LAZY_NOTE = (
    "a freshly restored instance loads its blocks from S3 on first read: the timings are pessimistic (an upper"
    " bound) for tables no earlier statement read"
)


def rehearse_in_place(
    conninfo: str, inputs: engine.Inputs, options: engine.Options, limits: SessionLimits
) -> Rehearsal:
    """A restored instance is already a copy (`--env ENV rehearse`, migrator.aws.rehearsal_runner): its pending
    files are applied to it directly, measured as a local copy's are; a second session reads the clock and polls
    the locks of no-transaction files. The environment's own instance is never touched (`source_unchanged`)."""
    started = time.perf_counter()
    with connect(conninfo, limits) as observer, connect(conninfo, limits) as target:
        schema = live_schema_name(target)
        survey = _refuse_unrehearsable(target, engine.survey(target, inputs, options))
        plan = survey.plan
        assert plan is not None
        found = Rehearsal(source_version=plan.current_version, target_version=plan.target_version)
        found.notes.append(LAZY_NOTE)
        if not plan.is_noop:
            _apply_measured(observer, target, inputs, options, plan.to_apply, schema, found)
    found.seconds = time.perf_counter() - started
    return found


def rehearse_restored_json(conninfo: str, options: engine.Options) -> dict[str, Any]:
    """The runner's entry point (migrator.aws.rehearsal_runner): `rehearse --json`'s object for a restored copy."""
    from migrator.report import rehearsal_to_json

    found = rehearse_in_place(conninfo, engine.load_inputs(options), options, SessionLimits())
    return rehearsal_to_json(found, "the restored copy", in_place=True)


def _copy_conninfo(source: psycopg.Connection, name: str) -> str:
    """The source's own connection parameters (password included, never shown) for the copy's database."""
    params = {key: str(value) for key, value in conninfo_to_dict(conninfo_of(source)).items() if value is not None}
    params.pop("application_name", None)  # the engine's session sets its own; its lock watch names itself
    return make_conninfo(**(params | {"dbname": name}))


def _make_copy(
    source: psycopg.Connection,
    copy: psycopg.Connection,
    inputs: engine.Inputs,
    options: engine.Options,
    applied: list[history.AppliedVersion],
    schema: str,
    found: Rehearsal,
) -> None:
    started = time.perf_counter()
    build = replace(
        options,
        applied_by=f"rehearsal copy by {options.applied_by}",
        on_file=None,
        lock_policy=replace(options.lock_policy, max_hold_s=None, say=None),  # nobody else uses the copy yet
    )
    try:
        engine.apply(copy, _build_inputs(inputs, applied), build)
    except MigratorError as exc:  # a failure or Ctrl-C while the copy's schema was built: the copy's, said so
        exc.message = f"while building the rehearsal's copy from the source's history: {exc.message}"
        exc.hint = f"the source was not changed and the copy was dropped; {exc.hint}".removesuffix("; ")
        exc.committed = ()  # what the build committed was the copy's, gone with it
        raise
    same_schema(source, copy, schema)
    found.copied = copy_rows(source, copy)
    found.copy_seconds = time.perf_counter() - started


def _apply_measured(
    source: psycopg.Connection,
    copy: psycopg.Connection,
    inputs: engine.Inputs,
    options: engine.Options,
    pending: list[Migration],
    schema: str,
    found: Rehearsal,
) -> None:
    tables = measure.existing_tables(copy, schema)
    due = {m.version for m in pending}
    sampled = [measure.instrumented(m, tables) if m.version in due else m for m in inputs.migrations]
    recorder = measure.Recorder()
    copy.add_notice_handler(recorder.notice)
    no_transaction = frozenset(m.version for m in pending if m.no_transaction)
    poll = None
    if no_transaction:
        poll = measure.LockPoll(_copy_conninfo(source, str(copy.info.dbname)), copy.info.backend_pid, tables)
        poll.start()
    found.size_before = _one_int(copy, _SIZE)
    try:
        engine.apply(copy, engine.Inputs(sampled, inputs.schema), replace(options, applied_by="rehearsal"))
    except MigratorError as exc:
        found.error = _on_the_copy(exc, pending, recorder.samples)
    finally:
        if poll is not None:
            poll.stop()
            if poll.error is not None:
                found.notes.append(f"the lock poll could not run ({poll.error}): no-transaction files list no locks")
    ended = _clock(source)  # the same server's clock: the copy's session may be gone
    polled = poll.stretches if poll is not None else None
    by_version = {m.version: m for m in pending}
    found.files = [
        RehearsedFile(by_version[m.version], m)
        for m in measure.measures(recorder.samples, tables, ended, polled, no_transaction)
        if m.version in by_version
    ]
    if found.error is not None or copy.broken:
        return
    found.size_after = _one_int(copy, _SIZE)
    if inputs.schema is not None:
        stale, found.verify = engine.verify_schema(copy, inputs)
        if stale is not None:
            found.notes.append(stale)
    found.invalid_indexes = sorted(invalid_indexes(copy))
    found.not_valid_constraints = [
        line.split(" is NOT VALID", 1)[0].removeprefix("constraint ")
        for line in unfinished(copy, live_schema_name(copy))
        if line.startswith("constraint ")
    ]


def _on_the_copy(exc: MigratorError, pending: list[Migration], samples: list[measure.Sample]) -> MigratorError:
    """The engine's words for a Ctrl-C (what of a batch stays applied, "run again") are about a database that is
    discarded here: say instead that the rehearsal stopped, where, and that nothing of it stays."""
    if not isinstance(exc.__context__, KeyboardInterrupt):
        return exc
    ended = {sample.file for sample in samples if sample.kind == "end"}
    running = next((m.filename for m in pending if m.version not in ended), None)
    where = f" while {running} ran" if running else ""
    return MigratorError(
        f"interrupted{where}: the rehearsal stopped; the copy is discarded with whatever ran on it, and the source"
        " was not changed",
        hint="run it again to measure the files it did not reach",
    )


def _one_int(conn: psycopg.Connection, query: bytes) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def _clock(conn: psycopg.Connection) -> float:
    row = conn.execute(_CLOCK).fetchone()
    assert row is not None
    return float(row[0])
