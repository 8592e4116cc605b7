"""The operator commands (`--env … status`, pipeline mode) meet a VPC function gone Inactive after weeks idle:
its first invocation fails with ResourceConflictException and starts its reactivation. They wait until it is
Active and invoke it again, instead of failing the first time."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from migrator.aws.operations import remote_status

INACTIVE = "The operation cannot be performed at this time. The function is currently in the following state: Inactive"


class LambdaGoneInactive:
    """Lambda's answers for a function that was Inactive: one refusal, then Active."""

    def __init__(self, message: str = INACTIVE) -> None:
        self.message = message
        self.calls: list[str] = []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        self.calls.append("invoke")
        if self.calls.count("invoke") == 1:
            error = {"Error": {"Code": "ResourceConflictException", "Message": self.message}}
            raise ClientError(error, "Invoke")  # type: ignore[arg-type]
        return {"Payload": io.BytesIO(json.dumps({"ok": True, "current_version": "008"}).encode())}

    def get_waiter(self, name: str) -> SimpleNamespace:
        self.calls.append(name)
        return SimpleNamespace(wait=lambda **_given: self.calls.append("wait"))


def test_an_inactive_function_is_waited_for_and_invoked_again() -> None:
    client = LambdaGoneInactive()
    assert remote_status(client, "aalap-prod-on-event")["current_version"] == "008"
    assert client.calls == ["invoke", "function_active_v2", "wait", "invoke"]


def test_another_conflict_is_not_waited_for() -> None:
    client = LambdaGoneInactive("An update is in progress for resource")
    with pytest.raises(ClientError, match="An update is in progress"):
        remote_status(client, "aalap-prod-on-event")
    assert client.calls == ["invoke"]
