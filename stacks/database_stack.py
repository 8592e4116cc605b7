"""One environment's stack: network, database, and the migration step that runs on every deploy.

Staging and prod have termination protection. CDK cannot set a stack policy, so synth writes one next
to each template (`<stack>.stack-policy.json` in the cloud assembly) and the deploy workflow applies it
with `aws cloudformation set-stack-policy` before deploying: it denies replacing or deleting the
database instance by an update unless the environment sets allowDatabaseReplacement (a restore).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

from migrator.aws.contract import OUTPUT_FUNCTION, OUTPUT_INSTANCE, stack_name
from stacks.config import EnvironmentConfig
from stacks.database import DATABASE_NAME, Database
from stacks.drift_watch import DriftWatch
from stacks.migration import RUNTIME, MigrationSettings, SchemaMigration
from stacks.monitoring import OnCall
from stacks.nag import suppress_accepted_findings, suppress_wildcards_aws_requires
from stacks.network import Network, stack_zones
from stacks.rehearsal import Rehearsal


class DatabaseStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        migration: MigrationSettings,
        **kwargs: Any,
    ) -> None:
        self._zones = stack_zones(config.availability_zones)  # read by availability_zones, during super().__init__ too
        super().__init__(scope, construct_id, termination_protection=config.name != "dev", **kwargs)
        self.config = config
        network = Network(
            self,
            "Network",
            vpc_id=config.vpc_id,
            create_endpoints=config.create_vpc_endpoints,
            zone_count=len(self._zones),
        )
        secrets_endpoint = next((e for e in network.endpoints if "SecretsManager" in e.node.id), None)
        self.key = self._key(config)
        self.database = Database(
            self, "Database", vpc=network.vpc, config=config, secrets_endpoint=secrets_endpoint, key=self.key
        )
        self.migration = SchemaMigration(
            self,
            "SchemaMigration",
            vpc=network.vpc,
            instance=self.database.instance,
            secret=self.database.secret,
            endpoints=network.endpoints,
            key=self.key,
            settings=replace(
                migration,
                runner=config.runner,
                pipeline_timeout_minutes=config.pipeline_timeout_minutes,
                lock=config.lock,
            ),
        )
        self.rehearsal = Rehearsal(
            self,
            "Rehearsal",
            env=config.name,
            instance=self.database.instance,
            code=self.migration.code,
            runtime=RUNTIME,
            runner_role=self.migration.runner.role,
            key=self.key,
        )
        self.rehearsal.gate(self.migration, config.rehearsal)
        instance = self.database.instance.node.default_child
        assert isinstance(instance, cdk.CfnResource)
        self.database_logical_id: str = self.resolve(instance.logical_id)
        if config.allow_database_replacement:
            cdk.Annotations.of(self.database.instance).add_warning_v2(
                "aalap:allowDatabaseReplacement",
                f"allowDatabaseReplacement is on for {config.name}: this deploy may replace or delete the database"
                " instance; set it back to false after the restore",
            )
        resource = self.migration.resource
        cdk.CfnOutput(
            self,
            "SchemaVersion",
            value=resource.get_att_string("SchemaVersion"),
            description="Schema version after this deploy",
        )
        cdk.CfnOutput(
            self,
            "PreMigrationSnapshot",
            value=resource.get_att_string("SnapshotId"),
            description="Snapshot taken before this deploy's migrations (empty: none needed)",
        )
        self._outputs_for_the_application(config)
        cdk.CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
        cdk.CfnOutput(self, OUTPUT_INSTANCE, value=self.database.instance.instance_identifier)
        cdk.CfnOutput(
            self,
            OUTPUT_FUNCTION,
            value=self.migration.on_event.function_name,
            description='Invoke with {"Action": "status"} for a read-only status',
        )
        waiter = self.migration.provider.node.find_child("waiter-state-machine")
        assert isinstance(waiter, cdk.custom_resources.WaiterStateMachine)
        self.on_call = OnCall(
            self,
            "OnCall",
            config=config,
            instance=self.database.instance,
            functions=[self.migration.on_event, self.migration.is_complete],
            waiter_arn=waiter.state_machine_arn,
            key=self.key,
            key_policy_editable=config.kms_key == "create",
        )
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.on_call.topic.topic_arn, description="On-call SNS topic")
        if config.drift_watch_minutes:
            watch = DriftWatch(
                self,
                "DriftWatch",
                minutes=config.drift_watch_minutes,
                function=self.migration.on_event,
                instance_id=self.database.instance.instance_identifier,
                topic=self.on_call.topic,
                alarmed=config.alarms is not None,
            )
            self.on_call.dashboard.add_widgets(*watch.widgets())
        self.migration.depend_on_network(self)  # last: every endpoint and rule of the stack exists by now
        suppress_accepted_findings(self, config)
        suppress_wildcards_aws_requires(self, self.migration.provider.node.find_child("waiter-state-machine"))

    @property
    def availability_zones(self) -> list[str]:
        """cdk.json's zones, or Fn::GetAZs: never CDK's lookup, which needs the account's credentials at synth."""
        return self._zones

    def _key(self, config: EnvironmentConfig) -> kms.IKey | None:
        """kmsKey: "create" a customer-managed key (rotated yearly), or use the key whose ARN is given."""
        if config.kms_key is None:
            return None
        if config.kms_key == "create":
            return kms.Key(
                self,
                "Key",
                description=f"Aalap VMA {config.name}: database storage, snapshots, secrets, Performance Insights",
                enable_key_rotation=True,
                removal_policy=cdk.RemovalPolicy.RETAIN,  # snapshots outlive the stack and need it
            )
        return kms.Key.from_key_arn(self, "Key", config.kms_key)

    def _outputs_for_the_application(self, config: EnvironmentConfig) -> None:
        """What the application needs to connect, as outputs and as exports named by environment."""
        instance = self.database.instance
        values = {
            "DatabaseEndpoint": (instance.db_instance_endpoint_address, "host name of the database"),
            "DatabasePort": (instance.db_instance_endpoint_port, "PostgreSQL port"),
            "DatabaseName": (DATABASE_NAME, "the application's database"),
            "DatabaseSecurityGroupId": (
                self.database.security_group.security_group_id,
                "the database's security group (clients are admitted by cdk.json clientSecurityGroupIds)",
            ),
            "AppSecretArn": (
                self.migration.app_secret.secret_arn,
                "the application role's secret: host, port, dbname, username, password",
            ),
        }
        for name, (value, description) in values.items():
            cdk.CfnOutput(
                self, name, value=value, description=description, export_name=f"{stack_name(config.name)}-{name}"
            )


def stack_policy(stack: DatabaseStack) -> dict[str, Any]:
    """Updates may change anything, but neither replace nor delete the database instance (unless allowed)."""
    statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]
    if not stack.config.allow_database_replacement:
        statements.append(
            {
                "Effect": "Deny",
                "Action": ["Update:Replace", "Update:Delete"],
                "Principal": "*",
                "Resource": f"LogicalResourceId/{stack.database_logical_id}",
            }
        )
    return {"Statement": statements}


def write_stack_policies(stacks: Iterable[DatabaseStack], assembly_dir: Path) -> None:
    """`<stack>.stack-policy.json` beside each template: reviewed and deployed with the same assembly."""
    for stack in stacks:
        path = assembly_dir / f"{stack.artifact_id}.stack-policy.json"
        path.write_text(json.dumps(stack_policy(stack), indent=2) + "\n")
