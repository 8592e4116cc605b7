"""Every AWS call the handlers make in realistic deploys is allowed by the synthesized IAM policy
of the function that made it, judged by the ARNs AWS authorises (tests/support/iam.py), not by
moto, which checks nothing but Resource "*".

Each scenario also states which actions it must have seen, so that a scenario that stopped
reaching its AWS calls fails instead of passing on nothing; together they cover every action the
functions are granted (test_policies.py pins that set).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from migrator.aws import handler
from migrator.errors import DeployFailed
from tests.aws import Environment, client, newest_version
from tests.handler.lifecycle import event, run
from tests.iam.emulated import Target, app_secret_for
from tests.support.aws_calls import CallRecorder
from tests.support.fake_codebuild import create_project
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import NEXT, later

SECRET = "secretsmanager:GetSecretValue"
DESCRIBE_INSTANCE = "rds:DescribeDBInstances"
DESCRIBE_SNAPSHOTS = "rds:DescribeDBSnapshots"
CREATE_SNAPSHOT = "rds:CreateDBSnapshot"
DELETE_SNAPSHOT = "rds:DeleteDBSnapshot"
LIST_TAGS = "rds:ListTagsForResource"
# Not an API call of its own: CreateDBSnapshot with Tags is authorised for it too (tag on create).
TAG_ON_CREATE = "rds:AddTagsToResource"

START_BUILD, GET_BUILDS, LIST_BUILDS, STOP_BUILD = (
    f"codebuild:{a}" for a in ("StartBuild", "BatchGetBuilds", "ListBuildsForProject", "StopBuild")
)
LOG_EVENTS = "logs:GetLogEvents"

# What each scenario must have made, per handler (beyond it, anything it made is judged as well).
MUST_CALL: dict[str, dict[str, set[str]]] = {
    "fresh create": {"on_event": {SECRET}, "is_complete": {SECRET, DESCRIBE_SNAPSHOTS}},
    "status": {"on_event": {SECRET}},
    "drift": {"on_event": {SECRET}},
    "migrating deploy": {
        "on_event": {SECRET, DESCRIBE_SNAPSHOTS, DESCRIBE_INSTANCE, CREATE_SNAPSHOT},
        "is_complete": {SECRET, DESCRIBE_SNAPSHOTS},
    },
    "snapshot deferred to is_complete": {"is_complete": {DESCRIBE_INSTANCE, CREATE_SNAPSHOT}},
    "pruning beyond retention": {"is_complete": {DESCRIBE_SNAPSHOTS, LIST_TAGS, DELETE_SNAPSHOT}},
    "pruning at the snapshot quota": {"on_event": {DESCRIBE_SNAPSHOTS, LIST_TAGS, DELETE_SNAPSHOT, CREATE_SNAPSHOT}},
    "codebuild runner": {
        "on_event": {LIST_BUILDS, GET_BUILDS, STOP_BUILD},
        "is_complete": {LIST_BUILDS, GET_BUILDS, START_BUILD, LOG_EVENTS},
    },
    "codebuild runner superseded": {"is_complete": {LIST_BUILDS, GET_BUILDS, STOP_BUILD}},
}


def assert_allowed(scenario: str, deployed: Target, calls: CallRecorder) -> None:
    for function, actions in MUST_CALL[scenario].items():
        assert actions <= calls.actions(function), f"{scenario}: {function} made only {calls.actions(function)}"
    denied = deployed.denials(calls)
    assert denied == [], "calls the function's IAM policy does not allow:\n" + "\n".join(denied)


def _properties(aws: Environment, **extra: Any) -> dict[str, Any]:
    return aws.properties(MigratorSecretArn=aws.role_secret_arn, AppSecretArn=app_secret_for(aws), **extra)


def _create(aws: Environment, context: LambdaContext) -> None:
    data, _ = run(event("Create", _properties(aws)), context)
    assert data["SchemaVersion"] == newest_version(aws.bundle)


def _migrate(aws: Environment, context: LambdaContext, step: int, **extra: Any) -> dict[str, Any]:
    """Deploy the `step`-th migration after the project's newest."""
    aws.add_migration(f"{later(step)}_step_{step}.sql", f"CREATE TABLE step_{step} (id integer);\n")
    data, _ = run(event("Update", _properties(aws, **extra)), context)
    assert data["SchemaVersion"] == later(step)
    return data


def _ours(aws: Environment) -> list[str]:
    pages = aws.rds().get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=aws.instance)
    return [
        s["DBSnapshotIdentifier"]
        for p in pages
        for s in p["DBSnapshots"]
        if s["DBSnapshotIdentifier"].startswith("premigrate-")
    ]


