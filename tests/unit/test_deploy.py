"""The deploy's decisions (migrator.aws.deploy): the custom resource's properties, what a database needs
before it is migrated, and the time the step may spend; no AWS call and no connection is made."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from migrator.aws.budget import ANSWER_MARGIN_S
from migrator.aws.contract import (
    ENV_INSTANCE,
    ENV_LOCK_RETRY_WINDOW,
    ENV_MAX_LOCK_HOLD,
    ENV_SECRET_ARN,
    StepProperties,
)
from migrator.aws.contract import MAX_SERVICE_TIMEOUT_S as DEFAULT_TIMEOUT_S
from migrator.aws.deploy import (
    Bundle,
    Deployment,
    cloudformation_deadline,
    is_fresh,
    properties,
    snapshot_tags,
)
from migrator.aws.step_data import StepData
from migrator.connect import DEFAULT_LOCK_TIMEOUT
from migrator.errors import MigratorError
from migrator.live import LockPolicy
from migrator.plan import make_plan
from tests.unit.builders import folder, gone, plan_of, row

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-master-AbCdEf"
BASE = {"SecretArn": ARN, "InstanceIdentifier": "aalap-dev-db"}


def request(**props: Any) -> StepProperties:
    return properties(BASE | props, {})


# --- properties: the custom resource's, parsed ------------------------------------------------------------------------


def test_only_the_secret_and_the_instance_are_required() -> None:
    given = request()
    assert (given.secret_arn, given.instance) == (ARN, "aalap-dev-db")
    assert given.snapshot_retention == 3
    assert given.take_snapshots is True
    assert given.stamp("manual") == "manual"
    assert given.lock_timeout is None, f"the engine's default ({DEFAULT_LOCK_TIMEOUT}) applies"
    assert given.timeout_seconds == DEFAULT_TIMEOUT_S
    assert given.migrator_secret_arn is None and given.app_secret_arn is None


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({}, "SecretArn, InstanceIdentifier"),
        ({"SecretArn": ARN}, "InstanceIdentifier"),
        ({"InstanceIdentifier": "db"}, "SecretArn"),
        ({"SecretArn": "", "InstanceIdentifier": "db"}, "SecretArn"),
        ({"SecretArn": ARN, "InstanceIdentifier": None}, "InstanceIdentifier"),
    ],
)
def test_missing_or_empty_required_properties_are_named(props: dict[str, Any], named: str) -> None:
    with pytest.raises(MigratorError) as refused:
        properties(props, {})
    assert refused.value.message == f"custom resource properties lack {named}"


@pytest.mark.parametrize(("given", "seconds"), [("60", 60), ("900", 900), (1800, 1800), ("3600", 3600), ("", 3600)])
def test_the_migration_timeout_is_read_in_range(given: object, seconds: int) -> None:
    assert request(MigrationTimeoutSeconds=given).timeout_seconds == seconds


@pytest.mark.parametrize("given", ["59", "3601", "-60", "900.5", "15min", " 900", "abc", 0, "0"])
def test_a_migration_timeout_out_of_range_or_not_whole_seconds_is_refused(given: str) -> None:
    with pytest.raises(MigratorError, match=r"MigrationTimeoutSeconds must be 60-3600, got '") as refused:
        request(MigrationTimeoutSeconds=given)
    assert repr(given) in refused.value.message


@pytest.mark.parametrize("given", ["x", "-1", "0", "2.5"])
def test_a_snapshot_retention_that_is_not_a_whole_number_of_at_least_one_is_refused(given: str) -> None:
    with pytest.raises(MigratorError, match=r"SnapshotRetention must be a whole number of at least 1, got '"):
        request(SnapshotRetention=given)


@pytest.mark.parametrize(
    ("given", "taken"),
    [("true", True), ("True", True), ("TRUE", True), (True, True), ("false", False), (False, False), ("", True)],
)
def test_snapshots_are_taken_unless_the_property_says_false(given: object, taken: bool) -> None:
    assert request(TakeSnapshots=given).take_snapshots is taken


@pytest.mark.parametrize("given", ["no", "0", "yes please"])
def test_a_take_snapshots_that_is_neither_true_nor_false_is_refused_rather_than_read_as_false(given: str) -> None:
    with pytest.raises(MigratorError, match=rf"TakeSnapshots must be true or false, got '{given}'"):
        request(TakeSnapshots=given)


@pytest.mark.parametrize(
    ("props", "stamp"),
    [
        ({"DeployToken": "20261127T191500Z", "Fingerprint": "f" * 64}, "20261127T191500Z"),
        ({"Fingerprint": "0123456789abcdef0123"}, "0123456789ab"),
        ({"DeployToken": "", "Fingerprint": "abc"}, "abc"),
        ({"Fingerprint": ""}, "manual"),
    ],
)
def test_the_stamp_is_the_deploy_token_else_the_fingerprints_head(props: dict[str, str], stamp: str) -> None:
    assert request(**props).stamp("manual") == stamp


def test_optional_properties_are_typed_and_empty_ones_are_absent() -> None:
    given = request(
        SnapshotRetention="7",
        LockTimeout="15s",
        MigratorSecretArn=ARN + "-migrator",
        AppSecretArn=ARN + "-app",
    )
    assert given.snapshot_retention == 7
    assert given.lock_timeout == "15s"
    assert (given.migrator_secret_arn, given.app_secret_arn) == (ARN + "-migrator", ARN + "-app")
    blank = request(LockTimeout="", MigratorSecretArn="", AppSecretArn="")
    assert blank.lock_timeout is None
    assert blank.migrator_secret_arn is None and blank.app_secret_arn is None


# --- is_fresh: nothing to lose, so no snapshot ---------------------------------------------------------------------


def test_a_database_is_fresh_when_it_has_no_history_or_the_schema_loads_it() -> None:
    files = folder("001", "002", "003")
    assert is_fresh(plan_of(files, schema_version="002")), "schema.sql loads it"
    assert is_fresh(plan_of(files)), "empty, no schema file: every migration runs"
    assert not is_fresh(plan_of(files, applied_count=1))
    assert not is_fresh(plan_of(files, applied_count=3))
    legacy = make_plan(files, [], database_is_empty=False, schema=None)
    assert legacy.adopting_legacy and not is_fresh(legacy), "adopting a database with data: it has data to lose"


def test_history_of_versions_this_bundle_lacks_is_not_fresh() -> None:
    plan = make_plan(
        folder("001"), [gone("005", "newer")], database_is_empty=False, schema=None, allow_out_of_order=True
    )
    assert not is_fresh(plan)


# --- time and tags -------------------------------------------------------------------------------------------------


def test_the_cloudformation_deadline_counts_from_the_steps_start() -> None:
    given = request(MigrationTimeoutSeconds="900")
    assert cloudformation_deadline({"StartedAt": "1800000000"}, given) == 1_800_000_000 + 900 - ANSWER_MARGIN_S


def test_without_a_start_the_deadline_counts_from_now() -> None:
    given = request(MigrationTimeoutSeconds="600")
    before = time.time()
    deadline = cloudformation_deadline({}, given)
    assert before + 600 - ANSWER_MARGIN_S <= deadline <= time.time() + 600 - ANSWER_MARGIN_S


def test_snapshot_tags_name_both_versions_or_none() -> None:
    assert snapshot_tags({"FromVersion": "003", "ToVersion": "005"}) == {"migrator:from": "003", "migrator:to": "005"}
    assert snapshot_tags({}) == {"migrator:from": "none", "migrator:to": "none"}


# --- Deployment.start / apply: the branches decided before any AWS call or connection ------------------------------


def deployment(**props: Any) -> Deployment:
    """rds and secrets are None: a branch that reached for them would fail the test."""
    return Deployment(request(**props), rds=None, secrets=None, bundle=Bundle(Path("/nowhere")), sslrootcert="")


def test_nothing_pending_is_done_at_once() -> None:
    data = deployment().start(plan_of(folder("001", "002"), applied_count=2), started_at=1_800_000_000.4)
    assert data == {
        "FromVersion": "002",
        "ToVersion": "002",
        "SchemaVersion": "002",
        "StartedAt": "1800000000",
        "Phase": "done",
    }


def test_a_fresh_database_is_applied_without_a_snapshot() -> None:
    data = deployment().start(plan_of(folder("001", "002"), schema_version="001"), started_at=5.0)
    assert data["Phase"] == "apply" and "SnapshotId" not in data
    assert (data["FromVersion"], data["ToVersion"], data["SchemaVersion"]) == ("none", "002", "none")


def test_snapshots_switched_off_go_straight_to_apply() -> None:
    data = deployment(TakeSnapshots="false").start(plan_of(folder("001", "002"), applied_count=1), started_at=5.0)
    assert data["Phase"] == "apply" and "SnapshotId" not in data
    assert (data["FromVersion"], data["ToVersion"]) == ("001", "002")


def test_history_rows_without_files_are_noted() -> None:
    files = folder("001")
    plan = make_plan(files, [row(files[0]), gone("002", "newer")], database_is_empty=False, schema=None)
    data = deployment().start(plan, started_at=5.0)
    assert data["Note"] == "applied but not in this bundle, left as is: 002 (newer)"
    assert data["Phase"] == "done"


@pytest.mark.parametrize(
    ("remaining_ms", "started_ago_s"),
    [(34_000, 0), (10 * 60_000, 900 - ANSWER_MARGIN_S - 4)],
    ids=["lambda-time", "cloudformation-time"],
)
def test_too_little_time_is_refused_before_connecting(remaining_ms: int, started_ago_s: float) -> None:
    data: StepData = {"StartedAt": f"{time.time() - started_ago_s:.0f}"}
    with pytest.raises(MigratorError, match="too little time left to migrate safely; nothing was applied"):
        deployment(MigrationTimeoutSeconds="900").apply(remaining_ms, data)


def test_the_lock_policy_comes_from_the_properties_or_the_runners_environment() -> None:
    def policy(given: StepProperties) -> tuple[float, float | None]:
        deployment = Deployment(given, rds=None, secrets=None, bundle=Bundle(Path()), sslrootcert="")
        return deployment.lock_policy.retry_window_s, deployment.lock_policy.max_hold_s

    assert policy(request(LockRetryWindow="2min", MaxLockHold="30s")) == (120.0, 30.0)
    assert policy(request(MaxLockHold="0s"))[1] is None, "0: no hold budget"
    defaults = LockPolicy()
    assert policy(request()) == (defaults.retry_window_s, defaults.max_hold_s)
    environ = {ENV_SECRET_ARN: ARN, ENV_INSTANCE: "db", ENV_LOCK_RETRY_WINDOW: "90s", ENV_MAX_LOCK_HOLD: "1min"}
    assert policy(properties({}, environ)) == (90.0, 60.0), "the CodeBuild runner reads them from its environment"
