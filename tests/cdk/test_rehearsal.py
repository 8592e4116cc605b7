"""The environment rehearsal in the templates: the hourly sweeper and its schedule, the private report bucket, and
deletion rights that need this environment's rehearsal tag (the calls themselves: tests/iam/test_rehearsal_calls.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from migrator.aws.contract import DEFAULT_REHEARSAL_MAX_AGE_HOURS, ENV_REHEARSAL_ENV, StepProperties
from migrator.aws.rehearsal import REHEARSAL_TAG
from migrator.aws.rehearsal_command import next_bundle
from stacks.config import ConfigError
from stacks.config.rehearsal import RehearsalSettings, parse_rehearsal
from stacks.rehearsal import SWEEP_EVERY
from tests.cdk.synth import resources
from tests.support.cdk_envs import ENVIRONMENTS

SWEEPER = "migrator.aws.sweeper.handler"


def _named(template: Template, kind: str, prefix: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in resources(template, kind).items() if n.startswith(prefix)}


def _statements(template: Template, prefix: str) -> list[dict[str, Any]]:
    policies = _named(template, "AWS::IAM::Policy", prefix).values()
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_sweeper_runs_hourly_outside_the_vpc_for_its_environment(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    (name,) = [
        n for n, f in resources(template, "AWS::Lambda::Function").items() if f["Properties"]["Handler"] == SWEEPER
    ]
    function = resources(template, "AWS::Lambda::Function")[name]["Properties"]
    assert "VpcConfig" not in function, "it calls the RDS API only, never a database"
    assert function["Environment"]["Variables"][ENV_REHEARSAL_ENV] == env
    (rule,) = _named(template, "AWS::Events::Rule", "RehearsalSweepSchedule").values()
    hours = int(SWEEP_EVERY.to_hours())
    assert rule["Properties"]["ScheduleExpression"] == f"rate({hours} hour{'s' if hours > 1 else ''})"
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [name, "Arn"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rehearsal_copies_are_deleted_only_with_this_environments_tag(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    deletes = [s for s in _statements(template, "Rehearsal") if "rds:DeleteDBInstance" in _actions(s)]
    assert len(deletes) == 2, "the runner's and the sweeper's"
    assert all(s["Condition"] == {"StringEquals": {f"aws:ResourceTag/{REHEARSAL_TAG}": env}} for s in deletes)
    tagging = [s for s in _statements(template, "RehearsalRunnerPolicy") if "rds:AddTagsToResource" in _actions(s)]
    assert [s["Condition"] for s in tagging] == [{"StringEquals": {f"aws:RequestTag/{REHEARSAL_TAG}": env}}]
    (restore,) = [s for s in _statements(template, "Rehearsal") if "rds:RestoreDBInstanceToPointInTime" in _actions(s)]
    dbs = [json.dumps(r) for r in restore["Resource"] if ":db:" in json.dumps(r)]
    assert len(dbs) == 2 and any("rehearsal-*" in r for r in dbs), "the source instance and rehearsal-* only"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_report_bucket_is_private_and_reports_are_written_under_the_environment(
    templates: dict[str, Template], env: str
) -> None:
    template = templates[env]
    (bucket,) = _named(template, "AWS::S3::Bucket", "RehearsalReports").values()
    blocked = bucket["Properties"]["PublicAccessBlockConfiguration"]
    assert all(
        blocked[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    (policy,) = _named(template, "AWS::S3::BucketPolicy", "RehearsalReports").values()
    assert "aws:SecureTransport" in json.dumps(policy)
    (put,) = [s for s in _statements(template, "RehearsalRunnerPolicy") if s["Action"] == "s3:PutObject"]
    assert f"/rehearsals/{env}/*" in json.dumps(put["Resource"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_gate_is_on_in_prod_only_by_default_and_reads_this_environments_reports(
    templates: dict[str, Template], env: str
) -> None:
    template = templates[env]
    (step,) = resources(template, "Custom::SchemaMigration").values()
    props = StepProperties.parse(step["Properties"] | {"RehearsalBucket": "b"})
    assert props.rehearsal_required is (env == "prod")
    assert props.rehearsal_max_age_hours == DEFAULT_REHEARSAL_MAX_AGE_HOURS
    (bucket,) = _named(template, "AWS::S3::Bucket", "RehearsalReports")
    assert step["Properties"]["RehearsalBucket"] == {"Ref": bucket}
    for function in ("SchemaMigrationOnEvent", "SchemaMigrationIsComplete"):  # the gate; the predictions checked
        reads = [s for s in _statements(template, function) if s["Action"] == "s3:GetObject"]
        assert len(reads) == (1 if env == "prod" else 0), function
        assert all(f"/rehearsals/{env}/*" in json.dumps(s["Resource"]) for s in reads)
        lists = [s for s in _statements(template, function) if s["Action"] == "s3:ListBucket"]
        assert [s["Resource"] for s in lists] == ([{"Fn::GetAtt": [bucket, "Arn"]}] if env == "prod" else [])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "must be an object"),
        ({"required": "yes"}, "required must be true or false"),
        ({"maxAgeHours": 0}, "maxAgeHours must be whole hours from 1"),
        ({"instanceClass": "big"}, "instanceClass must be an RDS instance class"),
        ({"maxAge": 3}, "maxAge is not a known setting"),
    ],
)
def test_a_bad_rehearsal_setting_is_refused_naming_its_key(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rehearsal("prod", raw)


def test_the_rehearsal_settings_default_to_required_in_prod_only() -> None:
    assert parse_rehearsal("prod", None) == RehearsalSettings(required=True)
    assert parse_rehearsal("staging", None) == RehearsalSettings(required=False)
    given = parse_rehearsal("staging", {"required": True, "maxAgeHours": 6, "instanceClass": "t4g.micro"})
    assert given == RehearsalSettings(True, 6, "t4g.micro")


def test_the_command_reads_the_next_bundle_from_the_prod_template(templates: dict[str, Template]) -> None:
    template = templates["prod"].to_json()
    pseudo = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}
    found = next_bundle(template, pseudo | {"AWS::URLSuffix": "amazonaws.com"})
    (step,) = resources(templates["prod"], "Custom::SchemaMigration").values()
    assert found.fingerprint == step["Properties"]["Fingerprint"]
    assert found.source.startswith("cdk-") and found.source.endswith(".zip")
    assert found.bucket_logical_id.startswith("RehearsalReports")
    assert template["Resources"][found.project_logical_id]["Type"] == "AWS::CodeBuild::Project"


def test_the_runner_may_read_the_next_deploys_asset_zip_of_the_bootstrap_bucket(templates: dict[str, Template]) -> None:
    (read,) = [s for s in _statements(templates["staging"], "RehearsalRunnerPolicy") if "s3:GetObject" in _actions(s)]
    assert "-assets-" in json.dumps(read["Resource"]) and json.dumps(read["Resource"]).endswith('/*.zip"]]}')
