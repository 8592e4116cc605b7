"""cdk.json sets the pinned CDK's recommended feature flags, as `cdk init` would, and none of them replaces the
database, its secrets or its subnet group: the logical ids and the properties whose change makes CloudFormation
replace the resource are the same with the flags and without any."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk
import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build
from tests.cdk.synth import context, templates_in

# Properties whose change replaces the resource (CloudFormation's resource reference, "Update requires: Replacement").
REPLACED_BY = {
    "AWS::RDS::DBInstance": (
        "DBInstanceIdentifier",
        "DBName",
        "DBSubnetGroupName",
        "KmsKeyId",
        "StorageEncrypted",
        "MasterUsername",
        "Engine",
        "DBSnapshotIdentifier",
        "AvailabilityZone",
        "CharacterSetName",
        "Timezone",
    ),
    "AWS::SecretsManager::Secret": ("Name", "GenerateSecretString", "KmsKeyId"),
    "AWS::RDS::DBSubnetGroup": ("DBSubnetGroupName",),
    "AWS::RDS::DBParameterGroup": ("Family", "Description"),
}


def recommended_flags() -> dict[str, Any]:
    """The flags `cdk init` writes for the installed aws-cdk-lib, read from the library's own package."""
    (package,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(package) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        flags: dict[str, Any] = json.load(member)
    return flags


def stateful(template: Template) -> dict[str, dict[str, Any]]:
    return {
        logical_id: {name: resource.get("Properties", {}).get(name) for name in REPLACED_BY[kind]} | {"Type": kind}
        for kind in REPLACED_BY
        for logical_id, resource in template.find_resources(kind).items()
    }


def test_cdk_json_sets_every_recommended_flag_of_the_pinned_cdk() -> None:
    flags = recommended_flags()
    ours = context()
    assert len(flags) > 50
    assert {name: value for name, value in flags.items() if ours.get(name) != value} == {}, (
        "set these in cdk.json's context after reviewing their template changes (`cdk flags`)"
    )


@pytest.mark.slow
def test_the_flags_replace_no_database_secret_or_subnet_group(cdk_assembly: Path, tmp_path: Path) -> None:
    without_flags = {name: value for name, value in context().items() if not name.startswith("@")}
    app = cdk.App(outdir=str(tmp_path), context=without_flags)
    before = {stack.stack_name.removeprefix("AalapVma-"): Template.from_stack(stack) for stack in build(app)}
    after = templates_in(cdk_assembly)
    assert set(before) == set(after) == set(context()["environments"])
    for name, template in after.items():
        kept = stateful(template)
        assert {kind["Type"] for kind in kept.values()} >= {"AWS::RDS::DBInstance", "AWS::SecretsManager::Secret"}
        assert kept == stateful(before[name]), name
