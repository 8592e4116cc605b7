"""The per-environment configuration from cdk.json context, parsed once and validated.

Constructs never read context or the process environment: app.py builds these
objects and passes typed values down. Any bad value fails synth naming its key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

ENVIRONMENT_NAMES = ("dev", "staging", "prod")
MIGRATE_MODES = ("always", "on-change")
REMOVAL_POLICIES = ("destroy", "snapshot", "retain")
# The migration step's time budget (migrationTimeoutMinutes) is what CloudFormation waits for the custom
# resource (ServiceTimeout, at most 3600 s); every other limit is derived from it in migration_time_limits.
MIGRATION_MINUTES_MIN = 10
MIGRATION_MINUTES_MAX = 60  # CloudFormation's maximum ServiceTimeout: 3600 s
FRAMEWORK_MARGIN_MINUTES = 5  # on_event's own run (up to 3 min) and the framework's FAILED answer after a timeout
RUNNERS = ("lambda", "codebuild")  # where a migrating deploy runs (a marked migration always goes to CodeBuild)
BUILD_MARGIN_SECONDS = 120  # a CodeBuild runner is over this long before the Provider gives up (a poll, the answer)
RUNNER_MARGIN_SECONDS = 60  # the runner's own deadline ends this long before its build's timeout (rollback, logs)
MIN_BUILD_MINUTES = 5  # CodeBuild's shortest build timeout


class ConfigError(ValueError):
    """A cdk.json context value is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    account: str | None
    region: str | None
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    multi_az: bool
    backup_retention_days: int
    deletion_protection: bool
    removal_policy: str
    snapshot_retention: int
    engine_version: str
    vpc_id: str | None
    create_vpc_endpoints: bool
    restore_snapshot_id: str | None
    rotate_secret: bool
    migration_timeout_minutes: int
    allow_database_replacement: bool  # lifts the stack policy's deny (a restore replaces the instance)
    runner: str = "lambda"  # "codebuild": every migrating deploy runs in the CodeBuild runner

    @property
    def engine_major(self) -> str:
        return self.engine_version.split(".")[0]


