"""The CodeBuild runner in the templates: the time limits in one order, the image matching the asset,
the endpoints a VPC without NAT needs, the runner's network and least-privilege IAM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from migrator.aws.budget import MIGRATION_MINUTES_MAX, MIGRATION_MINUTES_MIN, MIN_BUILD_MINUTES
from migrator.aws.budget import time_limits as migration_time_limits
from migrator.aws.contract import (
    ENV_LOCK_RETRY_WINDOW,
    ENV_LOCK_TIMEOUT,
    ENV_MAX_LOCK_HOLD,
    LAMBDA_PYTHON,
    StepProperties,
)
from stacks.bundling import LAMBDA_PLATFORMS
from stacks.config import ConfigError
from stacks.runner import ARCHITECTURE, IMAGE
from tests.cdk.synth import only, resources, synth, with_environment
from tests.support.cdk_envs import ENVIRONMENTS


@pytest.mark.parametrize("minutes", range(MIGRATION_MINUTES_MIN, MIGRATION_MINUTES_MAX + 1))
def test_time_limits_are_in_one_order_for_every_allowed_budget(minutes: int) -> None:
    limits = migration_time_limits(minutes)
    assert (
        limits.runner_budget_seconds
        < limits.build_timeout_seconds
        < limits.provider_total_seconds
        < limits.service_timeout_seconds
        <= 3600
    )
    assert limits.build_timeout_seconds - limits.runner_budget_seconds >= 60, "the runner rolls back before the kill"
    assert limits.provider_total_seconds - limits.build_timeout_seconds >= 60, "the build is over before a last poll"
    if limits.build_timeout_seconds >= MIN_BUILD_MINUTES * 60:  # CodeBuild's shortest timeout fits
        assert limits.build_timeout_minutes * 60 <= limits.build_timeout_seconds


def test_codebuild_runner_needs_a_budget_a_build_fits_in(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="runner 'codebuild' needs migrationTimeoutMinutes of at least 12"):
        synth(tmp_path, **with_environment("dev", runner="codebuild", migrationTimeoutMinutes=11))
    with pytest.raises(ConfigError, match="runner"):
        synth(tmp_path, **with_environment("dev", runner="fargate"))


def _props(template: Template, kind: str) -> dict[str, Any]:
    return dict(only(template, kind)[1]["Properties"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_templates_carry_the_limits_in_order(templates: dict[str, Template], env: str) -> None:
    migration = _props(templates[env], "Custom::SchemaMigration")
    project = _props(templates[env], "AWS::CodeBuild::Project")
    service = int(migration["ServiceTimeout"])
    limits = migration_time_limits(service // 60)
    runner, build = int(migration["RunnerTimeoutSeconds"]), int(migration["BuildTimeoutSeconds"])
    assert runner < build < limits.provider_total_seconds < service <= 3600
    assert project["TimeoutInMinutes"] * 60 <= build
    assert project["QueuedTimeoutInMinutes"] == 5
    assert migration["Runner"] == "lambda" and migration["RunnerProject"] == {
        "Ref": only(templates[env], "AWS::CodeBuild::Project")[0]
    }


def test_the_image_runs_the_python_and_architecture_of_the_asset(templates: dict[str, Template]) -> None:
    import json

    template = templates["staging"]
    project = _props(template, "AWS::CodeBuild::Project")
    environment = project["Environment"]
    assert (environment["Type"], environment["Image"], environment["PrivilegedMode"]) == ("ARM_CONTAINER", IMAGE, False)
    spec = json.loads(project["Source"]["BuildSpec"])
    assert spec["phases"]["install"]["runtime-versions"] == {"python": LAMBDA_PYTHON}
    assert f"('{LAMBDA_PYTHON}', '{ARCHITECTURE}')" in spec["phases"]["build"]["commands"][0]
    assert spec["phases"]["build"]["commands"][-1] == "python -m migrator.aws.runner"
    assert all(ARCHITECTURE in platform for platform in LAMBDA_PLATFORMS), "the asset's wheels are aarch64"
    functions = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if str(f["Properties"].get("Handler", "")).startswith("migrator.aws.handler.")
    ]
    assert {(f["Runtime"], tuple(f["Architectures"])) for f in functions} == {(f"python{LAMBDA_PYTHON}", ("arm64",))}
    # the very object the functions run: same bootstrap bucket, same key
    keys = {f["Code"]["S3Key"] for f in functions}
    assert len(keys) == 1
    location = project["Source"]["Location"]["Fn::Join"][1]
    assert (project["Source"]["Type"], location[-1]) == ("S3", f"/{keys.pop()}")


def test_a_vpc_without_nat_gets_the_endpoints_the_runner_needs(templates: dict[str, Template]) -> None:
    endpoints = resources(templates["staging"], "AWS::EC2::VPCEndpoint")
    services = {}
    for endpoint in endpoints.values():
        props = endpoint["Properties"]
        name = props["ServiceName"]
        text = name if isinstance(name, str) else "".join(p for p in name["Fn::Join"][1] if isinstance(p, str))
        services[text.rsplit(".", 1)[-1]] = props.get("VpcEndpointType", "Gateway")
    assert services["s3"] == "Gateway", "the build's source, free"
    assert services["logs"] == "Interface" and services["codebuild"] == "Interface"
    assert services["secretsmanager"] == "Interface"


def _security_group_of(template: Template) -> str:
    project = _props(template, "AWS::CodeBuild::Project")
    (group,) = project["VpcConfig"]["SecurityGroupIds"]
    return str(group["Fn::GetAtt"][0])


def test_the_runner_sits_in_the_isolated_subnets_and_reaches_only_the_database_and_https(
    templates: dict[str, Template],
) -> None:
    template = templates["staging"]
    project = _props(template, "AWS::CodeBuild::Project")
    isolated = {
        name
        for name, subnet in resources(template, "AWS::EC2::Subnet").items()
        if "isolated" in str(subnet["Properties"].get("Tags", ""))
    }
    assert {s["Ref"] for s in project["VpcConfig"]["Subnets"]} == isolated and isolated
    group = _security_group_of(template)
    egress = resources(template, "AWS::EC2::SecurityGroup")[group]["Properties"]["SecurityGroupEgress"]
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in egress] == [("tcp", 443, 443)]
    egress_rules = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    assert {rule["FromPort"] for rule in egress_rules} >= {5432, 443}
    ingress = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"].get("SourceSecurityGroupId") == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    assert 5432 in {rule["FromPort"] for rule in ingress}, "the database admits the runner"


def _statements(template: Template, policy_path: str) -> list[dict[str, Any]]:
    found = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for name, p in resources(template, "AWS::IAM::Policy").items()
        if name.startswith(policy_path)
    ]
    assert len(found) == 1, f"{policy_path}: {len(found)} policies"
    return list(found[0])


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_the_runner_role_holds_the_asset_object_two_secrets_its_log_and_its_network(
    templates: dict[str, Template],
) -> None:
    template = templates["staging"]
    statements = _statements(template, "SchemaMigrationRunnerPolicy")
    by_action = {frozenset(_actions(s)): s for s in statements}
    s3 = by_action[frozenset({"s3:GetObject", "s3:GetObjectVersion"})]
    resource = s3["Resource"]["Fn::Join"][1]
    assert resource[-1].endswith(".zip"), "the asset object only, not the bucket"
    secrets = by_action[frozenset({"secretsmanager:GetSecretValue"})]["Resource"]
    assert len(secrets) == 2
    logs = by_action[frozenset({"logs:CreateLogStream", "logs:PutLogEvents"})]["Resource"]
    assert logs["Fn::GetAtt"][0].startswith("SchemaMigrationRunnerLogs")
    permission = by_action[frozenset({"ec2:CreateNetworkInterfacePermission"})]
    assert permission["Condition"]["StringEquals"] == {"ec2:AuthorizedService": "codebuild.amazonaws.com"}
    assert {a.split(":")[0] for s in statements for a in _actions(s)} == {"s3", "secretsmanager", "logs", "ec2"}


@pytest.mark.parametrize("function", ["OnEvent", "IsComplete"])
def test_the_migration_functions_control_builds_of_this_project_only(
    templates: dict[str, Template], function: str
) -> None:
    template = templates["staging"]
    statements = _statements(template, f"SchemaMigration{function}ServiceRoleDefaultPolicy")
    (control,) = [s for s in statements if any(a.startswith("codebuild:") for a in _actions(s))]
    find = {"codebuild:BatchGetBuilds", "codebuild:ListBuildsForProject"}
    own = {"OnEvent": {"codebuild:StopBuild"}, "IsComplete": {"codebuild:StartBuild", "codebuild:StopBuild"}}[function]
    assert _actions(control) == find | own
    project = only(template, "AWS::CodeBuild::Project")[0]
    assert {"Ref": project} in control["Resource"]["Fn::Join"][1], "this project's ARN, nothing wider"
    logs = [s for s in statements if _actions(s) == {"logs:GetLogEvents"}]
    if function == "OnEvent":
        assert logs == [], "on_event reads no build log"
        return
    assert "log-stream:*" in str(logs[0]["Resource"]) and "SchemaMigrationRunnerLogs" in str(logs[0]["Resource"])


def test_the_environment_setting_reaches_the_handler(tmp_path: Path) -> None:
    template = synth(tmp_path, **with_environment("staging", runner="codebuild"))["staging"]
    assert _props(template, "Custom::SchemaMigration")["Runner"] == "codebuild"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_lock_settings_reach_the_step_and_the_runner_alike(templates: dict[str, Template], env: str) -> None:
    """cdk.json's lockTimeout, lockRetryWindow and maxLockHold (or their defaults) as the step's properties and
    as the runner build's environment: a deploy in CodeBuild meets live traffic as the Lambda does."""
    step = StepProperties.parse(_props(templates[env], "Custom::SchemaMigration"), required=False)
    (_, project) = only(templates[env], "AWS::CodeBuild::Project")
    variables = {v["Name"]: v.get("Value") for v in project["Properties"]["Environment"]["EnvironmentVariables"]}
    given = (step.lock_timeout, step.lock_retry_window, step.max_lock_hold)
    assert all(given), "each is rendered"
    assert (variables[ENV_LOCK_TIMEOUT], variables[ENV_LOCK_RETRY_WINDOW], variables[ENV_MAX_LOCK_HOLD]) == given


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_migration_step_outlives_every_endpoint_and_rule_of_its_network(
    templates: dict[str, Template], env: str
) -> None:
    """On a stack delete, CloudFormation removes what the custom resource depends on only after it: every VPC
    endpoint, and every security-group rule of, to or from the functions' and the runner's groups."""
    template = templates[env]
    step_id, step = only(template, "Custom::SchemaMigration")
    waits_for = set(step.get("DependsOn", []))
    groups = {
        logical
        for logical, group in resources(template, "AWS::EC2::SecurityGroup").items()
        if "Migration" in str(group["Properties"].get("GroupDescription", ""))
    }
    assert len(groups) == 2, "the functions' and the runner's"
    endpoints = set(resources(template, "AWS::EC2::VPCEndpoint"))
    rules = {
        logical
        for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
        for logical, rule in resources(template, kind).items()
        if any(f'"{group}"' in json.dumps(rule["Properties"]) for group in groups)
    }
    assert endpoints and rules, step_id
    assert endpoints | rules <= waits_for, sorted((endpoints | rules) - waits_for)
