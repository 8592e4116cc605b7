"""The environment rehearsal's pure decisions (migrator.aws.rehearsal): names, the restore request, expiry,
cost, and the gate."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migrator.aws.rehearsal import (
    EXPIRES_TAG,
    FINGERPRINT_TAG,
    REHEARSAL_TAG,
    RestoredCopy,
    Target,
    estimated_cost,
    expired,
    gate_refusal,
    parse_time,
    rehearse,
    restore_request,
    sweep,
)
from migrator.aws.rehearsal_command import BUILD_MINUTES
from migrator.errors import MigratorError

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
FINGERPRINT = "0123456789abcdef" * 4
# RDS instance identifiers: 1-63 letters, digits and hyphens; a letter first; no two hyphens together, none last.
RDS_INSTANCE_ID = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-))*(?<!-)$")
SOURCE: dict[str, Any] = {
    "DBSubnetGroup": {"DBSubnetGroupName": "aalap-isolated"},
    "DBParameterGroups": [{"DBParameterGroupName": "aalap-pg17"}],
    "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0db", "Status": "active"}],
    "OptionGroupMemberships": [{"OptionGroupName": "default:postgres-17", "Status": "in-sync"}],
    "MultiAZ": True,
    "PubliclyAccessible": False,
}


@pytest.mark.parametrize("source", ["aalap-prod-db", "AalapVma--Prod_DB", "d" * 80, "db-"])
def test_the_instance_id_is_a_valid_rds_identifier_naming_source_and_bundle(source: str) -> None:
    ident = Target("prod", source, FINGERPRINT).instance_id(NOW)
    assert len(ident) <= 63 and RDS_INSTANCE_ID.match(ident), ident
    assert ident.startswith("rehearsal-") and FINGERPRINT[:8] in ident and ident.endswith("20261206t020000z")


def test_the_restore_keeps_the_sources_network_and_parameters_and_is_private_single_az_and_tagged() -> None:
    request = restore_request(SOURCE, Target("prod", "aalap-prod-db", FINGERPRINT, "t4g.micro", 3), "r-1", NOW)
    assert request["UseLatestRestorableTime"] is True
    assert (request["DBSubnetGroupName"], request["DBParameterGroupName"]) == ("aalap-isolated", "aalap-pg17")
    assert request["OptionGroupName"] == "default:postgres-17"
    assert request["VpcSecurityGroupIds"] == ["sg-0db"]
    assert (request["MultiAZ"], request["PubliclyAccessible"], request["DeletionProtection"]) == (False, False, False)
    assert request["DBInstanceClass"] == "db.t4g.micro"
    assert "KmsKeyId" not in request, "a same-region restore keeps the source's key; RDS takes none"
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags == {REHEARSAL_TAG: "prod", FINGERPRINT_TAG: FINGERPRINT, EXPIRES_TAG: "2026-12-06T05:00:00Z"}


def test_the_copy_has_no_automated_backups_of_its_own() -> None:
    """RestoreDBInstanceToPointInTime's BackupRetentionPeriod: "Default: Uses existing setting" (botocore's RDS
    model), so a copy of a source with backups would back itself up (a first snapshot, then its logs) and bill that
    storage for a copy that lives hours; 0 "disables automated backups" (moto keeps the source's whatever is asked,
    as it does MultiAZ: the request is what shows it)."""
    request = restore_request({**SOURCE, "BackupRetentionPeriod": 7}, Target("prod", "db", FINGERPRINT), "r-1", NOW)
    assert request["BackupRetentionPeriod"] == 0


def test_a_source_outside_a_subnet_group_is_refused_before_any_restore() -> None:
    with pytest.raises(MigratorError, match="no DB subnet group"):
        restore_request({**SOURCE, "DBSubnetGroup": None}, Target("prod", "db", FINGERPRINT), "r-1", NOW)


def _instance(**tags: str) -> dict[str, Any]:
    return {"TagList": [{"Key": k, "Value": v} for k, v in tags.items()]}


def test_only_a_tagged_rehearsal_past_its_expiry_is_expired() -> None:
    past, future = "2026-12-06T01:59:59Z", "2026-12-06T02:00:01Z"
    assert expired(_instance(**{REHEARSAL_TAG: "prod", EXPIRES_TAG: past}), NOW)
    assert not expired(_instance(**{REHEARSAL_TAG: "prod", EXPIRES_TAG: future}), NOW)
    assert not expired(_instance(**{EXPIRES_TAG: past}), NOW), "an instance not tagged as a rehearsal is never ours"
    assert not expired({}, NOW)
    assert expired(_instance(**{REHEARSAL_TAG: "prod", EXPIRES_TAG: "soon"}), NOW), "ours with no readable expiry"


def test_the_cost_is_instance_hours_times_the_class_price_with_rds_ten_minute_minimum() -> None:
    assert estimated_cost("t4g.small", 3600) == pytest.approx(0.032)
    assert estimated_cost("db.t4g.small", 60) == estimated_cost("t4g.small", 600)
    assert estimated_cost("x9.huge", 3600) is None


def test_a_copy_outlives_the_longest_build_that_may_still_use_it() -> None:
    """The sweeper deletes a copy at its expiry, whoever uses it: a build may run BUILD_MINUTES (its restore alone up to
    hours), so a copy restored as the build starts must expire after the build's timeout, or the sweeper deletes
    the copy under a rehearsal that is still measuring (and the rehearsal fails with a lost connection)."""
    tags = Target("prod", "db", FINGERPRINT).tags(NOW)
    expiry = parse_time(tags[EXPIRES_TAG])
    assert expiry is not None and expiry > NOW + timedelta(minutes=BUILD_MINUTES), (tags[EXPIRES_TAG], BUILD_MINUTES)


def _report(**changes: Any) -> dict[str, Any]:
    finished = (NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"fingerprint": FINGERPRINT, "passed": True, "finished_at": finished} | changes


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        (None, "there is none"),
        (_report(fingerprint="f" * 64), "another bundle"),
        (_report(passed=False, error="003_x.sql:4: SQLSTATE 42P07"), "failed \\(003_x.sql:4"),
        (_report(finished_at="2026-12-04T23:59:59Z"), "26.0 h old, more than 24 h"),
        (_report(finished_at=""), "unknown age"),
    ],
)
def test_the_gate_refuses_naming_the_command(report: dict[str, Any] | None, reason: str) -> None:
    refusal = gate_refusal(report, "prod", FINGERPRINT, 24, NOW)
    assert refusal is not None and re.search(reason, refusal), refusal
    assert "python -m migrator --env prod rehearse" in refusal and "\n" not in refusal


def test_the_gate_passes_a_passing_rehearsal_of_this_bundle_within_the_age() -> None:
    assert gate_refusal(_report(), "prod", FINGERPRINT, 24, NOW) is None


class FakeRds:
    """RDS as the rehearsal sees it: the source, then the copy in the states given, one per look."""

    class NotFound(Exception):
        pass

    exceptions = type("Exceptions", (), {"DBInstanceNotFoundFault": NotFound})

    def __init__(self, states: list[str]) -> None:
        self.states: list[str] = states
        self.deleted: list[str] = []

    def describe_db_instances(self, DBInstanceIdentifier: str) -> dict[str, Any]:
        if DBInstanceIdentifier == "db":
            return {"DBInstances": [SOURCE]}
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"DBInstances": [{"DBInstanceStatus": state, "Endpoint": {"Address": "copy.example"}}]}

    def restore_db_instance_to_point_in_time(self, **_: Any) -> None:
        pass

    def delete_db_instance(self, DBInstanceIdentifier: str, **_: Any) -> None:
        self.deleted.append(DBInstanceIdentifier)


def _copy(rds: FakeRds) -> RestoredCopy:
    ticks = iter(range(0, 10**6, 600))  # each look at the clock: ten minutes later
    return RestoredCopy(rds, Target("prod", "db", FINGERPRINT), clock=lambda: float(next(ticks)), sleep=lambda s: None)


def test_a_file_that_failed_on_the_copy_fails_the_rehearsal_with_its_message_and_the_copy_is_deleted() -> None:
    rds = FakeRds(["creating", "available"])
    failed = {"error": "MigrationFailed", "message": "003_x.sql:4: SQLSTATE 42P07: relation exists", "files": []}
    report = rehearse(_copy(rds), lambda host: failed)
    assert (report.passed, report.error) == (False, failed["message"])
    assert rds.deleted == [report.instance] and report.to_json()["restore"]["deleted"]


@pytest.mark.parametrize(
    ("states", "reason"),
    [
        (["creating"], "not available after"),
        (["incompatible-restore"], "is incompatible-restore"),
        # a copy that cannot use the source's KMS key (disabled, its grant refused): "recoverable" only by fixing
        # the key and starting the instance, terminal after 7 days (AWS Knowledge Center, rds-aurora-inaccessible-state)
        (["creating", "inaccessible-encryption-credentials-recoverable"], "is inaccessible-encryption-credentials"),
    ],
)
def test_a_restore_that_does_not_become_available_is_bounded_and_deleted(states: list[str], reason: str) -> None:
    rds = FakeRds(states)
    report = rehearse(
        _copy(rds), lambda host: pytest.fail("measured a copy that is not available"), restore_timeout_s=3600
    )
    assert not report.passed and reason in str(report.error) and rds.deleted == [report.instance]


def test_the_runner_in_rehearse_mode_runs_the_rehearsal_and_refuses_missing_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from migrator.aws import rehearsal_runner, runner
    from migrator.aws.contract import ENV_RUNNER_MODE, MODE_REHEARSE

    monkeypatch.setenv(ENV_RUNNER_MODE, MODE_REHEARSE)
    monkeypatch.setattr(rehearsal_runner, "main", lambda: 7)
    assert runner.main() == 7
    status, line = rehearsal_runner.run({}, None, None, lambda host: {})
    assert status == 2 and line.startswith("migrator-runner: INVALID: MIGRATOR_REHEARSAL_ENV is not set")


class PagedRds:
    """DescribeDBInstances in pages of at most `page` (RDS: MaxRecords 20 to 100, then a Marker); DeleteDBInstance
    answers InvalidDBInstanceState for the instances named, one of its documented errors (botocore's RDS model)."""

    class NotFound(Exception):
        pass

    class InvalidState(Exception):
        pass

    exceptions = type(
        "Exceptions", (), {"DBInstanceNotFoundFault": NotFound, "InvalidDBInstanceStateFault": InvalidState}
    )

    def __init__(self, instances: list[dict[str, Any]], page: int, refused: set[str]) -> None:
        self.instances, self.page, self.refused = instances, page, refused
        self.deleted: list[str] = []

    def get_paginator(self, operation: str) -> Any:
        assert operation == "describe_db_instances"
        pages = [self.instances[i : i + self.page] for i in range(0, len(self.instances), self.page)]
        return type("Paginator", (), {"paginate": lambda _: iter([{"DBInstances": p} for p in pages])})()

    def delete_db_instance(self, DBInstanceIdentifier: str, **_: Any) -> None:
        if DBInstanceIdentifier in self.refused:
            raise self.InvalidState(f"DB instance {DBInstanceIdentifier} is not in a valid state")
        self.deleted.append(DBInstanceIdentifier)


def test_the_sweeper_reads_every_page_and_one_refused_delete_does_not_spare_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    past = "2026-12-06T01:00:00Z"

    def copy(name: str, env: str = "prod", status: str = "available") -> dict[str, Any]:
        return {"DBInstanceIdentifier": name, "DBInstanceStatus": status} | _instance(
            **{REHEARSAL_TAG: env, EXPIRES_TAG: past}
        )

    instances = [copy("rehearsal-a"), copy("rehearsal-gone", status="deleting"), copy("rehearsal-b")]
    instances += [{"DBInstanceIdentifier": f"app-{i}", "DBInstanceStatus": "available"} for i in range(3)]
    instances += [copy("rehearsal-staging", env="staging"), copy("rehearsal-c")]
    rds = PagedRds(instances, page=2, refused={"rehearsal-a"})
    assert sweep(rds, NOW, "prod") == ["rehearsal-b", "rehearsal-c"]
    assert rds.deleted == ["rehearsal-b", "rehearsal-c"]
    assert "rehearsal-a" in caplog.text and "next hour" in caplog.text
