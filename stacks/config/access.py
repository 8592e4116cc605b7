"""Who may reach the database: client security groups and networks (never the internet)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from stacks.config.base import ConfigError, strings


def security_groups(where: str, value: Any) -> tuple[str, ...]:
    groups = strings(where, value)
    for group in groups:
        if not re.fullmatch(r"sg-[0-9a-f]{8,17}", group):
            raise ConfigError(f"cdk.json context {where} has an invalid security group id {group!r} (sg-…)")
    return tuple(groups)


def cidrs(where: str, value: Any) -> tuple[str, ...]:
    """Networks (peered VPCs, VPN) that may reach 5432: IPv4 or IPv6, exact network addresses, never /0."""
    found = []
    for text in strings(where, value):
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
