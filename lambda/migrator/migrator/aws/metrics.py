"""The migration step's CloudWatch metrics, as embedded metric format (EMF) lines on stdout.

Lambda sends stdout to CloudWatch Logs, which turns EMF lines into metrics: no PutMetricData call,
no monitoring endpoint in the isolated VPC, nothing that can fail a deploy. One line per finished
step (Create or Update; never Delete or the status action), in namespace `AalapVma/Migrations`
with the dimension `DBInstanceIdentifier`:

- Duration (s): from on_event's start to the end, success or failure
- MigrationsApplied (count): versions recorded by this step (schema.sql's included)
- SnapshotWait (s): from on_event's start until the pre-migration snapshot was available
- Succeeded / Failed (count, 1 or 0) and the `Outcome` property
- ManualSnapshots (count): the Region's manual DB snapshots, after a step that took one (the quota
  is per Region and account; stacks/monitoring.py alarms before it is reached)
- FileSeconds / RehearsedFileSeconds (s): one line per applied file, also dimensioned by `Environment`
  (migrator.aws.predictions)

The handler's entry points are wrapped (`on_event`, `is_complete` below); the wrappers only look at
the event and the answer, so the handler's own code does not change for metrics.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from migrator.aws.contract import KEYS
from migrator.aws.step_data import NONE

log = logging.getLogger("migrator")

NAMESPACE = "AalapVma/Migrations"
DIMENSION = "DBInstanceIdentifier"
DURATION = "Duration"
APPLIED = "MigrationsApplied"
SNAPSHOT_WAIT = "SnapshotWait"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
MANUAL_SNAPSHOTS = "ManualSnapshots"
LOCK_RETRIES = "LockRetries"  # lock waits (55P03) the apply retried: live traffic held a table it needed
LONGEST_LOCK_HOLD = "LongestLockHold"  # seconds a lock blocking the application was held (see migrator.live)
DRIFT_DIFFERENCES = "DriftDifferences"  # what the scheduled drift check found (migrator.aws.drift_watch)
DRIFT_CHECK_FAILED = "DriftCheckFailed"  # 1 when the drift check could not look (no connection, a bad asset)
FILE_SECONDS = "FileSeconds"  # one applied file's duration (migrator.aws.predictions)
REHEARSED_FILE_SECONDS = "RehearsedFileSeconds"  # the same file's duration in the rehearsal of this bundle
ENV_DIMENSION = "Environment"  # FileSeconds' lines only: the version is a property, never a dimension
# Logs Insights on the migration functions' log groups: the applied files, measured beside rehearsed.
INSIGHTS_QUERY = (
    f"filter ispresent({FILE_SECONDS})",
    f"fields @timestamp, Version, Name, {FILE_SECONDS}, {REHEARSED_FILE_SECONDS},"
    f" {FILE_SECONDS} - {REHEARSED_FILE_SECONDS} as Gap",
    "sort @timestamp desc",
    "limit 50",
)
UNITS = {
    FILE_SECONDS: "Seconds",
    REHEARSED_FILE_SECONDS: "Seconds",
    DRIFT_DIFFERENCES: "Count",
    DRIFT_CHECK_FAILED: "Count",
    LOCK_RETRIES: "Count",
    LONGEST_LOCK_HOLD: "Seconds",
    DURATION: "Seconds",
    APPLIED: "Count",
    SNAPSHOT_WAIT: "Seconds",
    SUCCEEDED: "Count",
    FAILED: "Count",
    MANUAL_SNAPSHOTS: "Count",
}

Entry = TypeVar("Entry", bound=Callable[..., dict[str, Any]])


def emf_line(
    instance: str,
    values: dict[str, float],
    properties: dict[str, str] | None = None,
    dimensions: dict[str, str] | None = None,
) -> str:
    """One EMF document: the values as metrics of `instance` (and the extra `dimensions`), the properties as
    searchable log fields."""
    named = {DIMENSION: instance} | (dimensions or {})
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(named)],
                    "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
                }
            ],
        },
    } | named
    return json.dumps(document | (properties or {}) | values, separators=(",", ":"))


def emit(instance: str, values: dict[str, float], properties: dict[str, str] | None = None) -> None:
    """Print the line (Lambda's stdout is the log stream); never raises."""
    try:
        print(emf_line(instance, values, properties), flush=True)
    except Exception as exc:  # metrics are for people: never fail a deploy over them
        log.warning("could not write the metrics line: %s: %s", type(exc).__name__, exc)


def step_values(data: dict[str, Any], succeeded: bool, started: float, now: float) -> dict[str, float]:
    """The metrics of a finished step, from the handler's Data (StartedAt, Applied)."""
    started = float(data.get("StartedAt") or started)
    values: dict[str, float] = {DURATION: round(max(0.0, now - started), 3)}
    applied = str(data.get("Applied") or NONE)
    values[APPLIED] = 0 if applied == NONE else len([v for v in applied.split(",") if v])
    values[SUCCEEDED], values[FAILED] = (1, 0) if succeeded else (0, 1)
    for name in (LOCK_RETRIES, LONGEST_LOCK_HOLD):  # present when this step applied
        given = str(data.get(name) or "")
        if given.replace(".", "", 1).isdigit():
            values[name] = float(given)
    return values


def count_manual_snapshots(client: Any) -> int:
    """Manual DB snapshots in this Region, everyone's: the quota counts them all."""
    pages = client.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual")
    return sum(len(page["DBSnapshots"]) for page in pages)


def _rds_client() -> Any:
    from migrator.aws.clients import client  # as the handler does: only when needed, bounded in time

    return client("rds")


def _instance(event: dict[str, Any]) -> str | None:
    if event.get("Action") or event.get("RequestType") not in ("Create", "Update"):
        return None  # the status action, a Delete: not a migration step
    props = event.get("ResourceProperties")
    instance = props.get(KEYS["instance"]) if isinstance(props, dict) else None
    return str(instance) if instance else None


def _safely(measure: Callable[[], None]) -> None:
    """Measuring never fails a step, and never replaces the step's own failure with its own."""
    try:
        measure()
    except Exception as exc:
        log.warning("could not emit the step's metrics: %s: %s", type(exc).__name__, exc)


def on_event(entry: Entry) -> Entry:
    """on_event: a failure ends the step here (success is measured when is_complete ends it)."""

    @functools.wraps(entry)
    def measured(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.time()
        try:
            return entry(event, context)
        except Exception:
            _safely(lambda: _failed(event, {}, started, "on_event"))
            raise

    return measured  # type: ignore[return-value]


def is_complete(entry: Entry) -> Entry:
    """is_complete: the step ends when it answers IsComplete or raises."""

    @functools.wraps(entry)
    def measured(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.time()
        given = event.get("Data")
        waiting: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
        try:
            answer = entry(event, context)
        except Exception:
            _safely(lambda: _failed(event, waiting, started, "is_complete"))
            raise
        _safely(lambda: _succeeded(event, waiting, answer, started))
        return answer

    return measured  # type: ignore[return-value]


def _failed(event: dict[str, Any], waiting: dict[str, Any], started: float, step: str) -> None:
    instance = _instance(event)
    if instance:
        emit(instance, step_values(waiting, False, started, time.time()), {"Outcome": "failed", "Step": step})


def _succeeded(event: dict[str, Any], waiting: dict[str, Any], answer: dict[str, Any], started: float) -> None:
    instance = _instance(event)
    if not instance or not answer.get("IsComplete"):
        return
    data = waiting | dict(answer.get("Data") or {})
    values = step_values(data, True, started, time.time())
    if waiting.get("Phase") == "snapshot":  # found available at this call's start, then applied
        values[SNAPSHOT_WAIT] = round(max(0.0, started - float(data.get("StartedAt") or started)), 3)
    if str(data.get("SnapshotId") or NONE) != NONE:
        try:
            values[MANUAL_SNAPSHOTS] = count_manual_snapshots(_rds_client())
        except Exception as exc:  # the count is a warning sign only; never fail a finished deploy
            log.warning("could not count the manual snapshots: %s: %s", type(exc).__name__, exc)
    emit(instance, values, {"Outcome": "succeeded", "Step": "is_complete"})
