"""The CodeBuild path of the migration step: the handlers route a deploy to the runner, start its build
once per request, poll it, and answer from the database's history. The builds are a fake CodeBuild
whose runner really runs (a subprocess) against the RDS-like test server; moto covers the API wiring."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from migrator.aws import codebuild, handler
from migrator.aws.step_data import ATTRIBUTES
from migrator.errors import DeployFailed
from migrator.files import RUNNER_MARKER
from tests.aws import Environment, client
from tests.engine.helpers import lock_is_free, state
from tests.handler.lifecycle import event, run
from tests.support.fake_codebuild import FakeCodeBuild, FakeLogs, create_project
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import NEWEST, NEXT, later
from tests.support.runner import runner_environment

PROJECT_NAME = "aalap-migration-runner"
MARKED = f"{RUNNER_MARKER}\n"
CODEBUILD_PROPS = {
    "RunnerProject": PROJECT_NAME,
    "MigrationTimeoutSeconds": "3600",
    "BuildTimeoutSeconds": "3000",
    "RunnerTimeoutSeconds": "2900",
}


@pytest.fixture
def builds(aws: Environment, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCodeBuild]:
    """The fake CodeBuild, with the project's variables as the stack sets them; 1 build minute = 1 s."""
    environment = runner_environment(aws.secret_arn, aws.bundle, 0, MIGRATOR_IDLE_TIMEOUT="5")
    fake = FakeCodeBuild(PROJECT_NAME, environment, seconds_per_minute=1)
    logs = FakeLogs(fake)
    monkeypatch.setattr(codebuild, "_clients", lambda: (fake, logs))
    yield fake
    fake.wait_all()


def _deploy(request: dict[str, Any], context: LambdaContext, timeout: float = 120) -> tuple[dict[str, Any], int]:
    """The Provider's flow with a pause between polls (its 15 s, shortened): (final Data, polls)."""
    started = handler.on_event(request, context)
    waiting = request | started
    deadline, polls = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        polls += 1
        answer = handler.is_complete(waiting, context)
        if answer["IsComplete"]:
            assert set(answer) == {"IsComplete", "Data"}
            return dict(started["Data"]) | dict(answer["Data"]), polls
        assert set(answer) == {"IsComplete"}, "the Provider refuses Data while IsComplete is false"
        time.sleep(0.3)
    raise AssertionError(f"no answer within {timeout}s")


def _at_newest(aws: Environment) -> None:
    data, _ = run(event("Create", aws.properties()), LambdaContext())
    assert data["SchemaVersion"] == NEWEST


