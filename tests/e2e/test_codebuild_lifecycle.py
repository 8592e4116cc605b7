"""The CodeBuild path as CloudFormation and the real Provider framework drive it: a migration marked for
the runner is applied by a build (the runner really runs, a subprocess, on the bundle of the request),
polled across the waiter's is_complete calls without Data, and a failing one rolls the stack back with
the runner's own verdict and nothing applied."""

from __future__ import annotations

from migrator.files import RUNNER_MARKER
from tests.e2e.harness import Deployer
from tests.engine.helpers import catalog, lock_is_free, state
from tests.support.fake_codebuild import FakeCodeBuild
from tests.support.migrations import NEWEST, NEXT, later

MARKED = f"{RUNNER_MARKER}\n"


def test_marked_migrations_run_in_the_runner_through_the_provider_framework(
    deployer: Deployer, builds: FakeCodeBuild
) -> None:
    conninfo = deployer.environment.conninfo
    created = deployer.deploy("create on a fresh database (the Lambda: nothing is marked)")
    assert (created.status, created.outputs["SchemaVersion"]) == ("CREATE_COMPLETE", NEWEST), created.reason
    assert builds.started == []

    body = "CREATE TABLE backfilled (id int);\nSELECT pg_sleep(2);\n"
    deployer.add_migration(f"{NEXT}_backfill.sql", MARKED + body)
    moved = deployer.deploy("update whose migration is marked for the CodeBuild runner")
    assert (moved.status, moved.outputs["SchemaVersion"]) == ("UPDATE_COMPLETE", NEXT), moved.reason
    assert moved.outputs["PreMigrationSnapshot"].startswith(f"premigrate-{deployer.environment.instance}-v{NEWEST}")
    (started,) = builds.started
    assert {v["name"] for v in started["environmentVariablesOverride"]} >= {"MIGRATOR_REQUEST", "MIGRATOR_DEADLINE"}
    assert "table backfilled" in catalog(conninfo)

    before = state(conninfo)
    deployer.add_migration(f"{later(2)}_broken.sql", MARKED + "CREATE TABLE half (id int);\nSELECT 1/0;\n")
    failed = deployer.deploy("update whose marked migration fails, then the rollback update")
    attempt, rollback = failed.requests
    assert attempt.response["Status"] == "FAILED"
    assert "migrator-runner: FAILED" in attempt.reason and "22012" in attempt.reason, attempt.reason
    assert "committed: nothing (the batch rolled back)" in attempt.reason
    assert rollback.request_type == "Update"
    assert failed.status == "UPDATE_ROLLBACK_COMPLETE", failed.reason
    assert failed.outputs["SchemaVersion"] == NEXT
    assert state(conninfo) == before and lock_is_free(conninfo)
    assert len(builds.started) == 2, "the rollback brings nothing new: no build"
