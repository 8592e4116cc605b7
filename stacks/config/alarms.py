"""Who is alerted (onCall) and when (alarms): every threshold has a default derived from the instance."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stacks.config.base import ConfigError, strings
from stacks.config.instances import MAX_CONNECTIONS_CAP, estimated_max_connections, instance_memory_gib

DEFAULT_MANUAL_SNAPSHOT_QUOTA = 100  # RDS "Manual DB instance snapshots" per Region, adjustable by AWS


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
    lock_retries: int | None = None  # a deploy that retried this many lock waits: traffic contends with deploys


# Reserved for documentation (RFC 2606, RFC 6761): an address there is a placeholder, never an on-call team.
_PLACEHOLDER = re.compile(r"(^|\.)(example\.(com|net|org)|[^.]+\.(example|invalid|test|localhost))$", re.IGNORECASE)


def placeholders(called: OnCall) -> list[str]:
    """The subscribers that are documentation placeholders (example.com and the like)."""
    hosts = [(email, email.rpartition("@")[2]) for email in called.emails]
    if called.https_endpoint:
        hosts.append((called.https_endpoint, called.https_endpoint.split("/")[2]))
    return [given for given, host in hosts if _PLACEHOLDER.search(host)]


def on_call(name: str, value: Any) -> OnCall:
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
    emails = strings(f"{where}.emails", value.get("emails"))
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
    "lockRetries",
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


@dataclass(frozen=True)
class Instance:
    """What the alarm defaults derive from."""

    environment: str
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int


def parse_alarms(config: Instance, on_call: OnCall, value: Any) -> Alarms | None:
    """The alarms object: absent means no alarms (dev); present, every threshold has a default."""
    where = f"environments.{config.environment}.alarms"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"cdk.json context {where} must be an object (or absent: no alarms)")
    unknown = sorted(set(value) - set(_ALARM_KEYS))
    if unknown:
        raise ConfigError(
            f"cdk.json context {where}.{unknown[0]} is not a known setting (known: {', '.join(_ALARM_KEYS)})"
        )
    if not on_call.subscribed:
        raise ConfigError(
            f"cdk.json context {where} is set but environments.{config.environment}.onCall has no emails or"
            " httpsEndpoint: the alarms would reach nobody"
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
    return Alarms(
        migration_failures=failures,
        cpu_percent=_threshold(where, value, "cpuPercent", 80, 1, 100),
        free_storage_gb=_threshold(
            where, value, "freeStorageGb", max(1, config.allocated_storage_gb // 20), 1, config.max_allocated_storage_gb
        ),
        freeable_memory_mb=_threshold(where, value, "freeableMemoryMb", memory_default, 1, 4 * 1024 * 1024),
        connections=max(1, maximum * percent // 100) if percent and maximum else None,
        lock_retries=_threshold(where, value, "lockRetries", 10, 1, 10_000),
        manual_snapshots=_threshold(
            where, value, "manualSnapshots", DEFAULT_MANUAL_SNAPSHOT_QUOTA * 8 // 10, 1, 100_000
        ),
    )
