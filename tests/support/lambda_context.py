"""What the handler reads from Lambda's context object, for tests that call the handler in-process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LambdaContext:
    """Lambda's context object, as far as the handler reads it."""

    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
