"""One environment's stack: network, database, and the migration step that runs on every deploy."""

from __future__ import annotations

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
        super().__init__(scope, construct_id, **kwargs)
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
            settings=migration,
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
