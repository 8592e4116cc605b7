"""Drive the handlers as the Provider framework does: on_event once, then is_complete until done."""

from __future__ import annotations

from typing import Any

from migrator.aws import handler


def event(
    request: str, props: dict[str, Any], old: dict[str, Any] | None = None, physical: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RequestType": request,
        "ResourceProperties": props,
        "ResourceType": "Custom::SchemaMigration",
        "LogicalResourceId": "SchemaMigrationResource",
        "StackId": "arn:aws:cloudformation:x",
    }
    if old is not None:
        body["OldResourceProperties"] = old
    if physical is not None:
        body["PhysicalResourceId"] = physical
    return body


def run(request_event: dict[str, Any], context: Any, max_polls: int = 10) -> tuple[dict[str, Any], int]:
    """The Provider's flow: returns the final Data and how many is_complete calls it took."""
    started = handler.on_event(request_event, context)
    waiting = request_event | started
    for poll in range(1, max_polls + 1):
        answer = handler.is_complete(waiting, context)
        if answer["IsComplete"]:
            data: dict[str, Any] = dict(started.get("Data", {})) | dict(answer.get("Data", {}))
            data["PhysicalResourceId"] = started["PhysicalResourceId"]
            return data, poll
    raise AssertionError(f"is_complete never completed in {max_polls} polls")