def _all_snapshots(aws: Environment) -> int:
    return sum(len(p["DBSnapshots"]) for p in aws.rds().get_paginator("describe_db_snapshots").paginate())


class WithoutTagLists:
    """An RDS client whose snapshot descriptions carry no TagList, so our tags are read with
    ListTagsForResource, the fallback Snapshots.tags() has for such answers."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.exceptions = real.exceptions

    @staticmethod
    def _strip(page: dict[str, Any]) -> dict[str, Any]:
        for snapshot in page.get("DBSnapshots", []):
            snapshot.pop("TagList", None)
        return page

    def describe_db_snapshots(self, **kwargs: Any) -> Any:
        return self._strip(self._real.describe_db_snapshots(**kwargs))

    def get_paginator(self, name: str) -> Any:
        real, strip = self._real.get_paginator(name), self._strip

        class Paginator:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                return (strip(page) for page in real.paginate(**kwargs))

        return Paginator()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _rds_as(monkeypatch: pytest.MonkeyPatch, wrap: Any) -> None:
    """The handler's RDS client, wrapped: built per invocation from the default session, as in Lambda."""
    real = handler._clients

    def clients() -> tuple[Any, Any]:
        rds, secrets = real()
        return wrap(rds), secrets

    monkeypatch.setattr(handler, "_clients", clients)


def test_fresh_create_is_allowed(
    deployed: Target, aws: Environment, context: LambdaContext, calls: CallRecorder
) -> None:
    _create(aws, context)
    assert_allowed("fresh create", deployed, calls)


def test_status_action_is_allowed(
    deployed: Target, aws: Environment, context: LambdaContext, calls: CallRecorder
) -> None:
    _create(aws, context)
    calls.calls.clear()
    answer = handler.on_event({"Action": "status"}, context)  # the function's environment names the target
    assert answer["ok"] is True, answer
    assert answer["current_version"] == newest_version(aws.bundle)
    assert_allowed("status", deployed, calls)


def test_drift_action_is_allowed(
    deployed: Target, aws: Environment, context: LambdaContext, calls: CallRecorder
) -> None:
    _create(aws, context)
    calls.calls.clear()
    answer = handler.on_event({"action": "drift"}, context)  # the schedule's event; the environment names the rest
    assert answer["ok"] is True and answer["checked"] is True, answer
    assert_allowed("drift", deployed, calls)


def test_migrating_deploy_with_snapshot_is_allowed(
    deployed: Target, aws: Environment, context: LambdaContext, calls: CallRecorder
) -> None:
    _create(aws, context)
    data = _migrate(aws, context, 1)
    assert data["SnapshotId"] in _ours(aws)
    assert_allowed("migrating deploy", deployed, calls)


