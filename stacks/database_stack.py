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
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.database import Database
from stacks.migration import MigrationSettings, SchemaMigration
from stacks.nag import suppress_accepted_findings, suppress_wildcards_aws_requires
from stacks.network import Network


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
        super().__init__(scope, construct_id, termination_protection=config.name != "dev", **kwargs)
        self.config = config
        network = Network(self, "Network", vpc_id=config.vpc_id, create_endpoints=config.create_vpc_endpoints)
        secrets_endpoint = next((e for e in network.endpoints if "SecretsManager" in e.node.id), None)
        self.database = Database(self, "Database", vpc=network.vpc, config=config, secrets_endpoint=secrets_endpoint)
        self.migration = SchemaMigration(
            self,
            "SchemaMigration",
            vpc=network.vpc,
            instance=self.database.instance,
            secret=self.database.secret,
            endpoints=network.endpoints,
            settings=replace(migration, runner=config.runner),
        )
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
        cdk.CfnOutput(self, "DatabaseEndpoint", value=self.database.instance.db_instance_endpoint_address)
        cdk.CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
        cdk.CfnOutput(self, "DatabaseInstanceId", value=self.database.instance.instance_identifier)
        cdk.CfnOutput(
            self,
            "MigrationFunctionName",
            value=self.migration.on_event.function_name,
            description='Invoke with {"Action": "status"} for a read-only status',
        )
        suppress_accepted_findings(self, config)
        suppress_wildcards_aws_requires(self, self.migration.provider.node.find_child("waiter-state-machine"))


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
