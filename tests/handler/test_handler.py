"""The handler's decisions on a real PostgreSQL, with RDS and Secrets Manager emulated by moto (server mode)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from migrator.aws import handler
from migrator.errors import DeployFailed
from tests.aws import Environment
from tests.engine.helpers import catalog, history, state
from tests.handler.lifecycle import event, run
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import COUNT, NEWEST, NEXT, later


def _snapshots(aws: Environment) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = aws.rds().describe_db_snapshots(
        DBInstanceIdentifier=aws.instance, SnapshotType="manual"
    )["DBSnapshots"]
    return found


def _at_newest(aws: Environment, context: LambdaContext) -> None:
    data, _ = run(event("Create", aws.properties()), context)
    assert data["SchemaVersion"] == NEWEST


def test_create_on_a_fresh_database_loads_the_schema_without_a_snapshot(
    aws: Environment, context: LambdaContext
) -> None:
    data, polls = run(event("Create", aws.properties()), context)
    assert (data["SchemaVersion"], data["SnapshotId"], polls) == (NEWEST, "none", 1)
    assert data["PhysicalResourceId"] == f"schema-migrations-{aws.instance}"
    assert len(history(aws.conninfo)) == COUNT
    assert _snapshots(aws) == []


def test_pending_migration_takes_a_snapshot_then_applies(aws: Environment, context: LambdaContext) -> None:
    _at_newest(aws, context)
    previous = aws.properties(NewestVersion=NEWEST)  # the last deploy's properties: an earlier token
    aws.add_migration(f"{NEXT}_add_tags.sql", "ALTER TABLE projects ADD COLUMN tags text[] NOT NULL DEFAULT '{}';\n")
    data, _ = run(
        event(
            "Update",
            aws.properties(),
            old=previous,
            physical=f"schema-migrations-{aws.instance}",
        ),
        context,
    )
    assert data["SchemaVersion"] == NEXT
    assert data["SnapshotId"].startswith(f"premigrate-{aws.instance}-v{NEWEST}-to-v{NEXT}-")
    assert "column projects.tags" in catalog(aws.conninfo)
    (snapshot,) = _snapshots(aws)
    assert snapshot["DBSnapshotIdentifier"] == data["SnapshotId"]
    tags = {
        t["Key"]: t["Value"]
        for t in aws.rds().list_tags_for_resource(ResourceName=snapshot["DBSnapshotArn"])["TagList"]
    }
    assert tags == {"migrator:pre-migration": "true", "migrator:from": NEWEST, "migrator:to": NEXT}


def test_nothing_pending_takes_no_snapshot_and_finishes_in_one_poll(aws: Environment, context: LambdaContext) -> None:
    _at_newest(aws, context)  # its speed is measured by `make e2e` (wall time per step), not asserted here
    data, polls = run(event("Update", aws.properties()), context)
    assert (data["SchemaVersion"], data["SnapshotId"], polls) == (NEWEST, "none", 1)
    assert _snapshots(aws) == []


def test_failure_answers_failed_with_the_file_and_leaves_the_database_untouched(
    aws: Environment, context: LambdaContext
) -> None:
    _at_newest(aws, context)
    before = state(aws.conninfo)
    aws.add_migration(f"{NEXT}_ok.sql", "CREATE TABLE tags (id integer PRIMARY KEY);\n")
    aws.add_migration(f"{later(2)}_broken.sql", "INSERT INTO tags VALUES (1);\nINSERT INTO tags VALUES (1);\n")
    with pytest.raises(DeployFailed) as failed:
        run(event("Update", aws.properties()), context)
    reason = str(failed.value)
    assert f"{later(2)}_broken.sql:2: SQLSTATE 23505" in reason
    assert len(reason) <= handler.MAX_REASON
    assert state(aws.conninfo) == before
    assert len(_snapshots(aws)) == 1, "the snapshot taken before the attempt stays"


def test_rollback_update_and_delete_never_touch_the_database(aws: Environment, context: LambdaContext) -> None:
    _at_newest(aws, context)
    before = state(aws.conninfo)
    unreachable = aws.properties(SecretArn="arn:aws:secretsmanager:eu-west-1:000000000000:secret:gone")
    rollback = event(
        "Update",
        unreachable | {"NewestVersion": NEWEST},
        old=aws.properties(NewestVersion=later(2)),
        physical="schema-migrations-x",
    )
    data, _ = run(rollback, context)
    assert data["PhysicalResourceId"] == "schema-migrations-x"
    assert "rollback" in data["Note"] and "not checked" in data["Note"]
    data, _ = run(event("Delete", unreachable, physical="schema-migrations-x"), context)
    assert data["Note"] == "delete keeps the database"
    assert state(aws.conninfo) == before


def test_versions_unknown_to_an_older_bundle_are_reported_not_fatal(aws: Environment, context: LambdaContext) -> None:
    aws.add_migration(f"{NEXT}_new.sql", "CREATE TABLE newer (id integer);\n")
    run(event("Create", aws.properties()), context)
    (aws.bundle / "migrations" / f"{NEXT}_new.sql").unlink()
    previous = aws.properties(NewestVersion=NEXT)
    data, _ = run(event("Update", aws.properties(NewestVersion=NEWEST), old=previous), context)
    assert data["SchemaVersion"] == NEXT


def test_a_secret_missing_keys_fails_with_a_reason_and_no_password(aws: Environment, context: LambdaContext) -> None:
    aws.secrets().put_secret_value(
        SecretId=aws.secret_arn, SecretString=json.dumps({"username": "u", "password": "hunter2-Secret"})
    )
    with pytest.raises(DeployFailed) as failed:
        run(event("Create", aws.properties()), context)
    assert "the database secret lacks host, port, dbname" in str(failed.value)
    assert "hunter2" not in str(failed.value)


def test_too_little_lambda_time_fails_cleanly_before_applying(aws: Environment) -> None:
    with pytest.raises(DeployFailed, match="too little time left"):
        run(event("Create", aws.properties()), LambdaContext(remaining_ms=20_000))
    assert history(aws.conninfo) == []


def test_status_action_is_read_only(aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATOR_SECRET_ARN", aws.secret_arn)
    monkeypatch.setenv("MIGRATOR_INSTANCE", aws.instance)
    answer = handler.on_event({"Action": "status"}, context)
    assert answer["ok"] is True
    assert [p["version"] for p in answer["pending"]][-1] == NEWEST
    assert answer["applied"] == [] and history(aws.conninfo) == []


def test_migrations_run_as_the_migration_role_which_owns_the_database(
    role_name: str, aws: Environment, context: LambdaContext
) -> None:
    secret = aws.secrets().create_secret(
        Name=f"{aws.instance}-migrator", SecretString=json.dumps({"username": role_name, "password": "Mig-Pass-88"})
    )
    data, _ = run(event("Create", aws.properties(MigratorSecretArn=secret["ARN"])), context)
    assert data["SchemaVersion"] == NEWEST
    with psycopg.connect(aws.conninfo) as conn:
        owners = {r[0] for r in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
        database_owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert owners == {role_name}
    assert database_owner == (role_name,)


@pytest.mark.slow  # runs until the budget is spent
def test_many_short_statements_cannot_outrun_the_lambda(aws: Environment) -> None:
    """statement_timeout bounds one statement; the deadline bounds their sum: a clean, rolled-back failure."""
    run(event("Create", aws.properties()), LambdaContext())
    before = state(aws.conninfo)
    aws.add_migration(f"{NEXT}_slow_steps.sql", "CREATE TABLE steps (id int);\n" + "SELECT pg_sleep(0.5);\n" * 40)
    with pytest.raises(DeployFailed, match=rf"time budget exhausted (before|at) {NEXT}_slow_steps.sql:\d+"):
        run(event("Update", aws.properties(TakeSnapshots="false")), LambdaContext(remaining_ms=38_000))
    assert state(aws.conninfo) == before


@pytest.mark.parametrize(
    ("new", "old", "rollback"),
    [
        (
            {"DeployToken": "20261127T100000Z", "NewestVersion": "008"},
            {"DeployToken": "20261127T110000Z", "NewestVersion": "008"},
            True,
        ),  # engine-only change undone
        (
            {"DeployToken": "20261127T120000Z", "NewestVersion": "008"},
            {"DeployToken": "20261127T110000Z", "NewestVersion": "008"},
            False,
        ),  # a forward deploy
        ({"NewestVersion": "007"}, {"NewestVersion": "009"}, True),  # on-change mode, migrations undone
        ({"NewestVersion": "009"}, {"NewestVersion": "007"}, False),
    ],
)
def test_an_older_template_is_recognised_by_deploy_time_or_version(
    new: dict[str, str], old: dict[str, str], rollback: bool
) -> None:
    assert handler.is_backward(event("Update", new, old=old)) is rollback


def test_a_rollback_never_fails_even_when_the_database_is_unreachable(aws: Environment, context: LambdaContext) -> None:
    broken = aws.properties(
        SecretArn="arn:aws:secretsmanager:eu-west-1:000000000000:secret:gone", DeployToken="20261127T100000Z"
    )
    data, _ = run(event("Update", broken, old=aws.properties(DeployToken="20261127T110000Z"), physical="p"), context)
    assert data["Note"].startswith("older template (rollback?)")
    assert data["SchemaVersion"] == "unchecked"
