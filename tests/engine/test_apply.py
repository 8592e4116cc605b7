"""apply, status and plan on a real PostgreSQL: all-or-nothing batches, drift, order, located errors."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from migrator import engine
from migrator.connect import SessionLimits, connect
from migrator.errors import MigrationFailed
from tests.engine.helpers import catalog, cli, history, run_sql, state, status_json, write
from tests.support.migrations import AFTER_SCHEMA, NAMES, NEXT, VERSIONS, later

Capture = pytest.CaptureFixture[str]


def test_pending_migrations_apply_in_one_transaction_and_record_history(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(
        migrations_dir, f"{NEXT}_add_tags.sql", "ALTER TABLE projects ADD COLUMN tags text[] NOT NULL DEFAULT '{}';\n"
    )
    write(
        migrations_dir,
        f"{later(2)}_add_tag_index.sql",
        "CREATE INDEX idx_projects_tags ON projects USING gin (tags);\n",
    )
    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0
    assert f"in one transaction: {NEXT}_add_tags.sql, {later(2)}_add_tag_index.sql" in out
    assert [(v, via) for v, _, via in history(at_newest)][-2:] == [(NEXT, "migration"), (later(2), "migration")]
    assert "index projects.idx_projects_tags" in catalog(at_newest)
    assert status_json(capsys, at_newest, migrations_dir, schema_file)["pending"] == []


def test_failure_in_a_batch_leaves_the_database_untouched(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    before = state(at_newest)
    write(migrations_dir, f"{NEXT}_ok.sql", "CREATE TABLE tags (id integer PRIMARY KEY);\n")
    write(
        migrations_dir,
        f"{later(2)}_broken.sql",
        "-- adds a column\n\nALTER TABLE tags\n  ADD COLUMN label text;\nALTER TABLE nope ADD COLUMN x int;\n",
    )
    write(migrations_dir, f"{later(3)}_later.sql", "CREATE TABLE later (id integer);\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    assert f"{later(2)}_broken.sql:5: SQLSTATE 42P01" in err
    assert 'relation "nope" does not exist' in err
    assert "nothing of this batch was applied" in err
    assert "Traceback" not in err
    assert state(at_newest) == before


def test_a_sql_standard_function_body_applies_and_works(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(
        migrations_dir,
        f"{NEXT}_mode_label.sql",
        "CREATE OR REPLACE FUNCTION mode_label(m text) RETURNS text LANGUAGE sql IMMUTABLE\n"
        "BEGIN ATOMIC\n"
        "  SELECT CASE WHEN m = 'script' THEN 'script; narrated' ELSE 'music' END;\n"
        "END;\n"
        "SELECT mode_label('script');\n",
    )
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0, err
    with psycopg.connect(at_newest) as conn:
        assert conn.execute("SELECT mode_label('script'), mode_label('x')").fetchone() == ("script; narrated", "music")


def test_syntax_error_names_the_line_inside_a_multi_line_statement(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_typo.sql", "SELECT 1;\nCREATE TABLE t (\n  a integer,\n  b integr\n);\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    assert f"{NEXT}_typo.sql:4:5: SQLSTATE 42704" in err


def test_constraint_violation_on_existing_data_is_located(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    run_sql(at_newest, "INSERT INTO users (email) VALUES ('a@example.com')")
    write(migrations_dir, f"{NEXT}_require_name.sql", "ALTER TABLE users\n  ALTER COLUMN name SET NOT NULL;\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    assert f"{NEXT}_require_name.sql:1: SQLSTATE 23502" in err


def test_edited_applied_migration_stops_the_run_before_anything_is_applied(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    before = state(at_newest)
    edited = migrations_dir / "003_add_bpm_to_audio_variations.sql"
    edited.write_text(edited.read_text() + "\n-- tweak\n")
    write(migrations_dir, f"{NEXT}_new.sql", "CREATE TABLE new_one (id integer);\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    assert "003_add_bpm_to_audio_variations.sql was changed after it was applied" in err
    assert state(at_newest) == before


def test_crlf_and_bom_checkout_is_not_drift(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    path = migrations_dir / "002_add_project_mode_remove_thumbnails.sql"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0
    assert "nothing to do" in out


def test_out_of_order_is_refused_unless_allowed(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{later(2)}_newer.sql", "CREATE TABLE newer (id integer);\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    write(migrations_dir, f"{NEXT}_late.sql", "CREATE TABLE late (id integer);\n")
    before = state(at_newest)
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    assert f"{NEXT}_late.sql pending but older than applied version {later(2)}" in err
    assert state(at_newest) == before
    status, _, _ = cli(capsys, at_newest, migrations_dir, schema_file, "--allow-out-of-order", "apply")
    assert status == 0
    assert "table late" in catalog(at_newest)


def test_versions_applied_by_newer_code_are_reported_not_fatal(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_newer.sql", "CREATE TABLE newer (id integer);\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    (migrations_dir / f"{NEXT}_newer.sql").unlink()
    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0
    assert f"version {NEXT} (newer) is in the history but has no file here" in out


def test_status_json_lists_applied_and_pending(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    before = status_json(capsys, db, migrations_dir, schema_file)
    assert before["applied"] == []
    assert [(p["version"], p["name"]) for p in before["pending"]] == list(NAMES)
    status, out, _ = cli(capsys, db, migrations_dir, schema_file, "--json", "plan")
    plan = json.loads(out)
    assert status == 0 and plan["load_schema"].endswith("schema.sql") and plan["to_apply"] == list(AFTER_SCHEMA)
    assert history(db) == []  # plan and status change nothing
    cli(capsys, db, migrations_dir, schema_file, "apply")
    after = status_json(capsys, db, migrations_dir, schema_file)
    assert [a["version"] for a in after["applied"]] == list(VERSIONS) and after["pending"] == []


def test_no_transaction_file_runs_alone_and_splits_the_batch(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_a.sql", "CREATE TABLE a (id integer);\n")
    write(
        migrations_dir,
        f"{later(2)}_concurrent_index.sql",
        "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_name ON users (name);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_projects_name ON projects (name);\n",
    )
    write(migrations_dir, f"{later(3)}_b.sql", "CREATE TABLE b (id integer);\n")
    status, out, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0, err
    assert f"outside a transaction (no-transaction file): {later(2)}_concurrent_index.sql" in out
    assert {"index users.idx_users_name", "index projects.idx_projects_name", "table a", "table b"} <= catalog(
        at_newest
    ).keys()


def test_failure_after_a_committed_no_transaction_batch_says_what_was_committed(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(
        migrations_dir,
        f"{NEXT}_concurrent.sql",
        "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_name ON users (name);\n",
    )
    write(migrations_dir, f"{later(2)}_broken.sql", "SELECT 1/0;\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    assert f"{later(2)}_broken.sql:1: SQLSTATE 22012" in err
    assert f"earlier batches were committed before this one (versions {NEXT})" in err
    assert [(v, via) for v, _, via in history(at_newest)][-1] == (NEXT, "migration")


def test_a_partial_apply_error_carries_what_committed_for_api_callers(
    at_newest: str, migrations_dir: Path, schema_file: Path
) -> None:
    """The handler and the runner read what stays applied from the error, not from its hint's wording."""
    write(
        migrations_dir,
        f"{NEXT}_concurrent.sql",
        "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY i ON users (name);\n",
    )
    write(migrations_dir, f"{later(2)}_broken.sql", "SELECT 1/0;\n")
    options = engine.Options(migrations_dir, schema_file)
    with connect(at_newest, SessionLimits()) as conn, pytest.raises(MigrationFailed) as failed:
        engine.apply(conn, engine.load_inputs(options), options)
    assert failed.value.committed == (NEXT,)
    assert failed.value.failure.file == f"{later(2)}_broken.sql"


