"""Pre-migration snapshot names (migrator.aws.snapshots): valid RDS identifiers, and ours recognisable."""

from __future__ import annotations

import re

import pytest

from migrator.aws.snapshots import our_prefix, snapshot_id

# RDS: 1-255 letters, digits and hyphens; first a letter; no two consecutive hyphens; no trailing hyphen.
RDS_SNAPSHOT_ID = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-))*(?<!-)$")


def assert_valid(ident: str) -> None:
    assert 1 <= len(ident) <= 255, len(ident)
    assert RDS_SNAPSHOT_ID.match(ident), ident


def test_a_snapshot_id_names_the_instance_the_versions_and_the_deploy() -> None:
    ident = snapshot_id("aalap-staging-db", "007", "009", "20261127T191500Z")
    assert ident == "premigrate-aalap-staging-db-v007-to-v009-20261127t191500z"
    assert_valid(ident)


def test_a_database_without_history_is_from_none() -> None:
    assert snapshot_id("db", None, "007", "manual") == "premigrate-db-vnone-to-v007-manual"


@pytest.mark.parametrize(
    ("instance", "stamp"),
    [
        ("AalapVma--Prod_DB", "20261127T191500Z"),
        ("db-", "-x-"),
        ("db", "a1b2c3d4e5f6"),
        ("---", "!!!"),
        ("d" * 300, "20261127T191500Z"),
        ("db", "x" * 300),
        ("db", "ends-with-a-hyphen-at-the-cut-" * 9),
        ("Ünïcode db", "mañana"),
    ],
)
def test_any_instance_and_stamp_give_a_valid_rds_identifier(instance: str, stamp: str) -> None:
    assert_valid(snapshot_id(instance, "007", "008", stamp))


def test_the_same_deploy_gets_the_same_id_and_another_deploy_another() -> None:
    first = snapshot_id("db", "007", "008", "20261127T191500Z")
    assert snapshot_id("db", "007", "008", "20261127T191500Z") == first, "a retried call finds its snapshot"
    assert snapshot_id("db", "007", "008", "20261128T080000Z") != first


def test_ours_are_found_by_the_instances_prefix() -> None:
    prefix = our_prefix("Aalap_Staging-DB")
    assert prefix == "premigrate-aalap-staging-db-"
    assert snapshot_id("Aalap_Staging-DB", "007", "008", "t").startswith(prefix)
    assert not snapshot_id("aalap-staging", "007", "008", "t").startswith(prefix)
    assert not "rds:aalap-staging-db-2026-11-27-19-15".startswith(prefix), "automated snapshots are not ours"


def test_an_instance_leaving_available_between_the_look_and_the_call_is_waited_for() -> None:
    """CreateDBSnapshot raising InvalidDBInstanceState after the instance was seen `available` (a maintenance
    action began in between) is the same wait as the states before it, not a failed deploy."""
    import boto3
    from botocore.stub import Stubber

    from migrator.aws.snapshots import Snapshots

    client = boto3.client("rds", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    ident = "premigrate-db-v007-to-v008-1"
    with Stubber(client) as stub:
        stub.add_client_error("describe_db_snapshots", service_error_code="DBSnapshotNotFound")
        stub.add_response(
            "describe_db_instances", {"DBInstances": [{"DBInstanceIdentifier": "db", "DBInstanceStatus": "available"}]}
        )
        stub.add_client_error("create_db_snapshot", service_error_code="InvalidDBInstanceState")
        assert Snapshots(client, "db").ensure(ident, {}) == "waiting-for-instance"
        stub.assert_no_pending_responses()
