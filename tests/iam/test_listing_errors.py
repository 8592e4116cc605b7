"""A listing AWS refuses is reported with what it needs, never taken for "nothing to prune"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from migrator.aws.snapshots import Snapshots
from migrator.errors import MigratorError


class DeniedListing:
    """An RDS client whose snapshot listing AWS refuses, as it does for a premigrate-* grant."""

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_db_snapshots"
        denied = ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: rds:DescribeDBSnapshots"}},
            "DescribeDBSnapshots",
        )

        class Paginator:
            def paginate(self, **_: Any) -> Iterator[dict[str, Any]]:
                raise denied  # botocore raises on the first page, as iteration starts
                yield {}

        return Paginator()

    def delete_db_snapshot(self, **_: Any) -> None:
        raise AssertionError("nothing may be deleted without a listing")


def test_a_denied_listing_stops_pruning_loudly_and_says_what_it_needs() -> None:
    with pytest.raises(MigratorError, match=r"cannot list the snapshots of db-1, .*\(AccessDenied\)") as raised:
        Snapshots(DeniedListing(), "db-1").prune(3)
    assert "rds:DescribeDBSnapshots on '*'" in raised.value.hint
    assert isinstance(raised.value.__cause__, ClientError)
