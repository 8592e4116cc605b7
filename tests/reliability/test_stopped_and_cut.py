"""A client that stops, a reader that leaves, a Ctrl-C: each as a real `python -m migrator` process.

- frozen: SIGSTOP while the batch holds an exclusive lock; the server ends the session within
  --idle-timeout (a few seconds here, 60 s by default), the application's reads go on, nothing is applied.
- cut pipe: `apply | head -1`; the reader leaves at once, the migration still completes (exit 0).
- SIGINT: mid-batch, the message says exactly what committed; during start-up, no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.engine.helpers import history, lock_is_free, write
from tests.pg import migrator_argv

pytestmark = pytest.mark.slow  # real processes, seconds of waiting on the server

IDLE_S = 2
WORK_S = 2  # what the file still does after taking its lock: the server finishes it, then idles


def _interruptible() -> None:
    """In the child: SIGINT as a terminal gives it. A job started in the background (`make test &`, some CI
    runners) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(condition: object, timeout: float = 20.0) -> float:
    """Seconds until `condition()` held (polled every 20 ms); fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - started


def _holds_exclusive_lock(watcher: psycopg.Connection, table: str) -> bool:
    row = watcher.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.relation = %s::regclass AND l.mode = 'AccessExclusiveLock' AND l.granted"
        " AND a.application_name = 'migrator'",
        (table,),
    ).fetchone()
    return bool(row and row[0])


def test_a_stopped_client_holds_its_locks_no_longer_than_the_idle_timeout(db: str, tmp_path: Path) -> None:
    write(tmp_path, "001_busy.sql", "CREATE TABLE busy (id int);\nINSERT INTO busy VALUES (1);\n")
    assert subprocess.run(migrator_argv(db, tmp_path, "apply"), capture_output=True, check=False).returncode == 0
    write(tmp_path, "002_lock_then_work.sql", f"ALTER TABLE busy ADD COLUMN note text;\nSELECT pg_sleep({WORK_S});\n")
    argv = migrator_argv(db, tmp_path, "--idle-timeout", f"{IDLE_S}s", "apply")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with psycopg.connect(db, autocommit=True) as watcher:
            _wait_for(lambda: process.poll() is not None or _holds_exclusive_lock(watcher, "busy"))
            assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGSTOP)  # frozen with the lock, as a suspended laptop would be
        stopped_at = time.monotonic()
        with psycopg.connect(db, autocommit=True) as app:
            app.execute("SET statement_timeout = '30s'")
            app.execute("SELECT * FROM busy").fetchall()  # blocks until the server ends the frozen session
        blocked_for = time.monotonic() - stopped_at
    finally:
        process.send_signal(signal.SIGCONT)
        _, err = process.communicate(timeout=60)
    assert blocked_for < WORK_S + IDLE_S + 3.0, blocked_for  # the file's work, the bound, slack for a busy host
    assert process.returncode == 1, err
    assert [v for v, _, _ in history(db)] == ["001"] and lock_is_free(db)
    with psycopg.connect(db) as conn:
        columns = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'busy'")
        assert [c for (c,) in columns] == ["id"]


def test_a_reader_that_leaves_never_aborts_the_migration(db: str, tmp_path: Path) -> None:
    for number in range(1, 4):
        write(tmp_path, f"00{number}_t{number}.sql", f"CREATE TABLE t{number} (id int);\n")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: every write gets EPIPE
    done = subprocess.run(migrator_argv(db, tmp_path, "apply"), stdout=write_end, stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert [v for v, _, _ in history(db)] == ["001", "002", "003"]


def test_sigint_mid_run_says_what_committed(db: str, tmp_path: Path) -> None:
    write(tmp_path, "001_first.sql", "CREATE TABLE first_table (id int);\n")
    write(
        tmp_path,
        "002_slow.sql",
        "-- migrate:no-transaction\nCREATE TABLE second_table (id int);\nSELECT pg_sleep(20);\n",
    )
    process = subprocess.Popen(
        migrator_argv(db, tmp_path, "apply"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )
    with psycopg.connect(db, autocommit=True) as watcher:
        _wait_for(
            lambda: bool(
                watcher.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = 'migrator' AND query LIKE '%pg_sleep%'"
                    " AND datname = current_database()"  # this test's run, not another worker's
                ).fetchone()
            )
        )
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "Traceback" not in err
    assert "interrupted while 002_slow.sql ran outside a transaction" in err
    assert "earlier batches were committed before this one (versions 001)" in err
    assert [v for v, _, _ in history(db)] == ["001"] and lock_is_free(db)


def test_sigint_during_start_up_prints_no_traceback(tmp_path: Path) -> None:
    write(tmp_path, "001_first.sql", "CREATE TABLE first_table (id int);\n")
    for delay in (0.1, 0.2, 0.4):  # after the interpreter itself started (its first ~30 ms are its own)
        argv = migrator_argv("postgresql://nobody@127.0.0.1:9/x?connect_timeout=5", tmp_path, "status")
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert "Traceback" not in err, (delay, err)
        assert process.returncode == 1, (delay, err)
