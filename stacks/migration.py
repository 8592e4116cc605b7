"""The migration step of every deploy: a custom resource behind custom_resources.Provider.

on_event inspects the database and starts a pre-migration snapshot; is_complete
waits for it (across as many invocations as it takes) and then applies. The
Provider answers CloudFormation on every path, and gives up after the total
timeout, so a deploy never hangs for the default hour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from migrator.aws.budget import (
    IS_COMPLETE_TIMEOUT_S,
    ON_EVENT_TIMEOUT_S,
    PIPELINE_TIMEOUT_MINUTES,
    TimeLimits,
    time_limits,
)
from migrator.aws.contract import (
    ENV_APP_SECRET_ARN,
    ENV_INSTANCE,
    ENV_ROLE_SECRET_ARN,
    ENV_SECRET_ARN,
    ENV_SSLROOTCERT,
    LAMBDA_PYTHON,
    RUNNER_LAMBDA,
    StepProperties,
)
from migrator.aws.snapshots import PREFIX as SNAPSHOT_PREFIX
from stacks.bundle import CA_BUNDLE_IN_LAMBDA, MigrationBundle
from stacks.bundling import migration_code
from stacks.config import LockSettings
from stacks.database import DATABASE_NAME, PORT
from stacks.keys import decrypt_secrets
from stacks.nag import suppress_snapshot_listing
from stacks.network import ISOLATED
from stacks.runner import MigrationRunner

MIGRATION_ROLE = "aalap_migrator"
APP_ROLE = "aalap_app"
RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + LAMBDA_PYTHON.replace(".", "_"))  # CDK's own


@dataclass(frozen=True)
class MigrationSettings:
    bundle: MigrationBundle
    deploy_token: str | None  # None: run only when the bundle changes (-c migrate=on-change)
    snapshot_retention: int
    timeout_minutes: int  # the whole budget (cdk.json migrationTimeoutMinutes); limits derive from it
    runner: str = RUNNER_LAMBDA  # cdk.json runner: "codebuild" sends every migrating deploy to the CodeBuild runner
    pipeline_timeout_minutes: int = PIPELINE_TIMEOUT_MINUTES  # runner "pipeline": the operator command's build timeout
    lock: LockSettings = field(default_factory=LockSettings)  # cdk.json lockTimeout, lockRetryWindow, maxLockHold

    @property
    def time_limits(self) -> TimeLimits:
        return time_limits(self.timeout_minutes)


def migration_role_secret(scope: Construct, key: kms.IKey | None = None) -> secretsmanager.Secret:
    """Credentials of the role migrations run as (owner of the application database, nothing more).

    The migration step creates the role and sets its password from this secret on every deploy, so
    changing the secret's value and deploying rotates it.
    """
    return _role_secret(
        scope, "RoleSecret", "the migration role (owns the application database only)", MIGRATION_ROLE, key
    )


def app_role_secret(scope: Construct, key: kms.IKey | None = None) -> secretsmanager.Secret:
    """Credentials of the application's role: data rights on the application's tables, no DDL.

    Like the migration role's, the deploy sets the role's password from it (rotate: put a new value, deploy).
    It carries the database name; attached to the instance, it gains host, port and engine as well.
    """
    return _role_secret(
        scope,
        "AppRoleSecret",
        "the application's role (read and write data, no DDL); host, port, dbname, username, password",
        APP_ROLE,
        key,
        {"dbname": DATABASE_NAME},
    )


def _role_secret(
    scope: Construct,
    construct_id: str,
    what: str,
    username: str,
    key: kms.IKey | None,
    extra: dict[str, str] | None = None,
) -> secretsmanager.Secret:
    secret = secretsmanager.Secret(
        scope,
        construct_id,
        description=f"Aalap VMA: {what}",
        encryption_key=key,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template=json.dumps({"username": username} | (extra or {})),
            generate_string_key="password",
            exclude_punctuation=True,
            password_length=40,
        ),
    )
    NagSuppressions.add_resource_suppressions(
        secret,
        [
            NagPackSuppression(
                id="AwsSolutions-SMG4",
                reason=(
                    "The migration step sets the role's password from this secret on every deploy; rotate by"
                    " putting a new value and deploying (a rotation function would race the deploy)."
                ),
            )
        ],
    )
    return secret


VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"


def _vended_log_group_name(stack: cdk.Stack, what: str) -> str:
    """A state machine's log group under /aws/vendedlogs/: CloudWatch Logs then needs no resource-policy entry for
    it (the account's policies are limited in size, and a busy account runs out). The stack's own id ends the name,
    so a stack created again after a delete (the group is retained) does not meet its predecessor's group."""
    stack_uuid = cdk.Fn.select(2, cdk.Fn.split("/", stack.stack_id))
    return f"{VENDED_LOGS_PREFIX}{stack.stack_name}-{what}-{stack_uuid}"


def _rule_naming(stack: cdk.Stack, child: object, groups: list[object]) -> bool:
    """Is `child` a security-group rule of, or to or from, one of `groups`?"""
    if isinstance(child, ec2.CfnSecurityGroupIngress):
        ids = (child.group_id, child.source_security_group_id)
    elif isinstance(child, ec2.CfnSecurityGroupEgress):
        ids = (child.group_id, child.destination_security_group_id)
    else:
        return False
    return any(given is not None and stack.resolve(given) in groups for given in ids)


class SchemaMigration(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        instance: rds.DatabaseInstanceBase,
        secret: cdk.aws_secretsmanager.ISecret,
        endpoints: list[ec2.InterfaceVpcEndpoint],
        settings: MigrationSettings,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._vpc = vpc
        self.security_group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description=(
                "Migration function: PostgreSQL to the database, HTTPS to the VPC endpoints only"
                if endpoints
                else "Migration function: PostgreSQL to the database; HTTPS (443) to any address, for Secrets Manager"
                " and the RDS API through the endpoints or NAT of the existing VPC (their addresses are not known here)"
            ),
        )
        instance.connections.allow_from(self.security_group, ec2.Port.tcp(PORT), "migration function")
        for endpoint in endpoints:
            endpoint.connections.allow_default_port_from(self.security_group, "migration function")
        if not endpoints:  # an existing VPC (createVpcEndpoints=false): the APIs are reached as that VPC provides
            self.security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to Secrets Manager and the RDS API (endpoints or NAT)"
            )
        limits = settings.time_limits
        code = migration_code(settings.bundle)
        self.code = code  # the asset: the rehearsal sweeper runs it too
        self.role_secret = migration_role_secret(self, key)
        self.app_secret = app_role_secret(self, key)
        self.app_secret.attach(instance)  # host, port, engine join the application's secret
        environment = {
            ENV_SECRET_ARN: secret.secret_arn,
            ENV_INSTANCE: instance.instance_identifier,
            ENV_ROLE_SECRET_ARN: self.role_secret.secret_arn,
            ENV_APP_SECRET_ARN: self.app_secret.secret_arn,  # the drift check's privilege model
            ENV_SSLROOTCERT: CA_BUNDLE_IN_LAMBDA,  # verify-full: the asset ships the RDS CA bundle
        }
        self.on_event = self._function(
            "OnEvent", code, "on_event", cdk.Duration.seconds(ON_EVENT_TIMEOUT_S), environment
        )
        self.is_complete = self._function(
            "IsComplete", code, "is_complete", cdk.Duration.seconds(IS_COMPLETE_TIMEOUT_S), environment
        )
        # Each function holds what its calls need (tests/iam records them and evaluates this policy):
        # both read the three secrets (the hand-over sets both roles' passwords) and may take the snapshot
        # (on_event; is_complete when the instance was busy); both prune (is_complete after applying;
        # on_event at the manual-snapshot quota).
        for function in (self.on_event, self.is_complete):
            self._grant_secrets(function, secret, key)
            self._grant_snapshots(function, instance)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event,
            is_complete_handler=self.is_complete,
            query_interval=cdk.Duration.seconds(15),
            total_timeout=cdk.Duration.seconds(limits.provider_total_seconds),
            log_group=logs.LogGroup(self, "ProviderLogs", retention=logs.RetentionDays.ONE_MONTH),
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(
                destination=logs.LogGroup(
                    self,
                    "WaiterLogs",
                    log_group_name=_vended_log_group_name(cdk.Stack.of(self), "schema-migration-waiter"),
                    retention=logs.RetentionDays.ONE_MONTH,
                ),
                level=cdk.aws_stepfunctions.LogLevel.ALL,
            ),
        )
        self.runner = MigrationRunner(
            self,
            "Runner",
            vpc=vpc,
            code=code,
            instance=instance,
            secrets=[secret, self.role_secret],
            function_security_group=self.security_group,
            endpoints=endpoints,
            limits=limits,
            runner=settings.runner,
            lock=settings.lock,
            key=key,
        )
        properties = StepProperties(
            secret_arn=secret.secret_arn,
            migrator_secret_arn=self.role_secret.secret_arn,
            app_secret_arn=self.app_secret.secret_arn,
            instance=instance.instance_identifier,
            snapshot_retention=settings.snapshot_retention,
            take_snapshots=True,
            fingerprint=settings.bundle.fingerprint,
            newest_version=settings.bundle.newest_version,
            migrations=tuple(settings.bundle.migrations),
            timeout_seconds=limits.handler_budget_seconds,
            deploy_token=settings.deploy_token or "",
            lock_timeout=settings.lock.timeout,
            lock_retry_window=settings.lock.retry_window,
            max_lock_hold=settings.lock.max_hold,
            **self.runner.properties(settings.runner, settings.pipeline_timeout_minutes),
        )
        self.runner.grant_control(self.on_event, runs=False)  # stops builds of earlier requests
        self.runner.grant_control(self.is_complete, runs=True)  # starts and polls this request's build
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::SchemaMigration",
            properties=properties.render(),
            service_timeout=cdk.Duration.seconds(limits.service_timeout_seconds),
        )
        self.resource.node.add_dependency(instance)
        self.provider = provider

    def depend_on_network(self, stack: cdk.Stack) -> None:
        """The custom resource depends on every VPC endpoint of the stack and every security-group rule that
        names a migration group (the functions' or the runner's). They are not in its dependency closure
        otherwise, so on a stack delete CloudFormation removed them alongside it, and every call of its Delete
        then waited on a network that no longer answered (migrator.aws.clients bounds that wait too)."""
        groups = [stack.resolve(g.security_group_id) for g in (self.security_group, self.runner.security_group)]
        for child in stack.node.find_all():
            if isinstance(child, ec2.CfnVPCEndpoint) or _rule_naming(stack, child, groups):
                self.resource.node.add_dependency(child)

    def _function(
        self, name: str, code: lambda_.Code, handler: str, timeout: cdk.Duration, environment: dict[str, str]
    ) -> lambda_.Function:
        return lambda_.Function(
            self,
            name,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=code,
            handler=f"migrator.aws.handler.{handler}",
            timeout=timeout,
            memory_size=512,
            vpc=self._vpc,
            vpc_subnets=ISOLATED,
            security_groups=[self.security_group],
            environment=environment,
            log_group=logs.LogGroup(self, f"{name}Logs", retention=logs.RetentionDays.ONE_MONTH),
            description=f"Aalap VMA schema migration ({handler})",
        )

    def _grant_secrets(self, function: lambda_.Function, secret: secretsmanager.ISecret, key: kms.IKey | None) -> None:
        """GetSecretValue only (grant_read adds DescribeSecret, which nothing calls). With the AWS managed
        key no kms:Decrypt is needed; with a customer-managed key (kmsKey), Decrypt through Secrets Manager."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"],
                resources=[secret.secret_arn, self.role_secret.secret_arn, self.app_secret.secret_arn],
            )
        )
        if key is not None:
            function.add_to_role_policy(decrypt_secrets(self, key))

    def _grant_snapshots(self, function: lambda_.Function, instance: rds.DatabaseInstanceBase) -> None:
        """This instance and our snapshots of it by ARN; listing snapshots, which names none, on '*'.

        CreateDBSnapshot is authorised against the instance and the new snapshot, and with Tags also
        for rds:AddTagsToResource on the snapshot. DescribeDBSnapshots filtered by instance (pruning)
        names no snapshot: AWS checks it against `snapshot:*` or `*` (the reference does not say), so
        no prefix grant can allow it and only `*` is safe under both readings.
        """
        stack = cdk.Stack.of(self)
        ours = stack.format_arn(
            service="rds",
            resource="snapshot",
            resource_name=f"{SNAPSHOT_PREFIX}-{instance.instance_identifier}-*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["rds:DescribeDBInstances"], resources=[instance.instance_arn])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["rds:CreateDBSnapshot"], resources=[instance.instance_arn, ours])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["rds:AddTagsToResource", "rds:ListTagsForResource", "rds:DeleteDBSnapshot"], resources=[ours]
            )
        )
        listing = iam.Policy(  # its own policy, so that the nag suppression of its '*' covers nothing else
            self,
            f"{function.node.id}ListSnapshots",
            statements=[iam.PolicyStatement(actions=["rds:DescribeDBSnapshots"], resources=["*"])],
        )
        assert function.role is not None, "a Function always has a role"
        listing.attach_to_role(function.role)
        cfn_function = function.node.default_child  # not the Function: its role, a child, must not wait for this
        assert cfn_function is not None
        cfn_function.node.add_dependency(listing)  # never invoked before it may list, like its default policy
        suppress_snapshot_listing(listing)
