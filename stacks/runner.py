"""The CodeBuild runner: the migration engine, from the Lambda's own asset, without Lambda's 15 minutes.

A CodeBuild project in the isolated subnets runs `python -m migrator.aws.runner` from the very asset
the migration functions run (same S3 object, same engine, same files). Its image is AWS's Amazon Linux
2023 aarch64 standard image 4.0 with `runtime-versions: python: 3.14`, the Python and architecture the
asset's compiled wheels were installed for (cp314, aarch64), so nothing is bundled twice; the buildspec
checks both before running.

Network without NAT: CodeBuild pulls its image outside the VPC, but the build reads its source from S3
(gateway endpoint, free) and writes its log to CloudWatch Logs (interface endpoint); the migration
functions call CodeBuild and read the build's log (CodeBuild and Logs interface endpoints).

Who may start a build may run code with the database's secrets (StartBuild accepts overrides): only the
migration functions' roles are granted it here, on this project only (and the deploy role, which can do
anything CloudFormation can).
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from migrator.aws.budget import IDLE_TIMEOUT_S, QUEUED_TIMEOUT_MINUTES, TimeLimits
from migrator.aws.contract import (
    ENV_IDLE_TIMEOUT,
    ENV_INSTANCE,
    ENV_LOCK_RETRY_WINDOW,
    ENV_LOCK_TIMEOUT,
    ENV_MAX_LOCK_HOLD,
    ENV_ROLE_SECRET_ARN,
    ENV_SECRET_ARN,
    LAMBDA_PYTHON,
    RUNNER_LAMBDA,
    RUNNER_PIPELINE,
)
from stacks.config import LockSettings
from stacks.database import PORT
from stacks.keys import decrypt_secrets
from stacks.nag import ARN_PARTITION
from stacks.network import ISOLATED

# The AL2023 aarch64 standard image whose runtimes include the asset's Python (4.0: 3.10-3.14, 3.14 default);
# 3.0 offers 3.9-3.13 only (aws/aws-codebuild-docker-images al/aarch64/standard/{3.0,4.0}/runtimes.yml).
IMAGE = "aws/codebuild/amazonlinux-aarch64-standard:4.0"
IMAGE_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
ARCHITECTURE = "aarch64"
COMPUTE = "BUILD_GENERAL1_SMALL"


def buildspec(python: str = LAMBDA_PYTHON) -> dict[str, object]:
    """Install nothing: check the interpreter matches the asset's wheels, then run the runner from the source."""
    check = (
        "import platform, sys; v = '%d.%d' % sys.version_info[:2]; m = platform.machine();"
        f" sys.exit(0 if (v, m) == ('{python}', '{ARCHITECTURE}') else"
        f" 'migrator-runner: INVALID: this image runs Python %s on %s, the asset was built for {python} on"
        f" {ARCHITECTURE}' % (v, m))"
    )
    return {
        "version": "0.2",
        "env": {"shell": "bash"},
        "phases": {
            "install": {"runtime-versions": {"python": python}},
            "build": {"commands": [f'python -c "{check}"', "python -m migrator.aws.runner"]},
        },
    }


class RunnerProperties(TypedDict):
    """The StepProperties fields the runner decides."""

    runner: str
    runner_project: str
    build_timeout_seconds: int
    runner_timeout_seconds: int
    pipeline_timeout_minutes: int | None


