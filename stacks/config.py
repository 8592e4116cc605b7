"""The per-environment configuration from cdk.json context, parsed once and validated.

Constructs never read context or the process environment: app.py builds these
objects and passes typed values down. Any bad value fails synth naming its key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from migrator.aws.codebuild import MAX_BUILD_MINUTES, MIN_BUILD_MINUTES, PIPELINE, PIPELINE_TIMEOUT_MINUTES

ENVIRONMENT_NAMES = ("dev", "staging", "prod")
MIGRATE_MODES = ("always", "on-change")
REMOVAL_POLICIES = ("destroy", "snapshot", "retain")
# The migration step's time budget (migrationTimeoutMinutes) is what CloudFormation waits for the custom
# resource (ServiceTimeout, at most 3600 s); every other limit is derived from it in migration_time_limits.
MIGRATION_MINUTES_MIN = 10
MIGRATION_MINUTES_MAX = 60  # CloudFormation's maximum ServiceTimeout: 3600 s
FRAMEWORK_MARGIN_MINUTES = 5  # on_event's own run (up to 3 min) and the framework's FAILED answer after a timeout
# Where a migrating deploy runs (a marked migration always goes to CodeBuild); "pipeline": before the change set,
# by the operator command, in the CodeBuild runner for up to 36 hours (the custom resource only verifies).
RUNNERS = ("lambda", "codebuild", PIPELINE)
BUILD_MARGIN_SECONDS = 120  # a CodeBuild runner is over this long before the Provider gives up (a poll, the answer)
RUNNER_MARGIN_SECONDS = 60  # the runner's own deadline ends this long before its build's timeout (rollback, logs)


class ConfigError(ValueError):
    """A cdk.json context value is missing or invalid; the message names the key."""


# Memory (GiB) of the instance classes whose alarm defaults can be derived; others set them explicitly.
_BURSTABLE_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_GIB_PER_VCPU = {"m": 4, "r": 8}  # general purpose and memory optimised families (m5…m8g, r5…r8g)
# RDS for PostgreSQL's default max_connections: LEAST({DBInstanceClassMemory/9531392}, 5000).
_BYTES_PER_CONNECTION = 9531392
MAX_CONNECTIONS_CAP = 5000
ENHANCED_MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
DEFAULT_MANUAL_SNAPSHOT_QUOTA = 100  # RDS "Manual DB instance snapshots" per Region, adjustable by AWS


def instance_memory_gib(instance_class: str) -> int | None:
    """The class's memory, for burstable (t3/t4g) and m/r classes; None when not known here."""
    family, _, size = instance_class.partition(".")
    if family.startswith("t"):
        return _BURSTABLE_GIB.get(size)
    per_vcpu = _GIB_PER_VCPU.get(family[:1])
    if per_vcpu is None:
        return None
    if size == "large":
        vcpus = 2
    elif size == "xlarge":
        vcpus = 4
    elif (match := re.fullmatch(r"([0-9]+)xlarge", size)) is not None:
        vcpus = 4 * int(match.group(1))
    else:
        return None
    return vcpus * per_vcpu


def estimated_max_connections(instance_class: str) -> int | None:
    """RDS's default max_connections for the class (from its nominal memory: RDS reserves some, so the
    real value, `SHOW max_connections`, is somewhat lower; alarms.maxConnections overrides it)."""
    gib = instance_memory_gib(instance_class)
    if gib is None:
        return None
    return min(MAX_CONNECTIONS_CAP, gib * 1024**3 // _BYTES_PER_CONNECTION)


@dataclass(frozen=True)
class OnCall:
    """Who the environment's SNS topic notifies."""

    emails: tuple[str, ...] = ()
    https_endpoint: str | None = None

    @property
    def subscribed(self) -> bool:
        return bool(self.emails or self.https_endpoint)


@dataclass(frozen=True)
class Alarms:
    """Thresholds of the alarms to the on-call topic; None drops that alarm (`false` in cdk.json)."""

    migration_failures: bool
    cpu_percent: int | None
    free_storage_gb: int | None
    freeable_memory_mb: int | None
    connections: int | None  # an absolute count: connectionsPercent of maxConnections
    manual_snapshots: int | None


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
    runner: str = "lambda"  # "codebuild": every migrating deploy runs in the CodeBuild runner; "pipeline": see RUNNERS
    pipeline_timeout_minutes: int = PIPELINE_TIMEOUT_MINUTES  # pipeline mode's build timeout (5 min to 36 h)
    backup_window: str | None = None  # hh24:mi-hh24:mi UTC; None: RDS picks one
    maintenance_window: str | None = None  # ddd:hh24:mi-ddd:hh24:mi UTC; None: RDS picks one
    performance_insights: bool = False  # Performance Insights, 7 days (free), Database Insights standard
    enhanced_monitoring_seconds: int = 0  # 0: off
    allow_major_version_upgrade: bool = False
    kms_key: str | None = None  # "create", a key ARN, or None (AWS managed keys)
    client_security_group_ids: tuple[str, ...] = ()
    client_cidrs: tuple[str, ...] = ()
    on_call: OnCall = OnCall()
    alarms: Alarms | None = None

    @property
    def engine_major(self) -> str:
        return self.engine_version.split(".")[0]

    @property
    def engine_minor_pinned(self) -> bool:
        """engineVersion "17": RDS applies minor upgrades itself; "17.6": pinned, no automatic minor upgrades."""
        return "." in self.engine_version


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
    "pipeline_timeout_minutes": (int, lambda v: MIN_BUILD_MINUTES <= v <= MAX_BUILD_MINUTES),
    "backup_window": (str, lambda v: _window(v, with_day=False) is not None),
    "maintenance_window": (str, lambda v: _window(v, with_day=True) is not None),
    "performance_insights": (bool, None),
    "enhanced_monitoring_seconds": (int, lambda v: v in ENHANCED_MONITORING_INTERVALS),
    "allow_major_version_upgrade": (bool, None),
    "kms_key": (
        str,
        lambda v: (
            v == "create"
            or re.fullmatch(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})", v)
        ),
    ),
}
_OPTIONAL: dict[str, Any] = {
    "account": None,
    "region": None,
    "vpc_id": None,
    "restore_snapshot_id": None,
    "allow_database_replacement": False,
    "runner": "lambda",
    "pipeline_timeout_minutes": PIPELINE_TIMEOUT_MINUTES,
    "backup_window": None,
    "maintenance_window": None,
    "performance_insights": False,
    "enhanced_monitoring_seconds": 0,
    "allow_major_version_upgrade": False,
    "kms_key": None,
}
# Settings that are lists or objects, parsed by their own functions below.
_STRUCTURED = ("client_security_group_ids", "client_cidrs", "on_call", "alarms")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_WEEK = 7 * 24 * 60


