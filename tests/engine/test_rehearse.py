"""`rehearse` on the RDS-like server: the pending files run on a copy of the source's data, made while another
session holds a transaction open on the source, and are measured; the source's dump is the same afterwards and
no copy is left behind. The source is today's schema (the project's migrations) plus tables of the test's own."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from migrator import copying
from migrator.copying import PREFIX
from migrator.files import NO_TRANSACTION_MARK
from tests.engine.helpers import cli, pg_dump_text, run_sql, status_json, write
from tests.pg import superuser_view
from tests.support.migrations import NEXT, later

# The test's own tables, created by the first migration after the project's: they reference each other, so no
# order of loading them one after another satisfies both foreign keys.
TABLES = """
CREATE TABLE r_parent (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text NOT NULL);
CREATE TABLE r_big (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id int NOT NULL REFERENCES r_parent ON DELETE CASCADE,
    v int NOT NULL
);
CREATE INDEX r_big_parent_id ON r_big (parent_id);
ALTER TABLE r_parent ADD COLUMN favourite bigint REFERENCES r_big ON DELETE SET NULL;
INSERT INTO r_parent (label) SELECT 'p' || g FROM generate_series(1, 20) g;
INSERT INTO r_big (parent_id, v) SELECT 1 + g % 20, g FROM generate_series(1, 5000) g;
UPDATE r_parent SET favourite = id;
"""
BIG_ROWS = 5000
SLOW_S = 0.3


def _copies(pg_admin: str) -> list[str]:
    with psycopg.connect(pg_admin) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (PREFIX,)).fetchall()
    return [str(name) for (name,) in rows]


def _rehearse(capsys: pytest.CaptureFixture[str], url: str, folder: Path, schema: Path | None) -> tuple[int, Any]:
    status, out, err = cli(capsys, url, folder, schema, "--json", "rehearse")
    return status, json.loads(out) if out.strip() else err


@pytest.fixture
def source(at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Today's schema and the test's tables with rows; then the application adds a row (its sequence moves on
    past what a replay of the migrations gives, so a copy that missed the sequence would collide)."""
    write(migrations_dir, f"{NEXT}_rehearsal_tables.sql", TABLES)
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    run_sql(at_newest, "INSERT INTO r_parent (label) VALUES ('added by the application')")
    return at_newest


def _by_version(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["version"]: item for item in payload["files"]}


def _modes(item: dict[str, Any], table: str) -> set[str]:
    return {lock["mode"] for lock in item["locks"] if lock["table"] == table}


