"""Pipeline mode: the operator command applies a prepared change set's migrations in the CodeBuild runner
before the change set runs; the custom resource then only verifies. The runner really runs (a subprocess
of the fake CodeBuild) on the *next* asset against the RDS-like test server; RDS snapshots are moto's."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from migrator.aws import budget, codebuild, operations
from migrator.cli import main
from migrator.errors import DeployFailed
from tests.aws import REGION, Environment, client
from tests.engine.helpers import lock_is_free, state
from tests.handler.lifecycle import event, run
from tests.support.fake_cloudformation import BUCKET, FakeCloudFormation, change_set_template
from tests.support.fake_codebuild import FakeCodeBuild, FakeLogs
from tests.support.fake_lambda import FakeLambda
from tests.support.iam import Decision, Request, decide
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import NEWEST, NEXT
from tests.support.project import PROJECT
from tests.support.recording_clients import Recorded
from tests.support.runner import runner_environment

PROJECT_NAME = "aalap-pipeline-runner"
PIPELINE_PROPS = {"Runner": "pipeline", "RunnerProject": PROJECT_NAME, "MigrationTimeoutSeconds": "3600"}
TOKEN = "20261128T120000Z"  # the synth's deploy token, in the change set's template
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/AalapVma-staging/0f1e2d3c"


class SourcedCodeBuild(FakeCodeBuild):
    """A build started with a source override runs the bundle that asset holds, as CodeBuild would."""

    def __init__(self, environment: dict[str, str]) -> None:
        super().__init__(PROJECT_NAME, environment, seconds_per_minute=1, bundle_for=self._bundle)
        self.sources: dict[str, Path] = {}  # bucket/key -> the bundle that asset holds

    def _bundle(self, params: Mapping[str, Any]) -> str | None:
        source = params.get("sourceLocationOverride")
        if source is None:
            return None
        assert params["sourceTypeOverride"] == "S3"
        return str(self.sources[source])


class Clients:
    """What operations.Aws.client hands the command: fakes where moto falls short, moto's RDS otherwise; every
    call recorded as the IAM action it needs (`actions`)."""

    def __init__(self, aws: Environment, builds: SourcedCodeBuild, cfn: FakeCloudFormation) -> None:
        self.actions: set[str] = set()
        self.cfn = cfn
        self.by_service = {
            service: Recorded(service, client, self.actions)
            for service, client in {
                "cloudformation": cfn,
                "lambda": FakeLambda(),
                "codebuild": builds,
                "logs": FakeLogs(builds),
                "rds": aws.rds(),
            }.items()
        }


def documented_operator_actions() -> set[str]:
    """The pipeline-mode operator's permissions as docs/operations.md lists them (`svc:Action`, then `Action`s of
    the same service)."""
    text = (PROJECT / "docs" / "operations.md").read_text()
    paragraph = text[text.index("The operator's credentials need") : text.index("grant it to the deploy")]
    found, service = set(), ""
    for given_service, action in re.findall(r"`(?:([a-z0-9]+):)?([A-Z][A-Za-z]+)`", paragraph):
        service = given_service or service
        found.add(f"{service}:{action}")
    return found


@pytest.fixture
def deployed(aws: Environment, monkeypatch: pytest.MonkeyPatch) -> Environment:
    """The environment's first deploy, in pipeline mode: a fresh database is migrated by the custom resource."""
    data, _ = run(event("Create", aws.properties(**PIPELINE_PROPS)) | {"StackId": STACK_ID}, LambdaContext())
    assert (data["SchemaVersion"], data["SnapshotId"]) == (NEWEST, "none")
    monkeypatch.setenv("MIGRATOR_SECRET_ARN", aws.secret_arn)  # the status action reads the function's env
    monkeypatch.setenv("MIGRATOR_INSTANCE", aws.instance)
    return aws


def _next_asset(aws: Environment, tmp_path: Path, name: str, sql: str) -> tuple[str, Path]:
    """The next deploy's asset: today's bundle plus one migration; (its S3 key, its folder)."""
    folder = tmp_path / f"next-{name}"
    shutil.copytree(aws.bundle, folder)
    (folder / "migrations" / f"{NEXT}_{name}.sql").write_text(sql)
    return f"{name}.zip", folder


