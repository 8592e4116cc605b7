"""Operator commands against a deployed environment: stack outputs and RDS from moto, the function faked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from migrator import report
from migrator.aws import handler, operations
from migrator.aws.contract import ENV_ROLE_SECRET_ARN
from migrator.catalog import describe
from migrator.cli import main
from migrator.lock import LOCK_KEY
from tests.aws import REGION, Environment, client
from tests.handler.lifecycle import event, run
from tests.pg import superuser_view
from tests.support.fake_lambda import FakeLambda
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import NEWEST, NEXT, later


def _stack(aws: Environment, env: str = "staging") -> None:
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "DatabaseInstanceId": {"Value": aws.instance},
            "MigrationFunctionName": {"Value": "AalapVma-staging-MigrationOnEvent"},
        },
    }
    client(aws.endpoint, "cloudformation").create_stack(StackName=f"AalapVma-{env}", TemplateBody=json.dumps(template))


@pytest.fixture
def deployed(aws: Environment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Environment]:
    monkeypatch.setenv("MIGRATOR_SECRET_ARN", aws.secret_arn)
    monkeypatch.setenv("MIGRATOR_INSTANCE", aws.instance)
    _stack(aws)
    yield aws
    client(aws.endpoint, "cloudformation").delete_stack(StackName="AalapVma-staging")


def _fake_lambda(monkeypatch: pytest.MonkeyPatch, fake: FakeLambda) -> None:
    real = operations.Aws.client
    monkeypatch.setattr(operations.Aws, "client", lambda self, s: fake if s == "lambda" else real(self, s))


def test_status_of_a_deployed_environment_reads_through_the_function(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(event("Create", deployed.properties()), LambdaContext())
    deployed.add_migration(f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id int);\n")
    fake = FakeLambda()
    _fake_lambda(monkeypatch, fake)
    assert main(["--env", "staging", "status"]) == 0
    out = capsys.readouterr().out
    assert "AalapVma-staging" in out and f"version {NEWEST}" in out
    assert f"pending      {NEXT} add_tags" in out
    assert fake.calls == 1


def test_a_failing_function_is_an_error_not_a_silent_success(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_lambda(monkeypatch, FakeLambda(fail=True))
    assert main(["--env", "staging", "status"]) == 1
    assert "Task timed out" in capsys.readouterr().err


def test_snapshots_list_and_prune(deployed: Environment, capsys: pytest.CaptureFixture[str]) -> None:
    run(event("Create", deployed.properties()), LambdaContext())
    for step in (1, 2, 3):
        deployed.add_migration(f"{later(step)}_s.sql", f"CREATE TABLE s{step} (id int);\n")
        run(event("Update", deployed.properties(SnapshotRetention="10")), LambdaContext())
    capsys.readouterr()  # the handler's own output (metric lines)
    assert main(["--env", "staging", "--json", "snapshots", "list"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["from"], r["to"]) for r in rows] == [(NEWEST, NEXT), (NEXT, later(2)), (later(2), later(3))]
    assert main(["--env", "staging", "snapshots", "prune", "--keep", "1", "--yes"]) == 0
    assert capsys.readouterr().out.count("deleted premigrate-") == 2
    assert main(["--env", "staging", "--json", "snapshots"]) == 0
    assert [r["to"] for r in json.loads(capsys.readouterr().out)] == [later(3)]


def test_operator_mistakes_are_invalid_input(deployed: Environment, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snapshots"]) == 2
    assert "needs --env" in capsys.readouterr().err
    assert main(["--env", "staging", "snapshots", "prune"]) == 2
    assert "the following arguments are required: --keep" in capsys.readouterr().err
    assert main(["--env", "qa", "snapshots"]) == 2
    err = capsys.readouterr().err
    assert "--env qa: cdk.json defines no such environment" in err and "dev, prod, staging" in err
    assert main(["--env", "staging", "verify"]) == 2
    assert "with --env only status, snapshots, apply, rehearse, drift work" in capsys.readouterr().err


def test_drift_of_a_deployed_environment_is_the_functions_own_check(
    role_name: str,  # before the environment: its database, owned by the role, is dropped first
    deployed: Environment,
    pg_admin: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    role = {"username": role_name, "password": "Mig-Ops-Drift-3"}
    role_secret = deployed.secrets().create_secret(Name=f"{deployed.instance}-mig", SecretString=json.dumps(role))
    monkeypatch.setenv(ENV_ROLE_SECRET_ARN, role_secret["ARN"])  # as the stack sets it for the scheduled action
    run(event("Create", deployed.properties(MigratorSecretArn=role_secret["ARN"])), LambdaContext())
    fake = FakeLambda()
    _fake_lambda(monkeypatch, fake)
    assert main(["--env", "staging", "drift"]) == 0
    assert "drift AalapVma-staging: none" in capsys.readouterr().out
    with psycopg.connect(superuser_view(pg_admin, deployed.conninfo), autocommit=True) as su:
        table = sorted(k.split(" ", 1)[1] for k in describe(su, "public") if k.startswith("table "))[0]
        su.execute(f"ALTER TABLE {table} ADD COLUMN drifted int".encode())
    assert main(["--env", "staging", "--json", "drift"]) == 1
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith('{"_aws"')]  # EMF
    answer = json.loads("\n".join(printed))
    assert answer["checked"] and answer["target"] == "AalapVma-staging"
    found = {(d["kind"], d["name"]): d["fix"] for d in answer["differences"]}
    assert found[("schema", f"column {table}.drifted")] == f"ALTER TABLE {table} DROP COLUMN drifted"
    with psycopg.connect(deployed.conninfo, autocommit=True) as deploy:
        deploy.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        assert main(["--env", "staging", "drift"]) == 3
    assert "drift AalapVma-staging: not checked: a deploy holds the migration lock" in capsys.readouterr().out
    assert fake.calls == 3
    assert main(["--env", "staging", "drift", "--app-role", "aalap_app"]) == 2
    assert "--app-role applies only to a database you connect to" in capsys.readouterr().err
    assert fake.calls == 3, "refused before any call"


def _three_snapshots(deployed: Environment) -> None:
    run(event("Create", deployed.properties()), LambdaContext())
    for step in (1, 2, 3):
        deployed.add_migration(f"{later(step)}_s.sql", f"CREATE TABLE s{step} (id int);\n")
        run(event("Update", deployed.properties(SnapshotRetention="10")), LambdaContext())


def _snapshot_count(capsys: pytest.CaptureFixture[str]) -> int:
    assert main(["--env", "staging", "--json", "snapshots", "list"]) == 0
    return len(json.loads(capsys.readouterr().out))


def test_prune_dry_run_and_confirmation(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _three_snapshots(deployed)
    capsys.readouterr()  # the handler's own output (metric lines)
    assert main(["--env", "staging", "snapshots", "prune", "--keep", "1", "--dry-run"]) == 0
    assert capsys.readouterr().out.count("would delete premigrate-") == 2
    assert main(["--env", "staging", "snapshots", "prune", "--keep", "1"]) == 2  # no terminal, no --yes
    assert "needs a confirmation" in capsys.readouterr().err
    assert _snapshot_count(capsys) == 3
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["--env", "staging", "snapshots", "prune", "--keep", "1"]) == 1
    assert "nothing was deleted" in capsys.readouterr().err
    assert _snapshot_count(capsys) == 3
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["--env", "staging", "snapshots", "prune", "--keep", "1"]) == 0
    assert capsys.readouterr().out.count("deleted premigrate-") == 2
    assert _snapshot_count(capsys) == 1


def test_region_from_the_flag_or_aws_region(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(["--env", "staging", "snapshots"]) == 0  # AWS_REGION alone (botocore reads only the other)
    monkeypatch.delenv("AWS_REGION")
    assert main(["--env", "staging", "snapshots", "--region", REGION]) == 0
    capsys.readouterr()
    assert main(["--env", "staging", "snapshots"]) == 2
    err = capsys.readouterr().err
    assert "no AWS region: pass --region" in err and err.count("\n") == 2 and "Traceback" not in err
    assert main(["--env", "staging", "snapshots", "--region", "Ireland"]) == 2
    assert "not an AWS region name" in capsys.readouterr().err


def test_profile_is_honoured_and_a_missing_one_is_invalid_input(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config").write_text(f"[profile ops]\nregion = {REGION}\n")
    (tmp_path / "credentials").write_text("[ops]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--env", "staging", "--profile", "ops", "snapshots"]) == 0
    capsys.readouterr()
    assert main(["--env", "staging", "--profile", "nope", "snapshots"]) == 2
    err = capsys.readouterr().err
    assert "--profile nope" in err and "Traceback" not in err


def test_aws_failures_are_one_line(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert main(["--env", "staging", "snapshots"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_remote_status_lists_every_state_and_the_refusal_even_with_drift(
    aws: Environment, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(event("Create", aws.properties()), context)
    baseline = aws.bundle / "migrations" / "001_add_password_auth.sql"
    baseline.write_text(baseline.read_text() + "\n-- edited after it was applied\n")
    monkeypatch.setenv("MIGRATOR_SECRET_ARN", aws.secret_arn)
    monkeypatch.setenv("MIGRATOR_INSTANCE", aws.instance)
    payload = handler.on_event({"Action": "status"}, context)
    assert payload["ok"] is True, payload
    lines = report.remote_status_lines(payload, "AalapVma-staging")
    assert any(line.split()[:2] == ["changed", "001"] for line in lines)
    assert any("the next deploy would refuse" in line for line in lines)
