"""RDS's backup and maintenance windows: well formed, at least 30 minutes, and never overlapping."""

from __future__ import annotations

import re

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_WEEK = 7 * 24 * 60


def window(text: str, *, with_day: bool) -> tuple[int, int] | None:
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


def overlap(backup: str, maintenance: str) -> bool:
    """Does the daily backup window overlap the weekly maintenance window (on any day)?"""
    b_start, b_end = window(backup, with_day=False) or (0, 0)
    m_start, m_end = window(maintenance, with_day=True) or (0, 0)
    m_end = m_end if m_end > m_start else m_end + _MINUTES_PER_WEEK
    b_end = b_end if b_end > b_start else b_end + 1440
    for day in range(-1, 8):
        start, end = b_start + day * 1440, b_end + day * 1440
        if start < m_end and m_start < end:
            return True
    return False
