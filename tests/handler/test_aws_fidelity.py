"""The deploy path against AWS and RDS as they behave, not as moto idealises them.

moto makes every instance `available` and every snapshot `available` at once, never hits the
manual-snapshot quota, and never rotates a password: a stateful stand-in for the RDS client
plays those states over moto's real records; everything else is moto server and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from migrator.aws import budget, handler, rehearsal_runner
from migrator.aws.step_data import ATTRIBUTES
from migrator.errors import DeployFailed, MigratorError
from tests.aws import Environment
from tests.engine.helpers import history, state
from tests.handler.lifecycle import event, run
from tests.pg import MASTER_USER
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import NEWEST, NEXT, later


class StatefulRds:
    """An RDS client that reports the given instance / snapshot states in turn, then the real ones."""

    def __init__(
        self, real: Any, instance: Sequence[str] = (), snapshot: Sequence[str] = (), quota_full: int = 0
    ) -> None:
        self._real, self._quota_full = real, quota_full
        self._instance, self._snapshot = iter(instance), iter(snapshot)
        self.exceptions = real.exceptions
        self.created: list[str] = []

    def describe_db_instances(self, **kwargs: Any) -> Any:
        answer = self._real.describe_db_instances(**kwargs)
        for found in answer["DBInstances"]:
            found["DBInstanceStatus"] = next(self._instance, found["DBInstanceStatus"])
        return answer

    def describe_db_snapshots(self, **kwargs: Any) -> Any:
        answer = self._real.describe_db_snapshots(**kwargs)
        if "DBSnapshotIdentifier" in kwargs:
            for found in answer["DBSnapshots"]:
                found["Status"] = next(self._snapshot, found["Status"])
        return answer

    def create_db_snapshot(self, **kwargs: Any) -> Any:
        if self._quota_full > 0:
            self._quota_full -= 1
            raise self._real.exceptions.SnapshotQuotaExceededFault(
                {"Error": {"Code": "SnapshotQuotaExceeded", "Message": "quota"}}, "CreateDBSnapshot"
            )
        self.created.append(kwargs["DBSnapshotIdentifier"])
        return self._real.create_db_snapshot(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _use(monkeypatch: pytest.MonkeyPatch, aws: Environment, rds: Any) -> None:
    monkeypatch.setattr(handler, "_clients", lambda: (rds, aws.secrets()))


def _at_newest_with_the_next_pending(aws: Environment, context: LambdaContext) -> None:
    run(event("Create", aws.properties()), context)
    aws.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id integer);\n")


def _complete(data: dict[str, Any]) -> None:
    missing = [key for key in ATTRIBUTES if not data.get(key)]
    assert not missing, f"CloudFormation would fail an output reading {missing}"


# Defect 2: every attribute the template reads is in every Create/Update answer.


def test_every_path_answers_every_attribute(aws: Environment, context: LambdaContext) -> None:
    fresh, _ = run(event("Create", aws.properties()), context)
    nothing, _ = run(event("Update", aws.properties()), context)
    aws.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id integer);\n")
    forward = aws.properties()
    migrated, _ = run(event("Update", forward), context)
    older = aws.properties(DeployToken="20200101T000000Z")
    (aws.bundle / "migrations" / f"{NEXT}_add_tags.sql").unlink()
    rollback, _ = run(event("Update", older, old=forward, physical="p"), context)
    gone = older | {"SecretArn": "arn:aws:secretsmanager:eu-west-1:000000000000:secret:gone"}
    unchecked, _ = run(event("Update", gone, old=forward, physical="p"), context)
    for data in (fresh, nothing, migrated, rollback, unchecked):
        _complete(data)
    assert (migrated["SchemaVersion"], rollback["SchemaVersion"], rollback["Applied"]) == (NEXT, NEXT, "none")
    assert f"{NEXT} (add_tags)" in rollback["Note"]


# Defect 6: an older template is not skipped; it applies what it brings, or fails.


def test_a_stale_forward_deploy_applies_what_it_brings(aws: Environment, context: LambdaContext) -> None:
    run(event("Create", aws.properties()), context)
    newer = aws.properties()  # deployed first (e.g. from a laptop) ...
    aws.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id integer);\n")
    stale = aws.properties(DeployToken="20200101T000000Z")  # ... then CI's assembly, synthesized earlier
    data, _ = run(event("Update", stale, old=newer, physical="p"), context)
    assert (data["SchemaVersion"], data["Applied"]) == (NEXT, NEXT)
    assert [v for v, *_ in history(aws.conninfo)][-1] == NEXT


def test_a_stale_forward_deploy_that_fails_answers_failed(aws: Environment, context: LambdaContext) -> None:
    run(event("Create", aws.properties()), context)
    newer = aws.properties()
    aws.add_migration(f"{NEXT}_broken.sql", "CREATE TABLE t (id int);\nCREATE TABLE t (id int);\n")
    stale = aws.properties(DeployToken="20200101T000000Z")
    with pytest.raises(DeployFailed, match=rf"{NEXT}_broken.sql:2: SQLSTATE 42P07"):
        run(event("Update", stale, old=newer, physical="p"), context)


def test_a_stale_deploy_bringing_an_out_of_order_version_fails(aws: Environment, context: LambdaContext) -> None:
    aws.add_migration(f"{later(2)}_later.sql", "CREATE TABLE later (id int);\n")
    run(event("Create", aws.properties()), context)
    newer = aws.properties()
    aws.add_migration(f"{NEXT}_forgotten.sql", "CREATE TABLE forgotten (id int);\n")
    stale = aws.properties(DeployToken="20200101T000000Z")
    with pytest.raises(DeployFailed, match=rf"{NEXT}_forgotten\.sql pending but older"):
        run(event("Update", stale, old=newer, physical="p"), context)


# Defect 3: snapshots as RDS takes them.


def test_a_snapshot_is_taken_during_storage_optimization(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at_newest_with_the_next_pending(aws, context)
    rds = StatefulRds(aws.rds(), instance=["storage-optimization"] * 10)
    _use(monkeypatch, aws, rds)
    data, polls = run(event("Update", aws.properties()), context)
    assert (data["SchemaVersion"], polls, rds.created) == (NEXT, 1, [data["SnapshotId"]])


@pytest.mark.parametrize("busy", ["backing-up", "modifying", "creating"])
def test_a_busy_instance_is_waited_for_then_snapshotted(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch, busy: str
) -> None:
    _at_newest_with_the_next_pending(aws, context)
    rds = StatefulRds(aws.rds(), instance=[busy] * 3, snapshot=["creating"] * 2)
    _use(monkeypatch, aws, rds)
    data, polls = run(event("Update", aws.properties()), context)
    assert data["SchemaVersion"] == NEXT
    assert polls >= 4, "waited for the instance, then for the snapshot"
    assert rds.created == [data["SnapshotId"]]


def test_a_failed_instance_stops_the_deploy_at_once(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at_newest_with_the_next_pending(aws, context)
    before = state(aws.conninfo)
    _use(monkeypatch, aws, StatefulRds(aws.rds(), instance=["storage-full"] * 10))
    with pytest.raises(DeployFailed, match="is storage-full: no pre-migration snapshot"):
        run(event("Update", aws.properties()), context)
    assert state(aws.conninfo) == before


def test_at_the_snapshot_quota_our_old_snapshots_are_pruned_and_the_deploy_goes_on(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(event("Create", aws.properties()), context)
    for version in (NEXT, later(2), later(3), later(4)):  # retention 3: the fourth deploy would prune one anyway
        aws.add_migration(f"{version}_t.sql", f"CREATE TABLE t{version} (id int);\n")
        run(event("Update", aws.properties(SnapshotRetention="5")), context)
    aws.add_migration(f"{later(5)}_t.sql", f"CREATE TABLE t{later(5)} (id int);\n")
    rds = StatefulRds(aws.rds(), quota_full=1)
    _use(monkeypatch, aws, rds)
    data, _ = run(event("Update", aws.properties(SnapshotRetention="3")), context)
    assert data["SchemaVersion"] == later(5)
    assert rds.created == [data["SnapshotId"]]


def test_at_the_snapshot_quota_with_nothing_of_ours_to_prune_the_message_says_what_to_do(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at_newest_with_the_next_pending(aws, context)
    _use(monkeypatch, aws, StatefulRds(aws.rds(), quota_full=5))
    with pytest.raises(DeployFailed, match="manual snapshot quota is reached") as failed:
        run(event("Update", aws.properties()), context)
    assert "snapshots prune" in str(failed.value)
    assert [v for v, *_ in history(aws.conninfo)][-1] == NEWEST


def test_prune_failures_surface_in_the_answer(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at_newest_with_the_next_pending(aws, context)

    class ListingDenied(StatefulRds):
        """Listing without an identifier is what IAM denied on main; naming one snapshot still works."""

        def get_paginator(self, name: str) -> Any:
            raise RuntimeError("AccessDenied: not authorized to perform rds:DescribeDBSnapshots")

        def describe_db_snapshots(self, **kwargs: Any) -> Any:
            if "DBSnapshotIdentifier" not in kwargs:
                self.get_paginator("describe_db_snapshots")
            return super().describe_db_snapshots(**kwargs)

    _use(monkeypatch, aws, ListingDenied(aws.rds()))
    data, _ = run(event("Update", aws.properties()), context)
    assert data["SchemaVersion"] == NEXT
    assert "AccessDenied" in data["PruneError"] and data["Pruned"] == "none"


# Defect 7: the whole run ends before CloudFormation's ServiceTimeout.


def test_a_snapshot_that_outlasts_cloudformations_time_fails_clearly(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at_newest_with_the_next_pending(aws, context)
    _use(monkeypatch, aws, StatefulRds(aws.rds(), snapshot=["creating"] * 100))
    props = aws.properties(MigrationTimeoutSeconds="600")
    started = handler.on_event(event("Update", props), context)
    waiting = event("Update", props) | started
    assert handler.is_complete(waiting, context) == {"IsComplete": False}
    waiting["Data"] = started["Data"] | {"StartedAt": str(int(time.time()) - 500)}  # 500 s of polling later
    with pytest.raises(DeployFailed, match=r"still creating and the migration step's time \(10 min\)"):
        handler.is_complete(waiting, context)


def test_an_apply_never_runs_past_cloudformations_time_even_with_lambda_time_left(
    aws: Environment, context: LambdaContext
) -> None:
    run(event("Create", aws.properties()), context)
    aws.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id integer);\n")
    props = aws.properties(TakeSnapshots="false", MigrationTimeoutSeconds="3600")
    started = handler.on_event(event("Update", props), context)
    late = started["Data"] | {"StartedAt": str(int(time.time()) - 3600 + budget.ANSWER_MARGIN_S)}
    with pytest.raises(DeployFailed, match="too little time left"):
        handler.is_complete(event("Update", props) | started | {"Data": late}, LambdaContext(remaining_ms=900_000))
    assert [v for v, *_ in history(aws.conninfo)][-1] == NEWEST


def test_the_batch_runs_under_a_transaction_timeout_derived_from_the_deadline(db: str) -> None:
    from migrator.apply import bound_session

    with psycopg.connect(db, autocommit=True) as conn:
        bound_session(conn, time.monotonic() + 90)
        rows = conn.execute(
            "SELECT name, setting::int FROM pg_settings WHERE name IN ('statement_timeout', 'transaction_timeout')"
        ).fetchall()
    limits: dict[str, int] = {str(name): int(value) for name, value in rows}
    assert 85_000 <= limits["statement_timeout"] <= 90_000
    assert limits["transaction_timeout"] == limits["statement_timeout"] + 1000


@pytest.mark.parametrize("value", ["0", "3601", "ten"])
def test_an_invalid_timeout_property_fails_with_its_name(aws: Environment, context: LambdaContext, value: str) -> None:
    with pytest.raises(DeployFailed, match="MigrationTimeoutSeconds must be 60-3600"):
        run(event("Create", aws.properties(MigrationTimeoutSeconds=value)), context)


# Defect 5: a password rotated during a deploy is read again after the server refuses the old one.


def test_a_master_password_rotated_mid_deploy_is_read_again(aws: Environment, pg_admin: str) -> None:
    deployment = handler._deployment(handler._properties(aws.properties()))
    deployment.plan()  # the secret is read and cached for this invocation
    secret = json.loads(aws.secrets().get_secret_value(SecretId=aws.secret_arn)["SecretString"])
    rotated = "Rotated-Master-Pass-42"
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(MASTER_USER), sql.Literal(rotated)))
    try:
        aws.secrets().put_secret_value(SecretId=aws.secret_arn, SecretString=json.dumps(secret | {"password": rotated}))
        assert deployment.plan().pending, "connected with the rotated password"
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(MASTER_USER), sql.Literal(secret["password"])
                )
            )


def _set_master_password(pg_admin: str, password: str) -> None:
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(MASTER_USER), sql.Literal(password)))


def test_a_rotation_stuck_between_setting_and_finishing_connects_with_the_pending_password(
    aws: Environment, pg_admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Single-user rotation: createSecret stores AWSPENDING, setSecret gives the database that password, and
    finishSecret (which moves AWSCURRENT) never ran: AWSCURRENT's password is refused, AWSPENDING's works."""
    current = json.loads(aws.secrets().get_secret_value(SecretId=aws.secret_arn)["SecretString"])
    pending = "Pending-Master-Pass-7"
    aws.secrets().put_secret_value(
        SecretId=aws.secret_arn,
        SecretString=json.dumps(current | {"password": pending}),
        VersionStages=["AWSPENDING"],
    )
    _set_master_password(pg_admin, pending)
    try:
        deployment = handler._deployment(handler._properties(aws.properties()))
        assert deployment.plan().pending, "connected with the pending password"
        assert "trying AWSPENDING" in caplog.text
        assert pending not in caplog.text
    finally:
        _set_master_password(pg_admin, current["password"])


