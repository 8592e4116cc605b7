"""cdk.json context: parsed once, and every bad value fails synth naming its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.config import ConfigError, parse_app_config
from stacks.network import stack_zones
from tests.cdk.synth import context, provider_total_seconds, synth, with_environment


def _parse(environments: dict[str, Any], env: str | None = None, migrate: str | None = None) -> Any:
    return parse_app_config({"environments": environments}, env, migrate)


def with_real_on_call(environments: dict[str, Any]) -> dict[str, Any]:
    """cdk.json with its placeholder on-call addresses replaced, as before a deploy."""
    return {
        name: raw | ({"onCall": {"emails": ["db-oncall@aalap.co.in"]}} if "onCall" in raw else {})
        for name, raw in environments.items()
    }


def test_every_environment_parses_with_defaults_for_account_and_region() -> None:
    environments = with_real_on_call(context()["environments"])
    config = parse_app_config({"environments": environments}, None, None, "123456789012", "eu-west-1")
    assert [e.name for e in config.environments] == ["dev", "staging", "prod"]
    assert {(e.account, e.region) for e in config.environments} == {("123456789012", "eu-west-1")}
    assert config.migrate == "always"


def test_one_environment_is_selected_by_name() -> None:
    assert [e.name for e in _parse(context()["environments"], "staging").environments] == ["staging"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"instanceClass": 3}, "environments.staging.instanceClass must be a str"),
        ({"allocatedStorageGb": 5}, "environments.staging.allocatedStorageGb has an invalid value 5"),
        ({"multiAz": "yes"}, "environments.staging.multiAz must be a bool"),
        ({"engineVersion": "9.6"}, "environments.staging.engineVersion has an invalid value"),
        ({"removalPolicy": "destroy"}, "environments.staging.removalPolicy may be 'destroy' only in dev"),
        ({"deletionProtection": False}, "environments.staging.deletionProtection must be true outside dev"),
        ({"vpcId": "vpc-nothex"}, "environments.staging.vpcId has an invalid value"),
        ({"snapshotRetention": 0}, "environments.staging.snapshotRetention has an invalid value 0"),
        ({"maxLockHold": "30"}, "environments.staging.maxLockHold has an invalid value '30'"),
        ({"lockTimeout": 1}, "environments.staging.lockTimeout must be a str"),
        ({"instanceClas": "t4g.micro"}, "environments.staging.instanceClas is not a known setting"),
        ({"createVpcEndpoints": False}, "environments.staging.createVpcEndpoints may be false only with vpcId"),
        ({"onCall": None, "alarms": None}, "environments.staging.onCall is required outside dev"),
        ({"availabilityZones": ["eu-west-1a"]}, "environments.staging.availabilityZones must name at least 2"),
        ({"availabilityZones": ["eu-west-1a", "west"]}, "environments.staging.availabilityZones has an invalid zone"),
        (
            {"availabilityZones": ["eu-west-1a", "us-east-1b"]},
            "environments.staging.availabilityZones names zones of several Regions",
        ),
        (
            {"availabilityZones": ["eu-west-1a", "eu-west-1b"]},
            "environments.staging.availabilityZones names zones of eu-west-1: pin region",
        ),
        (
            {"availabilityZones": ["eu-west-1a", "eu-west-1b"], "region": "eu-central-1"},
            "environments.staging.availabilityZones names zones of eu-west-1, but the Region is eu-central-1",
        ),
        (
            {"availabilityZones": ["eu-west-1a", "eu-west-1b"], "vpcId": "vpc-0a1b2c3d"},
            "environments.staging.availabilityZones is for the project's own VPC",
        ),
    ],
)
def test_invalid_values_name_their_key(change: dict[str, Any], message: str) -> None:
    environments = context()["environments"]
    environments = environments | {"staging": environments["staging"] | change}
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        _parse(environments, "staging")


def test_missing_key_is_named() -> None:
    environments = context()["environments"]
    staging = {k: v for k, v in environments["staging"].items() if k != "backupRetentionDays"}
    with pytest.raises(ConfigError, match=r"environments\.staging\.backupRetentionDays is missing"):
        _parse(environments | {"staging": staging}, "staging")


def test_unknown_environment_and_migrate_mode_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown environment 'qa'"):
        _parse(context()["environments"], "qa")
    with pytest.raises(ConfigError, match="migrate='sometimes'"):
        _parse(context()["environments"], "dev", "sometimes")


def test_on_change_mode_drops_the_per_deploy_token(tmp_path: Path) -> None:
    template = synth(tmp_path, env="dev", migrate="on-change")["dev"]
    (resource,) = template.find_resources("Custom::SchemaMigration").values()
    assert "DeployToken" not in resource["Properties"]


def test_restore_builds_the_same_instance_from_the_snapshot(tmp_path: Path, templates: dict[str, Template]) -> None:
    plain = templates["staging"].find_resources("AWS::RDS::DBInstance")
    restored = synth(tmp_path / "b", **with_environment("staging", restoreSnapshotId="premigrate-x-v007-to-v008-1"))
    instances = restored["staging"].find_resources("AWS::RDS::DBInstance")
    assert instances.keys() == plain.keys(), "same logical id: CloudFormation replaces the instance from the snapshot"
    (instance,) = instances.values()
    assert instance["Properties"]["DBSnapshotIdentifier"] == "premigrate-x-v007-to-v008-1"
    assert instance["DeletionPolicy"] == "Snapshot"


@pytest.mark.parametrize("minutes", [9, 61, 120])
def test_migration_timeout_must_fit_cloudformations_hour(minutes: int) -> None:
    environments = context()["environments"]
    environments = environments | {"prod": environments["prod"] | {"migrationTimeoutMinutes": minutes}}
    with pytest.raises(ConfigError, match=r"environments\.prod\.migrationTimeoutMinutes .*between 10 and 60"):
        _parse(environments, "prod")


def test_migration_time_limits_all_derive_from_the_one_budget() -> None:
    from migrator.aws.budget import time_limits as migration_time_limits

    limits = migration_time_limits(45)
    assert limits.service_timeout_seconds == 45 * 60
    assert limits.handler_budget_seconds == limits.service_timeout_seconds
    assert 0 < limits.provider_total_seconds < limits.service_timeout_seconds
    assert migration_time_limits(60).service_timeout_seconds == 3600, "CloudFormation's maximum"


def test_an_hour_budget_synthesizes_at_cloudformations_maximum(tmp_path: Path) -> None:
    template = synth(tmp_path, **with_environment("dev", migrationTimeoutMinutes=60))["dev"]
    (resource,) = template.find_resources("Custom::SchemaMigration").values()
    assert resource["Properties"]["ServiceTimeout"] == "3600"
    assert resource["Properties"]["MigrationTimeoutSeconds"] == "3600"
    assert provider_total_seconds(template) < 3600


def test_named_zones_are_the_stacks_and_without_them_cloudformation_picks_two() -> None:
    """No lookup either way (stacks.network.stack_zones feeds DatabaseStack.availability_zones)."""
    environments = context()["environments"]
    named = ["eu-west-1a", "eu-west-1c", "eu-west-1b"]
    environments["staging"] |= {"region": "eu-west-1", "availabilityZones": named}
    (staging,) = _parse(environments, "staging").environments
    assert stack_zones(staging.availability_zones) == named
    (default,) = _parse(context()["environments"], "staging").environments
    assert [cdk.Stack().resolve(zone) for zone in stack_zones(default.availability_zones)] == [
        {"Fn::Select": [i, {"Fn::GetAZs": ""}]} for i in range(2)
    ]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_placeholder_on_call_address_never_reaches_a_deploy(env: str) -> None:
    """Offline synth (no credentials) accepts cdk.json's example.com placeholder; a synth with credentials, which
    `cdk deploy` and the deploy workflow's plan job always are, refuses it."""
    environments = context()["environments"]
    assert "example.com" in str(environments[env]["onCall"]), "cdk.json ships a placeholder"
    parse_app_config({"environments": environments}, env, None)
    with pytest.raises(ConfigError, match=rf"environments\.{env}\.onCall names the placeholder .*@example\.com"):
        parse_app_config({"environments": environments}, env, None, "123456789012", "eu-west-1")
    for stand_in in ({"emails": ["oncall@team.invalid"]}, {"httpsEndpoint": "https://hooks.example.org/x"}):
        environments[env]["onCall"] = stand_in
        with pytest.raises(ConfigError, match="placeholder"):
            parse_app_config({"environments": environments}, env, None, "123456789012", "eu-west-1")
