"""Fakes in front of moto's RDS client, for states moto never reports."""

from __future__ import annotations

from typing import Any


class SlowSnapshots:
    """An RDS client whose snapshots report 'creating' for the first `polls` looks, as real RDS does."""

    def __init__(self, real: Any, polls: int) -> None:
        self._real, self._left = real, polls
        self.exceptions = real.exceptions

    def describe_db_snapshots(self, **kwargs: Any) -> Any:
        answer = self._real.describe_db_snapshots(**kwargs)
        if "DBSnapshotIdentifier" in kwargs and self._left > 0:
            self._left -= 1
            for snapshot in answer["DBSnapshots"]:
                snapshot["Status"] = "creating"
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)
