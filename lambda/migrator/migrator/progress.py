"""Each file as it starts and ends, with its duration, for a person watching `apply`.

apply.py (another engineer's module) has no progress hook yet; every file it runs, schema.sql
included, goes through `apply._run_file`, so for the length of one CLI run that function is
wrapped. The wrapper only observes: it calls the original and re-raises whatever it raises. When
apply.py grows an `on_file` callback, this module becomes that callback and the wrapping goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from migrator import apply as apply_module

Report = Callable[[str], None]


@contextmanager
def reporting(report: Report) -> Iterator[None]:
    """Within the block, `report` gets 'start NAME' before each file and 'done NAME (1.2 s)' after it."""
    original = apply_module._run_file

    def observed(conn: Any, path: Path, *rest: Any, **named: Any) -> None:
        report(f"  start {path.name}")
        started = time.perf_counter()
        try:
            original(conn, path, *rest, **named)
        except BaseException:
            report(f"  failed {path.name} after {_seconds(time.perf_counter() - started)}")
            raise
        report(f"  done  {path.name} ({_seconds(time.perf_counter() - started)})")

    apply_module._run_file = observed
    try:
        yield
    finally:
        apply_module._run_file = original


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
