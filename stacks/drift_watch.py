"""The drift watch: an EventBridge schedule that invokes the migration function's drift action, and the Drift
alarms to the on-call topic (the function's metrics, migrator.aws.metrics, arrive as EMF log lines)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from migrator.aws import metrics as emf
from migrator.aws.contract import ACTION_KEY, DRIFT_ACTION

FAILED_CHECKS_TO_ALARM = 2  # one failed look (a connection blip) pages nobody; two in a row do
LAMBDA_QUEUE_MAX_AGE_S = 6 * 3600  # the longest Lambda keeps an asynchronous event (and its default)


class DriftWatch(Construct):
    """Every `minutes`, `{"action": "drift"}` to `function`; alarms on what it reports when `alarmed`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        minutes: int,
        function: lambda_.IFunction,
        instance_id: str,
        topic: sns.ITopic,
        alarmed: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        period = cdk.Duration.minutes(minutes)
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"Drift check of the database every {minutes} min (docs/operations.md#drift-watch)",
            schedule=events.Schedule.rate(period),
            targets=[
                targets.LambdaFunction(
                    function,
                    event=events.RuleTargetInput.from_object({ACTION_KEY: DRIFT_ACTION}),
                    retry_attempts=2,
                    max_event_age=period,  # a check later than the next one is worth nothing
                )
            ],
        )
        # EventBridge invokes asynchronously: its retry policy ends once Lambda accepted the event, and Lambda's own
        # queue retries a failed (timed-out) check twice and a throttled one for up to 6 hours. The next scheduled
        # check is the retry. This applies to asynchronous invocations only: the Provider framework's are synchronous.
        function.configure_async_invoke(
            retry_attempts=0,
            max_event_age=cdk.Duration.seconds(min(minutes * 60, LAMBDA_QUEUE_MAX_AGE_S)),
        )
        self.alarms: list[cloudwatch.Alarm] = []
        self.differences = self._metric(emf.DRIFT_DIFFERENCES, instance_id, period)
        self.failed_checks = self._metric(emf.DRIFT_CHECK_FAILED, instance_id, period)
        if not alarmed:
            return
        ignore = cloudwatch.TreatMissingData.IGNORE  # no datapoint while a deploy is in flight: keep the state
        self._alarm(
            "DriftDifferences",
            self.differences,
            1,
            "The live database differs from its migrations or privilege model: the migration function's log"
            " has one line per difference, with the SQL that fixes it (docs/operations.md#drift-watch)",
            periods=1,
            missing=ignore,
            topic=topic,
        )
        self._alarm(
            "DriftCheckFailed",
            self.failed_checks,
            1,
            f"The drift check failed {FAILED_CHECKS_TO_ALARM} times in a row (it could not connect or read):"
            " see the migration function's log lines 'drift check failed'",
            periods=FAILED_CHECKS_TO_ALARM,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,  # emitted only by a failed check
            topic=topic,
        )

    def widgets(self) -> list[cloudwatch.IWidget]:
        """The dashboard's row: what each check found, and the Drift alarms' state where there are alarms."""
        graph = cloudwatch.GraphWidget(
            title="Drift: differences found by each check, failed checks",
            left=[self.differences],
            right=[self.failed_checks],
            width=16 if self.alarms else 24,
        )
        if not self.alarms:
            return [graph]
        return [graph, cloudwatch.AlarmStatusWidget(alarms=list(self.alarms), title="Drift alarms", width=8)]

    @staticmethod
    def _metric(name: str, instance_id: str, period: cdk.Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=emf.NAMESPACE,
            metric_name=name,
            dimensions_map={emf.DIMENSION: instance_id},
            statistic="Maximum",
            period=period,
        )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        periods: int,
        missing: cloudwatch.TreatMissingData,
        topic: sns.ITopic,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(topic))
        alarm.add_ok_action(actions.SnsAction(topic))
        self.alarms.append(alarm)
