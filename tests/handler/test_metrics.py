"""The migration step's embedded-metric-format lines: one per finished step, on stdout, in EMF."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from migrator.aws import handler, metrics
from migrator.aws.rehearsal import Reports
from migrator.errors import DeployFailed
from tests.aws import REGION, Environment, client
from tests.handler.lifecycle import event, run
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import COUNT, NEXT


def emf_lines(text: str, dimensions: tuple[str, ...] = (metrics.DIMENSION,)) -> list[dict[str, Any]]:
    """The EMF documents of these dimensions among the printed lines (the step's by default; each applied file's
    have the environment too), checked against the format's rules on the way."""
    found = []
    for line in text.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document: dict[str, Any] = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert isinstance(document["_aws"]["Timestamp"], int)
        assert directive["Namespace"] == metrics.NAMESPACE
        if directive["Dimensions"] != [list(dimensions)]:
            continue
        for dimension in directive["Dimensions"][0]:
            assert isinstance(document[dimension], str), "each dimension is a string member of the document"
        for metric in directive["Metrics"]:
            assert isinstance(document[metric["Name"]], int | float), "each metric is a number member"
            assert metric["Unit"] in ("Seconds", "Count")
        found.append(document)
    return found


def test_a_fresh_create_reports_duration_the_versions_applied_and_success(
    aws: Environment, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    run(event("Create", aws.properties()), context)
    (line,) = emf_lines(capsys.readouterr().out)
    assert line[metrics.DIMENSION] == aws.instance
    assert line["Outcome"] == "succeeded"
    assert (line["Succeeded"], line["Failed"], line["MigrationsApplied"]) == (1, 0, COUNT)
    assert 0 <= line["Duration"] < 60
    assert "SnapshotWait" not in line and "ManualSnapshots" not in line, "a fresh database needs no snapshot"


def test_a_migrating_deploy_reports_its_snapshot_wait_and_the_manual_snapshots(
    aws: Environment, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    run(event("Create", aws.properties()), context)
    aws.rds().create_db_snapshot(DBSnapshotIdentifier="someone-elses", DBInstanceIdentifier=aws.instance)
    aws.add_migration(f"{NEXT}_tags.sql", "CREATE TABLE tags (id int);\n")
    capsys.readouterr()
    run(event("Update", aws.properties()), context)
    (line,) = emf_lines(capsys.readouterr().out)
    assert (line["MigrationsApplied"], line["Succeeded"]) == (1, 1)
    assert line["SnapshotWait"] >= 0
    everyone = aws.rds().describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]  # moto is shared by tests
    assert {"someone-elses", data_snapshot(aws)} <= {s["DBSnapshotIdentifier"] for s in everyone}
    assert line["ManualSnapshots"] == len(everyone), "everyone's manual snapshots count against the quota"


def data_snapshot(aws: Environment) -> str:
    """Our pre-migration snapshot of this instance."""
    ours = aws.rds().describe_db_snapshots(DBInstanceIdentifier=aws.instance, SnapshotType="manual")["DBSnapshots"]
    (found,) = [s["DBSnapshotIdentifier"] for s in ours if s["DBSnapshotIdentifier"].startswith("premigrate-")]
    return str(found)


def test_a_failure_reports_failed_with_its_duration(
    aws: Environment, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    run(event("Create", aws.properties()), context)
    aws.add_migration(f"{NEXT}_broken.sql", "SELECT 1/0;\n")
    capsys.readouterr()
    with pytest.raises(DeployFailed):
        run(event("Update", aws.properties(TakeSnapshots="false")), context)
    (line,) = emf_lines(capsys.readouterr().out)
    assert (line["Outcome"], line["Step"], line["Succeeded"], line["Failed"]) == ("failed", "is_complete", 0, 1)
    assert line["MigrationsApplied"] == 0 and line["Duration"] >= 0


def test_a_failure_in_on_event_is_reported_too(
    aws: Environment, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = aws.properties(SecretArn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone")
    with pytest.raises(DeployFailed):
        run(event("Create", gone), context)
    (line,) = emf_lines(capsys.readouterr().out)
    assert (line["Outcome"], line["Step"], line["Failed"]) == ("failed", "on_event", 1)


def test_delete_and_status_are_not_migration_steps(
    aws: Environment, context: LambdaContext, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(event("Delete", aws.properties(), physical="p"), context)
    monkeypatch.setenv("MIGRATOR_SECRET_ARN", aws.secret_arn)
    monkeypatch.setenv("MIGRATOR_INSTANCE", aws.instance)
    handler.on_event({"Action": "status"}, context)
    assert emf_lines(capsys.readouterr().out) == []


def test_a_failed_snapshot_count_never_fails_the_deploy(
    aws: Environment, context: LambdaContext, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(event("Create", aws.properties()), context)
    aws.add_migration(f"{NEXT}_tags.sql", "CREATE TABLE tags (id int);\n")

    def denied(_: Any) -> int:
        raise PermissionError("AccessDenied")

    monkeypatch.setattr(metrics, "count_manual_snapshots", denied)
    capsys.readouterr()
    data, _ = run(event("Update", aws.properties()), context)
    assert data["SchemaVersion"] == NEXT
    (line,) = emf_lines(capsys.readouterr().out)
    assert "ManualSnapshots" not in line and line["Succeeded"] == 1


def test_the_line_is_one_json_document_in_emf() -> None:
    line = metrics.emf_line("db-1", {metrics.DURATION: 1.5, metrics.APPLIED: 2}, {"Outcome": "succeeded"})
    assert "\n" not in line
    document = json.loads(line)
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "Duration", "Unit": "Seconds"},
        {"Name": "MigrationsApplied", "Unit": "Count"},
    ]
    assert (document["DBInstanceIdentifier"], document["Duration"], document["Outcome"]) == ("db-1", 1.5, "succeeded")


def test_a_deploy_with_a_rehearsal_on_record_reports_each_files_seconds_beside_the_rehearsals(
    aws: Environment, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    run(event("Create", aws.properties()), context)
    bucket, fingerprint = f"reports-{aws.instance}", "feed" * 16
    s3 = client(aws.endpoint, "s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rehearsed = {"version": NEXT, "name": "tags", "seconds": 0.25}
    report = {"environment": "prod", "fingerprint": fingerprint, "passed": True, "finished_at": finished}
    Reports(s3, bucket).put(report | {"measurement": {"files": [rehearsed]}})
    aws.add_migration(f"{NEXT}_tags.sql", "CREATE TABLE tags (id int);\n")
    props = aws.properties(RehearsalRequired="true", RehearsalBucket=bucket, Fingerprint=fingerprint)
    update = event("Update", props) | {"StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/AalapVma-prod/1"}
    capsys.readouterr()
    data, _ = run(update, context)
    (line,) = emf_lines(capsys.readouterr().out, (metrics.DIMENSION, metrics.ENV_DIMENSION))
    assert (line["Version"], line[metrics.ENV_DIMENSION], line[metrics.DIMENSION]) == (NEXT, "prod", aws.instance)
    assert line[metrics.REHEARSED_FILE_SECONDS] == 0.25 and 0 <= line[metrics.FILE_SECONDS] < 60
    assert "FileSeconds" not in data, "the timings stay out of CloudFormation's response (4 KB)"
