"""Malformed custom-resource events get one clear reason, never a raw KeyError or AttributeError; a Delete always
succeeds; the metrics wrapper never replaces the step's own failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrator.aws import handler
from migrator.errors import DeployFailed
from migrator.files import load_migrations
from tests.support.project import PROJECT

PROPS = {"SecretArn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db", "InstanceIdentifier": "db"}


@pytest.fixture(autouse=True)
def asset(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project folder stands in for the Lambda's asset: migrations/ and schema.sql at its root."""
    monkeypatch.setenv("MIGRATOR_BUNDLE_ROOT", str(PROJECT))
    return PROJECT


def _reason(entry: Any, event: dict[str, Any]) -> str:
    with pytest.raises(DeployFailed) as failed:
        entry(event, None)
    reason = str(failed.value)
    assert "Traceback" not in reason and "KeyError" not in reason and "AttributeError" not in reason
    return reason


@pytest.mark.parametrize("props", [None, [], "text", {}], ids=["null", "list", "string", "missing"])
def test_a_delete_succeeds_whatever_its_properties(props: Any) -> None:
    event: dict[str, Any] = {"RequestType": "Delete", "PhysicalResourceId": "schema-migrations-db"}
    if props != {}:
        event["ResourceProperties"] = props
    answered = handler.on_event(event, None)
    assert answered["PhysicalResourceId"] == "schema-migrations-db"
    assert answered["Data"]["Phase"] == "done"


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (None, "a Create without ResourceProperties"),
        ("text", "ResourceProperties is str, not an object"),
        ([1, 2], "ResourceProperties is list, not an object"),
    ],
)
def test_a_create_without_usable_properties_fails_with_a_reason(props: Any, expected: str) -> None:
    assert expected in _reason(handler.on_event, {"RequestType": "Create", "ResourceProperties": props})


@pytest.mark.parametrize("request_type", ["Upgrade", None, 7])
def test_an_unknown_request_type_migrates_nothing(request_type: Any) -> None:
    event = {"RequestType": request_type, "ResourceProperties": PROPS}
    assert f"unknown RequestType {request_type!r}" in _reason(handler.on_event, event)


@pytest.mark.parametrize("data", [None, {}, "done", {"Applied": "001"}], ids=["null", "empty", "string", "no-phase"])
def test_is_complete_without_step_data_applies_nothing(data: Any) -> None:
    event = {"RequestType": "Create", "ResourceProperties": PROPS, "Data": data}
    assert "malformed event" in _reason(handler.is_complete, event)


def test_a_migrations_list_that_disagrees_with_the_asset_is_refused(asset: Path) -> None:
    shipped = [f"{m.filename}@{m.checksum[:12]}" for m in load_migrations(asset / "migrations")]
    for listed in (shipped[:-1], [*shipped, "999_extra.sql@000000000000"]):
        event = {"RequestType": "Update", "ResourceProperties": PROPS | {"Migrations": listed}}
        reason = _reason(handler.on_event, event)
        assert "the template and the asset come from different synths" in reason
    event = {"RequestType": "Update", "ResourceProperties": PROPS | {"Migrations": "not a list"}}
    assert _reason(handler.on_event, event).startswith("Migrations must be a list of file names")


def test_the_metrics_wrapper_keeps_the_steps_own_failure() -> None:
    """Properties the metrics cannot read (a list) must not turn the step's reason into the wrapper's error."""
    event = {"RequestType": "Update", "ResourceProperties": PROPS | {"Migrations": "not a list"}, "Data": ["odd"]}
    assert "Migrations must be a list" in _reason(handler.on_event, event)
    assert "malformed event" in _reason(handler.is_complete, event)