def test_a_rewrite_a_metadata_change_and_an_index_are_measured_on_a_copy_while_the_source_is_in_use(
    source: str, migrations_dir: Path, schema_file: Path, pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A lock is listed under the file that first took it in the batch: the index comes first, as ALTER TYPE's
    # index rebuild takes SHARE too.
    index, retype, note = later(2), later(3), later(4)
    write(migrations_dir, f"{index}_index.sql", "CREATE INDEX r_big_v ON r_big (v);\n")
    write(
        migrations_dir,
        f"{retype}_retype.sql",
        "DO $$ BEGIN IF (SELECT count(*) FROM r_big) <> "
        f"{BIG_ROWS} THEN RAISE EXCEPTION 'rows were not copied'; END IF; END $$;\n"
        "ALTER TABLE r_big ALTER COLUMN v TYPE bigint;\n",
    )
    write(
        migrations_dir,
        f"{note}_note.sql",
        "ALTER TABLE r_parent ADD COLUMN note text;\nINSERT INTO r_parent (label) VALUES ('new');\n",
    )
    # A no-transaction file: each statement commits on its own; a slow read stands for a long-running statement.
    concurrent = later(5)
    write(
        migrations_dir,
        f"{concurrent}_concurrently.sql",
        f"{NO_TRANSACTION_MARK}\nCREATE INDEX CONCURRENTLY IF NOT EXISTS r_big_id_v ON r_big (id, v);\n"
        f"SELECT pg_sleep({SLOW_S}) FROM r_big LIMIT 1;\n",
    )
    dumped = pg_dump_text(source)
    # Another session in an open transaction that has read a table: CREATE DATABASE … TEMPLATE would fail now.
    with psycopg.connect(source, application_name="the application") as other:
        other.execute("SELECT count(*) FROM r_big").fetchone()
        status, payload = _rehearse(capsys, source, migrations_dir, schema_file)
        assert other.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert status == 0, payload
    files = _by_version(payload)
    assert list(files) == [index, retype, note, concurrent]
    assert files[retype]["rewritten"] == ["r_big"] and files[retype]["wal_bytes"] > 0
    assert "AccessExclusiveLock" in _modes(files[retype], "r_big")
    assert files[note]["rewritten"] == [] and "AccessExclusiveLock" in _modes(files[note], "r_parent")
    assert files[index]["rewritten"] == [] and "ShareLock" in _modes(files[index], "r_big")
    (read,) = [lock for lock in files[concurrent]["locks"] if lock["mode"] == "AccessShareLock"]
    assert read["table"] == "r_big" and read["held_ms"] >= SLOW_S * 1000 * 0.8
    held = [lock["held_ms"] for item in files.values() for lock in item["locks"]]
    assert all(isinstance(ms, int) and ms >= 0 for ms in held)
    assert payload["source_unchanged"] is True
    assert isinstance(payload["verify"], list) and any("r_big" in line for line in payload["verify"])
    assert payload["invalid_indexes"] == [] and payload["not_valid_constraints"] == []
    assert payload["copy"]["rows"] >= BIG_ROWS
    assert pg_dump_text(source) == dumped
    assert _copies(pg_admin) == []


def test_a_file_failing_on_the_copy_exits_1_with_the_report_and_the_error_and_no_copy_is_left(
    source: str, migrations_dir: Path, pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(migrations_dir, f"{later(2)}_fails.sql", "ALTER TABLE r_big ADD COLUMN w int;\nSELECT 1 / 0;\n")
    # A copy a killed rehearsal of this database left behind (no session, its lock free, its history's count in its
    # comment): this run drops it.
    left = f"{PREFIX}killed0000"
    with psycopg.connect(source, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(left)))
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(left), sql.Literal(f"rehearsal copy of {name}\nmigrator:history_rows=9")
            )
        )
    status, payload = _rehearse(capsys, source, migrations_dir, None)
    assert status == 1, payload
    assert payload["sqlstate"] == "22012" and payload["file"] == f"{later(2)}_fails.sql"
    assert payload["verify"] == "skipped" and payload["source_unchanged"] is True
    assert [(item["version"], item["applied"]) for item in payload["files"]] == [(later(2), False)]
    assert _copies(pg_admin) == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["rehearse", "--change-set", "next"], "--change-set applies only with --env"),
        (["rehearse", "--sql"], "unrecognized arguments: --sql"),
        (["rehearse", "--exit-code"], "unrecognized arguments: --exit-code"),
    ],
    ids=["change-set", "sql", "exit-code"],
)
def test_options_that_do_not_apply_to_rehearse_are_invalid_input(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from migrator.cli import main

    target = [] if "--env" in argv else ["--database-url", "postgresql://nobody@127.0.0.1:9/none"]
    status = main([*target, "--json", *argv])
    out, err = capsys.readouterr()
    assert status == 2 and "Traceback" not in err
    assert json.loads(out)["exit_status"] == 2 and said in err


def test_ctrl_c_while_rows_are_copied_drops_the_copy(
    source: str,
    migrations_dir: Path,
    pg_admin: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(migrations_dir, f"{later(2)}_note.sql", "ALTER TABLE r_parent ADD COLUMN note text;\n")
    copy_table = copying._copy_table

    def interrupted(*args: Any) -> int:
        copy_table(*args)
        raise KeyboardInterrupt  # as SIGINT arrives between two tables

    monkeypatch.setattr(copying, "_copy_table", interrupted)
    status, err = cli(capsys, source, migrations_dir, None, "rehearse")[::2]
    assert status == 1 and "interrupted" in err
    assert _copies(pg_admin) == []


def test_nothing_pending_copies_nothing(
    at_newest: str, migrations_dir: Path, schema_file: Path, pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, payload = _rehearse(capsys, at_newest, migrations_dir, schema_file)
    assert status == 0 and payload["files"] == [] and payload["copy"] is None
    assert payload["source_unchanged"] is True and payload["verify"] == "skipped"


def test_an_empty_database_rehearses_its_first_apply_and_stays_empty(
    db: str, migrations_dir: Path, schema_file: Path, pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, payload = _rehearse(capsys, db, migrations_dir, schema_file)
    assert status == 0, payload
    assert payload["source_version"] is None and payload["verify"] == "ok" and payload["copy"]["rows"] == 0
    assert status_json(capsys, db, migrations_dir, schema_file)["current_version"] is None
    assert _copies(pg_admin) == []


def test_a_source_that_drifted_from_its_migrations_is_not_rehearsed(
    source: str, migrations_dir: Path, pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(migrations_dir, f"{later(2)}_note.sql", "ALTER TABLE r_parent ADD COLUMN note text;\n")
    run_sql(source, "ALTER TABLE r_parent ADD COLUMN added_by_hand int")
    status, payload = _rehearse(capsys, source, migrations_dir, None)
    assert status == 1 and "r_parent.added_by_hand" in payload["message"] and "verify" in payload["hint"]
    assert _copies(pg_admin) == []


def test_a_restored_copy_is_rehearsed_in_place_as_the_environment_runner_does(
    source: str, migrations_dir: Path, schema_file: Path, pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--env ENV rehearse`'s runner applies to the restored instance itself (it is the copy): no scratch
    database, the same measurements, and the note that a fresh restore's timings are pessimistic."""
    from migrator.engine import Options
    from migrator.rehearse import LAZY_NOTE, rehearse_restored_json
    from migrator.report import SOURCE_LOCKS_NOTE

    retype = later(2)
    write(migrations_dir, f"{retype}_retype.sql", "ALTER TABLE r_big ALTER COLUMN v TYPE bigint;\n")
    payload = rehearse_restored_json(source, Options(migrations_dir, schema_file))
    item = _by_version(payload)[retype]
    assert item["rewritten"] == ["r_big"] and "AccessExclusiveLock" in _modes(item, "r_big")
    assert payload["copy"] is None and _copies(pg_admin) == []
    assert LAZY_NOTE in payload["notes"] and SOURCE_LOCKS_NOTE not in payload["notes"]
    assert "error" not in payload and isinstance(payload["verify"], list | str) and payload["verify"] != "skipped"
    assert status_json(capsys, source, migrations_dir, schema_file)["pending"] == []


# Tables a copy can get wrong, made by the test's own migration and filled by "the application" afterwards.
TRICKY = """
CREATE DOMAIN r_positive AS int CHECK (VALUE > 0);
CREATE FUNCTION r_is_even(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 % 2 = 0';
CREATE FUNCTION r_even(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT r_is_even($1)';
CREATE TABLE "Order" ("select" int PRIMARY KEY, up int REFERENCES "Order", n r_positive CHECK (r_even(n)));
CREATE TABLE r_generated (a int, doubled int GENERATED ALWAYS AS (a * 2) STORED);
CREATE TABLE r_identity (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE SEQUENCE r_counter;
CREATE TABLE r_counted (id bigint DEFAULT nextval('r_counter') PRIMARY KEY);
CREATE UNLOGGED TABLE r_unlogged (id int);
CREATE TABLE r_no_columns ();
CREATE TABLE r_parts (id int, k int NOT NULL) PARTITION BY RANGE (k);
CREATE TABLE r_parts_low PARTITION OF r_parts FOR VALUES FROM (0) TO (100);
CREATE TABLE r_parts_high PARTITION OF r_parts FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (k);
CREATE TABLE r_parts_high_1 PARTITION OF r_parts_high FOR VALUES FROM (100) TO (200);
CREATE FUNCTION r_shift() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN NEW.id := NEW.id + 1000; RETURN NEW; END $f$;
CREATE TRIGGER r_shift BEFORE INSERT ON r_parts FOR EACH ROW EXECUTE FUNCTION r_shift();
ALTER TABLE r_parts_low DISABLE TRIGGER r_shift;
CREATE MATERIALIZED VIEW r_filled AS SELECT count(*) AS n FROM r_generated WITH NO DATA;
CREATE MATERIALIZED VIEW r_emptied AS SELECT count(*) AS n FROM r_generated;
"""
APPLICATION = """
INSERT INTO "Order" VALUES (1, NULL, 2), (2, 1, 4), (3, 3, 6);
UPDATE "Order" SET up = 2 WHERE "select" = 1;
INSERT INTO r_generated (a) SELECT g FROM generate_series(1, 10) g;
INSERT INTO r_identity SELECT FROM generate_series(1, 7);
INSERT INTO r_counted SELECT FROM generate_series(1, 9);
INSERT INTO r_unlogged SELECT generate_series(1, 5);
INSERT INTO r_no_columns SELECT FROM generate_series(1, 4);
INSERT INTO r_parts SELECT g, g FROM generate_series(0, 199) g;
REFRESH MATERIALIZED VIEW r_filled;
REFRESH MATERIALIZED VIEW r_emptied WITH NO DATA;
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path = public, r_elsewhere', current_database());
  EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Asia/Kolkata');
END $$;
"""
# On the copy, each as on the source: the rows once each (a trigger neither fired again nor left enabled where the
# source's is disabled), sequences past the rows, a materialized view filled only where the source's is.
CHECKED = """
DO $$ BEGIN
  IF (SELECT count(*) FROM "Order") <> 3 OR (SELECT sum(doubled) FROM r_generated) <> 110
     OR (SELECT count(*) FROM r_unlogged) <> 5 OR (SELECT count(*) FROM r_parts) <> 200
     OR (SELECT count(*) FROM r_no_columns) <> 4
     OR (SELECT count(*) FROM r_parts WHERE id >= 1000) <> 100 THEN
    RAISE EXCEPTION 'the rows were not copied as they are';
  END IF;
  IF current_setting('search_path') <> 'public, r_elsewhere' OR current_setting('TimeZone') <> 'Asia/Kolkata' THEN
    RAISE EXCEPTION 'the database''s own settings are not the source''s';
  END IF;
  IF (SELECT relispopulated FROM pg_class WHERE oid = 'r_emptied'::regclass) THEN
    RAISE EXCEPTION 'r_emptied holds rows on the copy only';
  END IF;
END $$;
INSERT INTO r_identity DEFAULT VALUES;
INSERT INTO r_counted DEFAULT VALUES;
INSERT INTO r_parts VALUES (0, 0), (100, 100);
DO $$ BEGIN
  IF (SELECT array_agg(id ORDER BY id) FROM r_parts WHERE k IN (0, 100)) <> '{0,0,1100,1100}' THEN
    RAISE EXCEPTION 'triggers differ';
  END IF;
  IF (SELECT n FROM r_filled) <> 10 THEN RAISE EXCEPTION 'r_filled'; END IF;
END $$;
"""


def test_a_copy_holds_the_sources_rows_and_states_whatever_its_tables_are(
    at_newest: str, migrations_dir: Path, schema_file: Path, pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CHECK whose function calls another by its plain name (the rows load under the application's search_path);
    materialized views filled or not as the source's are; a partition's disabled trigger stays disabled; the
    database's own settings (ALTER DATABASE … SET), under which the migrations run."""
    write(migrations_dir, f"{NEXT}_tricky_tables.sql", TRICKY)
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    run_sql(at_newest, APPLICATION)
    write(migrations_dir, f"{later(2)}_checked.sql", CHECKED)
    dumped = pg_dump_text(at_newest)
    status, payload = _rehearse(capsys, at_newest, migrations_dir, None)
    assert status == 0, payload.get("message")
    assert [item["applied"] for item in payload["files"]] == [True]
    assert payload["source_unchanged"] is True and pg_dump_text(at_newest) == dumped
    assert _copies(pg_admin) == []


def test_a_table_whose_rows_row_level_security_hides_from_the_role_is_refused_by_name(
    at_newest: str, migrations_dir: Path, schema_file: Path, pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """FORCE ROW LEVEL SECURITY binds the owner too: its reads see only the policy's rows, so a copy would silently
    miss the others. The rehearsal names the table and the roles that may read it all."""
    forced = (
        "CREATE TABLE r_private (id int PRIMARY KEY, owner_name text NOT NULL);\n"
        "ALTER TABLE r_private ENABLE ROW LEVEL SECURITY;\nALTER TABLE r_private FORCE ROW LEVEL SECURITY;\n"
        "CREATE POLICY r_own ON r_private USING (owner_name = current_user);\n"
    )
    write(migrations_dir, f"{NEXT}_private.sql", forced)
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    with psycopg.connect(superuser_view(pg_admin, at_newest)) as su:  # rows of another owner, as an app would add
        su.execute("INSERT INTO r_private VALUES (1, 'someone else')")
    write(migrations_dir, f"{later(2)}_note.sql", "ALTER TABLE r_private ADD COLUMN note text;\n")
    status, payload = _rehearse(capsys, at_newest, migrations_dir, None)
    assert status == 1 and "r_private" in payload["message"] and "42501" in payload["message"]
    assert "BYPASSRLS" in payload["hint"]
    assert _copies(pg_admin) == []


def test_ctrl_c_while_the_copy_is_built_says_so_and_drops_it(
    at_newest: str,
    migrations_dir: Path,
    schema_file: Path,
    pg_admin: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine's own words for an interrupted batch ("rolled back", "committed") are the copy's: said so, and
    that the source was not changed."""
    from migrator import apply, execute

    write(migrations_dir, f"{NEXT}_note.sql", "CREATE TABLE r_note (id int);\n")
    run_files = execute.run_files

    def interrupted(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> Any:
        if str(conn.info.dbname).startswith(PREFIX):  # the copy's first batch: its schema
            raise KeyboardInterrupt
        return run_files(conn, *args, **kwargs)

    monkeypatch.setattr(apply, "run_files", interrupted)
    status, payload = _rehearse(capsys, at_newest, migrations_dir, schema_file)
    assert status == 1 and payload["message"].startswith("while building the rehearsal's copy")
    assert "interrupted" in payload["message"] and "source was not changed" in payload["hint"]
    assert payload["committed"] == [] and _copies(pg_admin) == []


def test_ctrl_c_in_a_pending_file_says_the_rehearsal_stopped_and_nothing_stays(
    at_newest: str,
    migrations_dir: Path,
    schema_file: Path,
    pg_admin: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine says of an interrupted no-transaction file that its finished statements "stay applied" and asks
    for a check: on the copy, dropped at once, nothing stays, and the source never saw the file."""
    from migrator import apply, execute

    pending = write(
        migrations_dir, f"{NEXT}_concurrently.sql", f"{NO_TRANSACTION_MARK}\nCREATE TABLE r_slow (id int);\n"
    )
    run_statements = execute.run_statements

    def interrupted(conn: psycopg.Connection, path: Path, *args: Any, **kwargs: Any) -> Any:
        if path == pending and str(conn.info.dbname).startswith(PREFIX):
            raise KeyboardInterrupt
        return run_statements(conn, path, *args, **kwargs)

    monkeypatch.setattr(apply, "run_statements", interrupted)
    dumped = pg_dump_text(at_newest)
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "rehearse")
    assert status == 1 and "stay applied" not in err
    assert f"interrupted while {pending.name} ran: the rehearsal stopped" in err and "source was not changed" in err
    assert pg_dump_text(at_newest) == dumped and _copies(pg_admin) == []


def test_a_copy_name_taken_by_another_database_is_said_and_that_database_left_alone(
    source: str,
    migrations_dir: Path,
    pg_admin: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = uuid.uuid4()
    name = f"{PREFIX}{taken.hex[:10]}"
    monkeypatch.setattr(uuid, "uuid4", lambda: taken)  # the name the rehearsal gives its copy
    write(migrations_dir, f"{later(2)}_note.sql", "ALTER TABLE r_parent ADD COLUMN note text;\n")
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            status, payload = _rehearse(capsys, source, migrations_dir, None)
            assert _copies(pg_admin) == [name]
        finally:
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
    assert status == 1 and name in payload["message"] and "left alone" in payload["message"]
    assert "run again" in payload["hint"]


def test_a_role_that_may_not_read_the_history_is_told_who_can_rehearse(
    pg_admin: str, role_name: str, db: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As deployed: the migration role owns everything (and may not create databases); the master user, which may,
    cannot read the migration role's objects."""
    with psycopg.connect(superuser_view(pg_admin, db), autocommit=True) as su:
        su.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'Owner-Pw-1'").format(sql.Identifier(role_name)))
        name = sql.Identifier(str(su.info.dbname))
        su.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(name, sql.Identifier(role_name)))
        su.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role_name)))
    owner = make_conninfo(db, user=role_name, password="Owner-Pw-1")
    assert cli(capsys, owner, migrations_dir, schema_file, "apply")[0] == 0
    write(migrations_dir, f"{NEXT}_note.sql", "CREATE TABLE r_note (id int);\n")
    status, payload = _rehearse(capsys, db, migrations_dir, schema_file)
    assert status == 1 and "42501" in payload["message"] and "migration history" in payload["message"]
    assert "--env ENV rehearse" in payload["hint"] and _copies(pg_admin) == []
