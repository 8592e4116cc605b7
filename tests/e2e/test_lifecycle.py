"""The path a deploy takes, step by step, as CloudFormation and the real Provider framework drive it."""

from __future__ import annotations

import itertools
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from migrator.aws import handler
from tests.cdk.synth import synth, with_environment
from tests.e2e.cloudformation import RESPONSE_LIMIT, Operation, ResourceRequest
from tests.e2e.harness import Deployer
from tests.e2e.waiter import Execution
from tests.engine.helpers import catalog, history, state
from tests.support.fake_rds import SlowSnapshots
from tests.support.migrations import COUNT, NEWEST, NEXT, later


def expect(operation: Operation, status: str, problems: list[str]) -> Operation:
    """The stack reached `status`; every output the resource feeds is filled (empty ones are collected).

    A wrong status stops the test (later steps assume it); empty outputs are reported together at the end.
    """
    assert operation.status == status, (
        f"{operation.step}: {operation.status}, expected {status}: {operation.reason}"
        + "".join(f"\n  earlier: {p}" for p in problems)
    )
    problems.extend(f"{operation.step}: output {name} is empty" for name, v in operation.outputs.items() if not v)
    return operation


def blames(reason: str, file: str, line: int, sqlstate: str) -> bool:
    """The reason names the file, the line (a column may follow) and the SQLSTATE, as the engine reports."""
    return re.search(rf"{re.escape(file)}:{line}(:\d+)?: SQLSTATE {sqlstate}\b", reason) is not None


def passwords(deployer: Deployer) -> list[str]:
    """The master's and the migration role's passwords, as their secrets hold them."""
    env = deployer.environment
    secrets = env.secrets()
    return [
        str(json.loads(secrets.get_secret_value(SecretId=a)["SecretString"])["password"])
        for a in (env.secret_arn, env.role_secret_arn)
    ]


def everything_said(deployer: Deployer) -> str:
    """Every response CloudFormation received, every user function answer, and the framework's log lines."""
    responses = [r.raw.decode() for o in deployer.stack.operations for r in o.requests]
    answers = [c.answer.payload for c in deployer.user_calls]
    logs = [line for run in deployer.framework_runs for line in run.logs]
    return "\n".join(responses + answers + logs)


