"""Lines for a reader that may leave early (`apply | head -3`): a closed pipe never aborts a migration."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def say(line: str, stream: TextIO | None = None) -> None:
    """Print `line`; when the reader has gone, the run goes on and the rest of its output is dropped."""
    target = stream or sys.stdout
    try:
        print(line, file=target, flush=True)
    except BrokenPipeError:
        _drop_the_rest(target)


def _drop_the_rest(stream: TextIO) -> None:
    """Point the stream's descriptor at /dev/null: later lines and the interpreter's last flush succeed quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to redirect
        pass
