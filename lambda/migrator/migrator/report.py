"""Everything shown to a person or a program: text lines and JSON of status, plan, apply, verify and
baseline (the CLI and the Lambda share these), and of a deployed environment's status and snapshots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from migrator.apply import ApplyResult
from migrator.engine import Survey
from migrator.errors import ChecksumDrift, InvalidInput, MigratorError, OutOfOrder
from migrator.files import Migration
from migrator.history import AppliedVersion
from migrator.plan import APPLIED, INVALID, MISSING, OUT_OF_ORDER, PENDING, Plan, VersionState

if TYPE_CHECKING:  # types only: the Lambda does not load the rehearsal when it renders
    from migrator.drift import DriftReport
    from migrator.rehearse import Rehearsal, RehearsedFile

# `status --exit-code` / `plan --exit-code`: what a CI gate can tell apart.
EXIT_UP_TO_DATE, EXIT_PENDING, EXIT_ATTENTION, EXIT_INVALID = 0, 3, 4, 2


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


def _state(state: VersionState) -> dict[str, Any]:
    return {
        "version": state.version,
        "name": state.name,
        "state": state.state,
        "file": state.migration.filename if state.migration else None,
        "applied": _applied(state.applied) if state.applied else None,
        "problem": state.state not in (APPLIED, PENDING) and (state.blocking or state.state == MISSING),
        "blocking": state.blocking,
        "detail": state.detail or None,
        "remedy": state.remedy or None,
    }


def _waiting(states: Sequence[VersionState]) -> list[Migration]:
    return [s.migration for s in states if s.state in (PENDING, OUT_OF_ORDER) and s.migration is not None]


def status_to_json(plan: Plan, target: str) -> dict[str, Any]:
    return {
        "target": target,
        "current_version": plan.current_version,
        "applied": [_applied(a) for a in plan.applied],
        "pending": [_pending(m) for m in plan.pending],
        "unknown_applied": [_applied(a) for a in plan.unknown_applied],
        "versions": [_state(s) for s in plan.states],
    }


def exit_code(survey: Survey) -> int:
    """0 up to date; 3 only pending migrations; 4 something needs a person (apply refuses, or a file is missing);
    2 a file apply cannot read (invalid input, as apply and plan exit)."""
    if isinstance(survey.refusal, InvalidInput):
        return EXIT_INVALID
    if survey.refusal is not None or any(s.state == MISSING for s in survey.states):
        return EXIT_ATTENTION
    return EXIT_PENDING if _waiting(survey.states) else EXIT_UP_TO_DATE


def survey_to_json(survey: Survey, target: str) -> dict[str, Any]:
    return {
        "target": target,
        "current_version": survey.current_version,
        "applied": [_applied(a) for a in survey.applied],
        "pending": [_pending(m) for m in _waiting(survey.states)],
        "unknown_applied": [_applied(s.applied) for s in survey.states if s.state == MISSING and s.applied],
        "versions": [_state(s) for s in survey.states],
        "apply_refuses": _refusal(survey.refusal),
        "exit_code": exit_code(survey),
    }


def error_to_json(error: MigratorError) -> dict[str, Any]:
    """`--json` when a command fails: what failed, where, the SQLSTATE, what to do, and what stayed committed."""
    found: dict[str, Any] = {
        "error": type(error).__name__,
        "message": error.message,
        "hint": error.hint,
        "exit_status": error.exit_status,
        "committed": list(error.committed),
    }
    failure = getattr(error, "failure", None)
    if failure is not None:
        found |= {"file": failure.file, "line": failure.line, "column": failure.column, "sqlstate": failure.sqlstate}
    return found


def _refusal(error: MigratorError | None) -> dict[str, str] | None:
    return None if error is None else {"error": type(error).__name__, "message": error.message, "hint": error.hint}


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


_LABEL = {
    "applied": "applied",
    "pending": "pending",
    "changed": "CHANGED since applied",
    "reused": "REUSED number",
    "missing": "missing file",
    "out_of_order": "OUT OF ORDER",
    "invalid": "INVALID file",
}


def _state_line(state: VersionState) -> str:
    line = f"  {state.version:>5}  {_LABEL[state.state]:<21}  {state.name}"
    if state.applied is not None:
        a = state.applied
        line += f"  ({a.applied_via}, {a.applied_at:%Y-%m-%d %H:%M}, {a.applied_by})"
    if state.state == "reused" and state.migration is not None:
        line += f"  <- folder has {state.migration.filename}"
    return line


def state_lines(states: Sequence[VersionState]) -> list[str]:
    lines = [_state_line(s) for s in states]
    troubled = [s for s in states if s.detail]
    if troubled:
        lines.append("problems:")
        for state in troubled:
            lines += [f"  {state.version}: {state.detail}", f"       what to do: {state.remedy}"]
    return lines


def _refusal_lines(error: MigratorError | None, states: Sequence[VersionState]) -> list[str]:
    if error is None:
        return []
    unreadable = isinstance(error, InvalidInput) and any(s.state == INVALID for s in states)
    if isinstance(error, ChecksumDrift | OutOfOrder) or unreadable:  # the problems listed above say what and why
        return ["apply would refuse until the problems above are fixed; nothing is applied meanwhile"]
    return [f"apply would refuse: {error.message}"] + ([f"  hint: {error.hint}"] if error.hint else [])


def survey_lines(survey: Survey, target: str) -> list[str]:
    waiting = len(_waiting(survey.states))
    summary = f"{waiting} pending" if waiting else "nothing pending"
    lines = [f"database {target}: version {survey.current_version or 'none'}, {summary}"]
    return lines + state_lines(survey.states) + _refusal_lines(survey.refusal, survey.states)


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
    batches = plan.batches()
    for index, batch in enumerate(batches):
        how = "outside a transaction (no-transaction file)" if batch[0].no_transaction else "in one transaction"
        if batch[0].sets_transaction:
            how += f" that {batch[0].filename} opens with SET TRANSACTION"
        files = ", ".join(m.filename for m in batch)
        last = batch[-1]
        if index < len(batches) - 1 and not last.no_transaction:
            if batch[0].sets_transaction:
                files += f" ({last.filename} opens with SET TRANSACTION: the files after it run in a new transaction)"
            elif last.adds_enum_value:
                files += f" ({last.filename} adds an enum value: the files after it run in a new transaction)"
        lines.append(f"  {verb[2]} {how}: {files}")
    return lines + _unknown_lines(plan)


def plan_survey_lines(survey: Survey, target: str, with_sql: bool = False) -> list[str]:
    """`plan`: every version's state, then what apply would do (or why it would refuse)."""
    lines = state_lines(survey.states)
    if survey.plan is None:
        return [
            f"database {target}: version {survey.current_version or 'none'}",
            *lines,
            *_refusal_lines(survey.refusal, survey.states),
        ]
    lines = [*plan_lines(survey.plan, target), "versions:", *lines]
    if with_sql:
        lines += sql_lines(survey.plan)
    return lines