class MigrationRunner(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        code: lambda_.Code,
        instance: rds.DatabaseInstanceBase,
        secrets: list[secretsmanager.ISecret],
        function_security_group: ec2.SecurityGroup,
        endpoints: list[ec2.InterfaceVpcEndpoint],
        limits: TimeLimits,
        runner: str = RUNNER_LAMBDA,
        lock: LockSettings | None = None,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if LAMBDA_PYTHON not in IMAGE_PYTHONS:
            raise ValueError(f"{IMAGE} offers no Python {LAMBDA_PYTHON}: bundle the runner for one it offers")
        self.limits = limits
        stack = cdk.Stack.of(self)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="Migration runner (CodeBuild): PostgreSQL to the database, HTTPS to the VPC endpoints",
        )
        instance.connections.allow_from(self.security_group, ec2.Port.tcp(PORT), "migration runner")
        # Isolated subnets route nothing but the VPC and the S3 gateway endpoint: 443 reaches only endpoints.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: S3 (gateway endpoint), CloudWatch Logs, Secrets Manager"
        )
        for endpoint in endpoints:
            endpoint.connections.allow_default_port_from(self.security_group, "migration runner")
        if endpoints:  # the project's own endpoints: an existing VPC (createVpcEndpoints=false) brings its own
            vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[ISOLATED])
            for name, service in (
                ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
                ("CodeBuild", ec2.InterfaceVpcEndpointAwsService.CODEBUILD),
            ):
                added = vpc.add_interface_endpoint(
                    f"{name}Endpoint", service=service, subnets=ISOLATED, private_dns_enabled=True, open=False
                )
                added.connections.allow_default_port_from(self.security_group, "migration runner")
                added.connections.allow_default_port_from(function_security_group, "migration function")
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_MONTH)
        location = code.bind(self).s3_location
        assert location is not None, "the migration code is an S3 asset"
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="Aalap VMA migration runner: the asset object, two secrets, its log, its network interfaces",
        )
        # Pipeline mode runs the next deploy's asset before the change set replaces this policy: any asset zip of
        # the bootstrap bucket (CDK names them <sha256>.zip); otherwise this deploy's object only.
        asset_key = "*.zip" if runner == RUNNER_PIPELINE else location.object_key
        asset_object = f"arn:{stack.partition}:s3:::{location.bucket_name}/{asset_key}"
        subnets = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids
        policy = iam.Policy(
            self,
            "Policy",
            statements=[
                iam.PolicyStatement(actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[asset_object]),
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn for secret in secrets]
                ),
                *([decrypt_secrets(self, key)] if key is not None else []),  # kmsKey: the secrets are encrypted with it
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.log_group.log_group_arn],
                ),
                iam.PolicyStatement(  # what CodeBuild needs to place a build in the VPC (no resource-level form)
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeVpcs",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    actions=["ec2:CreateNetworkInterfacePermission"],
                    resources=[f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:network-interface/*"],
                    conditions={
                        "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                        "ArnEquals": {
                            "ec2:Subnet": [
                                f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:subnet/{s}" for s in subnets
                            ]
                        },
                    },
                ),
            ],
        )
        policy.attach_to_role(self.role)
        self.project = codebuild.CfnProject(
            self,
            "Project",
            description="Aalap VMA: applies the asset's migrations when a deploy needs more than Lambda's 15 minutes",
            service_role=self.role.role_arn,
            source=codebuild.CfnProject.SourceProperty(
                type="S3",
                location=f"{location.bucket_name}/{location.object_key}",
                build_spec=json.dumps(buildspec(), indent=1),  # JSON is YAML
            ),
            artifacts=codebuild.CfnProject.ArtifactsProperty(type="NO_ARTIFACTS"),
            environment=codebuild.CfnProject.EnvironmentProperty(
                type="ARM_CONTAINER",
                image=IMAGE,
                compute_type=COMPUTE,
                image_pull_credentials_type="CODEBUILD",
                privileged_mode=False,
                environment_variables=[
                    codebuild.CfnProject.EnvironmentVariableProperty(name=name, value=value, type="PLAINTEXT")
                    for name, value in self._variables(instance, secrets, lock).items()
                ],
            ),
            timeout_in_minutes=limits.build_timeout_minutes,
            queued_timeout_in_minutes=QUEUED_TIMEOUT_MINUTES,
            encryption_key=f"arn:{stack.partition}:kms:{stack.region}:{stack.account}:alias/aws/s3",
            vpc_config=codebuild.CfnProject.VpcConfigProperty(
                vpc_id=vpc.vpc_id, subnets=subnets, security_group_ids=[self.security_group.security_group_id]
            ),
            logs_config=codebuild.CfnProject.LogsConfigProperty(
                cloud_watch_logs=codebuild.CfnProject.CloudWatchLogsConfigProperty(
                    status="ENABLED", group_name=self.log_group.log_group_name
                )
            ),
        )
        self.project.node.add_dependency(policy)  # no build before it may read its source and write its log
        self.project_arn = stack.format_arn(service="codebuild", resource="project", resource_name=self.project.ref)
        _suppress(policy, self.project, any_asset=runner == RUNNER_PIPELINE)

    @staticmethod
    def _variables(
        instance: rds.DatabaseInstanceBase, secrets: list[secretsmanager.ISecret], lock: LockSettings | None
    ) -> dict[str, str]:
        master, role = secrets
        given = lock or LockSettings()
        limits = {ENV_LOCK_TIMEOUT: given.timeout, ENV_LOCK_RETRY_WINDOW: given.retry_window}
        limits[ENV_MAX_LOCK_HOLD] = given.max_hold
        return {k: v for k, v in limits.items() if v} | {
            ENV_SECRET_ARN: master.secret_arn,
            ENV_ROLE_SECRET_ARN: role.secret_arn,
            ENV_INSTANCE: instance.instance_identifier,
            ENV_IDLE_TIMEOUT: str(IDLE_TIMEOUT_S),
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def properties(self, runner: str, pipeline_minutes: int) -> RunnerProperties:
        """The StepProperties fields about the runner (its limits come from the budget); in pipeline mode also the
        operator command's build timeout, which it reads from the change set."""
        return {
            "runner": runner,
            "runner_project": self.project.ref,
            "build_timeout_seconds": self.limits.build_timeout_seconds,
            "runner_timeout_seconds": self.limits.runner_budget_seconds,
            "pipeline_timeout_minutes": pipeline_minutes if runner == RUNNER_PIPELINE else None,
        }

    def grant_control(self, function: lambda_.Function, *, runs: bool) -> None:
        """Builds of this project only: `runs` (is_complete) starts, finds, polls and (superseded) stops them and
        reads a failed one's log; otherwise (on_event) finds and stops builds of earlier requests."""
        find = ["codebuild:BatchGetBuilds", "codebuild:ListBuildsForProject"]
        # is_complete also stops its own build when a newer request claimed the database (migrator.claim)
        actions = ["codebuild:StartBuild", "codebuild:StopBuild", *find] if runs else [*find, "codebuild:StopBuild"]
        function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[self.project_arn]))
        if not runs:
            return
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["logs:GetLogEvents"],
                resources=[self._log_streams()],
            )
        )
        assert function.role is not None, "a Function always has a role"
        NagSuppressions.add_resource_suppressions(
            function.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="The tail of a failed runner build's log: any stream of the runner project's own log group"
                    " (CodeBuild names one stream per build).",
                    applies_to=[
                        {"regex": "/^Resource::.*:log-group:<SchemaMigrationRunnerLogs[0-9A-F]{8}>:log-stream:\\*$/"}
                    ],
                )
            ],
            apply_to_children=True,
        )

    def _log_streams(self) -> str:
        stack = cdk.Stack.of(self)
        return stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{self.log_group.log_group_name}:log-stream:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )


def _suppress(policy: iam.Policy, project: codebuild.CfnProject, *, any_asset: bool) -> None:
    applies_to: list[Any] = [
        "Resource::*",
        {"regex": f"/^Resource::arn:{ARN_PARTITION}:ec2:.*:network-interface\\/\\*$/"},
        {"regex": "/^Resource::<.*Logs[0-9A-F]{8}\\.Arn>:\\*$/"},
    ]
    reason = (
        "CodeBuild in a VPC creates and describes its network interfaces: EC2 offers no resource-level"
        " form for these (AWS's documented policy for VPC builds); CreateNetworkInterfacePermission is"
        " limited to codebuild and our subnets. Log streams of the project's own log group."
    )
    if any_asset:
        applies_to.append({"regex": f"/^Resource::arn:{ARN_PARTITION}:s3:::cdk-.*-assets-.*\\/\\*\\.zip$/"})
        reason += (
            " Pipeline mode: the runner reads the next deploy's asset before its change set runs, so any asset"
            " zip of the CDK bootstrap bucket (read only)."
        )
    NagSuppressions.add_resource_suppressions(
        policy, [NagPackSuppression(id="AwsSolutions-IAM5", reason=reason, applies_to=applies_to)]
    )
    NagSuppressions.add_resource_suppressions(
        project,
        [
            NagPackSuppression(
                id="AwsSolutions-CB4",
                reason="Encrypted with the account's AWS managed S3 key (set explicitly); it produces no artifacts",
            )
        ],
    )
