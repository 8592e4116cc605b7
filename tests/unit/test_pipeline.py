"""Pipeline mode's reading of a change set's template (migrator.aws.pipeline), on small template dicts."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.aws.budget import PIPELINE_TIMEOUT_MINUTES
from migrator.aws.pipeline import Next, next_deploy, pseudo_parameters, resolve_intrinsics
from migrator.errors import InvalidInput, MigratorError

STACK = "arn:aws:cloudformation:eu-west-1:123456789012:stack/AalapVma-prod/0a1b2c3d"
PSEUDO = pseudo_parameters(STACK)
ASSET = {"Fn::Join": ["", [{"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}, "/abc123.zip"]]}


def template(step: dict[str, Any], project: Any = None) -> dict[str, Any]:
    return {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Runner": {"Type": "AWS::CodeBuild::Project", "Properties": {"Source": {"Location": ASSET}}},
            "Step": {
                "Type": "AWS::CloudFormation::CustomResource",
                "Properties": {"RunnerProject": project or {"Ref": "Runner"}, **step},
            },
        }
    }


# --- pseudo_parameters ---------------------------------------------------------------------------------------------


def test_pseudo_parameters_come_from_the_stack_arn() -> None:
    assert PSEUDO == {
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "123456789012",
        "AWS::URLSuffix": "amazonaws.com",
    }


def test_the_china_partition_has_its_own_url_suffix() -> None:
    china = pseudo_parameters("arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/AalapVma-prod/x")
    assert (china["AWS::Partition"], china["AWS::Region"], china["AWS::URLSuffix"]) == (
        "aws-cn",
        "cn-north-1",
        "amazonaws.com.cn",
    )


@pytest.mark.parametrize("stack_id", ["AalapVma-prod", "arn:aws:cloudformation:eu-west-1", "urn:a:b:c:d:e"])
def test_a_stack_id_that_is_not_an_arn_is_refused(stack_id: str) -> None:
    with pytest.raises(MigratorError, match="unexpected stack id"):
        pseudo_parameters(stack_id)


# --- resolve_intrinsics --------------------------------------------------------------------------------------------


def test_what_cdk_writes_for_an_asset_location_resolves() -> None:
    assert resolve_intrinsics(ASSET, PSEUDO) == "cdk-hnb659fds-assets-123456789012-eu-west-1/abc123.zip"


@pytest.mark.parametrize(
    ("value", "resolved"),
    [
        ("plain/key.zip", "plain/key.zip"),
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Fn::Sub": "no-variables"}, "no-variables"),
        ({"Fn::Join": ["-", ["a", {"Ref": "AWS::Partition"}, {"Fn::Join": ["", ["b", "c"]]}]]}, "a-aws-bc"),
        ({"Fn::Join": [",", []]}, ""),
    ],
)
def test_strings_refs_subs_and_nested_joins_resolve(value: Any, resolved: str) -> None:
    assert resolve_intrinsics(value, PSEUDO) == resolved


@pytest.mark.parametrize(
    "value",
    [
        {"Ref": "Bucket"},
        {"Fn::GetAtt": ["Bucket", "Arn"]},
        {"Fn::Sub": ["${X}", {"X": "y"}]},
        {"Fn::Join": [""]},
        {"Fn::Join": [",", "abc"]},
        {"Ref": "AWS::Region", "Extra": 1},
        42,
        None,
    ],
)
def test_anything_beyond_pseudo_parameters_is_refused_not_guessed(value: Any) -> None:
    with pytest.raises(InvalidInput, match="cannot resolve"):
        resolve_intrinsics(value, PSEUDO)


def test_a_subs_escaped_dollar_brace_is_the_literal() -> None:
    assert (
        resolve_intrinsics({"Fn::Sub": "${!Literal}-${AWS::Region}"}, PSEUDO) == f"${{Literal}}-{PSEUDO['AWS::Region']}"
    )


def test_a_sub_of_an_unknown_name_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInput, match=r"refers to \$\{Bucket\}"):
        resolve_intrinsics({"Fn::Sub": "${Bucket}/k.zip"}, PSEUDO)


# --- next_deploy ---------------------------------------------------------------------------------------------------


def test_the_change_sets_migration_step_is_read_with_its_runner() -> None:
    step = {
        "NewestVersion": "009",
        "DeployToken": "20261127T191500Z",
        "SnapshotRetention": "5",
        "TakeSnapshots": "false",
        "PipelineTimeoutMinutes": "720",
        "Runner": "pipeline",
    }
    assert next_deploy(template(step), PSEUDO) == Next(
        project_logical_id="Runner",
        source="cdk-hnb659fds-assets-123456789012-eu-west-1/abc123.zip",
        newest_version="009",
        stamp="20261127T191500Z",
        snapshot_retention=5,
        take_snapshots=False,
        timeout_minutes=720,
        runner="pipeline",
    )


def test_a_step_without_settings_gets_the_defaults() -> None:
    upcoming = next_deploy(template({"Fingerprint": "0123456789abcdef"}), PSEUDO)
    assert upcoming.stamp == "0123456789ab"
    assert upcoming.newest_version == ""
    assert (upcoming.snapshot_retention, upcoming.take_snapshots) == (3, True)
    assert upcoming.timeout_minutes == PIPELINE_TIMEOUT_MINUTES
    assert upcoming.runner == "lambda"
    assert next_deploy(template({}), PSEUDO).stamp == "pipeline"


def test_a_template_without_a_migration_step_is_refused() -> None:
    no_step = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "b"}}}}
    for bare in (no_step, {}, {"Resources": None}):
        with pytest.raises(MigratorError, match="no migration step with a runner project"):
            next_deploy(bare, PSEUDO)


@pytest.mark.parametrize("project", ["aalap-prod-runner", {"Ref": "Elsewhere"}, {"Fn::GetAtt": ["Runner", "Arn"]}])
def test_a_runner_project_that_is_not_a_ref_to_the_templates_project_is_refused(project: Any) -> None:
    with pytest.raises(MigratorError, match="RunnerProject is not a Ref to the template's project"):
        next_deploy(template({}, project=project), PSEUDO)