def sql_lines(plan: Plan) -> list[str]:
    """The statements apply would send, file by file, as they would be sent."""
    lines: list[str] = []
    sources: list[tuple[str, list[Any]]] = []
    if plan.load_schema is not None:
        sources.append((plan.load_schema.path.name, plan.load_schema.statements))
    sources += [(m.filename, m.statements) for m in plan.to_apply]
    for name, statements in sources:
        lines.append(f"-- {name}: {len(statements)} statement(s)")
        lines += [f"{st.sql.rstrip()}" for st in statements]
    return lines


def sql_to_json(plan: Plan) -> list[dict[str, Any]]:
    """`plan --sql --json`: the statements apply would send, file by file."""
    files = [(plan.load_schema.path.name, plan.load_schema.statements)] if plan.load_schema else []
    files += [(m.filename, m.statements) for m in plan.to_apply]
    return [{"file": name, "statements": [s.sql for s in statements]} for name, statements in files]


def applied_to_json(after: Survey, target: str, result: ApplyResult) -> dict[str, Any]:
    """`apply --json`: the database as it is now, and what this run did."""
    return survey_to_json(after, target) | {
        "applied_now": result.applied,
        "recorded_by_schema_now": result.recorded_by_schema,
        "schema_loaded": result.schema_loaded,
        "seconds": round(result.seconds, 3),
        "lock": {
            "retries": result.lock.retries,
            "waits": result.lock.waits,
            "longest_hold_s": round(result.lock.longest_hold_s, 3),
        },
    }


def applied_lines(plan: Plan, after: Survey, target: str, result: ApplyResult) -> list[str]:
    lines = plan_lines(plan, target, done=True)
    if not plan.is_noop:
        lines.append(f"  now at version {after.current_version} ({result.seconds:.1f} s)")
    return lines


