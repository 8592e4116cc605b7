"""On-call: the environment's SNS topic, its alarms, and a dashboard people would rather read than logs.

The topic exists in every environment; its subscribers (emails, an HTTPS endpoint) and the alarms come
from cdk.json (`onCall`, `alarms`; an environment without `alarms`, like dev, has none). The migration
step fails loudly in three places, all alarmed: the user functions' Errors (a raised DeployFailed), and
the Provider's waiter state machine's failed and timed-out executions (the framework catches errors
itself and answers FAILED, so its own functions report none). The handler's metrics arrive as embedded
metric format lines (migrator.aws.metrics), without an API call.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from migrator.aws import metrics as emf
from migrator.aws.contract import stack_name
from stacks.config import EnvironmentConfig

FIVE_MINUTES = cdk.Duration.minutes(5)
GIB = 1024**3
MIB = 1024**2


class OnCall(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        instance: rds.DatabaseInstanceBase,
        functions: list[lambda_.IFunction],
        waiter_arn: str,
        key: kms.IKey | None,
        key_policy_editable: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._instance_id = instance.instance_identifier
        self.topic = self._topic(config, key if key_policy_editable else None)
        self.alarms: list[cloudwatch.Alarm] = []
        thresholds = config.alarms
        step_metrics = self._step_metrics(functions, waiter_arn)
        if thresholds is not None:
            if thresholds.migration_failures:
                for name, metric in step_metrics.items():
                    self._alarm(
                        name,
                        metric,
                        1,
                        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                        f"The migration step failed ({name}): see the stack events and the migration functions' logs",
                        ok=False,
                    )
            self._database_alarms(config, instance)
        self.dashboard = self._dashboard(config, instance, step_metrics, functions)

    # The topic --------------------------------------------------------------------------------

    def _topic(self, config: EnvironmentConfig, key: kms.IKey | None) -> sns.Topic:
        topic = sns.Topic(
            self,
            "Topic",
            display_name=f"Aalap VMA {config.name} database",
            enforce_ssl=True,
            master_key=key,
        )
        if key is not None:  # CloudWatch publishes encrypted messages only with the key's leave
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                )
            )
        else:
            NagSuppressions.add_resource_suppressions(
                topic,
                [
                    NagPackSuppression(
                        id="AwsSolutions-SNS2",
                        reason=(
                            "Alarm notifications carry no data. CloudWatch alarms cannot publish to a topic encrypted"
                            " with the AWS managed SNS key; with kmsKey 'create' the topic uses that key."
                        ),
                    )
                ],
            )
        for email in config.on_call.emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        if config.on_call.https_endpoint:
            topic.add_subscription(
                subscriptions.UrlSubscription(config.on_call.https_endpoint, protocol=sns.SubscriptionProtocol.HTTPS)
            )
        return topic

    # Alarms -----------------------------------------------------------------------------------

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        description: str,
        *,
        periods: int = 1,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        ok: bool = True,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        if ok:  # on-call hears when the database recovers, too
            alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)

    def _database_alarms(self, config: EnvironmentConfig, instance: rds.DatabaseInstanceBase) -> None:
        thresholds = config.alarms
        assert thresholds is not None
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        below = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
        if thresholds.cpu_percent is not None:
            self._alarm(
                "Cpu",
                instance.metric_cpu_utilization(period=FIVE_MINUTES),
                thresholds.cpu_percent,
                above,
                f"CPU above {thresholds.cpu_percent}% for 15 minutes",
                periods=3,
            )
        if thresholds.free_storage_gb is not None:
            self._alarm(
                "FreeStorage",
                instance.metric_free_storage_space(period=FIVE_MINUTES, statistic="Minimum"),
                thresholds.free_storage_gb * GIB,
                below,
                f"Free storage below {thresholds.free_storage_gb} GiB: storage autoscaling (up to"
                f" {config.max_allocated_storage_gb} GiB) is not keeping up or has reached its maximum",
            )
        if thresholds.freeable_memory_mb is not None:
            self._alarm(
                "FreeableMemory",
                instance.metric_freeable_memory(period=FIVE_MINUTES, statistic="Minimum"),
                thresholds.freeable_memory_mb * MIB,
                below,
                f"Freeable memory below {thresholds.freeable_memory_mb} MiB for 15 minutes",
                periods=3,
            )
        if thresholds.connections is not None:
            self._alarm(
                "Connections",
                instance.metric_database_connections(period=FIVE_MINUTES, statistic="Maximum"),
                thresholds.connections,
                above,
                f"More than {thresholds.connections} connections for 10 minutes: near max_connections",
                periods=2,
            )
        if thresholds.lock_retries is not None:
            self._alarm(
                "LockRetries",
                self._emf(emf.LOCK_RETRIES, "Maximum", cdk.Duration.hours(1)),
                thresholds.lock_retries,
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                f"A deploy retried {thresholds.lock_retries} or more lock waits: live traffic holds the tables"
                " migrations need (long transactions, reports); the next deploy may run out of its retry window",
                missing=cloudwatch.TreatMissingData.IGNORE,  # reported only by migrating deploys: keep the state
            )
        if thresholds.manual_snapshots is not None:
            self._alarm(
                "ManualSnapshots",
                self._emf(emf.MANUAL_SNAPSHOTS, "Maximum", cdk.Duration.hours(1)),
                thresholds.manual_snapshots,
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                f"{thresholds.manual_snapshots} or more manual DB snapshots in this Region: near the account's"
                " quota (default 100), at which pre-migration snapshots and so migrating deploys fail; prune"
                " (python -m migrator --env ENV snapshots prune), lower snapshotRetention or raise the quota",
                missing=cloudwatch.TreatMissingData.IGNORE,  # reported only by migrating deploys: keep the state
            )

    # Metrics ----------------------------------------------------------------------------------

    def _emf(self, name: str, statistic: str, period: cdk.Duration = FIVE_MINUTES) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=emf.NAMESPACE,
            metric_name=name,
            dimensions_map={emf.DIMENSION: self._instance_id},
            statistic=statistic,
            period=period,
        )

    def _step_metrics(self, functions: list[lambda_.IFunction], waiter_arn: str) -> dict[str, cloudwatch.IMetric]:
        found: dict[str, cloudwatch.IMetric] = {}
        for state in ("ExecutionsFailed", "ExecutionsTimedOut"):
            found[f"MigrationWaiter{state.removeprefix('Executions')}"] = cloudwatch.Metric(
                namespace="AWS/States",
                metric_name=state,
                dimensions_map={"StateMachineArn": waiter_arn},
                statistic="Sum",
                period=FIVE_MINUTES,
            )
        for function in functions:
            found[f"Migration{function.node.id}Errors"] = function.metric_errors(period=FIVE_MINUTES, statistic="Sum")
        return found

    def _file_seconds(self, env: str, name: str, label: str) -> cloudwatch.Metric:
        """A deploy's applied files summed per period: each file is one EMF line (migrator.aws.predictions)."""
        return cloudwatch.Metric(
            namespace=emf.NAMESPACE,
            metric_name=name,
            dimensions_map={emf.DIMENSION: self._instance_id, emf.ENV_DIMENSION: env},
            statistic="Sum",
            period=FIVE_MINUTES,
            label=label,
        )

    # Dashboard --------------------------------------------------------------------------------

    def _predictions(self, config: EnvironmentConfig, functions: list[lambda_.IFunction]) -> list[cloudwatch.IWidget]:
        """Predictions checked: the applied files' seconds beside the rehearsal's, summed and per file."""
        return [
            cloudwatch.GraphWidget(
                title="Applied files: measured vs rehearsed (s, summed per deploy)",
                left=[
                    self._file_seconds(config.name, emf.FILE_SECONDS, "measured"),
                    self._file_seconds(config.name, emf.REHEARSED_FILE_SECONDS, "rehearsed"),
                ],
                width=8,
            ),
            cloudwatch.LogQueryWidget(
                title="Applied files: measured vs rehearsed, per file (s)",
                log_group_names=[f.log_group.log_group_name for f in functions if isinstance(f, lambda_.Function)],
                query_lines=list(emf.INSIGHTS_QUERY),
                width=16,
            ),
        ]

    def _dashboard(
        self,
        config: EnvironmentConfig,
        instance: rds.DatabaseInstanceBase,
        step: dict[str, cloudwatch.IMetric],
        functions: list[lambda_.IFunction],
    ) -> cloudwatch.Dashboard:
        thresholds = config.alarms

        def line(value: int | None, scale: int = 1, label: str = "alarm") -> list[cloudwatch.HorizontalAnnotation]:
            return [] if value is None else [cloudwatch.HorizontalAnnotation(value=value * scale, label=label)]

        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=stack_name(config.name),
            default_interval=cdk.Duration.days(7),
        )
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# Aalap VMA {config.name}: the migration step and the database\n"
                "Migration metrics come from each deploy's migration step (embedded metric format);"
                " a gap means no deploy ran.",
                width=24,
                height=2,
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Migration step: duration and snapshot wait (s)",
                left=[self._emf(emf.DURATION, "Maximum"), self._emf(emf.SNAPSHOT_WAIT, "Maximum")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Migration step: outcomes and migrations applied",
                left=[self._emf(emf.SUCCEEDED, "Sum"), self._emf(emf.FAILED, "Sum")],
                right=[self._emf(emf.APPLIED, "Sum")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Live traffic: lock waits retried, longest blocking hold (s)",
                left=[self._emf(emf.LOCK_RETRIES, "Maximum")],
                right=[self._emf(emf.LONGEST_LOCK_HOLD, "Maximum")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Failures: functions and the Provider's waiter",
                left=list(step.values()),
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="CPU (%)",
                left=[instance.metric_cpu_utilization(period=FIVE_MINUTES)],
                left_annotations=line(thresholds.cpu_percent if thresholds else None),
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Free storage (bytes)",
                left=[instance.metric_free_storage_space(period=FIVE_MINUTES, statistic="Minimum")],
                left_annotations=line(thresholds.free_storage_gb if thresholds else None, GIB),
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Freeable memory (bytes)",
                left=[instance.metric_freeable_memory(period=FIVE_MINUTES, statistic="Minimum")],
                left_annotations=line(thresholds.freeable_memory_mb if thresholds else None, MIB),
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Connections",
                left=[instance.metric_database_connections(period=FIVE_MINUTES, statistic="Maximum")],
                left_annotations=line(thresholds.connections if thresholds else None),
                width=6,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Latency (s)",
                left=[instance.metric("ReadLatency", period=FIVE_MINUTES), instance.metric("WriteLatency")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="IOPS",
                left=[instance.metric("ReadIOPS", period=FIVE_MINUTES), instance.metric("WriteIOPS")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Manual DB snapshots in the Region (quota: 100 by default)",
                left=[self._emf(emf.MANUAL_SNAPSHOTS, "Maximum", cdk.Duration.hours(1))],
                left_annotations=line(thresholds.manual_snapshots if thresholds else None),
                width=8,
            ),
        )
        dashboard.add_widgets(*self._predictions(config, functions))
        if self.alarms:
            dashboard.add_widgets(cloudwatch.AlarmStatusWidget(alarms=list(self.alarms), title="Alarms", width=24))
        return dashboard
