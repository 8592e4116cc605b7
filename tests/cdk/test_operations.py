"""The database in service: clients, outputs for the application, on-call (topic, alarms, dashboard),
insights and monitoring, windows, engine versions, and the customer-managed key, on the templates and
on the configuration that drives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from migrator.aws import metrics
from stacks.config import ConfigError, estimated_max_connections, instance_memory_gib, parse_app_config
from tests.cdk.synth import context, nag_findings, only, resources
from tests.support.cdk_envs import ENVIRONMENTS, OPTIONS

APPLICATION_OUTPUTS = ("DatabaseEndpoint", "DatabasePort", "DatabaseName", "DatabaseSecurityGroupId", "AppSecretArn")
GIB, MIB = 1024**3, 1024**2


def _instance(template: Template) -> dict[str, Any]:
    _, instance = only(template, "AWS::RDS::DBInstance")
    props: dict[str, Any] = instance["Properties"]
    return props


def _db_group(template: Template) -> str:
    group: str = _instance(template)["VPCSecurityGroups"][0]["Fn::GetAtt"][0]
    return group


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    """Alarms by metric name (the waiter's and the functions' Errors keyed by their logical id)."""
    found = {}
    for logical_id, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        key = props["MetricName"] if props["MetricName"] not in ("Errors",) else logical_id
        found[key] = props
    return found


def _topic(template: Template) -> str:
    topic, _ = only(template, "AWS::SNS::Topic")
    return topic


# The application reaches the database -------------------------------------------------------------


def test_client_groups_and_networks_are_admitted_on_5432_only(options: Template) -> None:
    _, group = next((k, v) for k, v in resources(options, "AWS::EC2::SecurityGroup").items() if k == _db_group(options))
    inline = group["Properties"]["SecurityGroupIngress"]
    assert {(r.get("SourceSecurityGroupId") or r.get("CidrIp") or r.get("CidrIpv6")) for r in inline} == {
        "sg-0123456789abcdef0",
        "sg-0fedcba9876543210",
        "10.20.0.0/16",
        "fd00:1::/64",
    }
    assert all(r["IpProtocol"] == "tcp" and r["FromPort"] == r["ToPort"] == 5432 for r in inline)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_without_clients_in_cdk_json_nothing_else_is_opened(templates: dict[str, Template], env: str) -> None:
    _, group = next(
        (k, v)
        for k, v in resources(templates[env], "AWS::EC2::SecurityGroup").items()
        if k == _db_group(templates[env])
    )
    assert group["Properties"].get("SecurityGroupIngress", []) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_and_exports_for_the_application_are_named_by_environment(
    templates: dict[str, Template], env: str
) -> None:
    outputs = templates[env].find_outputs("*")
    for name in APPLICATION_OUTPUTS:
        assert outputs[name]["Export"] == {"Name": f"AalapVma-{env}-{name}"}, name
    instance_id, _ = only(templates[env], "AWS::RDS::DBInstance")
    assert outputs["DatabaseEndpoint"]["Value"] == {"Fn::GetAtt": [instance_id, "Endpoint.Address"]}
    assert outputs["DatabasePort"]["Value"] == {"Fn::GetAtt": [instance_id, "Endpoint.Port"]}
    assert outputs["DatabaseName"]["Value"] == "aalap_vma"
    assert outputs["DatabaseSecurityGroupId"]["Value"] == {"Fn::GetAtt": [_db_group(templates[env]), "GroupId"]}
    _, resource = only(templates[env], "Custom::SchemaMigration")
    assert outputs["AppSecretArn"]["Value"] == resource["Properties"]["AppSecretArn"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_app_role_has_its_own_secret_attached_to_the_instance_and_read_by_the_functions(
    templates: dict[str, Template], env: str
) -> None:
    template = templates[env]
    _, resource = only(template, "Custom::SchemaMigration")
    app_secret = resource["Properties"]["AppSecretArn"]["Ref"]
    generated = template.to_json()["Resources"][app_secret]["Properties"]["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {"username": "aalap_app", "dbname": "aalap_vma"}
    assert generated["GenerateStringKey"] == "password"
    attachments = [a["Properties"] for a in resources(template, "AWS::SecretsManager::SecretTargetAttachment").values()]
    assert {"SecretId": {"Ref": app_secret}} in [{"SecretId": a["SecretId"]} for a in attachments]
    readers = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in json.dumps(s["Action"]) and {"Ref": app_secret} in s["Resource"]
    ]
    assert len(readers) == 2, "both migration functions (the hand-over) read it"


# On-call ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "emails"), [("dev", 0), ("staging", 1), ("prod", 1)])
def test_a_topic_per_environment_with_ssl_enforced_and_its_subscribers(
    templates: dict[str, Template], env: str, emails: int
) -> None:
    template = templates[env]
    topic = _topic(template)
    subscriptions = [s["Properties"] for s in resources(template, "AWS::SNS::Subscription").values()]
    assert [s["Protocol"] for s in subscriptions] == ["email"] * emails
    assert all(s["TopicArn"] == {"Ref": topic} for s in subscriptions)
    (policy,) = [p["Properties"] for p in resources(template, "AWS::SNS::TopicPolicy").values()]
    assert "aws:SecureTransport" in json.dumps(policy)
    assert template.find_outputs("AlarmTopicArn")["AlarmTopicArn"]["Value"] == {"Ref": topic}


def test_emails_and_an_https_endpoint_subscribe(options: Template) -> None:
    subscriptions = sorted(
        (s["Properties"]["Protocol"], s["Properties"]["Endpoint"])
        for s in resources(options, "AWS::SNS::Subscription").values()
    )
    assert subscriptions == [
        ("email", "a@example.com"),
        ("email", "b@example.com"),
        ("https", "https://events.example.com/hook"),
    ]


def test_dev_has_no_alarms(templates: dict[str, Template]) -> None:
    assert resources(templates["dev"], "AWS::CloudWatch::Alarm") == {}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_alarms_reach_the_topic_with_the_default_thresholds(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    raw = context()["environments"][env]
    alarms = _alarms(template)
    topic = {"Ref": _topic(template)}
    assert all(topic in a["AlarmActions"] for a in alarms.values())
    instance_id, _ = only(template, "AWS::RDS::DBInstance")
    memory = instance_memory_gib(raw["instanceClass"])
    connections = estimated_max_connections(raw["instanceClass"])
    assert memory and connections
    expected = {
        "CPUUtilization": (80, "GreaterThanThreshold"),
        "FreeStorageSpace": (max(1, raw["allocatedStorageGb"] // 20) * GIB, "LessThanThreshold"),
        "FreeableMemory": (memory * 1024 // 10 * MIB, "LessThanThreshold"),
        "DatabaseConnections": (connections * 80 // 100, "GreaterThanThreshold"),
    }
    for name, (threshold, comparison) in expected.items():
        assert (alarms[name]["Threshold"], alarms[name]["ComparisonOperator"]) == (threshold, comparison), name
        assert alarms[name]["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": {"Ref": instance_id}}]
        assert topic in alarms[name]["OKActions"], "on-call hears the recovery too"
    snapshots = alarms["ManualSnapshots"]
    assert (snapshots["Namespace"], snapshots["Threshold"], snapshots["TreatMissingData"]) == (
        metrics.NAMESPACE,
        80,
        "ignore",
    )
    assert snapshots["Dimensions"] == [{"Name": metrics.DIMENSION, "Value": {"Ref": instance_id}}]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_failed_migration_step_alarms_from_the_functions_and_the_waiter(
    templates: dict[str, Template], env: str
) -> None:
    template = templates[env]
    alarms = _alarms(template)
    (machine, _) = only(template, "AWS::StepFunctions::StateMachine")
    for state in ("ExecutionsFailed", "ExecutionsTimedOut"):
        alarm = alarms[state]
        assert alarm["Namespace"] == "AWS/States"
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine}}]
        assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Statistic"]) == (
            1,
            "GreaterThanOrEqualToThreshold",
            "Sum",
        )
    functions = {
        k
        for k, f in resources(template, "AWS::Lambda::Function").items()
        if str(f["Properties"].get("Handler", "")).startswith("migrator.aws.handler.")
    }
    errors = [a for a in alarms.values() if a["MetricName"] == "Errors"]
    assert {a["Dimensions"][0]["Value"]["Ref"] for a in errors} == functions
    assert all(a["Namespace"] == "AWS/Lambda" and a["Threshold"] == 1 for a in errors)


def test_thresholds_follow_cdk_json_and_false_drops_an_alarm(options: Template) -> None:
    alarms = _alarms(options)
    assert "DatabaseConnections" not in alarms
    assert alarms["CPUUtilization"]["Threshold"] == 70
    assert alarms["FreeStorageSpace"]["Threshold"] == 3 * GIB
    assert alarms["ManualSnapshots"]["Threshold"] == 90


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_dashboard_shows_the_migration_metrics_beside_the_databases(templates: dict[str, Template], env: str) -> None:
    _, dashboard = only(templates[env], "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == f"AalapVma-{env}"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in (metrics.DURATION, metrics.APPLIED, metrics.SNAPSHOT_WAIT, metrics.SUCCEEDED, metrics.FAILED):
        assert f'\\"{metrics.NAMESPACE}\\",\\"{name}\\"' in body, name
    for name in ("CPUUtilization", "FreeStorageSpace", "FreeableMemory", "DatabaseConnections", "ReadLatency"):
        assert f'\\"AWS/RDS\\",\\"{name}\\"' in body, name
    assert ("alarm" in body) is (env != "dev"), "alarm lines and the alarm status only where there are alarms"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_dashboard_shows_each_deploys_file_seconds_beside_the_rehearsals(
    templates: dict[str, Template], env: str
) -> None:
    _, dashboard = only(templates[env], "AWS::CloudWatch::Dashboard")
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]  # strings, and Refs inside JSON strings
    widgets = json.loads("".join(p if isinstance(p, str) else json.dumps(p).replace('"', "'") for p in parts))
    (graph,) = [
        w["properties"] for w in widgets["widgets"] if "measured vs rehearsed (s" in w["properties"].get("title", "")
    ]
    instance = "{'Ref': '" + _instance_ref(templates[env]) + "'}"
    assert [(m[1], m[2:6], m[6]) for m in graph["metrics"]] == [
        (name, [metrics.DIMENSION, instance, metrics.ENV_DIMENSION, env], {"label": label, "stat": "Sum"})
        for name, label in ((metrics.FILE_SECONDS, "measured"), (metrics.REHEARSED_FILE_SECONDS, "rehearsed"))
    ]
    (query,) = [w["properties"]["query"] for w in widgets["widgets"] if w["type"] == "log"]
    groups = [n for n in resources(templates[env], "AWS::Logs::LogGroup") if n.startswith("SchemaMigration")]
    logs = sorted(n for n in groups if n.removeprefix("SchemaMigration").startswith(("OnEventLogs", "IsCompleteLogs")))
    assert len(logs) == 2 and all(f"SOURCE '{{'Ref': '{name}'}}' | " in query for name in logs), "both functions' logs"
    assert query.endswith("\n| ".join(metrics.INSIGHTS_QUERY)), "per file: the version is a property, not a dimension"


def _instance_ref(template: Template) -> str:
    name, _ = only(template, "AWS::RDS::DBInstance")
    return name


# Insights, monitoring, windows ---------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_performance_insights_and_enhanced_monitoring_as_cdk_json_says(
    templates: dict[str, Template], env: str
) -> None:
    insights = bool(context()["environments"][env].get("performanceInsights"))
    props = _instance(templates[env])
    assert props.get("EnablePerformanceInsights", False) is insights
    if insights:
        assert props["PerformanceInsightsRetentionPeriod"] == 7, "the free retention"
        assert props["MonitoringInterval"] == 60
        assert "MonitoringRoleArn" in props
    else:
        assert "MonitoringInterval" not in props


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backup_and_maintenance_windows_come_from_cdk_json(templates: dict[str, Template], env: str) -> None:
    raw = context()["environments"][env]
    props = _instance(templates[env])
    assert props["PreferredBackupWindow"] == raw["backupWindow"]
    assert props["PreferredMaintenanceWindow"] == raw["maintenanceWindow"]


# Engine versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_major_version_only_lets_rds_upgrade_minors_without_drift(templates: dict[str, Template], env: str) -> None:
    props = _instance(templates[env])
    assert props["EngineVersion"] == "17"
    assert props["AutoMinorVersionUpgrade"] is True
    assert props.get("AllowMajorVersionUpgrade", False) is False
    _, group = only(templates[env], "AWS::RDS::DBParameterGroup")
    assert group["Properties"]["Family"] == "postgres17"


def test_version_18_pinned_with_a_major_upgrade_allowed(options: Template) -> None:
    props = _instance(options)
    assert props["EngineVersion"] == "18.1"
    assert props["AutoMinorVersionUpgrade"] is False, "a pinned minor is not upgraded behind the template's back"
    assert props["AllowMajorVersionUpgrade"] is True
    group_id, group = only(options, "AWS::RDS::DBParameterGroup")
    assert group["Properties"]["Family"] == "postgres18"
    assert group["Properties"]["Parameters"]["rds.force_ssl"] == "1"
    assert props["DBParameterGroupName"] == {"Ref": group_id}


# The customer-managed key --------------------------------------------------------------------------


def test_a_created_key_encrypts_storage_insights_secrets_and_the_topic(options: Template) -> None:
    key_id, key = only(options, "AWS::KMS::Key")
    arn = {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain", "snapshots outlive the stack and need their key"
    props = _instance(options)
    assert props["KmsKeyId"] == arn
    assert props["PerformanceInsightsKMSKeyId"] == arn
    secrets = resources(options, "AWS::SecretsManager::Secret")
    assert len(secrets) == 3 and all(s["Properties"]["KmsKeyId"] == arn for s in secrets.values())
    (topic,) = resources(options, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == arn
    assert "cloudwatch.amazonaws.com" in json.dumps(key["Properties"]["KeyPolicy"]), "alarms can publish"
    decrypt = [
        s
        for p in resources(options, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "kms:Decrypt" and s["Resource"] == arn and "kms:ViaService" in json.dumps(s)
    ]
    assert len(decrypt) >= 2, "both migration functions decrypt the secrets through Secrets Manager only"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_without_kms_key_the_aws_managed_keys_are_used(templates: dict[str, Template], env: str) -> None:
    assert resources(templates[env], "AWS::KMS::Key") == {}
    assert "KmsKeyId" not in _instance(templates[env])


def test_the_options_stack_is_nag_clean(options_assembly: Path) -> None:
    assert nag_findings(options_assembly) == {"staging": []}


# The configuration ---------------------------------------------------------------------------------


def _staging(**changes: Any) -> Any:
    environments = context()["environments"]
    environments["staging"] = environments["staging"] | changes
    (config,) = parse_app_config({"environments": environments}, "staging", None).environments
    return config


def test_the_options_parse_as_written() -> None:
    config = _staging(**OPTIONS)
    assert config.client_cidrs == ("10.20.0.0/16", "fd00:1::/64")
    assert config.alarms.connections is None and config.alarms.cpu_percent == 70
    assert config.engine_minor_pinned is True
    assert _staging().engine_minor_pinned is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clientSecurityGroupIds": ["sg-12"]}, r"clientSecurityGroupIds has an invalid security group id 'sg-12'"),
        ({"clientSecurityGroupIds": "sg-0123456789abcdef0"}, r"clientSecurityGroupIds must be a list of strings"),
        ({"clientCidrs": ["0.0.0.0/0"]}, r"clientCidrs has '0\.0\.0\.0/0': a client network must be /8 or narrower"),
        ({"clientCidrs": ["10.0.0.1/16"]}, r"clientCidrs has an invalid CIDR '10\.0\.0\.1/16'"),
        ({"clientCidrs": ["10.0.0.0/16", "10.0.0.0/16"]}, r"clientCidrs lists a value twice"),
        ({"onCall": {}, "alarms": {}}, r"alarms is set but environments\.staging\.onCall has no emails"),
        ({"onCall": {"emails": ["not-an-address"]}}, r"onCall\.emails has an invalid address 'not-an-address'"),
        ({"onCall": {"httpsEndpoint": "http://x.example.com"}}, r"onCall\.httpsEndpoint must be an https:// URL"),
        ({"onCall": {"pager": "x"}}, r"onCall\.pager is not a known setting"),
        ({"alarms": {"cpu": 80}}, r"alarms\.cpu is not a known setting"),
        ({"alarms": {"cpuPercent": 120}}, r"alarms\.cpuPercent must be an integer from 1 to 100, or false"),
        ({"alarms": {"migrationFailures": "yes"}}, r"alarms\.migrationFailures must be a bool"),
        ({"alarms": []}, r"alarms must be an object"),
        ({"instanceClass": "x2g.large"}, r"alarms: the defaults of freeableMemoryMb and maxConnections are not known"),
        ({"backupWindow": "02:00-02:15"}, r"backupWindow has an invalid value '02:00-02:15'"),
        ({"maintenanceWindow": "03:30-04:30"}, r"maintenanceWindow has an invalid value"),
        (
            {"backupWindow": "03:00-04:00", "maintenanceWindow": "sun:03:30-sun:04:30"},
            r"backupWindow 03:00-04:00 overlaps maintenanceWindow sun:03:30-sun:04:30",
        ),
        ({"enhancedMonitoringSeconds": 7}, r"enhancedMonitoringSeconds has an invalid value 7"),
        ({"kmsKey": "alias/mine"}, r"kmsKey has an invalid value 'alias/mine'"),
        ({"allowMajorVersionUpgrade": "yes"}, r"allowMajorVersionUpgrade must be a bool"),
        ({"engineVersion": "17.x"}, r"engineVersion has an invalid value"),
    ],
)
def test_invalid_operations_settings_name_their_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"environments\.staging\.{message}"):
        _staging(**change)


def test_an_unknown_class_works_with_explicit_thresholds() -> None:
    config = _staging(instanceClass="x2g.large", alarms={"freeableMemoryMb": 2048, "maxConnections": 1000})
    assert (config.alarms.freeable_memory_mb, config.alarms.connections) == (2048, 800)


def test_a_backup_window_crossing_midnight_may_not_overlap_a_monday_morning() -> None:
    with pytest.raises(ConfigError, match="overlaps"):
        _staging(backupWindow="23:30-00:30", maintenanceWindow="mon:00:00-mon:01:00")
    assert _staging(backupWindow="23:00-23:30", maintenanceWindow="mon:00:00-mon:01:00").backup_window


@pytest.mark.parametrize(
    ("instance_class", "gib"),
    [
        ("t4g.micro", 1),
        ("t4g.small", 2),
        ("m7g.large", 8),
        ("r7g.xlarge", 32),
        ("m6g.4xlarge", 64),
        ("x2g.large", None),
    ],
)
def test_instance_memory_of_known_classes(instance_class: str, gib: int | None) -> None:
    assert instance_memory_gib(instance_class) == gib
