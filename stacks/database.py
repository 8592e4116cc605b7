"""The RDS PostgreSQL instance: encrypted, private, TLS-only, logs to CloudWatch.

Restoring is a configuration change: with a snapshot id set, the same construct id
builds the instance from that snapshot (CloudFormation replaces the instance).

Engine version: `engineVersion: "17"` (the major only) lets RDS apply minor upgrades in the
maintenance window while the template keeps saying "17", so nothing drifts; `"17.6"` pins the
minor version and turns automatic minor upgrades off (bump it in cdk.json). The parameter group's
family follows the major version, and a major upgrade (17 → 18) is allowed only with
allowMajorVersionUpgrade.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.network import ISOLATED

DATABASE_NAME = "aalap_vma"
PORT = 5432
MASTER_USERNAME = "aalap_admin"
_REMOVAL = {
    "destroy": cdk.RemovalPolicy.DESTROY,
    "snapshot": cdk.RemovalPolicy.SNAPSHOT,
    "retain": cdk.RemovalPolicy.RETAIN,
}


class Database(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        config: EnvironmentConfig,
        secrets_endpoint: ec2.IInterfaceVpcEndpoint | None,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        engine = rds.DatabaseInstanceEngine.postgres(
            version=rds.PostgresEngineVersion.of(config.engine_version, config.engine_major)
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="Aalap VMA database: reachable only from the migration function and what is allowed",
        )
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000", "log_lock_waits": "1"},
        )
        common: dict[str, Any] = dict(
            engine=engine,
            instance_type=ec2.InstanceType(config.instance_class),
            vpc=vpc,
            vpc_subnets=ISOLATED,
            security_groups=[self.security_group],
            publicly_accessible=False,
            multi_az=config.multi_az,
            allocated_storage=config.allocated_storage_gb,
            max_allocated_storage=config.max_allocated_storage_gb,
            storage_type=rds.StorageType.GP3,
            backup_retention=cdk.Duration.days(config.backup_retention_days),
            deletion_protection=config.deletion_protection,
            removal_policy=_REMOVAL[config.removal_policy],
            parameter_group=parameters,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            cloudwatch_logs_retention=logs.RetentionDays.ONE_MONTH,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=not config.engine_minor_pinned,
            allow_major_version_upgrade=config.allow_major_version_upgrade,
            preferred_backup_window=config.backup_window,
            preferred_maintenance_window=config.maintenance_window,
            port=PORT,
        )
        if config.performance_insights:  # 7 days of history are free; Database Insights standard mode
            common |= dict(
                enable_performance_insights=True,
                performance_insight_retention=rds.PerformanceInsightRetention.DEFAULT,
                performance_insight_encryption_key=key,
            )
        if config.enhanced_monitoring_seconds:
            common["monitoring_interval"] = cdk.Duration.seconds(config.enhanced_monitoring_seconds)
        if config.restore_snapshot_id:  # encryption comes with the snapshot (ours are of encrypted instances)
            self.instance: rds.DatabaseInstanceBase = rds.DatabaseInstanceFromSnapshot(
                self,
                "Instance",
                snapshot_identifier=config.restore_snapshot_id,
                credentials=rds.SnapshotCredentials.from_generated_secret(MASTER_USERNAME, encryption_key=key),
                **common,
            )
            NagSuppressions.add_resource_suppressions(
                self.instance,
                [
                    NagPackSuppression(
                        id="AwsSolutions-RDS2",
                        reason=(
                            "Restored from a snapshot: RDS takes storage encryption from the snapshot, and"
                            " CloudFormation inherits StorageEncrypted with DBSnapshotIdentifier (CDK offers no"
                            " setting). Pre-migration snapshots are of instances created with StorageEncrypted=true,"
                            " and an encrypted snapshot only restores encrypted; restore only such snapshots."
                        ),
                    )
                ],
            )
        else:
            self.instance = rds.DatabaseInstance(
                self,
                "Instance",
                credentials=rds.Credentials.from_generated_secret(MASTER_USERNAME, encryption_key=key),
                database_name=DATABASE_NAME,
                storage_encrypted=True,
                storage_encryption_key=key,  # None: the account's aws/rds key; snapshots inherit the instance's
                **common,
            )
        if not config.engine_minor_pinned:
            resource = self.instance.node.default_child
            assert isinstance(resource, cdk.CfnResource)
            # cfn-lint's version list holds full versions only, so it calls a bare major version deprecated;
            # RDS accepts one and picks that major's default minor (CDK's PostgresEngineVersion.VER_17 is "17").
            resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3691"]}})
        secret = self.instance.secret
        assert secret is not None, "generated credentials always create a secret"
        self.secret = secret
        if config.rotate_secret:
            self._add_rotation(self.instance, vpc, secrets_endpoint)
        self._admit_clients(config)
        if config.enhanced_monitoring_seconds:
            self._justify_monitoring_role()

    def _admit_clients(self, config: EnvironmentConfig) -> None:
        """The application's security groups and peered networks, on 5432 only (cdk.json)."""
        for group in config.client_security_group_ids:
            self.security_group.add_ingress_rule(
                ec2.Peer.security_group_id(group), ec2.Port.tcp(PORT), f"application clients ({group})"
            )
        for cidr in config.client_cidrs:
            peer = ec2.Peer.ipv6(cidr) if ":" in cidr else ec2.Peer.ipv4(cidr)
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(PORT), f"application network {cidr}")

    def _justify_monitoring_role(self) -> None:
        role = self.instance.node.try_find_child("MonitoringRole")
        assert role is not None, "monitoring_interval creates the Enhanced Monitoring role"
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason=(
                        "Enhanced Monitoring's role needs AmazonRDSEnhancedMonitoringRole, the AWS-managed policy RDS"
                        " documents for it: it may only write the RDSOSMetrics log group."
                    ),
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
                    ],
                )
            ],
        )

    def _add_rotation(
        self,
        instance: rds.DatabaseInstance | rds.DatabaseInstanceFromSnapshot,
        vpc: ec2.IVpc,
        secrets_endpoint: ec2.IInterfaceVpcEndpoint | None,
    ) -> None:
        """Single-user rotation of the master password, in the isolated subnets.

        Its function needs exactly two peers: Secrets Manager (443, through the endpoint) and the
        database (CDK opens that port). It reads the host from the secret and never calls the RDS API.
        The first rotation waits for the schedule: an immediate one would race this deploy's migration.
        """
        group = ec2.SecurityGroup(
            self,
            "RotationSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="Master password rotation: PostgreSQL to the database, HTTPS to Secrets Manager only",
        )
        if secrets_endpoint is not None:
            secrets_endpoint.connections.allow_default_port_from(group, "secret rotation function")
        else:  # an existing VPC's own endpoint (or NAT) serves Secrets Manager: its address is not known here
            group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to Secrets Manager via the VPC's own endpoint or NAT"
            )
        instance.add_rotation_single_user(
            automatically_after=cdk.Duration.days(30),
            vpc_subnets=ISOLATED,
            endpoint=secrets_endpoint,
            security_group=group,
            rotate_immediately_on_update=False,
        )
