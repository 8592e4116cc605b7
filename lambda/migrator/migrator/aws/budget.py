"""Every time limit of the migration step, computed from one number: migrationTimeoutMinutes.

Pure and dependency-free: the CDK app derives the template's timeouts from it at synth, and the functions,
the CodeBuild runner and the pipeline command derive their deadlines from it at run time, so the two layers
cannot disagree about a margin. Times are seconds unless a name says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIGRATION_MINUTES_MIN = 10
MIGRATION_MINUTES_MAX = 60  # CloudFormation's longest ServiceTimeout: 3600 s
FRAMEWORK_MARGIN_S = 5 * 60  # on_event's own run (up to 3 min) and the framework's FAILED answer after a timeout
BUILD_MARGIN_S = 120  # a CodeBuild runner is over this long before the Provider gives up (a poll, the answer)
RUNNER_MARGIN_S = 60  # the runner's own deadline ends this long before its build's timeout (rollback, log upload)
ANSWER_MARGIN_S = 120  # the framework needs this long, after the last apply, to answer CloudFormation
SAFETY_MARGIN_S = 30  # a Lambda stops its own work this long before Lambda would kill it
MIN_APPLY_S = 60  # less than this left after a snapshot wait: fail clearly instead of starting
MIN_LAMBDA_APPLY_S = 5  # less than this of an invocation left: do not start a batch
MIN_RUN_S = 60  # a runner build that starts with less than this before its deadline refuses to begin
ON_EVENT_TIMEOUT_S = 3 * 60  # on_event's Lambda timeout
IS_COMPLETE_TIMEOUT_S = 15 * 60  # is_complete's Lambda timeout (Lambda's longest)
MIN_BUILD_MINUTES = 5  # CodeBuild's shortest timeoutInMinutes
MAX_BUILD_MINUTES = 2160  # CodeBuild's longest: 36 hours
QUEUED_TIMEOUT_MINUTES = 5  # CodeBuild's shortest queue timeout; a build queued longer would start too late
PIPELINE_TIMEOUT_MINUTES = 240  # pipeline mode's build timeout unless cdk.json says pipelineTimeoutMinutes (its job
# and session limits, stacks.config.jobs: at most 300 on GitHub-hosted runners)
IDLE_TIMEOUT_S = 60  # the server ends a runner session that is silent this long


class BudgetError(ValueError):
    """A budget outside what CloudFormation or CodeBuild allow; the message names the setting."""


@dataclass(frozen=True)
class TimeLimits:
    """The migration step's limits for one migrationTimeoutMinutes."""

    service_timeout_seconds: int  # the custom resource's ServiceTimeout: how long CloudFormation waits
    provider_total_seconds: int  # the Provider's totalTimeout: its waiter gives up and answers FAILED before that
    handler_budget_seconds: int  # MigrationTimeoutSeconds: the handler caps every apply's deadline with it
    build_timeout_seconds: int  # from on_event's start: every CodeBuild runner build is over by then
    runner_budget_seconds: int  # from on_event's start: the runner's own deadline (transaction_timeout)

    @property
    def build_timeout_minutes(self) -> int:
        """The project's build timeout; each build gets what is left of it (at least CodeBuild's 5 minutes)."""
        return max(MIN_BUILD_MINUTES, self.build_timeout_seconds // 60)


def time_limits(minutes: int) -> TimeLimits:
    if not MIGRATION_MINUTES_MIN <= minutes <= MIGRATION_MINUTES_MAX:
        raise BudgetError(
            f"migrationTimeoutMinutes must be between {MIGRATION_MINUTES_MIN} and {MIGRATION_MINUTES_MAX},"
            f" got {minutes}"
        )
    service = minutes * 60
    build = service - FRAMEWORK_MARGIN_S - BUILD_MARGIN_S
    return TimeLimits(
        service_timeout_seconds=service,
        provider_total_seconds=service - FRAMEWORK_MARGIN_S,
        handler_budget_seconds=service,
        build_timeout_seconds=build,
        runner_budget_seconds=build - RUNNER_MARGIN_S,
    )


def cloudformation_deadline(started: float, timeout_seconds: int) -> float:
    """Epoch seconds by which the step's work must end so that CloudFormation hears an answer in time."""
    return started + timeout_seconds - ANSWER_MARGIN_S


def lambda_apply_ms(remaining_ms: int, cloudformation_left_s: float) -> int:
    """An invocation's apply budget: the Lambda's time left less the safety margin, within CloudFormation's."""
    return int(min(remaining_ms - SAFETY_MARGIN_S * 1000, cloudformation_left_s * 1000))


@dataclass(frozen=True)
class BuildWindow:
    minutes: int  # the build's timeoutInMinutes
    deadline: float  # epoch seconds by which the runner must be done, commit included


def build_window(started: float, build_timeout_s: int, runner_timeout_s: int, now: float) -> BuildWindow:
    """What a runner build started `now` gets: whole minutes to the step's build end, and a deadline a margin
    before the build's own end (rollback and the log's upload happen inside the build)."""
    minutes = math.floor((started + build_timeout_s - now) / 60)
    return BuildWindow(minutes, min(started + runner_timeout_s, now + minutes * 60 - RUNNER_MARGIN_S))


def pipeline_deadline(now: float, timeout_minutes: int) -> float:
    """The pipeline command's runner deadline: its build's timeout less the runner's margin."""
    return now + timeout_minutes * 60 - RUNNER_MARGIN_S
