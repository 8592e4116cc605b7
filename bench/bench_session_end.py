"""Benchmark (not a test): what the session's end before every file (migrator.fresh_session.SESSION_END) costs.

The engine sends `CLOSE ALL; DEALLOCATE ALL; DISCARD TEMP; DISCARD SEQUENCES` before every file of a run that
follows another, in the batch's pipeline. This times one batch of `--count` one-statement files (the worst case:
the four statements against one INSERT) through `run_files`, with and without them, on the embedded server,
alternating the two in each round and rolling back each batch; it prints the medians and the cost per file.
Usage: PYTHONPATH=. .venv/bin/python bench/bench_session_end.py [--rounds 7] [--count 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

from migrator.execute import run_files
from migrator.fresh_session import SESSION_END, reset_sql
from migrator.sqlsplit import Statement, split_statements
from tests.pg import admin_conninfo, scratch_database


def batch_seconds(
    conn: psycopg.Connection, work: Sequence[tuple[Path, list[Statement]]], prelude: tuple[bytes, ...]
) -> float:
    """One batch of `work`, rolled back: the seconds its pipeline took."""
    started = time.perf_counter()
    with conn.transaction(force_rollback=True):
        run_files(conn, work, prelude)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    insert = split_statements("INSERT INTO bench_t VALUES (1);\n")
    plain = [(Path(f"{n:04d}.sql"), insert) for n in range(args.count)]
    ended = [(path, [*SESSION_END, *statements] if n else statements) for n, (path, statements) in enumerate(plain)]
    with scratch_database(admin_conninfo(), "bench") as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_t (i int)")
        prelude = reset_sql(conn).prelude
        batch_seconds(conn, plain, prelude)  # unmeasured: the server's caches
        times: dict[str, list[float]] = {"without": [], "with": []}
        for round_ in range(args.rounds):
            order = ("without", "with") if round_ % 2 == 0 else ("with", "without")
            for side in order:
                times[side].append(batch_seconds(conn, ended if side == "with" else plain, prelude))
    without, with_ = statistics.median(times["without"]), statistics.median(times["with"])
    print(f"{args.count} one-statement files in one batch, median of {args.rounds} rounds:")
    print(f"  without the session's end: {without:.3f} s; with it: {with_:.3f} s")
    print(f"  cost: {(with_ - without) / max(1, args.count - 1) * 1e6:.0f} µs a file")


if __name__ == "__main__":
    main()
