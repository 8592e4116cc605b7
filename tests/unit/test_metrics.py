"""The migration step's metrics (migrator.aws.metrics): the values of a finished step and their EMF line."""

from __future__ import annotations

import json

from migrator.aws.metrics import (
    APPLIED,
    DIMENSION,
    DURATION,
    FAILED,
    NAMESPACE,
    SUCCEEDED,
    UNITS,
    emf_line,
    step_values,
)


def test_a_successful_step_counts_its_versions_and_its_time_from_the_steps_start() -> None:
    values = step_values({"StartedAt": "1000", "Applied": "006,007,008"}, True, started=1500.0, now=1123.4567)
    assert values == {DURATION: 123.457, APPLIED: 3, SUCCEEDED: 1, FAILED: 0}


def test_a_failed_step_without_data_counts_from_the_call() -> None:
    values = step_values({}, False, started=100.0, now=102.5)
    assert values == {DURATION: 2.5, APPLIED: 0, SUCCEEDED: 0, FAILED: 1}


def test_nothing_applied_is_zero_and_time_never_runs_backwards() -> None:
    for applied in ("none", "", ",", None):
        assert step_values({"Applied": applied}, True, started=10.0, now=5.0)[APPLIED] == 0
    assert step_values({}, True, started=10.0, now=5.0)[DURATION] == 0.0


def test_the_emf_line_declares_every_value_as_a_metric_of_the_instance() -> None:
    values = step_values({"Applied": "007"}, True, started=0.0, now=4.0)
    line = emf_line("aalap-prod-db", values, {"Outcome": "succeeded"})
    assert "\n" not in line
    document = json.loads(line)
    (declared,) = document["_aws"]["CloudWatchMetrics"]
    assert declared["Namespace"] == NAMESPACE and declared["Dimensions"] == [[DIMENSION]]
    assert declared["Metrics"] == [{"Name": name, "Unit": UNITS[name]} for name in values]
    assert document[DIMENSION] == "aalap-prod-db" and document["Outcome"] == "succeeded"
    assert {name: document[name] for name in values} == values
    assert isinstance(document["_aws"]["Timestamp"], int)


def test_an_apply_reports_its_lock_retries_and_longest_hold() -> None:
    from migrator.aws.metrics import LOCK_RETRIES, LONGEST_LOCK_HOLD

    values = step_values({"Applied": "009", "LockRetries": "3", "LongestLockHold": "2.5"}, True, 0.0, 1.0)
    assert (values[LOCK_RETRIES], values[LONGEST_LOCK_HOLD]) == (3.0, 2.5)
    assert LOCK_RETRIES not in step_values({"Applied": "009"}, True, 0.0, 1.0), "a step that did not apply says none"