def test_full_lifecycle(deployer: Deployer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = deployer.environment
    problems: list[str] = []

    created = expect(deployer.deploy("create on a fresh database"), "CREATE_COMPLETE", problems)
    assert created.outputs["SchemaVersion"] == NEWEST
    assert deployer.snapshot_ids() == [], "a fresh database has nothing to lose: no snapshot"

    deployer.add_migration(f"{NEXT}_add_tags.sql", "ALTER TABLE projects ADD COLUMN IF NOT EXISTS tags text[];\n")
    one = expect(deployer.deploy("update bringing one migration"), "UPDATE_COMPLETE", problems)
    assert one.outputs["SchemaVersion"] == NEXT
    assert one.outputs["PreMigrationSnapshot"] in deployer.snapshot_ids()
    assert one.outputs["PreMigrationSnapshot"].startswith(f"premigrate-{env.instance}-v{NEWEST}-to-v{NEXT}-")

    deployer.add_migration(f"{later(2)}_add_labels.sql", "CREATE TABLE IF NOT EXISTS labels (id bigint PRIMARY KEY);\n")
    deployer.add_migration(f"{later(3)}_add_label_index.sql", "CREATE INDEX IF NOT EXISTS idx_labels ON labels (id);\n")
    several = expect(deployer.deploy("update bringing several migrations"), "UPDATE_COMPLETE", problems)
    assert several.outputs["SchemaVersion"] == later(3)
    assert several.first.data["Applied"] == f"{later(2)},{later(3)}"

    before_failure, good_properties, physical = (
        state(env.conninfo),
        deployer.stack.properties,
        deployer.stack.physical_id,
    )
    deployer.add_migration(
        f"{later(4)}_broken.sql", f"CREATE TABLE t{later(4)} (id int);\nALTER TABLE missing_table ADD COLUMN x int;\n"
    )
    failed = deployer.deploy("update whose migration fails, then the rollback update")
    attempt, rollback = failed.requests
    assert attempt.response["Status"] == "FAILED"
    assert blames(attempt.reason, f"{later(4)}_broken.sql", 2, "42P01"), attempt.reason
    assert rollback.request_type == "Update" and rollback.event["PhysicalResourceId"] == physical
    assert rollback.event["ResourceProperties"] == good_properties
    assert rollback.event["OldResourceProperties"] == attempt.event["ResourceProperties"]
    assert state(env.conninfo) == before_failure
    assert any(f"-v{later(3)}-to-v{later(4)}-" in s for s in deployer.snapshot_ids()), (
        "the snapshot taken before the attempt stays"
    )
    expect(failed, "UPDATE_ROLLBACK_COMPLETE", problems)
    assert failed.outputs["SchemaVersion"] == later(3), "after the rollback the output says what the database is at"
    assert deployer.stack.properties == good_properties

    deployer.remove_migration(f"{later(4)}_broken.sql")
    snapshots = deployer.snapshot_ids()
    quiet = expect(deployer.deploy("update with nothing pending"), "UPDATE_COMPLETE", problems)
    assert quiet.outputs["SchemaVersion"] == later(3)
    assert deployer.snapshot_ids() == snapshots, "nothing to migrate: no snapshot"

    deleted = deployer.delete("delete")
    assert deleted.status == "DELETE_COMPLETE", deleted.reason
    assert "table labels" in catalog(env.conninfo) and len(history(env.conninfo)) == COUNT + 3, "the data stays"

    requests = [r for o in deployer.stack.operations for r in o.requests]
    assert all(r.answers == 1 for r in requests), "the framework answers every request exactly once"
    assert all(len(r.raw) < RESPONSE_LIMIT for r in requests)
    said = everything_said(deployer)
    for secret in passwords(deployer):
        assert secret not in said and secret not in caplog.text
    assert not problems, "\n".join(problems)


def test_snapshot_retention_after_more_deploys_than_the_count(deployer: Deployer) -> None:
    rds, other = deployer.environment.rds(), f"someone-elses-{deployer.environment.instance}"
    rds.create_db_snapshot(DBSnapshotIdentifier=other, DBInstanceIdentifier=deployer.environment.instance)
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    keep = int(deployer.properties()["SnapshotRetention"])
    taken = []
    for step in range(1, keep + 4):
        deployer.add_migration(f"{later(step)}_step.sql", f"CREATE TABLE IF NOT EXISTS step_{step} (id int);\n")
        operation = deployer.deploy(f"migrating deploy {later(step)}")
        assert operation.status == "UPDATE_COMPLETE", operation.reason
        taken.append(operation.outputs["PreMigrationSnapshot"])
    assert deployer.snapshot_ids() == sorted([*taken[-keep:], other])


def test_a_very_long_sql_error_still_fits_the_response(deployer: Deployer) -> None:
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    long_name = "x" * 60
    statements = "".join(f"SELECT {long_name}_{i} FROM nowhere_{i};\n" for i in range(3))
    deployer.add_migration(f"{NEXT}_long.sql", f"-- {'padding ' * 2000}\nSELECT '{'y' * 20000}'::int;\n{statements}")
    operation = deployer.deploy("update with a huge error")
    attempt = operation.first
    assert attempt.response["Status"] == "FAILED"
    # The framework answers with the JavaScript error's stack: the handler's reason is its first line.
    assert attempt.reason.startswith(f"Error: {NEXT}_long.sql:2"), attempt.reason[:300]
    assert blames(attempt.reason.splitlines()[0], f"{NEXT}_long.sql", 2, "22P02"), attempt.reason[:300]
    assert len(attempt.raw) < RESPONSE_LIMIT
    assert operation.status == "UPDATE_ROLLBACK_COMPLETE", operation.reason


def test_a_failing_create_is_rolled_back_by_a_delete_that_keeps_the_database(deployer: Deployer) -> None:
    deployer.add_migration(f"{NEXT}_broken.sql", "SELECT 1 / 0;\n")
    operation = deployer.deploy("create whose migration fails")
    attempt, undo = operation.requests
    assert attempt.response["Status"] == "FAILED" and blames(attempt.reason, f"{NEXT}_broken.sql", 1, "22012")
    assert (undo.request_type, undo.event["PhysicalResourceId"]) == ("Delete", attempt.physical_id)
    assert operation.status == "ROLLBACK_COMPLETE", operation.reason
    assert history(deployer.environment.conninfo) == [], "the failed batch left nothing behind"


def test_restore_environment_synthesizes_an_instance_from_the_snapshot(tmp_path: Path) -> None:
    templates = synth(
        tmp_path, **with_environment("staging", restoreSnapshotId=f"premigrate-db-v{NEWEST}-to-v{NEXT}-x")
    )
    (instance,) = templates["staging"].find_resources("AWS::RDS::DBInstance").values()
    assert instance["Properties"]["DBSnapshotIdentifier"] == f"premigrate-db-v{NEWEST}-to-v{NEXT}-x"
    assert "MasterUsername" not in instance["Properties"], "the snapshot's master user is kept"


def waiter_of(deployer: Deployer, request: ResourceRequest) -> Execution:
    """The waiter execution the framework started for `request` (its input is the request, with Data)."""
    (execution,) = [e for e in deployer.step_functions.executions if e.input["RequestId"] == request.event["RequestId"]]
    return execution


def _waiter_retry(deployer: Deployer) -> dict[str, Any]:
    (definition,) = deployer.model.state_machines.values()
    task = definition["States"][definition["StartAt"]]
    (retry,) = task["Retry"]
    return dict(retry)


def test_is_complete_polls_a_snapshot_that_is_still_creating(
    deployer: Deployer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    deployer.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE IF NOT EXISTS tags (id int);\n")
    slow, secrets = SlowSnapshots(deployer.environment.rds(), polls=3), deployer.environment.secrets()
    monkeypatch.setattr(handler, "_clients", lambda: (slow, secrets))
    operation = deployer.deploy("update while the snapshot is creating")
    assert operation.status == "UPDATE_COMPLETE", operation.reason
    assert operation.outputs["SchemaVersion"] == NEXT
    execution = waiter_of(deployer, operation.first)
    times = [t for _, t in execution.attempts]
    assert len(times) >= 3, "is_complete answered IsComplete=False while the snapshot was creating"
    interval = float(_waiter_retry(deployer)["IntervalSeconds"])
    assert all(interval <= b - a < interval + 5 for a, b in itertools.pairwise(times)), times
    calls = [c for c in deployer.user_calls if c.function.entry == "is_complete"][-len(times) :]
    assert all(c.answer.function_error is None for c in calls)


def test_the_user_functions_see_their_own_timeout(deployer: Deployer, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, int] = {}

    def watching(name: str) -> Any:
        real = getattr(handler, name)

        def entry(event: dict[str, Any], context: Any) -> Any:
            seen.setdefault(name, context.get_remaining_time_in_millis())
            return real(event, context)

        return entry

    for name in ("on_event", "is_complete"):
        monkeypatch.setattr(handler, name, watching(name))
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    timeouts = {f.entry: f.timeout_s * 1000 for f in deployer.model.functions.values()}
    for name, remaining in seen.items():
        assert timeouts[name] - 1000 < remaining <= timeouts[name], (name, remaining)


def test_a_snapshot_that_never_becomes_available_times_out_through_on_timeout(
    deployer: Deployer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    before = state(deployer.environment.conninfo)
    deployer.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE IF NOT EXISTS tags (id int);\n")
    stuck, secrets = SlowSnapshots(deployer.environment.rds(), polls=10**6), deployer.environment.secrets()
    monkeypatch.setattr(handler, "_clients", lambda: (stuck, secrets))
    operation = deployer.deploy("update whose snapshot never completes")
    attempt = operation.first
    assert (attempt.response["Status"], attempt.reason) == ("FAILED", "Operation timed out")
    retry = _waiter_retry(deployer)
    execution = waiter_of(deployer, attempt)
    polls = [name for name, _ in execution.attempts if "isComplete" in name]
    assert len(polls) == 1 + int(retry["MaxAttempts"]) and execution.status == "SUCCEEDED"
    assert int(retry["MaxAttempts"]) * float(retry["IntervalSeconds"]) <= attempt.seconds
    assert attempt.seconds < deployer.model.service_timeout_s, "the framework answers before CloudFormation gives up"
    assert state(deployer.environment.conninfo) == before
    assert operation.status == "UPDATE_ROLLBACK_COMPLETE", operation.reason


def test_the_stand_in_fails_an_operation_whose_response_lacks_an_output_attribute(
    deployer: Deployer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudFormation's GetAtt check, proven on the stand-in itself: a handler that forgets SchemaVersion."""

    def forgetting(name: str) -> Any:
        real = getattr(handler, name)

        def entry(event: dict[str, Any], context: Any) -> Any:
            answer = dict(real(event, context))
            answer["Data"] = {k: v for k, v in (answer.get("Data") or {}).items() if k != "SchemaVersion"}
            return answer

        return entry

    for name in ("on_event", "is_complete"):
        monkeypatch.setattr(handler, name, forgetting(name))
    operation = deployer.deploy("create answering without SchemaVersion")
    attempt, undo = operation.requests
    assert attempt.response["Status"] == "SUCCESS" and "SchemaVersion" not in attempt.data
    assert "Vendor response doesn't contain SchemaVersion key" in operation.reason
    assert (undo.request_type, operation.status) == ("Delete", "ROLLBACK_COMPLETE")


def test_each_step_emits_its_metrics_in_embedded_metric_format(
    deployer: Deployer, capsys: pytest.CaptureFixture[str]
) -> None:
    """What CloudWatch would read from the functions' log lines (EMF): one record per finished step."""
    capsys.readouterr()
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    deployer.add_migration(f"{NEXT}_add_tags.sql", "ALTER TABLE projects ADD COLUMN IF NOT EXISTS tags text[];\n")
    assert deployer.deploy("update bringing one migration").status == "UPDATE_COMPLETE"
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    done = [r for r in records if r.get("Outcome") == "succeeded" and r.get("Step") == "is_complete"]
    assert [r["MigrationsApplied"] for r in done][-1] == 1
    for record in records:
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "AalapVma/Migrations"
        assert all(metric["Name"] in record for metric in directive["Metrics"]), "every metric named has a value"
