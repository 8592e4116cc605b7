"""In-memory inputs for the pure tests, built with the engine's own dataclasses: no file is read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from migrator.files import NO_TRANSACTION_MARK, Migration, SchemaFile, checksum, parse_statements
from migrator.history import VIA_MIGRATION, AppliedVersion, AppliedVia
from migrator.plan import Plan, make_plan

FOLDER = Path("/nowhere/migrations")  # never read: the paths only name the files
APPLIED_AT = datetime(2026, 11, 27, 19, 15, tzinfo=UTC)


def migration(version: str, name: str = "change", body: str = "SELECT 1;\n", no_transaction: bool = False) -> Migration:
    """What load_migrations makes of `{version}_{name}.sql` holding `body` (after the mark, if any)."""
    text = f"{NO_TRANSACTION_MARK}\n{body}" if no_transaction else body
    path = FOLDER / f"{version}_{name}.sql"
    return Migration(
        version=version,
        name=name,
        path=path,
        text=text,
        checksum=checksum(text),
        statements=parse_statements(text, path),
    )


def folder(*versions: str) -> list[Migration]:
    return [migration(v, f"change_{v}") for v in versions]


def row(
    m: Migration, text: str | None = None, name: str | None = None, via: AppliedVia = VIA_MIGRATION
) -> AppliedVersion:
    """The history row of `m` as applied (or as applied from another `text`, or under another `name`)."""
    return AppliedVersion(
        version=m.version,
        name=name or m.name,
        checksum=checksum(text) if text is not None else m.checksum,
        applied_at=APPLIED_AT,
        execution_ms=12,
        applied_by="tester",
        applied_via=via,
    )


def gone(version: str, name: str) -> AppliedVersion:
    """A history row whose file this folder does not have."""
    return row(migration(version, name))


def schema(version: str) -> SchemaFile:
    text = f"-- schema-version: {version}\nCREATE TABLE t (id int);\n"
    path = Path("/nowhere/schema.sql")
    return SchemaFile(path=path, text=text, version=version, statements=parse_statements(text, path))


def plan_of(
    migrations: list[Migration],
    applied_count: int = 0,
    database_is_empty: bool | None = None,
    schema_version: str | None = None,
) -> Plan:
    """The plan for `migrations` when the first `applied_count` of them were applied as they are."""
    empty = applied_count == 0 if database_is_empty is None else database_is_empty
    given = schema(schema_version) if schema_version else None
    return make_plan(migrations, [row(m) for m in migrations[:applied_count]], empty, given)
