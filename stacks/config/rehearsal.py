"""The rehearsal settings of an environment: whether a migrating deploy needs a passing rehearsal, how old it may
be, and the restored copy's instance class (cdk.json `rehearsal`, an object)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from migrator.aws.contract import DEFAULT_REHEARSAL_MAX_AGE_HOURS
from migrator.aws.rehearsal import DEFAULT_CLASS
from stacks.config.base import ConfigError

KEYS = ("required", "maxAgeHours", "instanceClass")
MAX_AGE_HOURS = 24 * 30


@dataclass(frozen=True)
class RehearsalSettings:
    """`required`: the migration step refuses a migrating deploy without a passing rehearsal of its bundle fingerprint
    finished within `max_age_hours` (`python -m migrator --env ENV rehearse`). `instance_class`: the copy's."""

    required: bool = False
    max_age_hours: int = DEFAULT_REHEARSAL_MAX_AGE_HOURS
    instance_class: str = DEFAULT_CLASS


def parse_rehearsal(env: str, raw: Any) -> RehearsalSettings:
    """Default: required in prod only, 24 hours, db.t4g.small."""
    where = f"cdk.json context environments.{env}.rehearsal"
    given: Mapping[str, Any] = {} if raw is None else raw
    if not isinstance(given, Mapping):
        raise ConfigError(f'{where} must be an object like {{"required": true, "maxAgeHours": 24}}')
    unknown = sorted(set(given) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]} is not a known setting (known: {', '.join(KEYS)})")
    required = given.get("required", env == "prod")
    if type(required) is not bool:
        raise ConfigError(f"{where}.required must be true or false, got {required!r}")
    age = given.get("maxAgeHours", DEFAULT_REHEARSAL_MAX_AGE_HOURS)
    if type(age) is not int or not 1 <= age <= MAX_AGE_HOURS:
        raise ConfigError(f"{where}.maxAgeHours must be whole hours from 1 to {MAX_AGE_HOURS}, got {age!r}")
    instance_class = given.get("instanceClass", DEFAULT_CLASS)
    if not isinstance(instance_class, str) or not re.fullmatch(r"(db\.)?[a-z0-9]+\.[a-z0-9]+", instance_class):
        raise ConfigError(f"{where}.instanceClass must be an RDS instance class like t4g.small, got {instance_class!r}")
    return RehearsalSettings(required, age, instance_class)