def _window(text: str, *, with_day: bool) -> tuple[int, int] | None:
    """(start, end) in minutes of the week (or day) of an RDS window, if well formed and at least 30 minutes."""
    part = r"(?:(mon|tue|wed|thu|fri|sat|sun):)?([01][0-9]|2[0-3]):([0-5][0-9])"
    match = re.fullmatch(f"{part}-{part}", text)
    if match is None:
        return None
    day1, h1, m1, day2, h2, m2 = match.groups()
    if with_day != (day1 is not None) or with_day != (day2 is not None):
        return None
    start = (_DAYS.index(day1) * 1440 if day1 else 0) + int(h1) * 60 + int(m1)
    end = (_DAYS.index(day2) * 1440 if day2 else 0) + int(h2) * 60 + int(m2)
    period = _MINUTES_PER_WEEK if with_day else 1440
    if (end - start) % period < 30:
        return None
    return start, end


def _overlap(backup: str, maintenance: str) -> bool:
    """Does the daily backup window overlap the weekly maintenance window (on any day)?"""
    b_start, b_end = _window(backup, with_day=False) or (0, 0)
    m_start, m_end = _window(maintenance, with_day=True) or (0, 0)
    m_end = m_end if m_end > m_start else m_end + _MINUTES_PER_WEEK
    b_end = b_end if b_end > b_start else b_end + 1440
    for day in range(-1, 8):
        start, end = b_start + day * 1440, b_end + day * 1440
        if start < m_end and m_start < end:
            return True
    return False


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
    known = {_camel(k) for k in (*_CHECKS, *_STRUCTURED)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"cdk.json context environments.{name}.{unknown[0]} is not a known setting"
            f" (known: {', '.join(sorted(known))})"
        )
    values = {key: _value(name, raw, key) for key in _CHECKS}
    on_call = _on_call(name, raw.get("onCall"))
    config = EnvironmentConfig(
        name=name,
        **values,
        client_security_group_ids=_security_groups(name, raw.get("clientSecurityGroupIds")),
        client_cidrs=_cidrs(name, raw.get("clientCidrs")),
        on_call=on_call,
    )
    config = _with_alarms(config, raw.get("alarms"))
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
    _check_operations(config)
    return config


