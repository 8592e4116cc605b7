"""Connection faults and budgets: the database is left before the batch, the run says why, exit 1."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.engine.helpers import cli, lock_is_free, state, write
from tests.reliability.campaign import migrator, wait_until_alone
from tests.reliability.proxy import CuttableProxy, server_address
from tests.support.migrations import NEXT, later

Capture = pytest.CaptureFixture[str]


def _at_newest_with_a_slow_batch(db: str, migrations_dir: Path, schema_file: Path, capsys: Capture) -> None:
    assert cli(capsys, db, migrations_dir, schema_file, "apply")[0] == 0
    write(migrations_dir, f"{NEXT}_first.sql", "CREATE TABLE first_step (id int);\n")
    write(migrations_dir, f"{later(2)}_slow.sql", "SELECT pg_sleep(20);\n")
    write(migrations_dir, f"{later(3)}_last.sql", "CREATE TABLE last_step (id int);\n")


def _wait_for_sleep(db: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    with psycopg.connect(db, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE 'SELECT pg_sleep(20)%'"
            ).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("the migration never reached its slow statement")


def test_terminated_backend_mid_batch(
    pg_admin: str, db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    _at_newest_with_a_slow_batch(db, migrations_dir, schema_file, capsys)
    before = state(db)
    process = migrator(db, migrations_dir)
    pid = _wait_for_sleep(db)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "lost the database connection" in err or "terminating connection" in err
    assert "Traceback" not in err
    wait_until_alone(pg_admin, str(conninfo_to_dict(db)["dbname"]))
    assert state(db) == before
    (migrations_dir / f"{later(2)}_slow.sql").write_text("SELECT 1;\n")
    assert migrator(db, migrations_dir).wait() == 0


def test_server_unreachable_mid_run(
    pg_admin: str, db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    _at_newest_with_a_slow_batch(db, migrations_dir, schema_file, capsys)
    before = state(db)
    params = conninfo_to_dict(db)
    proxy = CuttableProxy(server_address(str(params["host"]), str(params.get("port") or 5432)))
    via = {k: str(v) for k, v in params.items() if v is not None and k not in ("host", "port")}
    through_proxy = make_conninfo(host="127.0.0.1", port=str(proxy.port), **via)
    process = migrator(through_proxy, migrations_dir)
    _wait_for_sleep(db)
    proxy.cut()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "lost the database connection" in err
    assert "Traceback" not in err
    # client_connection_check_interval: the server aborts the abandoned 20 s statement, it does not finish it
    wait_until_alone(pg_admin, str(params["dbname"]), timeout=10)
    assert state(db) == before


def test_a_host_that_never_answers_fails_within_the_connect_timeout(
    migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    silent = CuttableProxy("/nonexistent", forward=False)
    started = time.monotonic()
    status, _, err = cli(
        capsys,
        f"postgresql://app:pw-Xy7@127.0.0.1:{silent.port}/db?sslmode=disable",
        migrations_dir,
        schema_file,
        "--connect-timeout",
        "2",
        "status",
    )
    silent.cut()
    assert status == 1
    assert "cannot connect to host=127.0.0.1" in err and "pw-Xy7" not in err
    assert time.monotonic() - started < 15


def test_a_run_that_outlives_its_budget_applies_nothing_and_releases_the_lock(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    _at_newest_with_a_slow_batch(db, migrations_dir, schema_file, capsys)
    before = state(db)
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "--statement-timeout", "300ms", "apply")
    assert status == 1
    assert f"{later(2)}_slow.sql:1: SQLSTATE 57014" in err
    assert state(db) == before
    assert lock_is_free(db)


def test_a_table_locked_by_live_traffic_fails_on_lock_timeout_not_queueing(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    assert cli(capsys, db, migrations_dir, schema_file, "apply")[0] == 0
    before = state(db)
    write(migrations_dir, f"{NEXT}_alter_users.sql", "SELECT 1;\n\nALTER TABLE users ADD COLUMN nickname text;\n")
    with psycopg.connect(db) as traffic:
        traffic.execute("SELECT * FROM users FOR UPDATE")  # an open transaction holding a row-level lock
        traffic.execute("LOCK TABLE users IN ACCESS SHARE MODE")
        pid = traffic.info.backend_pid
        status, _, err = cli(
            capsys, db, migrations_dir, schema_file, "--lock-timeout", "300ms", "--lock-retry-window", "1s", "apply"
        )
        traffic.rollback()
    assert status == 1
    assert f"{NEXT}_alter_users.sql:3: a lock could not be had in" in err and "(SQLSTATE 55P03)" in err
    assert f"blocked by pid {pid} (application_name" in err
    assert state(db) == before