@pytest.mark.slow  # a real runner process through a batch longer than the budget
def test_a_batch_longer_than_the_lambda_budget_completes_through_codebuild(
    aws: Environment, builds: FakeCodeBuild, capsys: pytest.CaptureFixture[str]
) -> None:
    _at_newest(aws)
    body = "CREATE TABLE backfilled (id int);\nSELECT pg_sleep(10);\n"
    aws.add_migration(f"{NEXT}_backfill.sql", body)
    short_lambda = LambdaContext(remaining_ms=38_000)  # 8 s of apply budget after the handler's 30 s margin
    before = state(aws.conninfo)
    with pytest.raises(DeployFailed, match=rf"time budget exhausted at {NEXT}_backfill.sql:2 \(the statement was"):
        _deploy(event("Update", aws.properties(TakeSnapshots="false")), short_lambda)
    assert state(aws.conninfo) == before, "the Lambda cannot do it within its budget"
    aws.add_migration(f"{NEXT}_backfill.sql", MARKED + body)
    capsys.readouterr()
    data, polls = _deploy(event("Update", aws.properties(**CODEBUILD_PROPS), old=aws.properties()), short_lambda)
    assert (data["SchemaVersion"], data["Applied"], data["RunsIn"]) == (NEXT, NEXT, "codebuild")
    (timed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"FileSeconds"' in line]
    assert (timed["Version"], timed["FileSeconds"] >= 10) == (NEXT, True), "the runner's file, timed by the history"
    assert "FileSeconds" not in data, "never in CloudFormation's response"
    assert data["SnapshotId"].startswith(f"premigrate-{aws.instance}-v{NEWEST}-to-v{NEXT}-")
    assert data["RunnerBuild"].startswith(f"{PROJECT_NAME}:")
    assert all(data[key] for key in ATTRIBUTES)
    assert polls > 3, "the build was polled while it ran"
    assert len(builds.started) == 1, "one build per request, found again on every poll"
    (started,) = builds.started
    assert 5 <= started["timeoutInMinutesOverride"] <= 50
    assert lock_is_free(aws.conninfo)


def test_the_environment_setting_sends_every_migrating_deploy_to_codebuild(
    aws: Environment, builds: FakeCodeBuild
) -> None:
    _at_newest(aws)
    aws.add_migration(f"{NEXT}_plain.sql", "CREATE TABLE plain (id int);\n")
    data, _ = _deploy(event("Update", aws.properties(Runner="codebuild", **CODEBUILD_PROPS)), LambdaContext())
    assert (data["SchemaVersion"], data["RunsIn"], data["RunnerReason"]) == (
        NEXT,
        "codebuild",
        "the environment's runner is codebuild",
    )
    assert len(builds.started) == 1


def test_nothing_pending_never_starts_a_build(aws: Environment, builds: FakeCodeBuild) -> None:
    _at_newest(aws)
    data, polls = _deploy(event("Update", aws.properties(Runner="codebuild", **CODEBUILD_PROPS)), LambdaContext())
    assert (data["SchemaVersion"], polls, builds.started) == (NEWEST, 1, [])


def test_a_failed_build_answers_failed_with_the_runner_line_what_was_committed_and_the_log(
    aws: Environment, builds: FakeCodeBuild
) -> None:
    _at_newest(aws)
    before = state(aws.conninfo)
    aws.add_migration(f"{NEXT}_ok.sql", MARKED + "CREATE TABLE tags (id integer PRIMARY KEY);\n")
    aws.add_migration(f"{later(2)}_broken.sql", "INSERT INTO tags VALUES (1);\nINSERT INTO tags VALUES (1);\n")
    with pytest.raises(DeployFailed) as failed:
        _deploy(event("Update", aws.properties(**CODEBUILD_PROPS)), LambdaContext())
    reason = str(failed.value)
    assert reason.startswith(f"migrator-runner: FAILED: {later(2)}_broken.sql:2: SQLSTATE 23505")
    assert "ended FAILED" in reason and "committed: nothing (the batch rolled back)" in reason
    assert len(reason) <= handler.MAX_REASON
    assert state(aws.conninfo) == before
    assert lock_is_free(aws.conninfo)


@pytest.mark.slow  # waits for the build's timeout
def test_a_build_that_times_out_is_killed_mid_statement_and_leaves_nothing(
    aws: Environment, builds: FakeCodeBuild
) -> None:
    """CodeBuild kills the container at its timeout: the server cancels the statement, the lock is free."""
    _at_newest(aws)
    before = state(aws.conninfo)
    aws.add_migration(f"{NEXT}_endless.sql", MARKED + "CREATE TABLE endless (id int);\nSELECT pg_sleep(60);\n")
    props = aws.properties(**CODEBUILD_PROPS | {"BuildTimeoutSeconds": "330"})  # a 5-minute build: 5 s here
    with pytest.raises(DeployFailed) as failed:
        _deploy(event("Update", props), LambdaContext())
    reason = str(failed.value)
    assert (
        "ended TIMED_OUT" in reason
        and "applying the pending migrations of" in reason
        and "committed: nothing (the batch rolled back)" in reason
    )
    deadline = time.monotonic() + 15  # client_connection_check_interval: within 2 s of the kill
    while not lock_is_free(aws.conninfo) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lock_is_free(aws.conninfo)
    assert state(aws.conninfo) == before


def test_a_rollback_or_delete_stops_a_build_still_running(aws: Environment, builds: FakeCodeBuild) -> None:
    _at_newest(aws)
    before = state(aws.conninfo)
    aws.add_migration(f"{NEXT}_slow.sql", MARKED + "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n")
    request = event("Update", aws.properties(**CODEBUILD_PROPS))
    waiting = request | handler.on_event(request, LambdaContext())
    assert handler.is_complete(waiting, LambdaContext()) == {"IsComplete": False}  # started
    (build_id,) = builds.builds
    handler.on_event(event("Delete", aws.properties(**CODEBUILD_PROPS), physical="p"), LambdaContext())
    assert builds.batch_get_builds(ids=[build_id])["builds"][0]["buildStatus"] == "STOPPED"
    deadline = time.monotonic() + 15
    while not lock_is_free(aws.conninfo) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state(aws.conninfo) == before


def test_a_marker_without_a_runner_project_fails_before_any_snapshot(aws: Environment) -> None:
    _at_newest(aws)
    aws.add_migration(f"{NEXT}_big.sql", "-- migrate:no-transaction\n" + MARKED + "CREATE TABLE big (id int);\n")
    with pytest.raises(DeployFailed, match=rf"{NEXT}_big\.sql marked .*no runner project"):
        handler.on_event(event("Update", aws.properties()), LambdaContext())
    snapshots = aws.rds().describe_db_snapshots(DBInstanceIdentifier=aws.instance, SnapshotType="manual")["DBSnapshots"]
    assert snapshots == []


def test_too_little_time_left_for_a_build_fails_cleanly(aws: Environment, builds: FakeCodeBuild) -> None:
    _at_newest(aws)
    aws.add_migration(f"{NEXT}_x.sql", MARKED + "CREATE TABLE x (id int);\n")
    props = aws.properties(**CODEBUILD_PROPS | {"BuildTimeoutSeconds": "240"})
    with pytest.raises(DeployFailed, match="too little time left to start the CodeBuild runner"):
        _deploy(event("Update", props), LambdaContext())
    assert builds.started == []


def test_moto_accepts_the_calls_the_project_makes(aws: Environment) -> None:
    """Wiring only: moto validates names and shapes, but runs nothing and drops the variable overrides."""
    api, name = client(aws.endpoint, "codebuild"), f"{PROJECT_NAME}-{aws.instance}"  # moto's state is per process
    create_project(api, name)
    project = codebuild.Project(api, name)
    started = project.start("request-1", time.time() + 600, 10)
    assert started.id.startswith(f"{name}:") and started.status == "IN_PROGRESS"
    assert [b.id for b in project.builds()] == [started.id]
    assert api.stop_build(id=started.id)["build"]["buildStatus"] == "STOPPED"
