"""The database server crashes mid-batch (an immediate stop: no checkpoint, crash recovery at the next start) with
durable settings (fsync, synchronous_commit and full_page_writes on, as RDS runs): after recovery the database is
exactly *before* or exactly *after* the batch, never a mix, and the next run completes."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from migrator.embedded import EmbeddedPostgres
from tests.reliability.campaign import generate, migrator, snapshot
from tests.support.migrations import FOLDER

pytestmark = pytest.mark.slow  # a server of its own, restarted once per trial

TRIALS = int(os.environ.get("CRASH_TRIALS", "3"))  # `make reliability` runs 20
SEED = int(os.environ.get("CRASH_SEED", "20261205"))
DURABLE = ("fsync=on", "synchronous_commit=on", "full_page_writes=on", "max_connections=50")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    started = EmbeddedPostgres(tmp_path_factory.mktemp("crash") / "pg", port=54331, settings=DURABLE)
    started.ensure_running()
    yield started
    started.remove_data()  # not the binaries: the suite's own server runs on them


def test_a_server_crash_mid_batch_leaves_before_or_after(server: EmbeddedPostgres, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for path in sorted(FOLDER.glob("*.sql")):
        (migrations / path.name).write_bytes(path.read_bytes())
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        for name in ("before", "after"):
            admin.execute(f"CREATE DATABASE {name}".encode())
    assert migrator(server.conninfo("before"), migrations).wait() == 0
    before = snapshot(server.conninfo("before"))
    generate(migrations, 200)
    started = time.monotonic()
    assert migrator(server.conninfo("after"), migrations).wait() == 0
    full = time.monotonic() - started
    after = snapshot(server.conninfo("after"))
    rng, seen = random.Random(SEED), {"before": 0, "after": 0}
    for trial in range(TRIALS):
        name = f"trial_{trial}"
        with psycopg.connect(server.conninfo(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name} TEMPLATE before".encode())
        url = server.conninfo(name)
        process = migrator(url, migrations)
        time.sleep(rng.uniform(0.1, full * 1.1))
        server.crash()
        process.communicate(timeout=60)
        server.ensure_running()  # crash recovery replays the WAL
        left = snapshot(url)
        assert left in (before, after), f"trial {trial}: neither before nor after"
        seen["before" if left == before else "after"] += 1
        rerun = migrator(url, migrations)
        _, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err
        assert snapshot(url) == after
    print(f"seed {SEED}: {TRIALS} server crashes, {seen['before']} left before, {seen['after']} left after, 0 mixed")
