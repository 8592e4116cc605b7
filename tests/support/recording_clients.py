"""AWS clients (boto3's or the tests' fakes) whose API calls are recorded as the IAM actions they need.

For what an operator's credentials must allow: the pipeline-mode command's calls are judged against the deploy
role's permissions as docs/operations.md documents them."""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session
from botocore import xform_name

WAITERS = {("lambda", "function_active_v2"): "GetFunction"}  # a waiter polls this operation
IAM_NAMES = {("lambda", "Invoke"): "InvokeFunction"}  # operations whose IAM action is named otherwise


@cache
def _operations(service: str) -> dict[str, str]:
    """Python method name -> the IAM action of its API operation (describe_db_snapshots -> DescribeDBSnapshots)."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): IAM_NAMES.get((service, name), name) for name in model.operation_names}


class Recorded:
    """The client, each API call (and paginator, and waiter) adding its IAM action to `actions`."""

    def __init__(self, service: str, client: Any, actions: set[str]) -> None:
        self._service, self._client, self._actions = service, client, actions

    def get_paginator(self, name: str) -> Any:
        self._actions.add(f"{self._service}:{_operations(self._service)[name]}")
        return self._client.get_paginator(name)

    def get_waiter(self, name: str) -> Any:
        self._actions.add(f"{self._service}:{WAITERS[(self._service, name)]}")
        return self._client.get_waiter(name)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        operation = _operations(self._service).get(name)
        if operation is None or not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self._actions.add(f"{self._service}:{operation}")
            return found(*args, **kwargs)

        return call