def verify_to_json(diffs: Sequence[str], target: str, stale: str | None = None) -> dict[str, Any]:
    return {"target": target, "schema_file_stale": stale, "differences": list(diffs)}


def verify_lines(diffs: Sequence[str], target: str, stale: str | None = None) -> list[str]:
    """schema.sql older than the migrations is said first: the differences then are mostly that."""
    summary = "schema matches schema.sql" if not diffs else f"{len(diffs)} difference(s)"
    first = [f"verify {target}: {stale}"] if stale else []
    return [*first, f"verify {target}: {summary}"] + [f"  {d}" for d in diffs]


def drift_to_json(found: DriftReport, target: str) -> dict[str, Any]:
    checked, differences = found.stood_aside is None, [asdict(d) for d in found.differences]  # as the watch logs them
    return {"target": target, "checked": checked, "reason": found.stood_aside, "differences": differences}


def drift_exit_status(found: DriftReport) -> int:
    """1 for a difference (as verify), 3 when a deploy was in flight and nothing was checked (as pending)."""
    return EXIT_PENDING if found.stood_aside is not None else 1 if found.differences else 0


def drift_lines(found: DriftReport, target: str) -> list[str]:
    """Each difference with the SQL that removes it on a line of its own, to be read and then run by hand."""
    if found.stood_aside is not None:
        return [f"drift {target}: not checked: {found.stood_aside}; run it again once the deploy is over"]
    if not found.differences:
        return [f"drift {target}: none: the database is what its migrations and the privilege model make it"]
    lines = [f"drift {target}: {len(found.differences)} difference(s)"]
    for d in found.differences:
        lines.append(f"  {d.kind} {d.name}: {d.message}")
        lines += [f"    fix: {d.fix}"] if d.fix else []
    return lines


def baseline_to_json(recorded: Sequence[str], target: str) -> dict[str, Any]:
    return {"target": target, "baselined": list(recorded)}


def baseline_lines(recorded: Sequence[str], target: str) -> list[str]:
    return [f"database {target}: recorded {', '.join(recorded)} as applied (baseline, nothing was run)"]


# A deployed environment (`--env NAME`): what the migration function and RDS answered.


def remote_status_lines(payload: dict[str, Any], stack: str) -> list[str]:
    """Every version with its state, as `status` shows them locally, and why a deploy would refuse."""
    lines = [f"{stack} (instance {payload.get('target')}): version {payload.get('current_version') or 'none'}"]
    for version in payload.get("versions", []):
        line = f"  {version['state']:<12} {version['version']} {version['name']}"
        if version.get("detail") and version.get("problem"):
            line += f"  — {version['detail']}"
        lines.append(line)
    refusal = payload.get("apply_refuses")
    if refusal:
        lines.append(f"  the next deploy would refuse: {refusal['message']}")
        lines.append(f"    hint: {refusal['hint']}")
    return lines


def snapshot_lines(rows: Sequence[dict[str, str]], instance: str, stack: str) -> list[str]:
    """`snapshots list`: the rows of operations.snapshot_rows, oldest first."""
    lines = [f"pre-migration snapshots of {instance} ({stack}), oldest first:"]
    lines += [f"  {r['id']}  v{r['from']} -> v{r['to']}  {r['status']}  {r['created'][:19]}" for r in rows]
    return lines if rows else [*lines, "  none"]


def prune_to_json(doomed: Sequence[str], dry_run: bool, deleted_now: bool = False) -> dict[str, Any]:
    """`snapshots prune --json`: once deleted, what was; before (a dry run, or nothing to delete), what would be."""
    if deleted_now:
        return {"dry_run": False, "deleted": list(doomed)}
    return {"dry_run": dry_run, "deleted": [] if dry_run else list(doomed), "would_delete": list(doomed)}


def prune_lines(doomed: Sequence[str], dry_run: bool) -> list[str]:
    verb = "would delete" if dry_run else "deleted"
    return [f"{verb} {d}" for d in doomed] or ["nothing to delete"]


def confirm_lines(doomed: Sequence[str]) -> list[str]:
    """What `snapshots prune` lists before it asks."""
    return [f"  {d}" for d in doomed]


def render(payload: Any, lines: Sequence[str], as_json: bool) -> str:
    """What a command prints: its JSON object for programs (--json), else its lines for people."""
    return json.dumps(payload, indent=2, default=str) if as_json else "\n".join(lines)


# `rehearse`: the pending migrations on a copy of the database, measured.

