"""Migrating while the application queries: a probe reads a table every few milliseconds while the engine
migrates it, and its worst latency is what the application would have felt. The table is derived from the
project's schema (the first table of the application's), and the runs are the RDS-like master's and the
migration role's, never a superuser's (the superuser only sets scenes up)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator.roles import ensure_owner_role
from tests.engine.helpers import cli, history, state, write
from tests.pg import superuser_view
from tests.support.migrations import NEXT, later

LOCK_TIMEOUT_S = 0.5
SLACK_S = 1.0  # a busy shared host: scheduling, the probe's own round trip
ROLE_PASSWORD = "Live-Pass-47"


def first_table(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations' ORDER BY 1 LIMIT 1"
        ).fetchone()
    assert row is not None, "the schema has a table"
    return str(row[0])


class Probe(threading.Thread):
    """The application: `SELECT count(*)` of the table, over and over; the slowest answer is kept."""

    def __init__(self, url: str, table: str) -> None:
        super().__init__(daemon=True)
        self.url, self.table = url, table
        self.worst = 0.0
        self.last_started = -1.0  # when the newest answered query was sent (perf_counter)
        self.answered = threading.Condition()
        self.stopped = threading.Event()

    def run(self) -> None:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.table))
        with psycopg.connect(self.url, autocommit=True, application_name="probe") as conn:
            while not self.stopped.is_set():
                started = time.perf_counter()
                conn.execute(query)
                with self.answered:
                    self.worst = max(self.worst, time.perf_counter() - started)
                    self.last_started = started
                    self.answered.notify_all()
                time.sleep(0.005)

    def answers_a_query_sent_after(self, moment: float, timeout: float = 20.0) -> bool:
        with self.answered:
            return self.answered.wait_for(lambda: self.last_started >= moment, timeout)


@contextmanager
def probing(url: str, table: str) -> Iterator[Probe]:
    """The probe has had an answer before the body starts, and has one to a query sent after it ends: its
    worst latency covers the whole migration however slowly a busy host schedules the thread."""
    probe = Probe(url, table)
    probe.start()
    try:
        assert probe.answers_a_query_sent_after(-1.0), "the probe answered before the migration began"
        yield probe
        assert probe.answers_a_query_sent_after(time.perf_counter()), "the probe answered after the migration"
    finally:
        probe.stopped.set()
        probe.join(timeout=30)


@contextmanager
def holding(url: str, table: str, seconds: float) -> Iterator[int]:
    """A reporting job (pg_dump, a long read): ACCESS SHARE on the table for `seconds`, in a transaction."""
    conn = psycopg.connect(url, application_name="nightly-report")
    conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(sql.Identifier(table)))
    timer = threading.Timer(seconds, conn.rollback)
    timer.start()
    try:
        yield conn.info.backend_pid
    finally:
        timer.cancel()
        conn.close()


def apply(capsys: pytest.CaptureFixture[str], url: str, migrations: Path, schema: Path, *extra: str) -> tuple[int, str]:
    status, out, err = cli(capsys, url, migrations, schema, "--lock-timeout", f"{LOCK_TIMEOUT_S}s", *extra, "apply")
    return status, out + err  # progress lines go to stdout, the error to stderr


@pytest.fixture(params=["master", "migration role"])
def runner_url(request: pytest.FixtureRequest, role_name: str, at_newest: str) -> str:
    """Who runs the migration: RDS's master user, or the migration role the deploy hands the database to."""
    if request.param == "master":
        return at_newest
    with psycopg.connect(at_newest, autocommit=True) as admin:
        ensure_owner_role(admin, role_name, ROLE_PASSWORD, str(conninfo_to_dict(at_newest)["dbname"]))
    params = {k: str(v) for k, v in conninfo_to_dict(at_newest).items() if v is not None}
    return make_conninfo(**(params | {"user": role_name, "password": ROLE_PASSWORD}))


