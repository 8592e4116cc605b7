"""The drift action never raises (a Lambda error would alarm as a failed migration step): an unknown action or
a function without its environment is one clear error line, and no drift metric."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from migrator.aws import handler, metrics


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"action": "drfit"}, "unknown action 'drfit'"),
        ({"action": None}, "unknown action None"),
        ({"action": "drift"}, "lack SecretArn"),  # no function environment: nothing to connect to
    ],
    ids=["misspelt", "null", "no-environment"],
)
def test_a_drift_action_that_cannot_run_answers_one_error(
    event: dict[str, Any],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("MIGRATOR_SECRET_ARN", "MIGRATOR_INSTANCE", "MIGRATOR_ROLE_SECRET_ARN", "MIGRATOR_APP_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    answer = handler.on_event(event, None)
    assert answer["ok"] is False and expected in answer["error"], answer
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line.startswith("drift check failed: ") and "Traceback" not in line
    assert metrics.DRIFT_DIFFERENCES not in capsys.readouterr().out
