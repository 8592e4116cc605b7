"""Plans and statuses as text for people and as JSON for programs (the CLI and the Lambda share these)."""

from __future__ import annotations

from typing import Any

from migrator.files import Migration
from migrator.history import AppliedVersion
from migrator.plan import Plan


def _applied(row: AppliedVersion) -> dict[str, Any]:
    return {
        "version": row.version,
        "name": row.name,
        "checksum": row.checksum,
        "applied_at": row.applied_at.isoformat(),
        "execution_ms": row.execution_ms,
        "applied_by": row.applied_by,
        "applied_via": row.applied_via,
    }


def _pending(migration: Migration) -> dict[str, Any]:
    return {
        "version": migration.version,
        "name": migration.name,
        "file": migration.filename,
        "checksum": migration.checksum,
        "no_transaction": migration.no_transaction,
    }


def status_to_json(plan: Plan, target: str) -> dict[str, Any]:
    return {
        "target": target,
        "current_version": plan.current_version,
        "applied": [_applied(a) for a in plan.applied],
        "pending": [_pending(m) for m in plan.pending],
        "unknown_applied": [_applied(a) for a in plan.unknown_applied],
    }


def plan_to_json(plan: Plan, target: str) -> dict[str, Any]:
    return status_to_json(plan, target) | {
        "load_schema": str(plan.load_schema.path) if plan.load_schema else None,
        "recorded_by_schema": [m.version for m in plan.recorded_by_schema],
        "to_apply": [m.version for m in plan.to_apply],
        "batches": [[m.version for m in batch] for batch in plan.batches()],
        "adopting_legacy": plan.adopting_legacy,
        "target_version": plan.target_version,
    }


def _unknown_lines(plan: Plan) -> list[str]:
    return [
        f"  note: version {a.version} ({a.name}) is in the history but has no file here"
        " (applied by newer code?); left as is"
        for a in plan.unknown_applied
    ]


def status_lines(plan: Plan, target: str) -> list[str]:
    lines = [f"database {target}: version {plan.current_version or 'none'}"]
    lines += [
        f"  applied  {a.version} {a.name}  ({a.applied_via}, {a.applied_at:%Y-%m-%d %H:%M}, {a.applied_by})"
        for a in plan.applied
    ]
    lines += [f"  pending  {m.version} {m.name}" for m in plan.pending]
    if not plan.pending:
        lines.append("  nothing pending")
    return lines + _unknown_lines(plan)


def plan_lines(plan: Plan, target: str, done: bool = False) -> list[str]:
    verb = ("loaded", "recorded", "applied") if done else ("would load", "would record", "would apply")
    lines = [f"database {target}: version {plan.current_version or 'none'} -> {plan.target_version or 'none'}"]
    if plan.is_noop:
        lines.append("  nothing to do: every migration is applied")
    if plan.load_schema is not None:
        lines.append(
            f"  {verb[0]} {plan.load_schema.path.name} (fresh database, schema-version {plan.load_schema.version})"
        )
        lines.append(f"  {verb[1]} as applied by schema.sql: {', '.join(m.version for m in plan.recorded_by_schema)}")
    if plan.adopting_legacy:
        lines.append("  existing database without history: every migration replays (they are idempotent)")
    for batch in plan.batches():
        how = "outside a transaction (no-transaction file)" if batch[0].no_transaction else "in one transaction"
        lines.append(f"  {verb[2]} {how}: {', '.join(m.filename for m in batch)}")
    return lines + _unknown_lines(plan)
