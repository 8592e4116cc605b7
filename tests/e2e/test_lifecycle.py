"""The path a deploy takes, step by step, as CloudFormation and the Provider framework drive it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.cdk.synth import synth, with_environment
from tests.e2e.deploy import RESPONSE_LIMIT, Deployer, encoded
from tests.engine.helpers import catalog, history, state


def test_full_lifecycle(deployer: Deployer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = deployer.environment

    created = deployer.deploy("create on a fresh database")
    assert created["Status"] == "SUCCESS", created.get("Reason")
    assert (created["Data"]["SchemaVersion"], created["Data"]["SnapshotId"]) == ("007", "")
    assert deployer.snapshot_ids() == []

    deployer.add_migration("008_add_tags.sql", "ALTER TABLE projects ADD COLUMN IF NOT EXISTS tags text[];\n")
    one = deployer.deploy("update bringing one migration")
    assert one["Status"] == "SUCCESS", one.get("Reason")
    assert one["Data"]["SchemaVersion"] == "008"
    assert one["Data"]["SnapshotId"] in deployer.snapshot_ids()
    assert one["Data"]["SnapshotId"].startswith(f"premigrate-{env.instance}-v007-to-v008-")

    deployer.add_migration("009_add_labels.sql", "CREATE TABLE IF NOT EXISTS labels (id bigint PRIMARY KEY);\n")
    deployer.add_migration("010_add_label_index.sql", "CREATE INDEX IF NOT EXISTS idx_labels ON labels (id);\n")
    several = deployer.deploy("update bringing several migrations")
    assert several["Status"] == "SUCCESS", several.get("Reason")
    assert (several["Data"]["SchemaVersion"], several["Data"]["Applied"]) == ("010", "009,010")

    before_failure = state(env.conninfo)
    deployer.add_migration(
        "011_broken.sql", "CREATE TABLE t011 (id int);\nALTER TABLE missing_table ADD COLUMN x int;\n"
    )
    failed = deployer.deploy("update whose migration fails")
    assert failed["Status"] == "FAILED"
    assert "011_broken.sql:2: SQLSTATE 42P01" in failed["Reason"]
    assert state(env.conninfo) == before_failure
    assert any("-v010-to-v011-" in s for s in deployer.snapshot_ids()), "the snapshot taken before the attempt stays"

    deployer.remove_migration("011_broken.sql")
    rollback_props = deployer.current  # CloudFormation sends the last good properties back
    failed_props = deployer.properties() | {"NewestVersion": "011"}
    deployer.current = failed_props
    rolled_back = deployer.deploy("rollback update", "Update", rollback_props)
    assert rolled_back["Status"] == "SUCCESS"
    assert state(env.conninfo) == before_failure

    quiet = deployer.deploy("deploy with nothing pending")
    assert quiet["Status"] == "SUCCESS"
    assert quiet["Data"]["SnapshotId"] == ""

    deleted = deployer.deploy("delete", "Delete", deployer.current)
    assert deleted["Status"] == "SUCCESS"
    assert "table labels" in catalog(env.conninfo) and len(history(env.conninfo)) == 11, "the data stays"

    for body in deployer.responses:
        assert len(encoded(body)) < RESPONSE_LIMIT
    secret = "not-the-real-one-Zq9"
    assert all(secret not in encoded(body).decode() for body in deployer.responses)
    assert secret not in caplog.text


def test_snapshot_retention_after_more_deploys_than_the_count(deployer: Deployer) -> None:
    rds = deployer.environment.rds()
    rds.create_db_snapshot(DBSnapshotIdentifier="someone-elses", DBInstanceIdentifier=deployer.environment.instance)
    assert deployer.deploy("create")["Status"] == "SUCCESS"
    keep = int(deployer.properties()["SnapshotRetention"])
    taken = []
    for number in range(8, 8 + keep + 3):
        deployer.add_migration(f"{number:03d}_step.sql", f"CREATE TABLE IF NOT EXISTS step_{number} (id int);\n")
        body = deployer.deploy(f"migrating deploy {number:03d}")
        assert body["Status"] == "SUCCESS", body.get("Reason")
        taken.append(body["Data"]["SnapshotId"])
    assert deployer.snapshot_ids() == sorted([*taken[-keep:], "someone-elses"])


def test_a_very_long_sql_error_still_fits_the_response(deployer: Deployer) -> None:
    assert deployer.deploy("create")["Status"] == "SUCCESS"
    long_name = "x" * 60
    statements = "".join(f"SELECT {long_name}_{i} FROM nowhere_{i};\n" for i in range(3))
    deployer.add_migration("008_long.sql", f"-- {'padding ' * 2000}\nSELECT '{'y' * 20000}'::int;\n{statements}")
    body = deployer.deploy("update with a huge error")
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("008_long.sql:2: SQLSTATE 22P02")
    assert len(encoded(body)) < RESPONSE_LIMIT


def test_restore_environment_synthesizes_an_instance_from_the_snapshot(tmp_path: Path) -> None:
    templates = synth(tmp_path, **with_environment("staging", restoreSnapshotId="premigrate-db-v007-to-v008-x"))
    (instance,) = templates["staging"].find_resources("AWS::RDS::DBInstance").values()
    assert instance["Properties"]["DBSnapshotIdentifier"] == "premigrate-db-v007-to-v008-x"
    assert "MasterUsername" not in instance["Properties"], "the snapshot's master user is kept"


def test_is_complete_polls_a_snapshot_that_is_still_creating(
    deployer: Deployer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrator.aws import handler
    from tests.handler.test_snapshots import SlowSnapshots

    assert deployer.deploy("create")["Status"] == "SUCCESS"
    deployer.add_migration("008_add_tags.sql", "CREATE TABLE IF NOT EXISTS tags (id int);\n")
    slow = SlowSnapshots(deployer.environment.rds(), polls=3)
    polls = []
    real_is_complete = handler.is_complete

    def counting(event: dict, context: object) -> dict:  # type: ignore[type-arg]
        answer = real_is_complete(event, context)
        polls.append(answer["IsComplete"])
        return answer

    monkeypatch.setattr(handler, "_clients", lambda: (slow, deployer.environment.secrets()))
    monkeypatch.setattr(handler, "is_complete", counting)
    body = deployer.deploy("update while the snapshot is creating")
    assert body["Status"] == "SUCCESS" and body["Data"]["SchemaVersion"] == "008"
    assert polls[:2] == [False, False] and polls[-1] is True
