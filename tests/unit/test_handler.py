"""The handler's pure decisions (migrator.aws.handler): which Update goes back in time, and the answers that
need no database (Delete)."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.aws import handler
from migrator.aws.step_data import ATTRIBUTES

OLDER, NEWER = "20261127T191500Z", "20261128T080000Z"


def update(new: dict[str, str], old: dict[str, str], request: str = "Update") -> dict[str, Any]:
    return {"RequestType": request, "ResourceProperties": new, "OldResourceProperties": old}


@pytest.mark.parametrize(
    ("new", "old", "backward"),
    [
        ({"DeployToken": OLDER}, {"DeployToken": NEWER}, True),
        ({"DeployToken": NEWER}, {"DeployToken": OLDER}, False),
        # the token decides over the versions: a newer synth may bring fewer migrations (a reverted branch)
        ({"DeployToken": NEWER, "NewestVersion": "005"}, {"DeployToken": OLDER, "NewestVersion": "007"}, False),
        ({"DeployToken": OLDER, "NewestVersion": "009"}, {"DeployToken": NEWER, "NewestVersion": "007"}, True),
        # equal or one-sided tokens: the newest migration versions tell, as numbers
        ({"DeployToken": OLDER, "NewestVersion": "006"}, {"DeployToken": OLDER, "NewestVersion": "007"}, True),
        ({"NewestVersion": "006"}, {"DeployToken": OLDER, "NewestVersion": "007"}, True),
        ({"NewestVersion": "099"}, {"NewestVersion": "100"}, True),
        ({"NewestVersion": "100"}, {"NewestVersion": "099"}, False),
        ({"NewestVersion": "007"}, {"NewestVersion": "007"}, False),
        ({"NewestVersion": "007"}, {}, False),
        ({"NewestVersion": ""}, {"NewestVersion": "007"}, False),
        ({}, {}, False),
    ],
)
def test_an_update_is_backward_when_its_synth_or_its_newest_version_is_older(
    new: dict[str, str], old: dict[str, str], backward: bool
) -> None:
    assert handler.is_backward(update(new, old)) is backward


@pytest.mark.parametrize("request_type", ["Create", "Delete"])
def test_only_an_update_can_be_backward(request_type: str) -> None:
    assert not handler.is_backward(update({"DeployToken": OLDER}, {"DeployToken": NEWER}, request_type))
    assert not handler.is_backward({"RequestType": "Update"}), "no properties at all"


def test_delete_keeps_the_database_and_answers_every_attribute() -> None:
    event = {"RequestType": "Delete", "PhysicalResourceId": "schema-migrations-db", "ResourceProperties": {}}
    answered = handler.on_event(event, None)
    assert answered["PhysicalResourceId"] == "schema-migrations-db"
    data = answered["Data"]
    assert data["Phase"] == "done" and data["Note"] == "delete keeps the database"
    assert all(data[key] for key in ATTRIBUTES)