def _strings(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"cdk.json context {where} must be a list of strings, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"cdk.json context {where} lists a value twice")
    return list(value)


def _security_groups(name: str, value: Any) -> tuple[str, ...]:
    where = f"environments.{name}.clientSecurityGroupIds"
    groups = _strings(where, value)
    for group in groups:
        if not re.fullmatch(r"sg-[0-9a-f]{8,17}", group):
            raise ConfigError(f"cdk.json context {where} has an invalid security group id {group!r} (sg-…)")
    return tuple(groups)


def _cidrs(name: str, value: Any) -> tuple[str, ...]:
    """Networks (peered VPCs, VPN) that may reach 5432: IPv4 or IPv6, exact network addresses, never /0."""
    where = f"environments.{name}.clientCidrs"
    found = []
    for text in _strings(where, value):
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise ConfigError(f"cdk.json context {where} has an invalid CIDR {text!r}: {exc}") from None
        if network.prefixlen < 8:
            raise ConfigError(
                f"cdk.json context {where} has {text!r}: a client network must be /8 or narrower"
                " (the database is never opened to the internet)"
            )
        found.append(str(network))
    return tuple(found)


def _on_call(name: str, value: Any) -> OnCall:
    where = f"environments.{name}.onCall"
    if value is None:
        return OnCall()
    if not isinstance(value, Mapping):
        raise ConfigError(f"cdk.json context {where} must be an object with emails and/or httpsEndpoint")
    unknown = sorted(set(value) - {"emails", "httpsEndpoint"})
    if unknown:
        raise ConfigError(
            f"cdk.json context {where}.{unknown[0]} is not a known setting (known: emails, httpsEndpoint)"
        )
    emails = _strings(f"{where}.emails", value.get("emails"))
    for email in emails:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", email, re.IGNORECASE):
            raise ConfigError(f"cdk.json context {where}.emails has an invalid address {email!r}")
    endpoint = value.get("httpsEndpoint")
    if endpoint is not None and (
        not isinstance(endpoint, str) or not re.fullmatch(r"https://[^\s/]+(/\S*)?", endpoint)
    ):
        raise ConfigError(f"cdk.json context {where}.httpsEndpoint must be an https:// URL, got {endpoint!r}")
    return OnCall(tuple(emails), endpoint)


_ALARM_KEYS = (
    "migrationFailures",
    "cpuPercent",
    "freeStorageGb",
    "freeableMemoryMb",
    "connectionsPercent",
    "maxConnections",
    "manualSnapshots",
)


def _threshold(where: str, raw: Mapping[str, Any], key: str, default: int | None, low: int, high: int) -> int | None:
    """An alarm's threshold: the default when absent, None when `false` (no such alarm), else an int in range."""
    value = raw.get(key, default)
    if value is False or value is None:
        return None
    if type(value) is not int or not low <= value <= high:
        raise ConfigError(
            f"cdk.json context {where}.{key} must be an integer from {low} to {high}, or false to drop the alarm;"
            f" got {value!r}"
        )
    return value


def _with_alarms(config: EnvironmentConfig, value: Any) -> EnvironmentConfig:
    """The alarms object: absent means no alarms (dev); present, every threshold has a default."""
    where = f"environments.{config.name}.alarms"
    if value is None:
        return config
    if not isinstance(value, Mapping):
        raise ConfigError(f"cdk.json context {where} must be an object (or absent: no alarms)")
    unknown = sorted(set(value) - set(_ALARM_KEYS))
    if unknown:
        raise ConfigError(
            f"cdk.json context {where}.{unknown[0]} is not a known setting (known: {', '.join(_ALARM_KEYS)})"
        )
    if not config.on_call.subscribed:
        raise ConfigError(
            f"cdk.json context {where} is set but environments.{config.name}.onCall has no emails or httpsEndpoint:"
            " the alarms would reach nobody"
        )
    failures = value.get("migrationFailures", True)
    if type(failures) is not bool:
        raise ConfigError(f"cdk.json context {where}.migrationFailures must be a bool, got {failures!r}")
    memory_gib = instance_memory_gib(config.instance_class)
    limit = value.get("maxConnections", estimated_max_connections(config.instance_class))
    memory_default = memory_gib * 1024 // 10 if memory_gib else None  # 10% of the class's memory
    needs = [
        key
        for key, default in (("freeableMemoryMb", memory_default), ("maxConnections", limit))
        if default is None
        and key not in value
        and not (key == "maxConnections" and value.get("connectionsPercent") is False)
    ]
    if needs:
        raise ConfigError(
            f"cdk.json context {where}: the defaults of {' and '.join(needs)} are not known for instance class"
            f" {config.instance_class}; set {' and '.join(needs)} (or false to drop the alarm)"
        )
    percent = _threshold(where, value, "connectionsPercent", 80, 1, 100)
    maximum = _threshold(where, value, "maxConnections", limit, 1, MAX_CONNECTIONS_CAP * 52) if percent else None
    alarms = Alarms(
        migration_failures=failures,
        cpu_percent=_threshold(where, value, "cpuPercent", 80, 1, 100),
        free_storage_gb=_threshold(
            where, value, "freeStorageGb", max(1, config.allocated_storage_gb // 20), 1, config.max_allocated_storage_gb
        ),
        freeable_memory_mb=_threshold(where, value, "freeableMemoryMb", memory_default, 1, 4 * 1024 * 1024),
        connections=max(1, maximum * percent // 100) if percent and maximum else None,
        manual_snapshots=_threshold(
            where, value, "manualSnapshots", DEFAULT_MANUAL_SNAPSHOT_QUOTA * 8 // 10, 1, 100_000
        ),
    )
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    return EnvironmentConfig(**(values | {"alarms": alarms}))


def _check_operations(config: EnvironmentConfig) -> None:
    """Cross-key rules of the operations settings."""
    where = f"cdk.json context environments.{config.name}"
    if config.backup_window and config.maintenance_window and _overlap(config.backup_window, config.maintenance_window):
        raise ConfigError(
            f"{where}.backupWindow {config.backup_window} overlaps maintenanceWindow {config.maintenance_window}"
            " (RDS refuses overlapping windows)"
        )


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