@dataclass(frozen=True)
class MigrationTimeLimits:
    """Every time limit of the migration step, derived from the one budget in minutes."""

    service_timeout_seconds: int  # the custom resource's ServiceTimeout: how long CloudFormation waits
    provider_total_seconds: int  # the Provider's totalTimeout: its waiter gives up and answers FAILED before that
    handler_budget_seconds: int  # MigrationTimeoutSeconds: the handler caps every apply's deadline with it
    build_timeout_seconds: int  # from on_event's start: every CodeBuild runner build is over by then
    runner_budget_seconds: int  # from on_event's start: the runner's own deadline (transaction_timeout)

    @property
    def build_timeout_minutes(self) -> int:
        """The project's build timeout; each build gets what is left of it (at least CodeBuild's 5 minutes)."""
        return max(MIN_BUILD_MINUTES, self.build_timeout_seconds // 60)


def migration_time_limits(minutes: int) -> MigrationTimeLimits:
    if not MIGRATION_MINUTES_MIN <= minutes <= MIGRATION_MINUTES_MAX:
        raise ConfigError(
            f"migrationTimeoutMinutes must be between {MIGRATION_MINUTES_MIN} and {MIGRATION_MINUTES_MAX},"
            f" got {minutes}"
        )
    service = minutes * 60
    return MigrationTimeLimits(
        service_timeout_seconds=service,
        provider_total_seconds=service - FRAMEWORK_MARGIN_MINUTES * 60,
        handler_budget_seconds=service,
        build_timeout_seconds=service - FRAMEWORK_MARGIN_MINUTES * 60 - BUILD_MARGIN_SECONDS,
        runner_budget_seconds=service - FRAMEWORK_MARGIN_MINUTES * 60 - BUILD_MARGIN_SECONDS - RUNNER_MARGIN_SECONDS,
    )


@dataclass(frozen=True)
class AppConfig:
    environments: tuple[EnvironmentConfig, ...]
    migrate: str


_CHECKS: dict[str, tuple[type, Any]] = {
    "account": (str, lambda v: v is None or re.fullmatch(r"[0-9]{12}", v)),
    "region": (str, lambda v: v is None or re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", v)),
    "instance_class": (str, lambda v: re.fullmatch(r"[a-z0-9]+\.[a-z0-9]+", v)),
    "allocated_storage_gb": (int, lambda v: 20 <= v <= 65536),
    "max_allocated_storage_gb": (int, lambda v: 20 <= v <= 65536),
    "multi_az": (bool, None),
    "backup_retention_days": (int, lambda v: 1 <= v <= 35),
    "deletion_protection": (bool, None),
    "removal_policy": (str, lambda v: v in REMOVAL_POLICIES),
    "snapshot_retention": (int, lambda v: 1 <= v <= 100),
    "engine_version": (str, lambda v: re.fullmatch(r"1[4-9](\.[0-9]+)?", v)),
    "vpc_id": (str, lambda v: v is None or re.fullmatch(r"vpc-[0-9a-f]{8,17}", v)),
    "create_vpc_endpoints": (bool, None),
    "restore_snapshot_id": (str, lambda v: v is None or re.fullmatch(r"[A-Za-z][A-Za-z0-9:-]{0,254}", v)),
    "rotate_secret": (bool, None),
    "migration_timeout_minutes": (int, None),  # range checked by migration_time_limits, with its reason
    "allow_database_replacement": (bool, None),
    "runner": (str, lambda v: v in RUNNERS),
}
_OPTIONAL: dict[str, Any] = {
    "account": None,
    "region": None,
    "vpc_id": None,
    "restore_snapshot_id": None,
    "allow_database_replacement": False,
    "runner": "lambda",
}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _value(name: str, raw: Mapping[str, Any], key: str) -> Any:
    where = f"environments.{name}.{_camel(key)}"
    kind, check = _CHECKS[key]
    value = raw.get(_camel(key))
    if value is None:
        if key in _OPTIONAL:
            return _OPTIONAL[key]
        raise ConfigError(f"cdk.json context {where} is missing")
    if type(value) is not kind:
        raise ConfigError(f"cdk.json context {where} must be a {kind.__name__}, got {value!r}")
    if check is not None and not check(value):
        raise ConfigError(f"cdk.json context {where} has an invalid value {value!r}")
    return value


def parse_environment(name: str, raw: Mapping[str, Any]) -> EnvironmentConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"cdk.json context environments.{name} must be an object")
    known = {_camel(k) for k in _CHECKS}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"cdk.json context environments.{name}.{unknown[0]} is not a known setting"
            f" (known: {', '.join(sorted(known))})"
        )
    values = {key: _value(name, raw, key) for key in _CHECKS}
    config = EnvironmentConfig(name=name, **values)
    if config.removal_policy == "destroy" and name != "dev":
        raise ConfigError(f"cdk.json context environments.{name}.removalPolicy may be 'destroy' only in dev")
    if name != "dev" and not config.deletion_protection:
        raise ConfigError(f"cdk.json context environments.{name}.deletionProtection must be true outside dev")
    try:
        migration_time_limits(config.migration_timeout_minutes)
    except ConfigError as exc:
        raise ConfigError(
            f"cdk.json context environments.{name}.{exc}: it is the whole time CloudFormation waits for the"
            " migration step (ServiceTimeout, at most 3600 s)"
        ) from None
    build_seconds = migration_time_limits(config.migration_timeout_minutes).build_timeout_seconds
    if config.runner == "codebuild" and build_seconds < MIN_BUILD_MINUTES * 60:
        raise ConfigError(
            f"cdk.json context environments.{name}.runner 'codebuild' needs migrationTimeoutMinutes of at least 12: a"
            " CodeBuild build runs at least 5 minutes, and must end before the Provider gives up"
        )
    if not config.create_vpc_endpoints and config.vpc_id is None:
        raise ConfigError(
            f"cdk.json context environments.{name}.createVpcEndpoints may be false only with vpcId: the project's own"
            " VPC has no NAT, so without the endpoints nothing reaches Secrets Manager or the RDS API"
        )
    if config.max_allocated_storage_gb < config.allocated_storage_gb:
        raise ConfigError(f"cdk.json context environments.{name}.maxAllocatedStorageGb is below allocatedStorageGb")
    return config


def parse_app_config(
    context: Mapping[str, Any],
    selected: str | None,
    migrate: str | None,
    default_account: str | None = None,
    default_region: str | None = None,
) -> AppConfig:
    """All environments, or the one `-c env=NAME` selects; account and region fall back to the CDK defaults."""
    environments = context.get("environments")
    if not isinstance(environments, Mapping):
        raise ConfigError("cdk.json context 'environments' is missing or not an object")
    if selected is not None and selected not in environments:
        raise ConfigError(
            f"cdk.json context: unknown environment {selected!r} (-c env=...); known: {', '.join(environments)}"
        )
    unnamed = sorted(set(environments) - set(ENVIRONMENT_NAMES))
    if unnamed:
        known = ", ".join(ENVIRONMENT_NAMES)
        raise ConfigError(f"cdk.json context environments.{unnamed[0]}: environments are {known}")
    mode = migrate or "always"
    if mode not in MIGRATE_MODES:
        raise ConfigError(f"cdk.json context migrate={mode!r}: use {' or '.join(MIGRATE_MODES)}")
    names = [selected] if selected else list(environments)
    parsed = []
    for name in names:
        config = parse_environment(name, environments[name])
        parsed.append(_with_defaults(config, default_account, default_region))
    return AppConfig(tuple(parsed), mode)


def _with_defaults(config: EnvironmentConfig, account: str | None, region: str | None) -> EnvironmentConfig:
    """Account and region default to the credentials'; a pinned account must be the credentials' one."""
    if config.account and account and config.account != account:
        raise ConfigError(
            f"cdk.json context environments.{config.name}.account is {config.account}, but the AWS credentials"
            f" are for account {account}: refusing to synthesize {config.name} for the wrong account"
        )
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values["account"] = config.account or account
    values["region"] = config.region or region
    return EnvironmentConfig(**values)
