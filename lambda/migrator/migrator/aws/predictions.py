"""Predictions checked: after a deploy applied files, one EMF line per file with its measured duration
(FileSeconds) beside the duration the environment's rehearsal of the same bundle measured (RehearsedFileSeconds).

The lines are dimensioned by `Environment` and `DBInstanceIdentifier` (one series of each metric per stack); the
file's version and name are properties of the line, never dimensions: a dimension per version would create new
metrics with every migration, forever. Per file, CloudWatch Logs Insights on the is_complete function's log group
reads them (metrics.INSIGHTS_QUERY, also a widget of the dashboard).

Reading the report never fails a deploy that has applied: a missing or unreadable one is one log line, and the
lines then carry FileSeconds only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from migrator.apply import FileTiming
from migrator.aws.contract import StepProperties
from migrator.aws.metrics import ENV_DIMENSION, FILE_SECONDS, REHEARSED_FILE_SECONDS, emf_line
from migrator.aws.rehearsal import Reports
from migrator.history import VIA_MIGRATION, AppliedVersion

log = logging.getLogger("migrator")

NO_ENV = "none"  # a direct invocation: no stack names the environment


def encode(timings: Iterable[FileTiming]) -> str:
    """The step's Data carries strings only: the timings as a JSON list of [version, name, seconds]."""
    return json.dumps([[t.version, t.name, round(t.seconds, 3)] for t in timings], separators=(",", ":"))


def decode(text: str) -> list[FileTiming]:
    """encode's inverse; anything else (an older function's Data) is no timings, logged."""
    try:
        return [FileTiming(str(v), str(n), float(s)) for v, n, s in json.loads(text or "[]")]
    except (ValueError, TypeError) as exc:
        log.warning("ignored malformed file timings: %s", exc)
        return []


def from_history(rows: Iterable[AppliedVersion], versions: Collection[str]) -> list[FileTiming]:
    """The timings of `versions` as the history recorded them: how the CodeBuild runner's files are known."""
    return [
        FileTiming(row.version, row.name, row.execution_ms / 1000)
        for row in rows
        if row.version in versions and row.applied_via == VIA_MIGRATION
    ]


def rehearsed_seconds(report: Mapping[str, Any]) -> dict[str, float]:
    """version → seconds, from a report's `measurement.files` (the shape of `rehearse --json`)."""
    measurement = report.get("measurement")
    files = measurement.get("files") if isinstance(measurement, Mapping) else None
    found: dict[str, float] = {}
    for entry in files if isinstance(files, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("seconds"), int | float):
            found[str(entry.get("version"))] = float(entry["seconds"])
    return found


def lines(env: str, instance: str, timings: Iterable[FileTiming], rehearsed: Mapping[str, float]) -> list[str]:
    """One EMF line per applied file; RehearsedFileSeconds only where the rehearsal measured that version."""
    return [
        emf_line(
            instance,
            {FILE_SECONDS: round(t.seconds, 3)}
            | ({REHEARSED_FILE_SECONDS: round(rehearsed[t.version], 3)} if t.version in rehearsed else {}),
            {"Version": t.version, "Name": t.name},
            {ENV_DIMENSION: env},
        )
        for t in timings
    ]


def read_rehearsed(props: StepProperties, env: str | None, client: Callable[[str], Any]) -> dict[str, float]:
    """The rehearsal's per-file seconds for this bundle, or {} with one log line saying why there are none."""
    if not (props.rehearsal_required and props.rehearsal_bucket and env):
        return {}  # the function may read reports only where the gate is on (stacks/rehearsal.py)
    try:
        report = Reports(client("s3"), props.rehearsal_bucket).get(env, props.fingerprint)
    except Exception as exc:
        log.warning("could not read the rehearsal report to compare durations: %s: %s", type(exc).__name__, exc)
        return {}
    if report is None:
        log.info("no rehearsal report of bundle %s: file durations without predictions", props.fingerprint[:12])
        return {}
    return rehearsed_seconds(report)


def record(props: StepProperties, env: str | None, timings: list[FileTiming], client: Callable[[str], Any]) -> None:
    """Print the lines (Lambda's stdout is the log stream); never raises."""
    if not timings:
        return
    try:
        for line in lines(env or NO_ENV, props.instance, timings, read_rehearsed(props, env, client)):
            print(line, flush=True)
    except Exception as exc:  # metrics are for people: never fail a deploy that has applied
        log.warning("could not emit the file durations: %s: %s", type(exc).__name__, exc)
