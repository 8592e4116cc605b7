"""One environment's settings: each declared once, on its field, with its type, check and default."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from migrator.aws.budget import MAX_BUILD_MINUTES, MIN_BUILD_MINUTES, PIPELINE_TIMEOUT_MINUTES, BudgetError, time_limits
from migrator.aws.contract import RUNNER_CODEBUILD, RUNNER_LAMBDA, RUNNERS, is_duration
from stacks.config.access import cidrs, security_groups
from stacks.config.alarms import Alarms, Instance, OnCall, on_call, parse_alarms
from stacks.config.base import ConfigError, camel, setting, setting_value
from stacks.config.jobs import job_limit_problem
from stacks.config.rehearsal import RehearsalSettings, parse_rehearsal
from stacks.config.windows import overlap, window
from stacks.config.zones import availability_zones

REMOVAL_POLICIES = ("destroy", "snapshot", "retain")
ENHANCED_MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
DEFAULT_DRIFT_WATCH_MINUTES = 15  # cents a month (docs/configuration.md)
_KMS_KEY = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})")


def _matches(pattern: str) -> Any:
    return lambda value: re.fullmatch(pattern, value)


@dataclass(frozen=True)
class LockSettings:
    """How the migration step meets live traffic, as durations with their units; None: the engine's defaults."""

    timeout: str | None = None
    retry_window: str | None = None
    max_hold: str | None = None


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    name: str
    account: str | None = setting(str, _matches(r"[0-9]{12}"), None)
    region: str | None = setting(str, _matches(r"[a-z]{2}(-[a-z]+)+-[0-9]"), None)
    instance_class: str = setting(str, _matches(r"[a-z0-9]+\.[a-z0-9]+"))
    allocated_storage_gb: int = setting(int, lambda v: 20 <= v <= 65536)
    max_allocated_storage_gb: int = setting(int, lambda v: 20 <= v <= 65536)
    multi_az: bool = setting(bool)
    backup_retention_days: int = setting(int, lambda v: 1 <= v <= 35)
    deletion_protection: bool = setting(bool)
    removal_policy: str = setting(str, lambda v: v in REMOVAL_POLICIES)
    snapshot_retention: int = setting(int, lambda v: 1 <= v <= 100)
    engine_version: str = setting(str, _matches(r"1[4-9](\.[0-9]+)?"))
    vpc_id: str | None = setting(str, _matches(r"vpc-[0-9a-f]{8,17}"), None)
    create_vpc_endpoints: bool = setting(bool)
    restore_snapshot_id: str | None = setting(str, _matches(r"[A-Za-z][A-Za-z0-9:-]{0,254}"), None)
    rotate_secret: bool = setting(bool)
    migration_timeout_minutes: int = setting(int)  # range checked by time_limits, with its reason
    allow_database_replacement: bool = setting(bool, None, False)  # lifts the stack policy's deny (a restore)
    # "codebuild": every migrating deploy runs in the CodeBuild runner; "pipeline": before the change set
    runner: str = setting(str, lambda v: v in RUNNERS, RUNNER_LAMBDA)
    # Live traffic (docs/operations.md): one attempt's lock wait, how long waits are retried, the hold budget.
    lock_timeout: str = setting(str, is_duration, "1s")
    lock_retry_window: str = setting(str, is_duration, "5min")
    max_lock_hold: str = setting(str, is_duration, "10s")  # "0s": no budget
    pipeline_timeout_minutes: int = setting(  # pipeline mode's build timeout; its job's limits: stacks.config.jobs
        int, lambda v: MIN_BUILD_MINUTES <= v <= MAX_BUILD_MINUTES, PIPELINE_TIMEOUT_MINUTES
    )
    self_hosted_runner: bool = setting(bool, None, False)  # deploy.yml's jobs run on self-hosted runners
    backup_window: str | None = setting(str, lambda v: window(v, with_day=False) is not None, None)  # UTC
    maintenance_window: str | None = setting(str, lambda v: window(v, with_day=True) is not None, None)  # UTC
    performance_insights: bool = setting(bool, None, False)  # 7 days (free), Database Insights standard
    enhanced_monitoring_seconds: int = setting(int, lambda v: v in ENHANCED_MONITORING_INTERVALS, 0)  # 0: off
    allow_major_version_upgrade: bool = setting(bool, None, False)
    # Minutes between scheduled drift checks (docs/operations.md#drift-watch), 1 to 1440; 0: no schedule (dev).
    drift_watch_minutes: int = setting(int, lambda v: 0 <= v <= 1440, DEFAULT_DRIFT_WATCH_MINUTES)
    kms_key: str | None = setting(str, lambda v: v == "create" or _KMS_KEY.fullmatch(v), None)  # None: AWS managed
    # Settings that are lists or objects, parsed by their own functions (see `_structured`).
    client_security_group_ids: tuple[str, ...] = field(default=(), metadata={"structured": True})
    client_cidrs: tuple[str, ...] = field(default=(), metadata={"structured": True})
    # The own VPC's zones, e.g. ["eu-west-1a", "eu-west-1b"]; (): two zones CloudFormation picks (Fn::GetAZs)
    availability_zones: tuple[str, ...] = field(default=(), metadata={"structured": True})
    on_call: OnCall = field(default=OnCall(), metadata={"structured": True})
    alarms: Alarms | None = field(default=None, metadata={"structured": True})
    rehearsal: RehearsalSettings = field(default=RehearsalSettings(), metadata={"structured": True})

    @property
    def lock(self) -> LockSettings:
        return LockSettings(self.lock_timeout, self.lock_retry_window, self.max_lock_hold)

    @property
    def engine_major(self) -> str:
        return self.engine_version.split(".")[0]

    @property
    def engine_minor_pinned(self) -> bool:
        """engineVersion "17": RDS applies minor upgrades itself; "17.6": pinned, no automatic minor upgrades."""
        return "." in self.engine_version


