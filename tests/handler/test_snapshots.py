"""Snapshot waiting and retention, through the RDS API of moto server."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.aws import handler
from migrator.aws.snapshots import Snapshots, snapshot_id
from migrator.errors import DeployFailed
from tests.aws import Environment
from tests.engine.helpers import history
from tests.handler.lifecycle import event, run
from tests.support.fake_rds import SlowSnapshots
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import COUNT, NEWEST, NEXT, later


def test_is_complete_polls_while_the_snapshot_is_creating(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(event("Create", aws.properties()), context)
    aws.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id integer);\n")
    slow = SlowSnapshots(aws.rds(), polls=4)
    monkeypatch.setattr(handler, "_clients", lambda: (slow, aws.secrets()))
    data, polls = run(event("Update", aws.properties()), context)
    assert data["SchemaVersion"] == NEXT
    assert polls >= 3, "is_complete answered IsComplete=False while the snapshot was creating"
    assert [v for v, *_ in history(aws.conninfo)][-1] == NEXT


def test_a_failed_snapshot_stops_the_deploy_before_applying(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(event("Create", aws.properties()), context)
    aws.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id integer);\n")

    class Failing(SlowSnapshots):
        def describe_db_snapshots(self, **kwargs: Any) -> Any:
            answer = self._real.describe_db_snapshots(**kwargs)
            for snapshot in answer["DBSnapshots"]:
                snapshot["Status"] = "failed"
            return answer

    monkeypatch.setattr(handler, "_clients", lambda: (Failing(aws.rds(), 0), aws.secrets()))
    with pytest.raises(DeployFailed, match="is failed; nothing was applied"):
        run(event("Update", aws.properties()), context)
    assert len(history(aws.conninfo)) == COUNT


def test_retention_keeps_the_newest_of_ours_and_nobody_elses_is_touched(
    aws: Environment, context: LambdaContext
) -> None:
    rds = aws.rds()
    rds.create_db_snapshot(DBSnapshotIdentifier="manual-by-an-operator", DBInstanceIdentifier=aws.instance)
    rds.create_db_snapshot(
        DBSnapshotIdentifier=f"premigrate-{aws.instance}-untagged-lookalike", DBInstanceIdentifier=aws.instance
    )
    run(event("Create", aws.properties()), context)
    taken = []
    for step in range(1, 7):
        aws.add_migration(f"{later(step)}_step_{step}.sql", f"CREATE TABLE step_{step} (id integer);\n")
        data, _ = run(event("Update", aws.properties(SnapshotRetention="3")), context)
        taken.append(data["SnapshotId"])
    remaining = {
        s["DBSnapshotIdentifier"]
        for s in rds.describe_db_snapshots(DBInstanceIdentifier=aws.instance, SnapshotType="manual")["DBSnapshots"]
    }
    assert remaining == set(taken[-3:]) | {"manual-by-an-operator", f"premigrate-{aws.instance}-untagged-lookalike"}


def test_snapshot_ids_are_valid_rds_identifiers() -> None:
    ident = snapshot_id("AalapVma--Prod_DB", "007", "009", "20261127T191500Z")
    assert ident == "premigrate-aalapvma-prod-db-v007-to-v009-20261127t191500z"
    assert snapshot_id("db", None, "007", "x").startswith("premigrate-db-vnone-to-v007")


def test_a_retried_create_finds_the_snapshot_it_started(aws: Environment) -> None:
    snapshots = Snapshots(aws.rds(), aws.instance)
    first = snapshots.ensure("premigrate-x-v1-to-v2-retry", {})
    second = snapshots.ensure("premigrate-x-v1-to-v2-retry", {})
    assert first == second == "available"


def test_a_snapshot_deferred_while_the_instance_is_busy_is_taken_later_with_its_tags(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(event("Create", aws.properties()), context)
    aws.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id integer);\n")

    class BusyAtFirst(SlowSnapshots):
        def describe_db_instances(self, **kwargs: Any) -> Any:
            answer = self._real.describe_db_instances(**kwargs)
            if self._left > 0:
                self._left -= 1
                answer["DBInstances"][0]["DBInstanceStatus"] = "backing-up"
            return answer

    busy = BusyAtFirst(aws.rds(), polls=1)  # one RDS, shared by every invocation
    monkeypatch.setattr(handler, "_clients", lambda: (busy, aws.secrets()))
    data, _ = run(event("Update", aws.properties()), context)
    assert data["SchemaVersion"] == NEXT
    assert busy._left == 0, "on_event met a busy instance and left the snapshot to is_complete"
    rds = aws.rds()
    (snapshot,) = rds.describe_db_snapshots(DBSnapshotIdentifier=data["SnapshotId"])["DBSnapshots"]
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=snapshot["DBSnapshotArn"])["TagList"]}
    assert (tags["migrator:from"], tags["migrator:to"]) == (NEWEST, NEXT)


def test_a_file_apply_would_refuse_fails_the_deploy_before_its_snapshot(
    aws: Environment, context: LambdaContext
) -> None:
    """A pending file that makes its transaction read-only is refused by on_event, before a snapshot is taken for a
    deploy that could apply nothing (it was refused only at apply, after the snapshot)."""
    run(event("Create", aws.properties()), context)
    aws.add_migration(f"{NEXT}_check.sql", "SET TRANSACTION READ ONLY;\nSELECT 1;\n")
    with pytest.raises(DeployFailed, match=f"{NEXT}_check.sql:1: a read-only transaction in a migration"):
        handler.on_event(event("Update", aws.properties()), context)
    ours = aws.rds().describe_db_snapshots(DBInstanceIdentifier=aws.instance, SnapshotType="manual")["DBSnapshots"]
    assert ours == []
    assert [v for v, *_ in history(aws.conninfo)][-1] == NEWEST
