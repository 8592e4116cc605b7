"""Every AWS client the functions make, with timeouts sized to the time the invocation has left.

botocore's defaults (60 s to connect, 60 s to read, retried) outlast on_event's whole timeout when an
endpoint accepts and never answers, which is what a stack delete meets once CloudFormation has removed the
VPC endpoints or security-group rules alongside the custom resource: the Delete would end DELETE_FAILED.
Each invocation sets its deadline (`invocation`), and each client and each database connection attempt is
bounded by what is left of it, so a Delete or a backward Update that cannot look still answers in time.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

ANSWER_MARGIN_S = 15.0  # kept for the answer itself after the last call gives up
UNKNOWN_LEFT_S = 120.0  # outside a Lambda invocation (the runner, tests that pass no context)
_deadline: ContextVar[float | None] = ContextVar("migrator_invocation_deadline", default=None)


def invocation(context: Any) -> None:
    """Start of a handler call: its deadline, from Lambda's remaining time (none known: UNKNOWN_LEFT_S)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    left = remaining() / 1000 if callable(remaining) else UNKNOWN_LEFT_S
    _deadline.set(time.monotonic() + max(1.0, left - ANSWER_MARGIN_S))


def left_s() -> float:
    deadline = _deadline.get()
    return UNKNOWN_LEFT_S if deadline is None else max(0.0, deadline - time.monotonic())


def timeouts(left: float) -> tuple[float, float, int]:
    """(connect, read, attempts) such that attempts x (connect + read) stays within `left`."""
    attempts = 3 if left >= 90 else 2
    share = max(2.0, left / attempts)
    connect = max(1.0, min(5.0, share / 4))
    return connect, max(1.0, min(30.0, share - connect)), attempts


def client(service: str) -> Any:
    import boto3  # on first use only: keeps the handler's cold import small
    from botocore.config import Config

    connect, read, attempts = timeouts(left_s())
    config = Config(
        connect_timeout=connect,
        read_timeout=read,
        retries={"max_attempts": attempts, "mode": "standard"},
        tcp_keepalive=True,
    )
    make: Any = boto3.client  # typed per service name by boto3-stubs; the name is a variable here
    return make(service, config=config)