PLAIN = tuple(f for f in fields(EnvironmentConfig) if "kind" in f.metadata)
KNOWN = frozenset(camel(f.name) for f in fields(EnvironmentConfig) if f.name != "name")


def parse_environment(name: str, raw: Mapping[str, Any]) -> EnvironmentConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"cdk.json context environments.{name} must be an object")
    unknown = sorted(set(raw) - KNOWN)
    if unknown:
        raise ConfigError(
            f"cdk.json context environments.{name}.{unknown[0]} is not a known setting"
            f" (known: {', '.join(sorted(KNOWN))})"
        )
    where = f"environments.{name}"
    config = EnvironmentConfig(name=name, **{f.name: setting_value(where, f, raw) for f in PLAIN})
    config = _structured(config, raw)
    _check_rules(config)
    return config


def _structured(config: EnvironmentConfig, raw: Mapping[str, Any]) -> EnvironmentConfig:
    where = f"environments.{config.name}"
    called = on_call(config.name, raw.get("onCall"))
    instance = Instance(
        config.name, config.instance_class, config.allocated_storage_gb, config.max_allocated_storage_gb
    )
    return replace(
        config,
        client_security_group_ids=security_groups(f"{where}.clientSecurityGroupIds", raw.get("clientSecurityGroupIds")),
        client_cidrs=cidrs(f"{where}.clientCidrs", raw.get("clientCidrs")),
        availability_zones=availability_zones(f"{where}.availabilityZones", raw.get("availabilityZones")),
        on_call=called,
        alarms=parse_alarms(instance, called, raw.get("alarms")),
        rehearsal=parse_rehearsal(config.name, raw.get("rehearsal")),
    )


def _check_rules(config: EnvironmentConfig) -> None:
    """The rules between settings."""
    where = f"cdk.json context environments.{config.name}"
    if config.name != "dev" and not config.on_call.subscribed:
        raise ConfigError(
            f"{where}.onCall is required outside dev: the emails (or httpsEndpoint) of whoever answers its alarms"
        )
    if config.removal_policy == "destroy" and config.name != "dev":
        raise ConfigError(f"{where}.removalPolicy may be 'destroy' only in dev")
    if config.name != "dev" and not config.deletion_protection:
        raise ConfigError(f"{where}.deletionProtection must be true outside dev")
    try:
        limits = time_limits(config.migration_timeout_minutes)
    except BudgetError as exc:
        raise ConfigError(
            f"{where}.{exc}: it is the whole time CloudFormation waits for the migration step (ServiceTimeout, at"
            " most 3600 s)"
        ) from None
    if config.runner == RUNNER_CODEBUILD and limits.build_timeout_seconds < MIN_BUILD_MINUTES * 60:
        raise ConfigError(
            f"{where}.runner 'codebuild' needs migrationTimeoutMinutes of at least 12: a CodeBuild build runs at least"
            " 5 minutes, and must end before the Provider gives up"
        )
    problem = job_limit_problem(config.pipeline_timeout_minutes, config.self_hosted_runner)
    if problem is not None:
        raise ConfigError(f"{where}.pipelineTimeoutMinutes is {config.pipeline_timeout_minutes}; {problem}")
    if not config.create_vpc_endpoints and config.vpc_id is None:
        raise ConfigError(
            f"{where}.createVpcEndpoints may be false only with vpcId: the project's own VPC has no NAT, so without"
            " the endpoints nothing reaches Secrets Manager or the RDS API"
        )
    if config.availability_zones and config.vpc_id is not None:
        raise ConfigError(f"{where}.availabilityZones is for the project's own VPC: with vpcId, its subnets decide")
    if config.max_allocated_storage_gb < config.allocated_storage_gb:
        raise ConfigError(f"{where}.maxAllocatedStorageGb is below allocatedStorageGb")
    if config.backup_window and config.maintenance_window and overlap(config.backup_window, config.maintenance_window):
        raise ConfigError(
            f"{where}.backupWindow {config.backup_window} overlaps maintenanceWindow {config.maintenance_window}"
            " (RDS refuses overlapping windows)"
        )
