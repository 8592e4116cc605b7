"""The availability zones of the project's own VPC: from cdk.json, or none named (CloudFormation picks).

No lookup: a pinned account and Region then synthesize without credentials, even for an account never seen
(CDK's own default asks the account for its zones). Zone letters map to different zones in each account, and
some Regions offer new accounts only two, so a list is checked for its form and its Region, not guessed.
"""

from __future__ import annotations

import re
from typing import Any

from stacks.config.base import ConfigError, strings

MIN_ZONES = 2  # an RDS subnet group needs subnets in two zones
_ZONE = re.compile(r"([a-z]{2}(?:-[a-z]+)+-[0-9])[a-z]")


def availability_zones(where: str, value: Any) -> tuple[str, ...]:
    """The list as written (e.g. ["eu-west-1a", "eu-west-1b"]); () when absent: the default, no names."""
    if value is None:
        return ()
    zones = strings(where, value)
    for zone in zones:
        if not _ZONE.fullmatch(zone):
            raise ConfigError(f"cdk.json context {where} has an invalid zone name {zone!r} (like eu-west-1a)")
    if len(zones) < MIN_ZONES:
        raise ConfigError(f"cdk.json context {where} must name at least {MIN_ZONES} zones (RDS needs two)")
    regions = {zone[:-1] for zone in zones}
    if len(regions) > 1:
        raise ConfigError(f"cdk.json context {where} names zones of several Regions: {', '.join(sorted(regions))}")
    return tuple(zones)


def check_zones_region(where: str, zones: tuple[str, ...], region: str | None) -> None:
    """Named zones belong to the environment's Region, which must then be known at synth."""
    if not zones:
        return
    if region is None:
        raise ConfigError(f"cdk.json context {where} names zones of {zones[0][:-1]}: pin region too")
    if zones[0][:-1] != region:
        raise ConfigError(f"cdk.json context {where} names zones of {zones[0][:-1]}, but the Region is {region}")
