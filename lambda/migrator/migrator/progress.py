"""Each file as it starts and ends, with its duration, for a person watching `apply`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from migrator.execute import FileEvent

Report = Callable[[str], None]


def reporter(report: Report) -> FileEvent:
    """An `on_file` observer: 'start NAME' before each file, 'done NAME (1.2 s)' or 'failed …' after it."""

    def observe(event: str, path: Path, seconds: float | None) -> None:
        if event == "start":
            report(f"  start {path.name}")
        elif event == "done":
            report(f"  done  {path.name} ({_seconds(seconds or 0.0)})")
        else:
            report(f"  failed {path.name} after {_seconds(seconds or 0.0)}")

    return observe


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