@pytest.fixture
def world(deployed: Environment, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SourcedCodeBuild, Clients]]:
    environment = runner_environment(deployed.secret_arn, deployed.bundle, 0, MIGRATOR_IDLE_TIMEOUT="5")
    builds = SourcedCodeBuild(environment)
    cfn = FakeCloudFormation("staging", deployed.instance, PROJECT_NAME)
    clients = Clients(deployed, builds, cfn)
    monkeypatch.setattr(operations.Aws, "client", lambda _aws, service: clients.by_service[service])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield builds, clients
    builds.wait_all()


def _prepare(
    clients: Clients, builds: SourcedCodeBuild, key: str, folder: Path, name: str = "cs-1", token: str = TOKEN
) -> str:
    builds.sources[f"{BUCKET}/{key}"] = folder
    template = change_set_template(PROJECT_NAME, key, NEXT, token)
    cfn: FakeCloudFormation = clients.cfn
    return cfn.prepare(name, template)


def _apply(*extra: str) -> int:
    """The command as the workflow runs it; a later --change-set wins over the first."""
    return main(["--env", "staging", "apply", "--change-set", "cs-1", "--poll-seconds", "0.2", *extra])


def test_pipeline_mode_applies_before_the_change_set_and_the_resource_then_verifies(
    deployed: Environment,
    world: tuple[SourcedCodeBuild, Clients],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    builds, clients = world
    key, folder = _next_asset(
        deployed, tmp_path, "backfill", "CREATE TABLE backfilled (id int);\nSELECT pg_sleep(2);\n"
    )
    _prepare(clients, builds, key, folder)
    assert _apply() == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{codebuild.PREFIX} OK schema version {NEXT}; applied {NEXT}"), out
    snapshot = f"premigrate-{deployed.instance}-v{NEWEST}-to-v{NEXT}-20261128t120000z"
    assert f"pre-migration snapshot {snapshot}: available" in err
    assert deployed.rds().describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"][0]["Status"] == (
        "available"
    )
    (started,) = builds.started
    assert started["sourceLocationOverride"] == f"{BUCKET}/{key}"  # the next asset, not the deployed one
    assert started["timeoutInMinutesOverride"] == budget.PIPELINE_TIMEOUT_MINUTES
    # the change set runs: its custom resource, on the next asset, finds nothing pending and takes no snapshot
    monkeypatch.setenv("MIGRATOR_BUNDLE_ROOT", str(folder))
    props = deployed.properties(**PIPELINE_PROPS)
    data, _ = run(event("Update", props, old=deployed.properties(**PIPELINE_PROPS)) | {"StackId": STACK_ID}, {})
    assert (data["SchemaVersion"], data["Applied"], data["SnapshotId"]) == (NEXT, "none", "none")
    # the same change set again (a re-run workflow): nothing to apply, no second build
    assert _apply() == 0
    assert f"at version {NEXT}: nothing to apply" in capsys.readouterr().out
    assert len(builds.started) == 1
    # the deploy role as documented allows every call the command made (IAM evaluated, by action: the docs grant
    # these on the stack's resources)
    documented = [{"Effect": "Allow", "Action": sorted(documented_operator_actions()), "Resource": "*"}]
    assert {"cloudformation:DescribeChangeSet", "codebuild:StartBuild", "rds:CreateDBSnapshot"} <= clients.actions
    denied = [a for a in sorted(clients.actions) if decide(documented, Request(a, "*")) is not Decision.ALLOW]
    assert denied == [], "the command calls what docs/operations.md does not grant the deploy role"


