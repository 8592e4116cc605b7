"""What a run will do, decided from files and history alone (no I/O), so it can be shown first.

`survey` gives every version a state, whatever is wrong, so `status` and `plan` always answer;
`make_plan` then refuses (raises) when one of those states would make `apply` a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from migrator.errors import ChecksumDrift, ForeignDatabase, InvalidInput, MigratorError, OutOfOrder, VersionReused
from migrator.files import Migration, SchemaFile
from migrator.history import AppliedVersion
from migrator.numbering import PLACEHOLDER

APPLIED, PENDING, CHANGED, REUSED, MISSING, OUT_OF_ORDER, INVALID = (
    "applied",
    "pending",
    "changed",
    "reused",
    "missing",
    "out_of_order",
    "invalid",
)


@dataclass(frozen=True)
class VersionState:
    """One version as `flyway info` would show it: what the folder and the history say about it."""

    version: str
    name: str
    state: str
    migration: Migration | None = None
    applied: AppliedVersion | None = None
    detail: str = ""
    remedy: str = ""
    blocking: bool = False  # apply refuses while this state lasts

    @property
    def number(self) -> int:
        return int(self.version)


@dataclass(frozen=True)
class Plan:
    applied: list[AppliedVersion]
    pending: list[Migration]
    load_schema: SchemaFile | None = None
    recorded_by_schema: list[Migration] = field(default_factory=list)
    to_apply: list[Migration] = field(default_factory=list)
    unknown_applied: list[AppliedVersion] = field(default_factory=list)
    adopting_legacy: bool = False
    states: list[VersionState] = field(default_factory=list)

    @property
    def is_noop(self) -> bool:
        return not self.to_apply and not self.recorded_by_schema

    @property
    def current_version(self) -> str | None:
        return self.applied[-1].version if self.applied else None

    @property
    def target_version(self) -> str | None:
        """The newest version once the plan has run: an allowed out-of-order file does not lower it."""
        planned = [m.version for m in self.recorded_by_schema + self.to_apply]
        current = self.current_version
        return max([*planned, *([current] if current else [])], key=int, default=None)

    def batches(self) -> list[list[Migration]]:
        """Consecutive transactional migrations share one transaction; a no-transaction file stands alone, a
        file that opens with SET TRANSACTION has a transaction of its own (the earlier files commit first, and
        the later ones start with the default isolation, as psql's next transaction), and a file that adds an
        enum value ends its batch (the files after it see the value committed)."""
        batches: list[list[Migration]] = []
        for migration in self.to_apply:
            starts = migration.no_transaction or migration.sets_transaction
            last = batches[-1] if batches else None
            ends = last is None or last[0].sets_transaction or last[-1].no_transaction or last[-1].adds_enum_value
            if starts or ends:
                batches.append([migration])
            else:
                batches[-1].append(migration)
        return batches


def _applied_state(row: AppliedVersion, migration: Migration | None) -> VersionState:
    if migration is None:
        return VersionState(
            version=row.version,
            name=row.name,
            state=MISSING,
            applied=row,
            detail=f"version {row.version} ({row.name}) is in the history but has no file here"
            " (applied by newer code, or from a branch not merged here?)",
            remedy="left as is by apply; merge the branch that has the file, or check you are on the right branch",
        )
    if migration.checksum == row.checksum:
        return VersionState(version=row.version, name=row.name, state=APPLIED, migration=migration, applied=row)
    if migration.name != row.name:
        return VersionState(
            version=row.version,
            name=row.name,
            state=REUSED,
            migration=migration,
            applied=row,
            detail=f"version {row.version} is recorded as '{row.name}', but the folder's {row.version} is"
            f" {migration.filename}: two branches took the same number",
            remedy=f"give {migration.filename} the next free number (`python -m migrator new {migration.name}`"
            f" creates it; move the SQL there and delete the old file), and add the file of {row.version}"
            f" '{row.name}' from the branch that applied it; nothing was applied",
            blocking=True,
        )
    return VersionState(
        version=row.version,
        name=row.name,
        state=CHANGED,
        migration=migration,
        applied=row,
        detail=f"{migration.filename} was changed after it was applied"
        f" (applied checksum {row.checksum[:12]}…, file now {migration.checksum[:12]}…)",
        remedy="restore the file as applied (git log -p) and put the change in a new migration; nothing was applied",
        blocking=True,
    )


def survey(
    migrations: Sequence[Migration], applied: Sequence[AppliedVersion], allow_out_of_order: bool = False
) -> list[VersionState]:
    """Every version of the folder and of the history, in version order, each with its state."""
    by_number = {m.number: m for m in migrations}
    done = {a.number: a for a in applied}
    newest = max(done, default=None)
    states = [_applied_state(row, by_number.get(row.number)) for row in applied]
    for migration in migrations:
        if migration.number in done:
            continue
        if newest is not None and migration.number < newest:
            states.append(
                VersionState(
                    version=migration.version,
                    name=migration.name,
                    state=OUT_OF_ORDER,
                    migration=migration,
                    detail=f"{migration.filename} pending but older than applied version {done[newest].version}",
                    remedy="renumber it after the newest applied migration (`python -m migrator new NAME`),"
                    " or pass --allow-out-of-order; nothing was applied",
                    blocking=not allow_out_of_order,
                )
            )
        else:
            states.append(
                VersionState(version=migration.version, name=migration.name, state=PENDING, migration=migration)
            )
    return sorted(map(_invalid, states), key=lambda s: s.number)


def _invalid(state: VersionState) -> VersionState:
    """A file whose statements cannot be read (loaded leniently) is marked, whatever else it is (not run yet,
    or applied and unchanged); so is a pending file `new` wrote whose SQL is not written yet. Apply refuses both.
    Another pending file without a statement is told as empty, and applies (it records its version)."""
    migration = state.migration
    if migration is None or state.state not in (APPLIED, PENDING, OUT_OF_ORDER):
        return state
    if migration.refused is not None:
        return replace(
            state, state=INVALID, detail=migration.refused.message, remedy=migration.refused.hint, blocking=True
        )
    if state.state == APPLIED or migration.statements:
        return state
    if PLACEHOLDER in migration.text:  # `new` wrote it and its SQL is still to be written
        return replace(
            state,
            state=INVALID,
            detail=f"{migration.filename} is empty (only the comments `new` wrote): applied, it would use up"
            f" version {migration.version} and its SQL written later would be a changed file; nothing was applied",
            remedy="write its SQL first (or delete the file)",
            blocking=True,
        )
    # Empty on purpose (a placeholder other tools' projects keep): it records its version and runs nothing.
    return replace(
        state,
        detail=f"{migration.filename} is empty (no SQL statement): apply records version {migration.version}"
        " and runs nothing",
        remedy="if that is not meant, write its SQL before it is applied anywhere",
    )


def refusal(states: Sequence[VersionState]) -> MigratorError | None:
    """The error apply raises for these states (an unreadable or empty file, drift, then order), or None when it
    may go on."""
    for state in states:
        if state.state == INVALID:
            return InvalidInput(state.detail, hint=state.remedy)
    for state in states:
        if state.blocking and state.state in (CHANGED, REUSED):
            kind = VersionReused if state.state == REUSED else ChecksumDrift
            return kind(state.detail, hint=state.remedy)
    late = [s for s in states if s.blocking and s.state == OUT_OF_ORDER]
    if late:
        names = ", ".join(s.migration.filename for s in late if s.migration is not None)
        newest = max((s for s in states if s.applied is not None), key=lambda s: s.number).version
        return OutOfOrder(f"{names} pending but older than applied version {newest}", hint=late[0].remedy)
    return None


def foreign_refusal(tables: Sequence[str]) -> ForeignDatabase:
    shown = ", ".join(tables[:8]) + (f" and {len(tables) - 8} more" if len(tables) > 8 else "")
    return ForeignDatabase(
        f"this database has no migration history and holds tables the schema does not define ({shown}):"
        " it does not look like this application's database; nothing was applied",
        hint="check --database-url / DATABASE_URL; to adopt it anyway, record what it already has with"
        " `python -m migrator baseline VERSION` (those versions are not run), then apply",
    )


def make_plan(
    migrations: list[Migration],
    applied: list[AppliedVersion],
    database_is_empty: bool,
    schema: SchemaFile | None,
    allow_out_of_order: bool = False,
    unknown_tables: Sequence[str] = (),
) -> Plan:
    """The plan `apply` carries out; raises what `refusal` finds, or ForeignDatabase for an unknown database."""
    states = survey(migrations, applied, allow_out_of_order)
    refused = refusal(states)
    if refused is not None:
        raise refused
    by_number = {m.number: m for m in migrations}
    done = {a.number for a in applied}
    pending = [m for m in migrations if m.number not in done]
    unknown = [a for a in applied if a.number not in by_number]
    if not applied and database_is_empty and schema is not None:
        baseline = [m for m in pending if m.number <= schema.number]
        rest = [m for m in pending if m.number > schema.number]
        return Plan(
            applied=applied,
            pending=pending,
            load_schema=schema,
            recorded_by_schema=baseline,
            to_apply=rest,
            unknown_applied=unknown,
            states=states,
        )
    legacy = not applied and not database_is_empty
    if legacy and unknown_tables:
        raise foreign_refusal(list(unknown_tables))
    return Plan(
        applied=applied,
        pending=pending,
        load_schema=None,
        recorded_by_schema=[],
        to_apply=pending,
        unknown_applied=unknown,
        adopting_legacy=legacy,
        states=states,
    )
