"""Everything shown to a person or a program: text lines and JSON of status, plan, apply, verify and
baseline (the CLI and the Lambda share these), and of a deployed environment's status and snapshots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from migrator.apply import ApplyResult
from migrator.engine import Survey
from migrator.errors import ChecksumDrift, InvalidInput, MigratorError, OutOfOrder
from migrator.files import Migration
from migrator.history import AppliedVersion
from migrator.plan import APPLIED, MISSING, OUT_OF_ORDER, PENDING, Plan, VersionState

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


def _refusal_lines(error: MigratorError | None) -> list[str]:
    if error is None:
        return []
    if isinstance(error, ChecksumDrift | OutOfOrder | InvalidInput):  # the problems listed above say what and why
        return ["apply would refuse until the problems above are fixed; nothing is applied meanwhile"]
    return [f"apply would refuse: {error.message}", f"  hint: {error.hint}"]


def survey_lines(survey: Survey, target: str) -> list[str]:
    waiting = len(_waiting(survey.states))
    summary = f"{waiting} pending" if waiting else "nothing pending"
    lines = [f"database {target}: version {survey.current_version or 'none'}, {summary}"]
    return lines + state_lines(survey.states) + _refusal_lines(survey.refusal)


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
        if batch[0].sets_transaction:
            how += f" that {batch[0].filename} opens with SET TRANSACTION"
        lines.append(f"  {verb[2]} {how}: {', '.join(m.filename for m in batch)}")
    return lines + _unknown_lines(plan)


def plan_survey_lines(survey: Survey, target: str, with_sql: bool = False) -> list[str]:
    """`plan`: every version's state, then what apply would do (or why it would refuse)."""
    lines = state_lines(survey.states)
    if survey.plan is None:
        return [
            f"database {target}: version {survey.current_version or 'none'}",
            *lines,
            *_refusal_lines(survey.refusal),
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
