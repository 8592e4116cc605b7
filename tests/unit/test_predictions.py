"""Predictions checked (migrator.aws.predictions): each applied file's EMF line beside the rehearsal's seconds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from migrator.apply import FileTiming
from migrator.aws import predictions
from migrator.aws.contract import StepProperties
from migrator.aws.metrics import DIMENSION, ENV_DIMENSION, FILE_SECONDS, NAMESPACE, REHEARSED_FILE_SECONDS, UNITS
from migrator.history import AppliedVersion

TIMINGS = [FileTiming("002", "add_email", 1.2344), FileTiming("003", "backfill", 40.0)]
REPORT = {"measurement": {"files": [{"version": "003", "name": "backfill", "seconds": 12.5, "locks": []}]}}


def test_each_applied_file_is_a_line_with_its_seconds_and_the_rehearsals_where_it_measured_that_version() -> None:
    rehearsed = predictions.rehearsed_seconds(REPORT)
    documents = [json.loads(line) for line in predictions.lines("prod", "aalap-prod-db", TIMINGS, rehearsed)]
    assert [(d["Version"], d["Name"]) for d in documents] == [(t.version, t.name) for t in TIMINGS]
    first, second = documents
    assert first[FILE_SECONDS] == 1.234 and REHEARSED_FILE_SECONDS not in first, "002 was not rehearsed"
    assert (second[FILE_SECONDS], second[REHEARSED_FILE_SECONDS]) == (40.0, 12.5)
    for document in documents:
        (declared,) = document["_aws"]["CloudWatchMetrics"]
        assert declared["Namespace"] == NAMESPACE
        assert declared["Dimensions"] == [[DIMENSION, ENV_DIMENSION]], "the version is a property, not a dimension"
        assert (document[DIMENSION], document[ENV_DIMENSION]) == ("aalap-prod-db", "prod")
        assert declared["Metrics"] == [
            {"Name": name, "Unit": UNITS[name]} for name in (FILE_SECONDS, REHEARSED_FILE_SECONDS) if name in document
        ]


@pytest.mark.parametrize("report", [{}, {"measurement": None}, {"measurement": {"files": [{"version": "1"}, 7]}}])
def test_a_report_without_measured_files_predicts_nothing(report: dict[str, Any]) -> None:
    assert predictions.rehearsed_seconds(report) == {}


def test_the_timings_survive_the_steps_string_data_and_a_malformed_one_is_none() -> None:
    assert predictions.decode(predictions.encode(TIMINGS)) == [FileTiming("002", "add_email", 1.234), TIMINGS[1]]
    assert predictions.decode("") == [] and predictions.decode("002:1.5") == []


def test_the_runners_files_are_timed_from_the_history_rows_this_deploy_committed() -> None:
    def row(version: str, via: str, ms: int) -> AppliedVersion:
        return AppliedVersion(version, f"f{version}", "c", datetime.now(UTC), ms, "me", via)  # type: ignore[arg-type]

    rows = [row("001", "schema.sql", 5), row("002", "migration", 900), row("003", "migration", 40_000)]
    assert predictions.from_history(rows, ["001", "003"]) == [FileTiming("003", "f003", 40.0)]


class _Unreadable:
    class exceptions:
        NoSuchKey = KeyError

    def get_object(self, **_: Any) -> Any:
        raise PermissionError("AccessDenied")


def test_an_unreadable_report_is_one_log_line_and_the_lines_carry_the_measured_seconds_only(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    props = StepProperties(
        instance="aalap-prod-db", rehearsal_required=True, rehearsal_bucket="reports", fingerprint="f" * 64
    )
    predictions.record(props, "prod", TIMINGS, lambda _: _Unreadable())
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d[FILE_SECONDS] for d in documents] == [1.234, 40.0]
    assert not any(REHEARSED_FILE_SECONDS in d for d in documents)
    (warning,) = [r.getMessage() for r in caplog.records if "rehearsal report" in r.getMessage()]
    assert "PermissionError" in warning
