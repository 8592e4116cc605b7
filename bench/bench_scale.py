"""Benchmark (not a test): a 10,000-row history and a 50 MB data migration.

Reports medians of whole `python -m migrator` runs (wall time, including process start) and
the engine's own time in-process, plus peak RSS of each run (ru_maxrss of the child).
Usage: PYTHONPATH=. .venv/bin/python bench/bench_scale.py [--megabytes 50] [--history 10000]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from migrator import engine
from migrator.connect import SessionLimits, connect
from tests.pg import admin_conninfo, migrator_argv, scratch_database
from tests.reliability.scale import big_data_migration, many_migrations, record_all_as_applied

PROJECT = Path(__file__).resolve().parents[1]


def run_cli(url: str, migrations: Path, command: str, schema: bool = False) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `python -m migrator` run, in a child of its own."""
    inner = migrator_argv(url, migrations, command, schema=PROJECT / "schema.sql" if schema else None)
    script = (
        "import resource, subprocess, sys, time; t = time.perf_counter();"
        f"subprocess.run({inner!r}, check=True, capture_output=True);"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    argv = [sys.executable, "-c", script]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def engine_seconds(url: str, migrations: Path, command: str, schema: bool = False) -> float:
    options = engine.Options(migrations, PROJECT / "schema.sql" if schema else None)
    started = time.perf_counter()
    inputs = engine.load_inputs(options)
    with connect(url, SessionLimits()) as conn:
        if command == "status":
            engine.plan(conn, inputs, options)
        else:
            assert engine.apply(conn, inputs, options).plan.is_noop
    return time.perf_counter() - started


def report(label: str, url: str, migrations: Path, command: str, schema: bool = False, runs: int = 5) -> None:
    walls, rss = zip(*(run_cli(url, migrations, command, schema) for _ in range(runs)), strict=True)
    own = statistics.median(engine_seconds(url, migrations, command, schema) for _ in range(runs))
    print(
        f"  {label:44s} wall median {statistics.median(walls) * 1000:7.0f} ms   engine {own * 1000:7.0f} ms"
        f"   peak RSS {max(rss):6.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--history", type=int, default=10_000)
    args = parser.parse_args()
    admin = admin_conninfo()
    with tempfile.TemporaryDirectory() as tmp:
        many = Path(tmp) / "many"
        many_migrations(many, args.history)
        with scratch_database(admin, "scale") as url:
            record_all_as_applied(url, many)
            print(f"history of {args.history} applied versions:")
            report("status", url, many, "status")
            report("no-op apply", url, many, "apply")
        big = Path(tmp) / "big"
        big.mkdir()
        for path in sorted((PROJECT / "migrations").glob("*.sql")):
            (big / path.name).write_bytes(path.read_bytes())
        rows = big_data_migration(big / "008_big_data.sql", args.megabytes)
        size = (big / "008_big_data.sql").stat().st_size / 1e6
        with scratch_database(admin, "scale") as url:
            wall, rss = run_cli(url, big, "apply", schema=True)
            print(f"data migration of {size:.0f} MB ({rows} rows):")
            label = f"apply (schema.sql + the {size:.0f} MB file)"
            print(f"  {label:44s} wall {wall * 1000:7.0f} ms   peak RSS {rss:6.0f} MB")
            report("status afterwards", url, big, "status", schema=True)
            report("no-op apply afterwards", url, big, "apply", schema=True)
    print(f"(peak RSS of this benchmark process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