def test_without_a_rotation_in_progress_a_refused_password_stays_refused(aws: Environment, pg_admin: str) -> None:
    current = json.loads(aws.secrets().get_secret_value(SecretId=aws.secret_arn)["SecretString"])
    _set_master_password(pg_admin, "Changed-Out-Of-Band-3")
    try:
        with pytest.raises(MigratorError, match="password authentication failed"):
            handler._deployment(handler._properties(aws.properties())).plan()
    finally:
        _set_master_password(pg_admin, current["password"])


def test_a_rehearsal_copy_restored_before_a_rotation_takes_the_previous_password(
    aws: Environment, pg_admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A restored copy keeps the source's password of the restore point: a rotation that finished since moved it
    to AWSPREVIOUS (the database here plays the copy: it keeps the old password)."""
    current = json.loads(aws.secrets().get_secret_value(SecretId=aws.secret_arn)["SecretString"])
    rotated = "Rotated-After-Restore-9"
    aws.secrets().put_secret_value(SecretId=aws.secret_arn, SecretString=json.dumps(current | {"password": rotated}))
    where = conninfo_to_dict(aws.conninfo)
    sslrootcert, host = str(where["sslrootcert"]), str(where["host"])
    taken = rehearsal_runner.copy_conninfo(aws.secrets(), aws.secret_arn, sslrootcert, host)
    assert conninfo_to_dict(taken)["password"] == current["password"]
    assert "took AWSPREVIOUS's" in caplog.text
    assert rotated not in caplog.text and current["password"] not in caplog.text
    _set_master_password(pg_admin, "Out-Of-Band-Copy-5")
    try:
        with pytest.raises(MigratorError, match="refused the master secret's AWSCURRENT, AWSPREVIOUS: its password"):
            rehearsal_runner.copy_conninfo(aws.secrets(), aws.secret_arn, sslrootcert, host)
    finally:
        _set_master_password(pg_admin, current["password"])


def test_a_role_secret_changed_between_hand_over_and_apply_is_set_again(
    role_name: str, aws: Environment, context: LambdaContext
) -> None:
    role_secret = aws.secrets().create_secret(
        Name=f"{aws.instance}-migrator", SecretString=json.dumps({"username": role_name, "password": "Mig-Pass-1"})
    )["ARN"]
    props = aws.properties(MigratorSecretArn=role_secret)
    started = handler.on_event(event("Create", props), context)  # hands over with Mig-Pass-1
    aws.secrets().put_secret_value(
        SecretId=role_secret, SecretString=json.dumps({"username": role_name, "password": "Mig-Pass-2"})
    )
    done = handler.is_complete(event("Create", props) | started, context)
    assert done["IsComplete"] and done["Data"]["SchemaVersion"] == NEWEST
