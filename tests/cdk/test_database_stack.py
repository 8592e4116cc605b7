"""What every environment deploys, asserted on the synthesized templates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.cdk.synth import context, only, provider_total_seconds, resources
from tests.support.cdk_envs import ENVIRONMENTS as ENVIRONMENTS  # re-exported: test_ca_bundle.py reads it here
from tests.support.migrations import NEWEST_FILE

# What may reach the database and the endpoints: the migration functions and the CodeBuild runner.
MIGRATION_GROUPS = ("SchemaMigrationFunctionSecurityGroup", "SchemaMigrationRunnerSecurityGroup")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_is_encrypted_private_and_tls_only(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    _, instance = only(template, "AWS::RDS::DBInstance")
    props = instance["Properties"]
    assert props["StorageEncrypted"] is True
    assert props["PubliclyAccessible"] is False
    assert props["EnableCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert props["EngineVersion"] == "17"  # the major only: RDS upgrades minors without drift
    template.has_resource_properties(
        "AWS::RDS::DBParameterGroup", {"Parameters": Match.object_like({"rds.force_ssl": "1"})}
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_subnets_are_isolated_without_nat(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    assert resources(template, "AWS::EC2::NatGateway") == {}
    assert resources(template, "AWS::EC2::InternetGateway") == {}
    routes = resources(template, "AWS::EC2::Route")
    assert all(r["Properties"].get("DestinationCidrBlock") != "0.0.0.0/0" for r in routes.values())
    _, group = only(template, "AWS::RDS::DBSubnetGroup")
    subnets = resources(template, "AWS::EC2::Subnet")
    assert {ref["Ref"] for ref in group["Properties"]["SubnetIds"]} <= subnets.keys()
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    services = {
        json.dumps(e["Properties"]["ServiceName"]).split(".")[-1].strip('"]}')
        for e in resources(template, "AWS::EC2::VPCEndpoint").values()
    }
    assert services == {"secretsmanager", "rds", "logs", "codebuild", "s3"}, "the migration step's APIs, no NAT"


@pytest.mark.parametrize(
    ("env", "protected", "policy"),
    [("dev", False, "Delete"), ("staging", True, "Snapshot"), ("prod", True, "Snapshot")],
)
def test_deletion_protection_and_removal_policy(
    templates: dict[str, Template], env: str, protected: bool, policy: str
) -> None:
    _, instance = only(templates[env], "AWS::RDS::DBInstance")
    assert instance["Properties"]["DeletionProtection"] is protected
    assert instance["DeletionPolicy"] == policy
    assert instance["UpdateReplacePolicy"] == policy


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_migration_function_reaches_the_database(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    instance_id, instance = only(template, "AWS::RDS::DBInstance")
    db_group = instance["Properties"]["VPCSecurityGroups"][0]["Fn::GetAtt"][0]
    assert instance["Properties"]["Port"] == "5432"
    port_values = (5432, {"Fn::GetAtt": [instance_id, "Endpoint.Port"]})
    ingress = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == db_group
    ]
    sources = {rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in ingress}
    assert all(rule["FromPort"] == rule["ToPort"] and rule["FromPort"] in port_values for rule in ingress)
    assert any(source.startswith("SchemaMigrationFunctionSecurityGroup") for source in sources)
    rotation = {s for s in sources if "Rotation" in s}
    assert sources - rotation == {s for s in sources if s.startswith(MIGRATION_GROUPS)}
    assert {s.startswith(MIGRATION_GROUPS[1]) for s in sources - rotation} == {True, False}, "function and runner"
    rotates = bool(context()["environments"][env].get("rotateSecret"))
    assert bool(rotation) is rotates, "a rotating environment's rotation function must reach the database"
    groups = resources(template, "AWS::EC2::SecurityGroup")
    assert not any(
        rule.get("CidrIp") == "0.0.0.0/0"
        for g in groups.values()
        for rule in g["Properties"].get("SecurityGroupIngress", [])
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_custom_resource_runs_after_the_database_with_bounded_waits(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    _, resource = only(template, "Custom::SchemaMigration")
    instance_id, _ = only(template, "AWS::RDS::DBInstance")
    assert instance_id in resource["DependsOn"]
    props = resource["Properties"]
    assert int(props["ServiceTimeout"]) <= 125 * 60
    assert props["InstanceIdentifier"] == {"Ref": instance_id}
    assert "DeployToken" in props
    assert any(m.startswith(f"{NEWEST_FILE}@") for m in props["Migrations"])
    functions = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if str(f["Properties"].get("Handler", "")).startswith("migrator.aws.handler.")
    ]
    assert {f["Handler"] for f in functions} == {"migrator.aws.handler.on_event", "migrator.aws.handler.is_complete"}
    assert all(f["Runtime"] == "python3.14" and f["Architectures"] == ["arm64"] and "VpcConfig" in f for f in functions)


def _statements(template: Template) -> list[dict[str, Any]]:
    """The migration step's statements (the rehearsal's, tests/cdk/test_rehearsal.py, excepted)."""
    return [
        s
        for name, p in resources(template, "AWS::IAM::Policy").items()
        if not name.startswith("Rehearsal")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_migration_iam_is_scoped_to_this_instance_secret_and_snapshots(
    templates: dict[str, Template], env: str
) -> None:
    rds = [s for s in _statements(templates[env]) if any(str(a).startswith("rds:") for a in _list(s["Action"]))]
    assert rds, "the migration functions need RDS snapshot rights"
    listing = {"Action": "rds:DescribeDBSnapshots", "Effect": "Allow", "Resource": "*"}  # names no snapshot
    assert sum(s == listing for s in rds) == 2, "each migration function may list snapshots, with nothing else on *"
    for statement in (s for s in rds if s != listing):
        for resource in _list(statement["Resource"]):
            text = json.dumps(resource)
            assert resource != "*"
            assert ":db:" in text or ":snapshot:premigrate-" in text
    secrets = [s for s in _statements(templates[env]) if "secretsmanager:GetSecretValue" in _list(s["Action"])]
    assert secrets and all(s["Resource"] != "*" for s in secrets)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_prod_rotates_its_secret_and_is_multi_az(templates: dict[str, Template]) -> None:
    templates["prod"].resource_count_is("AWS::SecretsManager::RotationSchedule", 1)
    templates["dev"].resource_count_is("AWS::SecretsManager::RotationSchedule", 0)
    _, instance = only(templates["prod"], "AWS::RDS::DBInstance")
    assert instance["Properties"]["MultiAZ"] is True


# What prod runs that staging may leave out, and why: Multi-AZ doubles staging's instance and storage, and its
# standby and failover are RDS's own (nothing of this project runs differently on it).
STAGING_MAY_LACK = {"Multi-AZ"}


def _features(template: Template) -> set[str]:
    """The optional features a template runs: each one's first run in an environment is where it fails first."""
    _, instance = only(template, "AWS::RDS::DBInstance")
    props = instance["Properties"]
    found = {
        "secret rotation": bool(template.find_resources("AWS::SecretsManager::RotationSchedule")),
        "Multi-AZ": props.get("MultiAZ") is True,
        "Performance Insights": props.get("EnablePerformanceInsights") is True,
        "Enhanced Monitoring": bool(props.get("MonitoringInterval")),
        "alarms": bool(template.find_resources("AWS::CloudWatch::Alarm")),
        "a customer-managed key": bool(template.find_resources("AWS::KMS::Key")),
    }
    return {name for name, on in found.items() if on}