WAL_NOTE = (
    "wal_bytes: pg_current_wal_insert_lsn() differences, the whole server's WAL while the file ran:"
    " an upper bound on a busy server"
)
SOURCE_LOCKS_NOTE = (
    "while its rows were copied the copy held ACCESS SHARE on each table of the source (a deploy's ALTER TABLE"
    " queues behind it); for production, rehearse a restored copy (--env ENV rehearse) rather than the live instance"
)


def _rehearsed_file(item: RehearsedFile) -> dict[str, Any]:
    measured = item.measured
    return {
        "version": item.migration.version,
        "name": item.migration.name,
        "file": item.migration.filename,
        "applied": measured.finished,
        "seconds": measured.seconds,
        "wal_bytes": measured.wal_bytes,
        "size_bytes": measured.size_bytes,
        "rewritten": measured.rewritten,
        "locks": [{"table": lock.table, "mode": lock.mode, "held_ms": lock.held_ms} for lock in measured.locks],
    }


def rehearsal_to_json(found: Rehearsal, target: str, in_place: bool = False) -> dict[str, Any]:
    """`rehearse --json`: with the failure's own keys (`error_to_json`) when a file failed on the copy; `in_place`:
    on a restored instance, which no other session's tables were read for."""
    payload: dict[str, Any] = {
        "target": target,
        "source_version": found.source_version,
        "target_version": found.target_version,
        "source_unchanged": found.source_unchanged,
        "verify": "skipped" if found.verify is None else (found.verify or "ok"),
        "files": [_rehearsed_file(item) for item in found.files],
        "invalid_indexes": found.invalid_indexes,
        "not_valid_constraints": found.not_valid_constraints,
        "size_before_bytes": found.size_before,
        "size_after_bytes": found.size_after,
        "copy": None
        if found.copied is None
        else {
            "database": found.copy_name,
            "dropped": True,
            "seconds": round(found.copy_seconds, 3),
            "tables": found.copied.tables,
            "rows": found.copied.rows,
            "sequences": found.copied.sequences,
        },
        "seconds": round(found.seconds, 3),
        "notes": [WAL_NOTE, *(() if in_place else (SOURCE_LOCKS_NOTE,)), *found.notes],
    }
    return payload | (error_to_json(found.error) if found.error is not None else {})


def _bytes(value: int) -> str:
    amount = float(value)
    for unit in ("B", "kB", "MB"):
        if abs(amount) < 1024:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def rehearsal_lines(found: Rehearsal, target: str) -> list[str]:
    versions = f"version {found.source_version or 'none'} -> {found.target_version or 'none'}"
    if not found.files and found.copied is None and found.error is None:
        return [f"rehearsal of {target}: {versions}: nothing pending, nothing to rehearse"]
    lines = [f"rehearsal of {target}: {versions}, on a copy of its data"]
    if found.copied is not None:
        lines.append(
            f"  copy: {found.copied.tables} tables, {found.copied.rows} rows, {found.copied.sequences} sequences in"
            f" {found.copy_seconds:.1f} s (database {found.copy_name}, dropped)"
        )
    lines.append(f"  {'file':<40} {'seconds':>8} {'WAL (at most)':>14} {'size':>10}  rewritten")
    for item in found.files:
        m = item.measured
        rewritten = ", ".join(m.rewritten) or "-"
        state = "" if m.finished else "  (FAILED)"
        size = ("+" if m.size_bytes >= 0 else "") + _bytes(m.size_bytes)
        name = item.migration.filename
        lines.append(f"  {name:<40} {m.seconds:>8.3f} {_bytes(m.wal_bytes):>14} {size:>10}  {rewritten}{state}")
        lines += [f"      lock {lock.mode} on {lock.table}, held {lock.held_ms} ms" for lock in m.locks]
    verdict = (
        "skipped" if found.verify is None else ("ok" if not found.verify else f"{len(found.verify)} difference(s)")
    )
    lines.append(f"  verify: {verdict}")
    lines += [f"    {difference}" for difference in found.verify or []]
    lines.append(f"  invalid indexes: {', '.join(found.invalid_indexes) or 'none'}")
    lines.append(f"  NOT VALID constraints: {', '.join(found.not_valid_constraints) or 'none'}")
    lines.append(f"  source unchanged (schema and history): {'yes' if found.source_unchanged else 'NO'}")
    lines += [f"  note: {note}" for note in (WAL_NOTE, SOURCE_LOCKS_NOTE, *found.notes)]
    return lines
