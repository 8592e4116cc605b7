"""The custom resource's Data (migrator.aws.step_data): every answer carries every attribute, and what comes
back from the Provider is read strictly."""

from __future__ import annotations

import pytest

from migrator.aws.step_data import ATTRIBUTES, NONE, PHASES, StepData, answer, from_event


def test_an_empty_answer_has_every_attribute_as_none() -> None:
    assert answer({}) == dict.fromkeys(ATTRIBUTES, NONE)


def test_attributes_given_are_kept_and_empty_ones_become_none() -> None:
    data: StepData = {"SchemaVersion": "007", "Applied": "", "Note": "", "SnapshotId": "premigrate-db-v6-to-v7-x"}
    answered = answer(data)
    assert answered["SchemaVersion"] == "007"
    assert answered["SnapshotId"] == "premigrate-db-v6-to-v7-x"
    assert answered["Applied"] == NONE and answered["Note"] == NONE
    assert set(answered) == set(ATTRIBUTES)


def test_extra_keys_are_kept_only_when_they_say_something() -> None:
    answered = answer({"Phase": "apply", "StartedAt": "1800000000", "RunsIn": "", "RunnerReason": ""})
    assert answered["Phase"] == "apply" and answered["StartedAt"] == "1800000000"
    assert "RunsIn" not in answered and "RunnerReason" not in answered


def test_answer_leaves_its_argument_alone() -> None:
    data: StepData = {"Phase": "done", "Applied": ""}
    answer(data)
    assert data == {"Phase": "done", "Applied": ""}


def test_the_providers_data_is_read_as_strings_of_our_keys() -> None:
    raw = {"Phase": "snapshot", "StartedAt": 1800000000, "SnapshotId": "s", "Unknown": "x", "Data": {"a": 1}}
    assert from_event(raw) == {"Phase": "snapshot", "StartedAt": "1800000000", "SnapshotId": "s"}
    assert from_event(None) == {} and from_event({}) == {}


@pytest.mark.parametrize("phase", PHASES)
def test_every_known_phase_is_accepted(phase: str) -> None:
    assert from_event({"Phase": phase})["Phase"] == phase


@pytest.mark.parametrize("phase", ["Apply", "waiting", ""])
def test_an_unknown_phase_is_refused(phase: str) -> None:
    with pytest.raises(ValueError, match=f"unknown migration step phase {phase!r}"):
        from_event({"Phase": phase})