def test_staging_runs_what_prod_runs_so_a_failure_shows_there_first(templates: dict[str, Template]) -> None:
    """Rotation's function runs its test step when it is created; a first run belongs in staging, not prod."""
    assert _features(templates["prod"]) - _features(templates["staging"]) <= STAGING_MAY_LACK


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_carry_schema_version_and_snapshot(templates: dict[str, Template], env: str) -> None:
    outputs = templates[env].find_outputs("*")
    assert {"SchemaVersion", "PreMigrationSnapshot", "MigrationFunctionName"} <= outputs.keys()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_migrations_run_as_their_own_role_from_its_own_secret(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    _, resource = only(template, "Custom::SchemaMigration")
    role_secret = resource["Properties"]["MigratorSecretArn"]["Ref"]
    (generated,) = [
        r["Properties"]["GenerateSecretString"]
        for k, r in resources(template, "AWS::SecretsManager::Secret").items()
        if k == role_secret
    ]
    assert json.loads(generated["SecretStringTemplate"]) == {"username": "aalap_migrator"}
    readers = [
        s
        for s in _statements(template)
        if "secretsmanager:GetSecretValue" in _list(s["Action"]) and {"Ref": role_secret} in _list(s["Resource"])
    ]
    assert len(readers) == 3, "both migration functions and the CodeBuild runner, and nothing else, read it"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_migration_budget_sets_service_timeout_and_every_limit_below_it(
    templates: dict[str, Template], env: str
) -> None:
    minutes = context()["environments"][env]["migrationTimeoutMinutes"]
    _, resource = only(templates[env], "Custom::SchemaMigration")
    props = resource["Properties"]
    assert props["ServiceTimeout"] == str(minutes * 60), "CloudFormation's wait is the whole budget"
    assert props["MigrationTimeoutSeconds"] == str(minutes * 60), "the handler caps its deadlines with it"
    assert provider_total_seconds(templates[env]) < minutes * 60, "the framework answers before CloudFormation gives up"


def _endpoint_group(template: Template, service: str) -> str:
    for endpoint in resources(template, "AWS::EC2::VPCEndpoint").values():
        if service in json.dumps(endpoint["Properties"]["ServiceName"]):
            group: str = endpoint["Properties"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
            return group
    raise AssertionError(f"no {service} endpoint")


def _ingress_into(template: Template, group: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == group
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_manager_endpoint_admits_the_rotation_function_on_443(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    secrets = _ingress_into(template, _endpoint_group(template, ".secretsmanager"))
    assert all(rule["FromPort"] == rule["ToPort"] == 443 for rule in secrets)
    sources = {rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in secrets}
    rotation = {s for s in sources if "Rotation" in s}
    assert sources - rotation == {s for s in sources if s.startswith(MIGRATION_GROUPS)}
    rotates = bool(context()["environments"][env].get("rotateSecret"))
    assert len(rotation) == int(rotates), "rotation needs Secrets Manager; without it, it times out"
    rds_api = _ingress_into(template, _endpoint_group(template, ".rds"))
    assert not any("Rotation" in r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in rds_api), (
        "single-user rotation reads the host from the secret and never calls the RDS API"
    )


def test_rotation_function_reaches_only_secrets_manager_and_the_database(templates: dict[str, Template]) -> None:
    template = templates["prod"]
    groups = resources(template, "AWS::EC2::SecurityGroup")
    (rotation,) = [name for name in groups if "Rotation" in name]
    inline = groups[rotation]["Properties"].get("SecurityGroupEgress", [])
    assert not any(r.get("CidrIp") == "0.0.0.0/0" for r in inline)
    egress = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == rotation
    ]
    instance_id, instance = only(template, "AWS::RDS::DBInstance")
    db_group = instance["Properties"]["VPCSecurityGroups"][0]["Fn::GetAtt"][0]
    targets = {(r["DestinationSecurityGroupId"]["Fn::GetAtt"][0], json.dumps(r["FromPort"])) for r in egress}
    assert targets == {
        (_endpoint_group(template, ".secretsmanager"), "443"),
        (db_group, json.dumps({"Fn::GetAtt": [instance_id, "Endpoint.Port"]})),
    }


def test_rotation_waits_for_its_schedule_instead_of_racing_the_deploy(templates: dict[str, Template]) -> None:
    _, schedule = only(templates["prod"], "AWS::SecretsManager::RotationSchedule")
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    assert schedule["Properties"]["RotateImmediatelyOnUpdate"] is False


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_waiter_state_machine_logs_to_a_vended_logs_group(templates: dict[str, Template], env: str) -> None:
    """Under /aws/vendedlogs/states/, CloudWatch Logs needs no entry in the account's size-limited resource policy;
    the stack's own id ends the name (a retained group never meets a stack created again)."""
    template = templates[env]
    _, machine = only(template, "AWS::StepFunctions::StateMachine")
    (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    name = resources(template, "AWS::Logs::LogGroup")[group]["Properties"]["LogGroupName"]
    head, stack_uuid = name["Fn::Join"][1]
    assert head.startswith(f"/aws/vendedlogs/states/AalapVma-{env}-")
    assert stack_uuid == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
