"""All environments of cdk.json, or the one `-c env=NAME` selects, with the credentials' account and region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from stacks.config.alarms import placeholders
from stacks.config.base import ConfigError
from stacks.config.environment import EnvironmentConfig, parse_environment
from stacks.config.zones import check_zones_region

ENVIRONMENT_NAMES = ("dev", "staging", "prod")
MIGRATE_MODES = ("always", "on-change")


@dataclass(frozen=True)
class AppConfig:
    environments: tuple[EnvironmentConfig, ...]
    migrate: str


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
    stand_ins = placeholders(config.on_call)
    if account and stand_ins:  # credentials: a synth that can deploy (offline synth and tests have none)
        raise ConfigError(
            f"cdk.json context environments.{config.name}.onCall names the placeholder {stand_ins[0]}: set the"
            " on-call team's address before deploying"
        )
    pinned = replace(config, account=config.account or account, region=config.region or region)
    check_zones_region(f"environments.{config.name}.availabilityZones", pinned.availability_zones, pinned.region)
    return pinned