def test_a_busy_table_is_retried_until_its_blocker_ends(
    runner_url: str, at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = first_table(at_newest)
    write(migrations_dir, f"{NEXT}_add_note.sql", f"ALTER TABLE {table} ADD COLUMN live_note text;\n")
    with probing(at_newest, table) as probe, holding(at_newest, table, 3.0) as blocker:
        status, err = apply(capsys, runner_url, migrations_dir, schema_file, "--lock-retry-window", "30s")
    assert status == 0, err
    assert f"lock wait at {NEXT}_add_note.sql:1 (attempt 1): blocked by pid {blocker} (application_name" in err
    assert "'nightly-report'" in err
    assert [v for v, *_ in history(at_newest)][-1] == NEXT
    assert probe.worst < LOCK_TIMEOUT_S + SLACK_S, f"the application waited {probe.worst:.2f} s"


def test_a_blocker_that_outlasts_the_window_fails_the_run_naming_it(
    runner_url: str, at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = first_table(at_newest)
    write(migrations_dir, f"{NEXT}_add_note.sql", f"ALTER TABLE {table} ADD COLUMN live_note text;\n")
    before = state(at_newest)
    with probing(at_newest, table) as probe, holding(at_newest, table, 15.0) as blocker:
        status, err = apply(capsys, runner_url, migrations_dir, schema_file, "--lock-retry-window", "3s")
    assert status == 1
    assert "a lock could not be had in" in err and "(SQLSTATE 55P03)" in err
    assert f"blocked by pid {blocker} (application_name 'nightly-report'" in err
    assert "nothing of this transaction was applied" in err
    assert state(at_newest) == before
    assert probe.worst < LOCK_TIMEOUT_S + SLACK_S, f"the application waited {probe.worst:.2f} s"


def test_a_batch_holding_an_existing_tables_lock_past_the_budget_is_rolled_back(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = first_table(at_newest)
    write(migrations_dir, f"{NEXT}_add_note.sql", f"ALTER TABLE {table} ADD COLUMN live_note text;\n")
    write(migrations_dir, f"{later(2)}_slow.sql", "SELECT pg_sleep(4);\n")
    before = state(at_newest)
    with probing(at_newest, table) as probe:
        status, err = apply(capsys, at_newest, migrations_dir, schema_file, "--max-lock-hold", "1s")
    assert status == 1, err
    assert f"the batch held AccessExclusiveLock on {table} for more than 1 s at {later(2)}_slow.sql:1" in err
    assert "the batch was rolled back, nothing of it was applied" in err
    assert state(at_newest) == before
    assert probe.worst < 1.0 + SLACK_S, f"the application waited {probe.worst:.2f} s"


def test_a_new_table_may_be_held_longer_and_a_header_sanctions_a_long_hold(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = first_table(at_newest)
    write(migrations_dir, f"{NEXT}_new_table.sql", "CREATE TABLE live_new (id int);\nSELECT pg_sleep(2);\n")
    status, err = apply(capsys, at_newest, migrations_dir, schema_file, "--max-lock-hold", "1s")
    assert status == 0, err
    write(
        migrations_dir,
        f"{later(2)}_sanctioned.sql",
        f"-- migrate:max-lock-hold=10s\nALTER TABLE {table} ADD COLUMN live_note text;\nSELECT pg_sleep(2);\n",
    )
    status, err = apply(capsys, at_newest, migrations_dir, schema_file, "--max-lock-hold", "1s")
    assert status == 0, err
    assert [v for v, *_ in history(at_newest)][-2:] == [NEXT, later(2)]


def _make_invalid(pg_admin: str, url: str, index: str) -> None:
    """What a cancelled CREATE INDEX CONCURRENTLY leaves: the index, marked not valid."""
    with psycopg.connect(superuser_view(pg_admin, url), autocommit=True) as admin:
        admin.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(%s)", (f"public.{index}",))


def test_an_invalid_index_left_by_a_cancelled_build_is_built_again(
    pg_admin: str, at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = first_table(at_newest)
    build = f"CREATE INDEX CONCURRENTLY IF NOT EXISTS live_idx ON {table} (id);\n"
    with psycopg.connect(at_newest, autocommit=True) as conn:
        conn.execute(build.encode())  # the earlier run's build, then cancelled
    _make_invalid(pg_admin, at_newest, "live_idx")
    write(migrations_dir, f"{NEXT}_live_idx.sql", "-- migrate:no-transaction\n" + build)
    status, out, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0, err
    assert "index public.live_idx is INVALID (an earlier build was cancelled): building it again" in out
    with psycopg.connect(at_newest) as conn:
        valid = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'live_idx'::regclass").fetchone()
    assert valid == (True,)


def test_verify_names_an_invalid_index(
    pg_admin: str, at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(at_newest) as conn:
        row = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1 LIMIT 1").fetchone()
    assert row is not None
    _make_invalid(pg_admin, at_newest, row[0])
    status, out, _err = cli(capsys, at_newest, migrations_dir, schema_file, "verify")
    assert status == 1
    assert f"index {row[0]} is INVALID" in out


def _application_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"
        ).fetchall()
    return [str(name) for (name,) in rows]


def test_each_files_fresh_session_takes_no_lock_on_the_applications_tables(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What gives each file a new session's state (the reset, the session's end, deferred checks settled) reads
    no table of the application: files that leave temp tables, prepared statements and deferred checks behind
    run while another session holds every application table ACCESS EXCLUSIVE, with no lock wait and no retry."""
    tables = _application_tables(at_newest)
    assert tables, "the schema has tables"
    first = "CREATE TABLE live_a (id int PRIMARY KEY);\nCREATE TEMP TABLE s AS SELECT 1;\n"
    write(migrations_dir, f"{NEXT}_a.sql", first)
    write(
        migrations_dir,
        f"{later(2)}_b.sql",
        "CREATE TABLE live_b (a int REFERENCES live_a DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO live_b VALUES (1);\nINSERT INTO live_a VALUES (1);\nPREPARE p AS SELECT 1;\n",
    )
    write(migrations_dir, f"{later(3)}_c.sql", "CREATE TEMP TABLE s AS SELECT 2;\nPREPARE p AS SELECT 2;\n")
    with psycopg.connect(at_newest, application_name="exclusive-everything") as blocker:
        names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        blocker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(names))
        status, err = apply(capsys, at_newest, migrations_dir, schema_file, "--lock-retry-window", "0")
        blocker.rollback()
    assert status == 0, err
    assert "lock wait" not in err
    assert [v for v, *_ in history(at_newest)][-3:] == [NEXT, later(2), later(3)]