def test_statement_timeout_fails_cleanly_and_applies_nothing(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    before = state(at_newest)
    write(migrations_dir, f"{NEXT}_slow.sql", "CREATE TABLE s (id integer);\nSELECT pg_sleep(5);\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "--statement-timeout", "200ms", "apply")
    assert status == 1
    assert f"{NEXT}_slow.sql:2: SQLSTATE 57014" in err
    assert state(at_newest) == before


def test_transaction_control_in_a_file_is_invalid_input(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_txn.sql", "CREATE TABLE x (id int);\nCOMMIT;\nCREATE TABLE y (id int);\n")
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert status == 2
    assert f"{NEXT}_txn.sql:2: transaction control (COMMIT)" in err
    assert history(db) == [] and catalog(db) == {}


def test_the_no_transaction_marker_does_not_allow_transaction_control_and_says_so(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_txn.sql", "-- migrate:no-transaction\nBEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 2
    assert f"{NEXT}_txn.sql:2: a file marked '-- migrate:no-transaction' is wrapped in BEGIN … COMMIT" in err
    assert "drop the marker" in err


def test_a_wrapped_file_commits_with_its_batch_not_before_it(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    """Sending the file's COMMIT would commit the files before it in the batch; a later failure rolls back all."""
    write(migrations_dir, f"{NEXT}_wrapped.sql", "BEGIN;\nCREATE TABLE wrapped_a (id int);\nCOMMIT;\n")
    write(migrations_dir, f"{later(2)}_broken.sql", "SELECT 1/0;\n")
    before = state(at_newest)
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1 and f"{later(2)}_broken.sql:1: SQLSTATE 22012" in err
    assert state(at_newest) == before, "the wrapped file rolled back with its batch"
    write(migrations_dir, f"{later(2)}_broken.sql", "SELECT 1;\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    assert "table wrapped_a" in catalog(at_newest)


def test_a_file_opening_with_set_transaction_gets_a_transaction_of_its_own(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    """langfuse's newest migration sets its isolation level first: it failed with 25001 (the batch's earlier
    statements came first), and the hint's no-transaction marker would have made the setting a no-op."""
    write(migrations_dir, f"{NEXT}_plain.sql", "CREATE TABLE before_iso (id int);\n")
    write(
        migrations_dir,
        f"{later(2)}_isolated.sql",
        "-- backfill\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\n"
        "CREATE TABLE iso AS SELECT current_setting('transaction_isolation') AS level;\n",
    )
    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "plan")
    assert status == 0
    assert f"in one transaction that {later(2)}_isolated.sql opens with SET TRANSACTION" in out
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0, err
    with psycopg.connect(at_newest) as conn:
        assert conn.execute("SELECT level FROM iso").fetchone() == ("serializable",)
    assert [v for v, *_ in history(at_newest)][-2:] == [NEXT, later(2)]


def test_each_file_starts_without_the_temp_tables_and_prepared_statements_of_the_one_before(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    """As psql's session per file: two backfills using a temp table of the same name (langfuse, hatchet do)
    failed with 42P07 in one batch; a prepared statement's name failed with 42P05."""
    for step in (1, 2):
        write(
            migrations_dir,
            f"{later(step)}_backfill_{step}.sql",
            f"CREATE TEMP TABLE scratch AS SELECT {step} AS n;\nPREPARE pick AS SELECT n FROM scratch;\n"
            f"CREATE TABLE kept_{step} AS SELECT n FROM scratch;\n",
        )
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 0, err
    with psycopg.connect(at_newest) as conn:
        assert conn.execute("SELECT n FROM kept_1 UNION ALL SELECT n FROM kept_2").fetchall() == [(1,), (2,)]
