"""The migration function's drift action: `{"action": "drift"}`, as the environment's EventBridge schedule
delivers it (a rule target's constant input is the whole event).

Its result is for on-call, never a deploy's: one log line per difference with the SQL that fixes it, and one
EMF line for the Drift alarms: DriftDifferences after a check, DriftCheckFailed only when it could not look
(a custom metric costs by the hours it is emitted in). While a deploy is in flight it stands
aside: one log line and no metric, so the alarm keeps its state. It never raises: a failed check is a
metric and a log line, not a Lambda error (those alarm as a failed migration step).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from migrator.aws import metrics
from migrator.aws.contract import ACTION_KEY, DRIFT_ACTION
from migrator.aws.deploy import Deployment
from migrator.errors import MigratorError

log = logging.getLogger("migrator")

ACTION, DRIFT = ACTION_KEY, DRIFT_ACTION  # what the schedule sends (stacks/drift_watch.py): {"action": "drift"}


def is_action(event: dict[str, Any]) -> bool:
    return ACTION in event


def _checked(event: dict[str, Any]) -> None:
    if event.get(ACTION) != DRIFT:
        raise MigratorError(
            f"unknown action {event.get(ACTION)!r}: this function's scheduled action is {DRIFT!r}; nothing was done"
        )


def run(event: dict[str, Any], deployment_of: Callable[[], Deployment]) -> dict[str, Any]:
    """Check, log and measure; the answer (for a person invoking it) repeats what the log says."""
    instance = None
    try:
        _checked(event)
        deployment = deployment_of()
        instance = deployment.request.instance
        report = deployment.drift()
    except Exception as exc:  # any failure to look: reported as such, never as drift and never raised
        text = f"{exc.message} ({exc.hint})" if isinstance(exc, MigratorError) and exc.hint else str(exc)
        log.error("drift check failed: %s: %s", type(exc).__name__, text)
        if instance:
            metrics.emit(instance, {metrics.DRIFT_CHECK_FAILED: 1}, {"Action": DRIFT})
        return {"ok": False, "error": text}
    if report.stood_aside is not None:
        log.info("drift check stood aside: %s", report.stood_aside)
        return {"ok": True, "checked": False, "reason": report.stood_aside}
    for difference in report.differences:
        log.warning("%s", difference.line())
    log.info("drift check: %d difference(s)", len(report.differences))
    metrics.emit(instance, {metrics.DRIFT_DIFFERENCES: float(len(report.differences))}, {"Action": DRIFT})
    return {"ok": True, "checked": True, "differences": [asdict(d) for d in report.differences]}
