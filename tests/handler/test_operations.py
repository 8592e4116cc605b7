"""Operator commands against a deployed environment: stack outputs and RDS from moto, the function faked."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from migrator.aws import handler, operations
from migrator.cli import main
from tests.aws import Environment
from tests.handler.conftest import LambdaContext
from tests.handler.lifecycle import event, run


def _stack(aws: Environment, env: str = "staging") -> None:
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "DatabaseInstanceId": {"Value": aws.instance},
            "MigrationFunctionName": {"Value": "AalapVma-staging-MigrationOnEvent"},
        },
    }
    aws_client = operations.client("cloudformation")
    aws_client.create_stack(StackName=f"AalapVma-{env}", TemplateBody=json.dumps(template))


class FakeLambda:
    """Runs the real handler in-process, as Lambda would with the function's environment."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.calls = fail, 0

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            body = {"errorMessage": "Task timed out after 180.00 seconds", "errorType": "Sandbox.Timedout"}
            return {"FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        answer = handler.on_event(json.loads(Payload), LambdaContext())
        return {"Payload": io.BytesIO(json.dumps(answer, default=str).encode())}


@pytest.fixture
def deployed(aws: Environment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Environment]:
    monkeypatch.setenv("MIGRATOR_SECRET_ARN", aws.secret_arn)
    monkeypatch.setenv("MIGRATOR_INSTANCE", aws.instance)
    _stack(aws)
    yield aws
    operations.client("cloudformation").delete_stack(StackName="AalapVma-staging")


def test_status_of_a_deployed_environment_reads_through_the_function(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(event("Create", deployed.properties()), LambdaContext())
    deployed.add_migration("008_add_tags.sql", "CREATE TABLE tags (id int);\n")
    fake = FakeLambda()
    real_client = operations.client
    monkeypatch.setattr(operations, "client", lambda s: fake if s == "lambda" else real_client(s))
    assert main(["--env", "staging", "status"]) == 0
    out = capsys.readouterr().out
    assert "AalapVma-staging" in out and "version 007" in out
    assert "pending  008 add_tags  (applies on the next deploy)" in out
    assert fake.calls == 1


def test_a_failing_function_is_an_error_not_a_silent_success(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_client = operations.client
    monkeypatch.setattr(operations, "client", lambda s: FakeLambda(fail=True) if s == "lambda" else real_client(s))
    assert main(["--env", "staging", "status"]) == 1
    assert "Task timed out" in capsys.readouterr().err


def test_snapshots_list_and_prune(deployed: Environment, capsys: pytest.CaptureFixture[str]) -> None:
    run(event("Create", deployed.properties()), LambdaContext())
    for number in (8, 9, 10):
        deployed.add_migration(f"{number:03d}_s.sql", f"CREATE TABLE s{number} (id int);\n")
        run(event("Update", deployed.properties(SnapshotRetention="10")), LambdaContext())
    assert main(["--env", "staging", "--json", "snapshots", "list"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["from"], r["to"]) for r in rows] == [("007", "008"), ("008", "009"), ("009", "010")]
    assert main(["--env", "staging", "snapshots", "prune", "--keep", "1"]) == 0
    assert capsys.readouterr().out.count("deleted premigrate-") == 2
    assert main(["--env", "staging", "--json", "snapshots"]) == 0
    assert [r["to"] for r in json.loads(capsys.readouterr().out)] == ["010"]


def test_operator_mistakes_are_invalid_input(deployed: Environment, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snapshots"]) == 2
    assert "needs --env" in capsys.readouterr().err
    assert main(["--env", "staging", "snapshots", "prune"]) == 2
    assert "needs --keep" in capsys.readouterr().err
    assert main(["--env", "qa", "snapshots"]) == 1
    assert "cannot read stack AalapVma-qa" in capsys.readouterr().err
