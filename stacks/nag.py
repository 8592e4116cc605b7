"""cdk-nag findings we accept, each with its reason next to it."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import IConstruct

from stacks.config import EnvironmentConfig

# An ARN's partition as cdk-nag sees it: a token in an environment-agnostic stack, a literal ("aws",
# "aws-cn") once the stack's region is known (the @aws-cdk/core:enablePartitionLiterals flag).
ARN_PARTITION = "(<AWS::Partition>|aws(-[a-z]+)*)"


def suppress_accepted_findings(stack: cdk.Stack, config: EnvironmentConfig) -> None:
    suppressions = [
        NagPackSuppression(
            id="AwsSolutions-RDS11",
            reason=(
                "The default port 5432 is kept: the database is in isolated subnets and its security group admits only"
                " the migration function and explicitly allowed clients; a non-default port adds no protection."
            ),
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM4",
            reason=(
                "AWSLambdaBasicExecutionRole and AWSLambdaVPCAccessExecutionRole are the AWS-managed minimum for a"
                " Lambda function in a VPC (logs and network interfaces) and are scoped by AWS."
            ),
            applies_to=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
            ],
        ),
        NagPackSuppression(
            id="AwsSolutions-SF2",
            reason=(
                "The Provider framework's waiter state machine only polls is_complete; it offers no X-Ray setting, and"
                " its executions are logged (level ALL) to CloudWatch."
            ),
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=(
                "Provider framework roles may invoke the two migration functions and their versions (ARN:*), as the"
                " framework requires; nothing broader."
            ),
            applies_to=[
                "Resource::<SchemaMigrationIsComplete87C5E136.Arn>:*",
                "Resource::<SchemaMigrationOnEventE7EE005E.Arn>:*",
                "Resource::<SchemaMigrationProviderframeworkisCompleteC9F658F2.Arn>:*",
                "Resource::<SchemaMigrationProviderframeworkonTimeout9BDF4833.Arn>:*",
            ],
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=(
                "Pre-migration snapshots are named premigrate-<instance>-*: the migration functions may create, tag,"
                " read the tags of and delete only snapshots with that prefix, of this instance."
            ),
            applies_to=[  # the region is a token, or concrete when the CLI knows it
                {
                    "regex": rf"/^Resource::arn:{ARN_PARTITION}:rds:.+:snapshot:premigrate-"
                    r"<DatabaseInstance[0-9A-F]+>-\*$/"
                }
            ],
        ),
    ]
    if not config.multi_az:
        suppressions.append(
            NagPackSuppression(
                id="AwsSolutions-RDS3",
                reason=(
                    f"{config.name} runs single-AZ by configuration (cdk.json multiAz=false) to save cost;"
                    " prod is Multi-AZ."
                ),
            )
        )
    if not config.rotate_secret:
        suppressions.append(
            NagPackSuppression(
                id="AwsSolutions-SMG4",
                reason=(
                    f"{config.name} keeps its generated password unrotated (cdk.json rotateSecret=false);"
                    " prod rotates it."
                ),
            )
        )
    if not config.deletion_protection:
        suppressions.append(
            NagPackSuppression(
                id="AwsSolutions-RDS10",
                reason=(
                    "dev is disposable: deletion protection is off so `cdk destroy` works; staging and prod require it."
                ),
            )
        )
    NagSuppressions.add_stack_suppressions(stack, suppressions)


def suppress_snapshot_listing(policy: IConstruct) -> None:
    """The migration functions' one `Resource: *`: the policy that holds only rds:DescribeDBSnapshots."""
    NagSuppressions.add_resource_suppressions(
        policy,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=["Resource::*"],
                reason=(
                    "Pruning lists this instance's manual snapshots (rds:DescribeDBSnapshots by DBInstanceIdentifier),"
                    " a call that names no snapshot: AWS authorises it against snapshot:* or '*', never a premigrate-"
                    " ARN, so a prefix grant denies it and snapshots pile up to the quota. Read-only metadata; this"
                    " policy holds that one action."
                ),
            )
        ],
    )


def suppress_wildcards_aws_requires(stack: cdk.Stack, waiter: IConstruct) -> None:
    """Two roles whose `Resource: *` AWS itself requires, suppressed on those constructs only."""
    NagSuppressions.add_resource_suppressions(
        waiter,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=["Resource::*"],
                reason=(
                    "The waiter state machine logs to CloudWatch: logs:CreateLogDelivery and the other log-delivery"
                    " actions support no resource-level permissions, so AWS requires Resource '*'."
                ),
            )
        ],
        apply_to_children=True,
    )
    for child in stack.node.children:
        if child.node.id.startswith("LogRetention"):
            NagSuppressions.add_resource_suppressions(
                child,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        applies_to=["Resource::*"],
                        reason=(
                            "CDK's log-retention function sets the retention of the RDS log groups, whose names RDS"
                            " creates at run time; logs:PutRetentionPolicy is granted on '*' by aws-cdk-lib."
                        ),
                    )
                ],
                apply_to_children=True,
            )
