"""What an RDS instance class implies: its memory and its default max_connections (alarm defaults)."""

from __future__ import annotations

import re

# Memory (GiB) of the instance classes whose alarm defaults can be derived; others set them explicitly.
_BURSTABLE_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_GIB_PER_VCPU = {"m": 4, "r": 8}  # general purpose and memory optimised families (m5…m8g, r5…r8g)
# RDS for PostgreSQL's default max_connections: LEAST({DBInstanceClassMemory/9531392}, 5000).
_BYTES_PER_CONNECTION = 9531392
MAX_CONNECTIONS_CAP = 5000


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