def test_a_change_set_run_before_its_migrations_fails_naming_the_command(
    deployed: Environment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _key, folder = _next_asset(deployed, tmp_path, "forgotten", "CREATE TABLE forgotten (id int);\n")
    monkeypatch.setenv("MIGRATOR_BUNDLE_ROOT", str(folder))
    before = state(deployed.conninfo)
    update = event("Update", deployed.properties(**PIPELINE_PROPS), old=deployed.properties(**PIPELINE_PROPS))
    with pytest.raises(DeployFailed) as failed:
        run(update | {"StackId": STACK_ID}, LambdaContext())
    message = str(failed.value)
    assert f"{NEXT}_forgotten.sql still pending" in message
    assert "python -m migrator --env staging apply --change-set NAME" in message
    assert state(deployed.conninfo) == before


def test_a_failing_runner_fails_the_command_with_its_log_and_nothing_applied(
    deployed: Environment, world: tuple[SourcedCodeBuild, Clients], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builds, clients = world
    key, folder = _next_asset(deployed, tmp_path, "broken", "CREATE TABLE half (id int);\nSELECT 1/0;\n")
    _prepare(clients, builds, key, folder)
    before = state(deployed.conninfo)
    assert _apply() == 1
    err = capsys.readouterr().err
    assert "migrator-runner: FAILED" in err and "22012" in err, err
    assert f"ended FAILED in phase COMPLETED; committed: nothing (the database is still at version {NEWEST})" in err
    assert state(deployed.conninfo) == before
    assert lock_is_free(deployed.conninfo)


def test_a_rerun_job_reattaches_to_its_running_build_and_another_deploy_waits_for_it(
    deployed: Environment, world: tuple[SourcedCodeBuild, Clients], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builds, clients = world
    key, folder = _next_asset(deployed, tmp_path, "slow", "CREATE TABLE slow (id int);\nSELECT pg_sleep(3);\n")
    _prepare(clients, builds, key, folder)
    assert _apply("--no-wait") == 3, "a CI job cut short: the build goes on"
    assert "is running; run this command again" in capsys.readouterr().out
    _prepare(clients, builds, key, folder, name="cs-other", token="20261128T130000Z")
    assert _apply("--change-set", "cs-other") == 1, "another synth's build must not race the running one"
    assert "of another deploy is still running; nothing was started" in capsys.readouterr().err
    _prepare(clients, builds, key, folder, name="cs-again")  # the re-run job prepares the same synth anew
    assert _apply("--change-set", "cs-again") == 0
    out, err = capsys.readouterr()
    assert "of this deploy is IN_PROGRESS: not starting another" in err
    assert out.startswith(f"{codebuild.PREFIX} OK schema version {NEXT}")
    assert len(builds.started) == 1


@pytest.mark.parametrize(
    ("stack_status", "change_set_status", "expected"),
    [
        ("NONE", "CREATE_COMPLETE", "does not exist yet: its first deploy creates the database"),
        ("REVIEW_IN_PROGRESS", "CREATE_COMPLETE", "does not exist yet"),
        ("UPDATE_COMPLETE", "FAILED", "changes nothing: no migration to apply"),
    ],
)
def test_nothing_runs_where_the_change_set_itself_must_migrate_or_changes_nothing(
    deployed: Environment,
    world: tuple[SourcedCodeBuild, Clients],
    capsys: pytest.CaptureFixture[str],
    stack_status: str,
    change_set_status: str,
    expected: str,
) -> None:
    builds, clients = world
    cfn = clients.cfn
    cfn.status = stack_status
    template = change_set_template(PROJECT_NAME, "x.zip", NEXT, "t")
    cfn.prepare("cs-1", template, change_set_status, "The submitted information didn't contain changes.")
    assert _apply() == 0
    assert expected in capsys.readouterr().out
    assert builds.started == []


def test_a_change_set_still_being_created_is_refused_with_one_line(
    world: tuple[SourcedCodeBuild, Clients], capsys: pytest.CaptureFixture[str]
) -> None:
    _builds, clients = world
    cfn = clients.cfn
    cfn.prepare("cs-1", change_set_template(PROJECT_NAME, "x.zip", NEXT, "t"), "CREATE_IN_PROGRESS")
    assert _apply() == 1
    err = capsys.readouterr().err
    assert err.startswith("error: change set cs-1 of AalapVma-staging is CREATE_IN_PROGRESS")
    assert "Traceback" not in err


def test_a_gated_environment_applies_nothing_before_a_passing_rehearsal_of_the_change_sets_bundle(
    deployed: Environment, world: tuple[SourcedCodeBuild, Clients], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In pipeline mode the custom resource finds nothing pending, so the operator command checks the gate."""
    builds, clients = world
    bucket = f"reports-{deployed.instance}"
    s3 = client(deployed.endpoint, "s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    clients.by_service["s3"] = s3
    key, folder = _next_asset(deployed, tmp_path, "gated", "CREATE TABLE gated (id int);\n")
    builds.sources[f"{BUCKET}/{key}"] = folder
    gated = {"RehearsalRequired": "true", "RehearsalBucket": bucket, "Fingerprint": "feed" * 16}
    clients.by_service["cloudformation"].prepare("cs-1", change_set_template(PROJECT_NAME, key, NEXT, TOKEN, **gated))
    assert _apply() == 1
    assert "rehearsal gate" in capsys.readouterr().err and builds.started == []
    assert NEXT not in [version for version, *_ in state(deployed.conninfo)[1]]
