"""Fault campaigns shared by the tests (few trials) and `make reliability` (the full run).

A batch of generated migrations is applied by a real `python -m migrator` process that
is killed (SIGKILL) at a random moment. After each kill the database must equal the
state before the batch or the state after it, never a mix; the next run must finish.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator.catalog import Catalog, describe
from tests.pg import migrator_argv
from tests.support.migrations import later
from tests.support.project import PROJECT


@dataclass(frozen=True)
class Batch:
    """A database at the newest migration (every trial's template), 200 pending migrations, and both end states."""

    before_db: str
    migrations: Path
    before: object
    after: object
    full_run_seconds: float


def generate(directory: Path, count: int) -> None:
    """`count` migrations after the project's newest; each one fails if applied twice (no IF NOT EXISTS)."""
    for step in range(1, count + 1):
        version = later(step)  # the folder's width
        number = int(version)
        (directory / f"{version}_generated_{number}.sql").write_text(
            f"CREATE TABLE gen_{number} (id bigint PRIMARY KEY, label text NOT NULL DEFAULT 'x');\n"
            f"INSERT INTO gen_{number} (id) SELECT g FROM generate_series(1, 50) g;\n"
            f"CREATE INDEX gen_{number}_label ON gen_{number} (label);\n"
        )


def migrator(url: str, migrations: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        migrator_argv(url, migrations, "--lock-wait", "30", *args, "apply", schema=PROJECT / "schema.sql"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT,
    )


def snapshot(url: str) -> tuple[Catalog, list[tuple[str, str]]]:
    with psycopg.connect(url) as conn:
        history = conn.execute("SELECT version, checksum FROM migrator.history ORDER BY version").fetchall()
        return describe(conn), [(str(v), str(c)) for v, c in history]


def wait_until_alone(admin: str, dbname: str, timeout: float = 30) -> None:
    """The killed client's backend notices the closed socket and rolls back; wait for it to be gone."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(admin, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,)).fetchone() != (0,):
            if time.monotonic() > deadline:
                raise AssertionError(f"backends of {dbname} still alive after {timeout}s")
            time.sleep(0.02)


@contextmanager
def copy_of(admin: str, template: str) -> Iterator[str]:
    name = f"trial_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    params = conninfo_to_dict(admin) | {"dbname": name}
    try:
        yield make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class KillOutcome:
    seed: int
    trials: int = 0
    saw_before: int = 0
    saw_after: int = 0
    mixed: list[str] = field(default_factory=list)
    rerun_failures: list[str] = field(default_factory=list)


def kill_campaign(
    admin: str,
    before_db: str,
    migrations: Path,
    before: object,
    after: object,
    trials: int,
    seed: int,
    full_run_seconds: float,
) -> KillOutcome:
    """Kill `python -m migrator apply` at random moments (0 .. 1.2 x a full run) and classify what is left."""
    rng = random.Random(seed)
    outcome = KillOutcome(seed)
    for trial in range(trials):
        delay = rng.uniform(0.0, full_run_seconds * 1.2)
        with copy_of(admin, before_db) as url:
            process = migrator(url, migrations)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.communicate()
            wait_until_alone(admin, str(conninfo_to_dict(url)["dbname"]))
            left = snapshot(url)
            outcome.trials += 1
            if left == before:
                outcome.saw_before += 1
            elif left == after:
                outcome.saw_after += 1
            else:
                outcome.mixed.append(f"trial {trial} (delay {delay:.3f}s): neither before nor after")
            rerun = migrator(url, migrations)
            _, err = rerun.communicate(timeout=300)
            if rerun.returncode != 0 or snapshot(url) != after:
                outcome.rerun_failures.append(f"trial {trial}: rerun exit {rerun.returncode}: {err[-300:]}")
    return outcome