def test_snapshot_deferred_to_is_complete_is_allowed(
    deployed: Target, aws: Environment, context: LambdaContext, calls: CallRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """on_event finds the instance busy; is_complete takes the snapshot (with its tags) later."""
    _create(aws, context)
    busy = {"left": 1}

    class BusyAtFirst(WithoutTagLists):
        def describe_db_instances(self, **kwargs: Any) -> Any:
            answer = self._real.describe_db_instances(**kwargs)
            if busy["left"] > 0:
                busy["left"] -= 1
                answer["DBInstances"][0]["DBInstanceStatus"] = "backing-up"
            return answer

    _rds_as(monkeypatch, BusyAtFirst)
    data = _migrate(aws, context, 1)
    assert busy["left"] == 0 and data["SnapshotId"] in _ours(aws)
    creators = {c.function for c in calls.calls if c.action == CREATE_SNAPSHOT}
    assert creators == {"is_complete"}
    assert_allowed("snapshot deferred to is_complete", deployed, calls)


def test_pruning_beyond_retention_is_allowed(
    deployed: Target, aws: Environment, context: LambdaContext, calls: CallRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several migrating deploys with a retention of 2: is_complete lists, reads tags and deletes."""
    _create(aws, context)
    _rds_as(monkeypatch, WithoutTagLists)
    taken = [_migrate(aws, context, number, SnapshotRetention="2") for number in range(1, 5)]
    assert all("PruneError" not in data for data in taken), [d.get("PruneError") for d in taken]
    assert sorted(_ours(aws)) == sorted(d["SnapshotId"] for d in taken[-2:])
    assert_allowed("pruning beyond retention", deployed, calls)


def test_pruning_at_the_snapshot_quota_is_allowed(
    deployed: Target, aws: Environment, context: LambdaContext, calls: CallRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the manual-snapshot quota, on_event prunes our old snapshots and takes the new one."""
    _create(aws, context)
    for step in range(1, 4):
        _migrate(aws, context, step, SnapshotRetention="10")
    monkeypatch.setenv("MOTO_RDS_SNAPSHOT_LIMIT", str(_all_snapshots(aws)))  # moto server runs in this process
    _rds_as(monkeypatch, WithoutTagLists)
    calls.calls.clear()
    data = _migrate(aws, context, 4, SnapshotRetention="1")
    assert _ours(aws) == [data["SnapshotId"]]
    assert_allowed("pruning at the snapshot quota", deployed, calls)


class RememberedVariables:
    """moto's CodeBuild drops a build's environment-variable overrides, by which the handler finds this
    request's build again, and reports builds SUCCEEDED after a poll although nothing ran; this client
    (over moto's, so every call is still made and recorded) keeps the variables and keeps a build running
    until it is stopped."""

    def __init__(self, real: Any) -> None:
        self._real, self._variables, self._stopped = real, dict[str, list[dict[str, str]]](), set[str]()
        self.exceptions = real.exceptions

    def stop_build(self, **kwargs: Any) -> Any:
        self._stopped.add(kwargs["id"])
        return self._real.stop_build(**kwargs)

    def start_build(self, **kwargs: Any) -> Any:
        answer = self._real.start_build(**kwargs)
        self._variables[answer["build"]["id"]] = list(kwargs.get("environmentVariablesOverride", []))
        return self._with_variables(answer["build"]) and answer

    def batch_get_builds(self, **kwargs: Any) -> Any:
        answer = self._real.batch_get_builds(**kwargs)
        for build in answer["builds"]:
            self._with_variables(build)
        return answer

    def _with_variables(self, build: dict[str, Any]) -> dict[str, Any]:
        build.setdefault("environment", {})["environmentVariables"] = self._variables.get(build["id"], [])
        build["buildStatus"] = "STOPPED" if build["id"] in self._stopped else "IN_PROGRESS"
        project, stream = build["id"].split(":", 1)  # where CodeBuild logs a build, as the runner's project says
        build["logs"] = {"groupName": f"/aws/codebuild/{project}", "streamName": stream}
        return build

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_the_codebuild_runner_is_allowed(
    deployed: Target, aws: Environment, context: LambdaContext, calls: CallRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deploy sent to CodeBuild: the build is started and polled, a later request stops it, and the
    stopped build's log is read for the reason. moto's CodeBuild runs nothing, which is all this needs."""
    from migrator.aws import codebuild
    from tests.iam.emulated import RUNNER_PROJECT

    builds = RememberedVariables(client(aws.endpoint, "codebuild"))
    monkeypatch.setattr(codebuild, "_clients", lambda: (builds, client(aws.endpoint, "logs")))
    create_project(builds, RUNNER_PROJECT)
    _create(aws, context)
    aws.add_migration(f"{NEXT}_slow.sql", "CREATE TABLE slow (id integer);\n")
    runner = {"Runner": "codebuild", "RunnerProject": RUNNER_PROJECT}
    runner |= {"BuildTimeoutSeconds": "3000", "RunnerTimeoutSeconds": "2900"}
    request = event("Update", _properties(aws, **runner)) | {"RequestId": "first"}
    waiting = request | handler.on_event(request, context)
    for _ in range(2):  # the snapshot (moto: available at once), then the build: started, then polled
        assert handler.is_complete(waiting, context) == {"IsComplete": False}
    later = event("Update", _properties(aws, **runner)) | {"RequestId": "second"}
    handler.on_event(later, context)  # stops the first request's build
    with pytest.raises(DeployFailed, match="STOPPED"):
        handler.is_complete(waiting, context)
    assert_allowed("codebuild runner", deployed, calls)
    # The race: the newer request's stop found no build yet, and this request's poll started one after it.
    request = event("Update", _properties(aws, **runner)) | {"RequestId": "third"}
    waiting = request | handler.on_event(request, context)
    for _ in range(2):
        assert handler.is_complete(waiting, context) == {"IsComplete": False}
    monkeypatch.setattr(codebuild, "stop_stale_builds", lambda *_args, **_kwargs: [])
    handler.on_event(event("Update", _properties(aws, **runner)) | {"RequestId": "fourth"}, context)
    with pytest.raises(DeployFailed, match=r"a newer deploy request \(fourth\) claimed this database"):
        handler.is_complete(waiting, context)  # stops its own build
    assert_allowed("codebuild runner superseded", deployed, calls)


def test_the_scenarios_exercise_every_granted_action() -> None:
    """With test_policies.py's exact grants, this makes `granted == used` for each function."""
    from tests.support.granted import GRANTED

    used = {f: set().union(*(s.get(f, set()) for s in MUST_CALL.values())) for f in GRANTED}
    assert {f: used[f] | {TAG_ON_CREATE} for f in used} == {f: set(a) for f, a in GRANTED.items()}
