"""What a run will do, decided from files and history alone (no I/O), so it can be shown first."""

from __future__ import annotations

from dataclasses import dataclass, field

from migrator.errors import MigratorError
from migrator.files import Migration, SchemaFile
from migrator.history import AppliedVersion


class ChecksumDrift(MigratorError):
    """An applied migration's file was edited after it ran."""


class OutOfOrder(MigratorError):
    """A pending migration is older than the newest applied one."""


@dataclass(frozen=True)
class Plan:
    applied: list[AppliedVersion]
    pending: list[Migration]
    load_schema: SchemaFile | None = None
    recorded_by_schema: list[Migration] = field(default_factory=list)
    to_apply: list[Migration] = field(default_factory=list)
    unknown_applied: list[AppliedVersion] = field(default_factory=list)
    adopting_legacy: bool = False

    @property
    def is_noop(self) -> bool:
        return not self.to_apply and not self.recorded_by_schema

    @property
    def current_version(self) -> str | None:
        return self.applied[-1].version if self.applied else None

    @property
    def target_version(self) -> str | None:
        planned = self.recorded_by_schema + self.to_apply
        return planned[-1].version if planned else self.current_version

    def batches(self) -> list[list[Migration]]:
        """Consecutive transactional migrations share one transaction; a no-transaction file stands alone."""
        batches: list[list[Migration]] = []
        for migration in self.to_apply:
            if migration.no_transaction or not batches or batches[-1][-1].no_transaction:
                batches.append([migration])
            else:
                batches[-1].append(migration)
        return batches


def _check_drift(migrations: dict[int, Migration], applied: list[AppliedVersion]) -> None:
    for row in applied:
        migration = migrations.get(row.number)
        if migration is not None and migration.checksum != row.checksum:
            raise ChecksumDrift(
                f"{migration.filename} was changed after it was applied"
                f" (applied checksum {row.checksum[:12]}…, file now {migration.checksum[:12]}…)",
                hint="restore the file as applied (git log -p) and put the change in a new migration;"
                " nothing was applied",
            )


def _check_order(pending: list[Migration], applied: list[AppliedVersion], allow: bool) -> None:
    if allow or not applied or not pending:
        return
    newest = max(applied, key=lambda a: a.number)
    late = [m for m in pending if m.number < newest.number]
    if late:
        names = ", ".join(m.filename for m in late)
        raise OutOfOrder(
            f"{names} pending but older than applied version {newest.version}",
            hint="renumber it after the newest applied migration, or pass --allow-out-of-order; nothing was applied",
        )


def make_plan(
    migrations: list[Migration],
    applied: list[AppliedVersion],
    database_is_empty: bool,
    schema: SchemaFile | None,
    allow_out_of_order: bool = False,
) -> Plan:
    by_number = {m.number: m for m in migrations}
    _check_drift(by_number, applied)
    done = {a.number for a in applied}
    pending = [m for m in migrations if m.number not in done]
    unknown = [a for a in applied if a.number not in by_number]
    _check_order(pending, applied, allow_out_of_order)
    if not applied and database_is_empty and schema is not None:
        baseline = [m for m in pending if m.number <= schema.number]
        rest = [m for m in pending if m.number > schema.number]
        return Plan(applied, pending, schema, baseline, rest, unknown)
    legacy = not applied and not database_is_empty
    return Plan(applied, pending, None, [], pending, unknown, adopting_legacy=legacy)
