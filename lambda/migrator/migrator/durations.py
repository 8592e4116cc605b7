"""Durations on the command line: a bare number is seconds, or it carries a unit.

PostgreSQL reads a bare `statement_timeout = 5` as 5 milliseconds, while every other option of
this tool (`--lock-wait`, `--connect-timeout`) counts seconds; so the command line decides the
unit itself and hands PostgreSQL an explicit number of milliseconds. A bad value is an argparse
error (exit status 2), found before any connection is made.
"""

from __future__ import annotations

import argparse
import math
import re

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_DURATION = re.compile(r"^\s*(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[a-z]*)\s*$")
EXAMPLES = "e.g. 30 (seconds), 500ms, 5s, 15min, 1h"


def milliseconds(text: str) -> float:
    """The duration `text` names, in milliseconds; ValueError saying what is accepted otherwise."""
    found = _DURATION.match(text.lower())
    if found is None:
        if text.strip().startswith("-"):
            raise ValueError(f"{text!r}: a duration cannot be negative")
        raise ValueError(f"{text!r} is not a duration ({EXAMPLES})")
    unit = found["unit"] or "s"
    if unit not in UNITS_MS:
        raise ValueError(f"{text!r}: unknown unit {unit!r} (use {', '.join(UNITS_MS)})")
    return float(found["number"]) * UNITS_MS[unit]


def postgres_setting(text: str) -> str:
    """argparse type for lock_timeout/statement_timeout: a whole number of ms with its unit (0 = no limit)."""
    try:
        return f"{math.ceil(milliseconds(text))}ms"
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds(text: str) -> float:
    """argparse type for waits counted in seconds (`--lock-wait`)."""
    try:
        return milliseconds(text) / 1000
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def whole_seconds(text: str) -> int:
    """argparse type for libpq's connect_timeout: whole seconds, at least 1 (libpq reads 0 as 'wait forever')."""
    value = math.ceil(seconds(text))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the connect timeout must be at least 1s")
    return value
