"""The environment rehearsal's infrastructure: the report bucket, the runner's rights to restore and delete a copy,
the hourly sweeper, and the migration step's right to read the report (the gate).

The rehearsal runs in the CodeBuild runner (`MIGRATOR_RUNNER_MODE=rehearse`, started by `python -m migrator --env ENV
rehearse`): it reaches the RDS API and Secrets Manager through the stack's interface endpoints and S3 through the
gateway endpoint the runner already has, so no endpoint is added. The sweeper never connects to a database: it runs
outside the VPC and calls the RDS API only.

Rights, each on what it needs: the runner restores only from this environment's instance into `rehearsal-*`, only
with the rehearsal tag of this environment (tag on create), and deletes only instances carrying that tag; the sweeper
lists instances and deletes only tagged ones. Restoring reads the source's subnet, parameter and option groups, which
are named by the restore: any of the account's (they grant nothing by themselves).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from migrator.aws.contract import ENV_REHEARSAL_ENV, KEYS, StepProperties
from migrator.aws.rehearsal import ID_PREFIX, REHEARSAL_TAG, REPORT_PREFIX
from stacks.config.rehearsal import RehearsalSettings
from stacks.migration import SchemaMigration

SWEEP_EVERY = cdk.Duration.hours(1)
REPORT_DAYS = 90


class Rehearsal(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env: str,
        instance: rds.DatabaseInstanceBase,
        code: lambda_.Code,
        runtime: lambda_.Runtime,
        runner_role: iam.IRole,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.env = env
        self.bucket = s3.Bucket(
            self,
            "Reports",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=False,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(REPORT_DAYS))],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            self.bucket,
            [
                NagPackSuppression(
                    id="AwsSolutions-S1",
                    reason="Rehearsal reports only (timings, lock modes, table names; no data): written by the runner"
                    " role, read by the migration step and the operator; CloudTrail records who did so.",
                )
            ],
        )
        self.report_objects = self.bucket.arn_for_objects(f"{REPORT_PREFIX}/{env}/*")
        rehearsal_dbs = self._db_arn(f"{ID_PREFIX}-*")
        tagged = {"StringEquals": {f"aws:ResourceTag/{REHEARSAL_TAG}": env}}
        requested = {"StringEquals": {f"aws:RequestTag/{REHEARSAL_TAG}": env}}
        runner_policy = iam.Policy(
            self,
            "RunnerPolicy",
            statements=[
                iam.PolicyStatement(
                    actions=["rds:DescribeDBInstances"], resources=[instance.instance_arn, rehearsal_dbs]
                ),
                iam.PolicyStatement(  # tagged or not at all: tag on create authorises nothing for an untagged restore,
                    # whose copy neither the runner nor the sweeper could delete (their condition keys on the tag)
                    actions=["rds:RestoreDBInstanceToPointInTime"],
                    resources=[instance.instance_arn, rehearsal_dbs]
                    + [self._db_arn("*", kind) for kind in ("subgrp", "pg", "og")],
                    conditions=requested,
                ),
                iam.PolicyStatement(  # tag on create: only the rehearsal tag of this environment on a rehearsal
                    actions=["rds:AddTagsToResource"], resources=[rehearsal_dbs], conditions=requested
                ),
                iam.PolicyStatement(actions=["rds:DeleteDBInstance"], resources=[rehearsal_dbs], conditions=tagged),
                iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.report_objects]),
                iam.PolicyStatement(  # the build's source: the next deploy's asset, read before its change set runs
                    actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[self._assets(code)]
                ),
            ],
        )
        if key is not None:  # a customer-managed key: the restore creates a grant for the copy's storage
            runner_policy.add_statements(
                iam.PolicyStatement(
                    actions=["kms:CreateGrant", "kms:DescribeKey"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"rds.{stack.region}.{stack.url_suffix}"}},
                )
            )
        runner_policy.attach_to_role(runner_role)
        NagSuppressions.add_resource_suppressions(
            runner_policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="A rehearsal's copy has a generated name (rehearsal-*, deletable only with this"
                    " environment's rehearsal tag); the restore names the source's subnet, parameter and option"
                    " groups, which it only reads. Reports of this environment only. The rehearsal runs the next"
                    " deploy's asset before its change set does: any asset zip of the CDK bootstrap bucket (read).",
                )
            ],
        )
        self.sweeper = lambda_.Function(
            self,
            "Sweeper",
            runtime=runtime,
            architecture=lambda_.Architecture.ARM_64,
            code=code,
            handler="migrator.aws.sweeper.handler",
            timeout=cdk.Duration.minutes(1),
            memory_size=256,
            environment={ENV_REHEARSAL_ENV: env},
            log_group=logs.LogGroup(self, "SweeperLogs", retention=logs.RetentionDays.ONE_MONTH),
            description=f"Aalap VMA {env}: deletes rehearsal instances past their expiry",
        )
        self.sweeper.add_to_role_policy(iam.PolicyStatement(actions=["rds:DescribeDBInstances"], resources=["*"]))
        self.sweeper.add_to_role_policy(
            iam.PolicyStatement(actions=["rds:DeleteDBInstance"], resources=[self._db_arn("*")], conditions=tagged)
        )
        self.schedule = events.Rule(
            self,
            "SweepSchedule",
            schedule=events.Schedule.rate(SWEEP_EVERY),
            targets=[targets.LambdaFunction(self.sweeper, retry_attempts=0)],
            description=f"Aalap VMA {env}: the rehearsal sweeper, hourly",
        )
        assert self.sweeper.role is not None, "a Function always has a role"
        NagSuppressions.add_resource_suppressions(
            self.sweeper.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="AWSLambdaBasicExecutionRole: its own log group only, as every function of the stack",
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Listing instances names none (only '*' allows it); it deletes only instances with this"
                    " environment's rehearsal tag (condition on aws:ResourceTag).",
                ),
            ],
            apply_to_children=True,
        )

    def _assets(self, code: lambda_.Code) -> str:
        location = code.bind(self).s3_location  # the asset is bound once per stack: the functions' own
        assert location is not None, "the migration code is an S3 asset"
        return f"arn:{cdk.Stack.of(self).partition}:s3:::{location.bucket_name}/*.zip"

    def _db_arn(self, name: str, kind: str = "db") -> str:
        return cdk.Stack.of(self).format_arn(
            service="rds", resource=kind, resource_name=name, arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
        )

    def gate(self, migration: SchemaMigration, settings: RehearsalSettings) -> None:
        """The step's gate properties (StepProperties, rendered by the contract's code); when the gate is on, on_event
        reads this environment's reports through the S3 gateway endpoint (isolated subnets route 443 nowhere else)."""
        names = ("rehearsal_required", "rehearsal_max_age_hours", "rehearsal_bucket")
        rendered = StepProperties(
            rehearsal_required=settings.required,
            rehearsal_max_age_hours=settings.max_age_hours,
            rehearsal_bucket=self.bucket.bucket_name,
        ).render()
        resource = migration.resource.node.default_child
        assert isinstance(resource, cdk.CfnResource)
        for name in names:
            resource.add_property_override(KEYS[name], rendered[KEYS[name]])
        if not settings.required:
            return
        # on_event reads the report for the gate; is_complete for the per-file durations beside the rehearsal's.
        for function in (migration.on_event, migration.is_complete):
            function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.report_objects]))
            # Without ListBucket, S3 answers a missing report with AccessDenied, not NoSuchKey (blaming IAM).
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
            )
            assert function.role is not None, "a Function always has a role"
            NagSuppressions.add_resource_suppressions(
                function.role,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason="The migration step reads the rehearsal reports of this environment only (one object"
                        " per bundle fingerprint under rehearsals/<environment>/).",
                        applies_to=[{"regex": "/^Resource::<RehearsalReports[0-9A-F]{8}\\.Arn>\\/rehearsals\\/.*$/"}],
                    )
                ],
                apply_to_children=True,
            )
        migration.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: S3 (gateway endpoint), the rehearsal gate's report"
        )
