"""Record every AWS call the handlers make, with the function that made it.

The handler builds its clients with `boto3.client(...)`, i.e. from boto3's default session, so a
botocore event hook registered on that session sees each call it makes (each page of a paginator
too) with the parameters as the caller gave them. Clients take their event hooks when they are
created: start recording before the handler builds its clients (it builds them per invocation).
Calls are recorded only while a handler entry point wrapped by `CallRecorder.wrap` runs, so the
test's own set-up calls through the same session are left out.
"""

from __future__ import annotations

import copy
import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3

EVENT = "before-parameter-build"  # fires once per API call, before validation, with the caller's params

Handler = TypeVar("Handler", bound=Callable[..., Any])


@dataclass(frozen=True)
class AwsCall:
    function: str  # the handler entry point that made it: "on_event" or "is_complete"
    service: str  # the IAM service prefix (botocore's signing name: rds, secretsmanager)
    operation: str  # the API operation, as IAM names its action: DescribeDBSnapshots
    params: dict[str, Any]

    @property
    def action(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class CallRecorder:
    calls: list[AwsCall] = field(default_factory=list)
    _function: str | None = None

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self._function is not None:
            service = str(model.service_model.signing_name)
            self.calls.append(AwsCall(self._function, service, str(model.name), copy.deepcopy(params)))

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        outer, self._function = self._function, function
        try:
            yield
        finally:
            self._function = outer

    def wrap(self, entry_point: Handler, function: str) -> Handler:
        """The entry point, recording the calls it makes as `function`'s."""

        @functools.wraps(entry_point)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            with self.acting_as(function):
                return entry_point(*args, **kwargs)

        return recorded  # type: ignore[return-value]

    def of(self, function: str) -> list[AwsCall]:
        return [c for c in self.calls if c.function == function]

    def actions(self, function: str) -> set[str]:
        return {c.action for c in self.of(function)}


@contextmanager
def recording() -> Iterator[CallRecorder]:
    """Hook boto3's default session (created if need be) for the duration of the block."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    recorder = CallRecorder()
    unique_id = f"aws-call-recorder-{uuid.uuid4().hex}"
    session.events.register(EVENT, recorder.record, unique_id=unique_id)
    try:
        yield recorder
    finally:
        session.events.unregister(EVENT, unique_id=unique_id)
