"""End-to-end parity with the seed's process: each folder applied by the engine, and by
`psql -X -1 -v ON_ERROR_STOP=1 -f` per file in a fresh session (without `-1` for a file marked
`-- migrate:no-transaction`, as its author runs it by hand), as the same (RDS-like master) role,
ends in the same database: pg_dump of schema and data, the engine's history aside.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from migrator.files import NO_TRANSACTION_MARK
from tests.engine.helpers import cli, pg_dump_text, psql_first_failure, psql_per_file, write
from tests.pg import superuser_view

Capture = pytest.CaptureFixture[str]

# Files that behave differently when they share one session, or that psql splits its own way.
TRICKY = {
    "001_base.sql": "CREATE TABLE a (id int PRIMARY KEY, note text);\nCREATE TABLE b (id int);\n"
    "CREATE TABLE c (id int);\n",
    "002_session_state.sql": "SELECT pg_catalog.set_config('search_path', '', false);\n"
    "SET statement_timeout = 0;\nCREATE TABLE public.d (id int);\n",
    "003_default_path.sql": "CREATE TABLE e (id int);\n",  # needs the default search_path again
    "004_rule_with_parens.sql": "CREATE RULE a_del AS ON DELETE TO a DO INSTEAD (DELETE FROM b; DELETE FROM c);\n",
    "005_functions.sql": "CREATE FUNCTION add1(begin int) RETURNS int LANGUAGE sql AS $$ SELECT begin + 1 $$;\n"
    "CREATE OR REPLACE /* why */ FUNCTION twice(x int) RETURNS int LANGUAGE sql\n"
    "BEGIN ATOMIC\n  SELECT CASE WHEN x > 0 THEN x * 2 ELSE 0 END;\nEND;\n"
    "CREATE TABLE f (a$b$c int);\n",
    "006_strings.sql": "INSERT INTO a VALUES (1, E'tab\\there'), (2, 'it''s'), (3, $q$semi;colon$q$);\n"
    "INSERT INTO a VALUES (4, 'multi\nline');\n",
    # What Prisma generates when an enum value is removed: the whole file in BEGIN … COMMIT.
    "009_enum.sql": "CREATE TYPE mood AS ENUM ('ok', 'sad', 'gone');\nALTER TABLE b ADD COLUMN m mood;\n",
    "010_prisma_enum.sql": "-- prisma\nBEGIN;\nCREATE TYPE mood_new AS ENUM ('ok', 'sad');\n"
    "ALTER TABLE b ALTER COLUMN m TYPE mood_new USING (m::text::mood_new);\n"
    "ALTER TYPE mood RENAME TO mood_old;\nALTER TYPE mood_new RENAME TO mood;\nDROP TYPE mood_old;\nCOMMIT;\n",
    # A file that sets its isolation level first (langfuse): a transaction of its own, that statement first.
    "011_isolated.sql": "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\n"
    "CREATE TABLE g AS SELECT current_setting('transaction_isolation') AS level;\n",
    # Session state psql's new session per file ends: a temp table and a prepared statement of the same names.
    "012_temp_a.sql": "CREATE TEMP TABLE tmp AS SELECT 1 AS n;\nPREPARE q AS SELECT 1;\n"
    "INSERT INTO c SELECT n FROM tmp;\n"
    # The file after one that set its isolation level starts with the default's, as psql's next transaction.
    "CREATE TABLE after_isolated AS SELECT current_setting('transaction_isolation') AS level;\n",
    "013_temp_b.sql": "CREATE TEMP TABLE tmp AS SELECT 2 AS n;\nPREPARE q AS SELECT 2;\n"
    "INSERT INTO c SELECT n FROM tmp;\n",
    # A cursor of the same name in two files: the first file's ends with its session.
    "014_cursor_a.sql": "DECLARE cur CURSOR FOR SELECT 1;\n",
    "015_cursor_b.sql": "DECLARE cur CURSOR FOR SELECT 2;\n",
    # A deferred foreign key's checks are due at the file's end (psql's commit): the next file may alter the table.
    "016_deferred.sql": "CREATE TABLE dp (id int PRIMARY KEY);\n"
    "CREATE TABLE dc (pid int REFERENCES dp DEFERRABLE INITIALLY DEFERRED);\n"
    "INSERT INTO dp VALUES (1);\nINSERT INTO dc VALUES (1);\n",
    "017_alter_after_deferred.sql": "ALTER TABLE dc ADD COLUMN note text;\n",
    # A database's and a role-in-database's settings committed by a file reach the next file's new session.
    "018_database_setting.sql": "CREATE SCHEMA app;\nDO $$ BEGIN EXECUTE pg_catalog.format("
    "'ALTER DATABASE %I SET search_path = app, public', current_database()); END $$;\n",
    "019_in_app.sql": "CREATE TABLE in_app (id int);\n",
    "020_role_setting.sql": "DO $$ BEGIN EXECUTE pg_catalog.format("
    "'ALTER ROLE CURRENT_USER IN DATABASE %I SET search_path = public', current_database()); END $$;\n",
    "021_in_public.sql": "CREATE TABLE in_public (id int);\n",
    # An enum value added in one file and used in the next (langfuse): psql's per-file commit makes it usable.
    "023_enum_add.sql": "ALTER TYPE mood ADD VALUE 'glad';\n",
    "024_enum_use.sql": "UPDATE b SET m = 'glad';\nINSERT INTO b VALUES (24, 'glad');\n",
    # Temp objects whose file never says TEMP: made by a function, or named in pg_temp; each ends with its session.
    "025_temp_helper.sql": "CREATE FUNCTION scratch() RETURNS void LANGUAGE plpgsql AS $$\n"
    "BEGIN CREATE TEMPORARY TABLE w (i int); END $$;\n",
    "026_pg_temp_a.sql": "SELECT scratch();\nCREATE TABLE pg_temp.p AS SELECT 1 AS n;\n"
    "CREATE FUNCTION pg_temp.one() RETURNS int LANGUAGE sql AS 'SELECT 1';\nINSERT INTO c SELECT n FROM pg_temp.p;\n",
    "027_pg_temp_b.sql": "CREATE TABLE pg_temp.p AS SELECT 2 AS n;\n"
    "CREATE FUNCTION pg_temp.one() RETURNS int LANGUAGE sql AS 'SELECT 2';\n",
    "028_helper_again.sql": "SELECT scratch();\n",
    # A sequence's cached values are its session's: the next file's nextval (a serial's default) starts past them.
    "029_cached_a.sql": "CREATE TABLE cached (id serial, n int);\nALTER SEQUENCE cached_id_seq CACHE 10;\n"
    "INSERT INTO cached (n) VALUES (1);\n",
    "030_cached_b.sql": "INSERT INTO cached (n) VALUES (2);\n",
}


@pytest.mark.parametrize("folder", ["project", "tricky"])
def test_engine_and_psql_per_file_build_the_same_database(
    pg_admin: str, db: str, migrations_dir: Path, tmp_path: Path, capsys: Capture, folder: str
) -> None:
    from tests.pg import scratch_database

    if folder == "tricky":
        migrations_dir = tmp_path / "tricky"
        migrations_dir.mkdir()
        for name, text in TRICKY.items():
            write(migrations_dir, name, text)
        (migrations_dir / "007_crlf.sql").write_bytes(b"INSERT INTO a VALUES (7, 'crlf\r\nline');\r\n")
        (migrations_dir / "022_lone_cr.sql").write_bytes(b"INSERT INTO a VALUES (22, E'lone'\r'cr\\'s');\r")
        write(
            migrations_dir,
            "008_concurrently.sql",
            f"{NO_TRANSACTION_MARK}\nCREATE INDEX CONCURRENTLY a_note ON a (note);\n",
        )
    status, _, err = cli(capsys, db, migrations_dir, None, "apply")
    assert status == 0, err
    with scratch_database(pg_admin, "psql") as by_psql:
        psql_per_file(by_psql, migrations_dir)
        assert pg_dump_text(db) == pg_dump_text(by_psql)


_DEFERRED_FK = (
    "CREATE TABLE p (id int PRIMARY KEY);\n"
    "CREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED, qid int REFERENCES p DEFERRABLE);\n"
)
# Folders psql's session per file fails on: (files, the file that fails, its SQLSTATE).
FAILING = {
    "currval_is_the_sessions": (
        {"001_a.sql": "CREATE SEQUENCE s;\nSELECT nextval('s');\n", "002_b.sql": "SELECT currval('s');\n"},
        "002_b.sql",
        "55000",
    ),
    "lastval_of_an_insert_is_the_sessions": (  # a serial's nextval, which the file never names
        {"001_a.sql": "CREATE TABLE t (id serial);\nINSERT INTO t DEFAULT VALUES;\n", "002_b.sql": "SELECT lastval();"},
        "002_b.sql",
        "55000",
    ),
    "a_deferred_check_is_due_at_its_files_end": (
        {"001_a.sql": _DEFERRED_FK + "INSERT INTO c VALUES (1);\n", "002_b.sql": "INSERT INTO p VALUES (1);\n"},
        "001_a.sql",
        "23503",
    ),
    "deferrable_initially_immediate_stays_immediate": (
        {"001_a.sql": _DEFERRED_FK, "002_b.sql": "INSERT INTO c (qid) VALUES (1);\nINSERT INTO p VALUES (1);\n"},
        "002_b.sql",
        "23503",
    ),
    "a_new_enum_value_is_unusable_in_its_own_file": (
        {
            # Its own ADD VALUE ends the batch, so that the type is committed before 002 as for psql.
            "001_a.sql": "CREATE TYPE e AS ENUM ('a');\nALTER TYPE e ADD VALUE 'z';\nCREATE TABLE t (x e);\n",
            "002_b.sql": "ALTER TYPE e ADD VALUE 'b';\nINSERT INTO t VALUES ('b');\n",
        },
        "002_b.sql",
        "55P04",
    ),
}
# What the engine's hint must say where the cause is the file itself (the batching already did the rest).
FAILING_HINT = {"a_new_enum_value_is_unusable_in_its_own_file": "move the statements that use it into the next file"}
_FAILED_AT = re.compile(r"(\S+\.sql):\d+(?::\d+)?: SQLSTATE (\w{5})")


@pytest.mark.parametrize("case", sorted(FAILING))
def test_the_engine_fails_where_psql_per_file_fails(
    pg_admin: str, db: str, tmp_path: Path, capsys: Capture, case: str
) -> None:
    from tests.pg import scratch_database

    files, failing, sqlstate = FAILING[case]
    for name, text in files.items():
        write(tmp_path, name, text)
    with scratch_database(pg_admin, "psql") as by_psql:
        assert psql_first_failure(by_psql, tmp_path) == (failing, sqlstate)
    status, _, err = cli(capsys, db, tmp_path, None, "apply")
    assert status == 1, err
    found = _FAILED_AT.search(err)
    assert found is not None, err
    assert found.groups() == (failing, sqlstate), err
    assert FAILING_HINT.get(case, "") in err


@pytest.mark.parametrize("next_file", ["in_the_batch", "no_transaction"])
def test_a_reset_of_a_setting_read_at_login_is_refused_not_guessed(
    db: str, tmp_path: Path, capsys: Capture, next_file: str
) -> None:
    """After a file's `ALTER DATABASE … RESET search_path`, psql's next session starts with the server's own value,
    which the engine's session (that read the database's at login) cannot see without a superuser: it ran the
    next file in the old schema. It refuses instead, naming the setting and what to write (for a no-transaction
    file too, whose refusal read "lost the database connection")."""
    with psycopg.connect(db, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute("CREATE SCHEMA app")
        conn.execute(sql.SQL("ALTER DATABASE {} SET search_path = app, public").format(sql.Identifier(name[0])))
    write(
        tmp_path,
        "001_reset.sql",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET search_path', current_database()); END $$;\n",
    )
    marker = f"{NO_TRANSACTION_MARK}\n" if next_file == "no_transaction" else ""
    write(tmp_path, "002_table.sql", f"{marker}CREATE TABLE t (id int);\n")
    status, _, err = cli(capsys, db, tmp_path, None, "apply")
    assert status == 1, err
    assert "002_table.sql: resetting the session" in err and "search_path" in err and "instead of RESET" in err, err
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT to_regclass('app.t'), to_regclass('public.t')").fetchone() == (None, None)


def test_a_custom_setting_set_by_one_file_and_read_by_a_later_one_is_refused(
    pg_admin: str, db: str, tmp_path: Path, capsys: Capture
) -> None:
    """Once a file sets myapp.tenant, the session keeps the setting, empty after the reset, where psql's next session
    has none: `coalesce(current_setting('myapp.tenant', true), '-')` gave '' instead of '-'. Nothing removes it,
    so the run is refused, unless the session had it at login (from the database's settings), as psql's would."""
    # Functions that set and read it run later, not in the migration: no difference, not refused.
    write(
        tmp_path,
        "001_fn_set.sql",
        "CREATE FUNCTION pick(x text) RETURNS text LANGUAGE sql\n"
        "AS $$ SELECT set_config('myapp.tenant', x, false) $$;\n",
    )
    write(
        tmp_path,
        "002_fn_read.sql",
        "CREATE OR REPLACE FUNCTION tenant() RETURNS text LANGUAGE sql STABLE\n"
        "AS $$ SELECT current_setting('myapp.tenant', true) $$;\n",
    )
    write(tmp_path, "003_set.sql", "SET myapp.tenant = 'a';\n")
    read = "CREATE TABLE t AS SELECT coalesce(current_setting('myapp.tenant', true), '-') v;\n"
    write(tmp_path, "004_read.sql", read)
    status, _, err = cli(capsys, db, tmp_path, None, "apply")
    assert status == 1, err
    assert "004_read.sql reads the setting myapp.tenant, which 003_set.sql sets" in err and "NULLIF(" in err, err
    with psycopg.connect(superuser_view(pg_admin, db), autocommit=True) as conn:  # a placeholder: a superuser's
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(sql.SQL("ALTER DATABASE {} SET myapp.tenant = 'db'").format(sql.Identifier(name[0])))
    status, _, err = cli(capsys, db, tmp_path, None, "apply")
    assert status == 0, err
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT v FROM t").fetchone() == ("db",)  # the database's value, as psql's session


READ_ONLY = {  # file: (text, the statement's line)
    "002_check.sql": ("SET TRANSACTION READ ONLY;\nSELECT 1;\n", 1),  # a check, as psql -1 runs it
    "002_check_late.sql": ("SELECT 1;\nset local transaction_read_only TO on;\nSELECT 1;\n", 2),
    "002_by_hand.sql": (f"{NO_TRANSACTION_MARK}\nSET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;\n", 2),
}


def test_a_file_making_its_transaction_read_only_is_refused(db: str, tmp_path: Path, capsys: Capture) -> None:
    """psql runs these; the engine failed at its own history write with no file named: refused, nothing applied."""
    write(tmp_path, "001_table.sql", "CREATE TABLE t (id int);\n")
    for name, (text, line) in READ_ONLY.items():
        path = write(tmp_path, name, text)
        status, _, err = cli(capsys, db, tmp_path, None, "apply")
        path.unlink()
        assert (status, f"{name}:{line}: a read-only transaction in a migration" in err) == (2, True), err
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


def test_status_and_plan_say_what_apply_would_refuse_before_running_anything(
    db: str, tmp_path: Path, capsys: Capture
) -> None:
    """The refusals apply makes before it runs anything are said by `plan` and `status` too (a deploy's first step
    looks likewise, before its snapshot)."""
    write(tmp_path, "001_table.sql", "CREATE TABLE t (id int);\n")
    assert cli(capsys, db, tmp_path, None, "apply")[0] == 0
    name, (text, line) = next(iter(READ_ONLY.items()))
    write(tmp_path, name, text)
    status, out, err = cli(capsys, db, tmp_path, None, "status")
    assert status == 2 and f"{name}:{line}: a read-only transaction in a migration" in err, err
    assert "001" in out and name.removesuffix(".sql").split("_", 1)[1] in out, "every version is still listed"
    status, out, err = cli(capsys, db, tmp_path, None, "plan")
    assert status == 2 and f"apply would refuse: {tmp_path / name}:{line}: a read-only transaction" in out, out + err
    (tmp_path / name).unlink()
    write(tmp_path, "002_set.sql", "SET myapp.tenant = 'a';\n")
    write(tmp_path, "003_read.sql", "CREATE TABLE r AS SELECT current_setting('myapp.tenant', true) v;\n")
    status, out, err = cli(capsys, db, tmp_path, None, "plan")
    assert status == 1 and "apply would refuse: 003_read.sql reads the setting myapp.tenant" in out, out + err
    assert "  hint: read it as NULLIF(" in out
    status, out, _ = cli(capsys, db, tmp_path, None, "--json", "plan", "--exit-code")
    assert status == 4 and "003_read.sql reads the setting" in json.loads(out)["apply_refuses"]["message"]
