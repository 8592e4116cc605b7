"""Start the CodeBuild runner (`python -m migrator.aws.runner`) as a real process, as a build would.

Its inputs come from the environment exactly as the project and the migration step set them; AWS
(Secrets Manager) is whatever AWS_ENDPOINT_URL in the test's environment points at (moto server).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg

from tests.support.project import PROJECT


def runner_environment(
    secret_arn: str, bundle: Path, deadline: float, role_secret_arn: str = "", **extra: str
) -> dict[str, str]:
    environ = dict(os.environ) | {
        "MIGRATOR_SECRET_ARN": secret_arn,
        "MIGRATOR_BUNDLE_ROOT": str(bundle),
        "MIGRATOR_DEADLINE": f"{deadline:.3f}",
        "MIGRATOR_INSTANCE": "test-instance",
    }
    if role_secret_arn:
        environ["MIGRATOR_ROLE_SECRET_ARN"] = role_secret_arn
    return environ | extra


def start_runner(environ: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "migrator.aws.runner"],
        env=dict(environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=PROJECT,
    )


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def wait_for_query(conninfo: str, prefix: str, timeout: float = 30) -> int:
    """The pid of the backend running a statement that starts with `prefix`."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE %s",
                (prefix + "%",),
            ).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError(f"no backend ran {prefix!r} within {timeout}s")


def wait_until_gone(conninfo: str, pid: int, timeout: float) -> float:
    """Seconds until backend `pid` has ended; fails after `timeout`."""
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"backend {pid} still alive after {timeout}s")
            time.sleep(0.05)
    return time.monotonic() - started
