"""schema.sql is the migrations' product: `dump` writes it, and the suite fails while it is stale (issue 10)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from migrator.catalog import differences
from migrator.cli import main
from migrator.dump import SCRATCH_PREFIX, dump_schema, normalise
from migrator.files import load_schema_file
from tests.engine.helpers import catalog, cli
from tests.pg import scratch_database
from tests.support.migrations import NEXT
from tests.support.project import PROJECT

Capture = pytest.CaptureFixture[str]
# Comments a migration adds (one quoted quote, one column) must survive the dump as written.
COMMENTS = """COMMENT ON TABLE music_prompts IS 'A prompt''s text, kept for the record.';
COMMENT ON COLUMN videos.storage_url IS 'Where the upload lives.';
"""


def test_schema_sql_is_what_the_migrations_build(pg_admin: str) -> None:
    written = dump_schema(PROJECT / "migrations", PROJECT / "schema.sql", pg_admin, check=True)
    assert not written.stale, f"{written.message}\n(run `make schema` and commit schema.sql)"


def test_dump_check_names_the_command_that_regenerates(pg_admin: str, tmp_path: Path, capsys: Capture) -> None:
    stale = tmp_path / "schema.sql"
    stale.write_text((PROJECT / "schema.sql").read_text().replace("NOT NULL", "NULL", 1))
    argv = ["dump", "--check", "--database-url", pg_admin, "--schema-file", str(stale)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "is stale (line " in err and "make schema" in err and "python -m migrator dump" in err


def test_dump_is_normalised_loadable_and_keeps_comments(pg_admin: str, migrations_dir: Path, tmp_path: Path) -> None:
    (migrations_dir / f"{NEXT}_more_comments.sql").write_text(COMMENTS)
    target = tmp_path / "schema.sql"
    assert (
        main(
            ["dump", "--database-url", pg_admin, "--migrations-dir", str(migrations_dir), "--schema-file", str(target)]
        )
        == 0
    )
    text = target.read_text()
    assert load_schema_file(target).version == NEXT
    for absent in ("\nSET ", "\\restrict", "\\unrestrict", "set_config(", "COPY ", "migrator.", "public.", "Dumped"):
        assert absent not in text, absent
    assert "COMMENT ON TABLE music_prompts IS 'A prompt''s text, kept for the record.';" in text
    assert "COMMENT ON COLUMN videos.storage_url IS 'Where the upload lives.';" in text
    assert dump_schema(migrations_dir, target, pg_admin, check=True).stale is False  # stable: no churn
    with scratch_database(pg_admin) as fresh, scratch_database(pg_admin) as replayed:
        assert cli_apply(fresh, migrations_dir, target) == 0
        assert cli_apply(replayed, migrations_dir, None) == 0
        assert differences(catalog(replayed), catalog(fresh)) == []


def cli_apply(url: str, migrations: Path, schema: Path | None) -> int:
    argv = ["--database-url", url, "--migrations-dir", str(migrations)]
    argv += ["--schema-file", str(schema)] if schema else ["--no-schema"]
    return main([*argv, "apply"])


def test_verify_loads_the_dumped_schema_into_its_scratch_schema(db: str, capsys: Capture) -> None:
    migrations, schema = PROJECT / "migrations", PROJECT / "schema.sql"
    assert cli(capsys, db, migrations, schema, "apply")[0] == 0
    status, out, _ = cli(capsys, db, migrations, schema, "verify")
    assert (status, "schema matches schema.sql" in out) == (0, True)


def test_normalise_keeps_public_inside_strings() -> None:
    dumped = (
        "SET statement_timeout = 0;\n\\restrict abc\n--\n-- Name: t; Type: TABLE; Schema: public; Owner: -\n--\n\n"
        "CREATE TABLE public.t (a text DEFAULT 'public.x');\nCOMMENT ON TABLE public.t IS 'see public.t';\n"
        "COPY public.t (a) FROM stdin;\nrow\n\\.\n\\unrestrict abc\n"
    )
    assert normalise(dumped) == (
        "-- TABLE t\n\nCREATE TABLE t (a text DEFAULT 'public.x');\nCOMMENT ON TABLE t IS 'see public.t';\n"
    )


def _scratch_databases(pg_admin: str) -> set[str]:
    with psycopg.connect(pg_admin) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{SCRATCH_PREFIX}%",))
        return {str(name) for (name,) in rows}


@pytest.mark.slow
def test_a_killed_dump_leaves_a_scratch_database_that_the_next_dump_drops(
    pg_admin: str, migrations_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL mid-replay; a live dump's database (its lock held elsewhere) is never touched."""
    (migrations_dir / f"{NEXT}_slow.sql").write_text("SELECT pg_sleep(30);\n")
    before = _scratch_databases(pg_admin)
    argv = [sys.executable, "-m", "migrator", "dump", "--database-url", pg_admin, "--migrations-dir"]
    killed = subprocess.Popen([*argv, str(migrations_dir), "--schema-file", str(tmp_path / "a.sql")])
    deadline = time.monotonic() + 30
    while not _scratch_databases(pg_admin) - before:
        assert time.monotonic() < deadline and killed.poll() is None
        time.sleep(0.05)
    (left,) = _scratch_databases(pg_admin) - before
    with psycopg.connect(pg_admin, autocommit=True) as conn:  # wait until it is replaying, then kill it
        while not conn.execute("SELECT 1 FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(30)%%'").fetchone():
            time.sleep(0.05)
    killed.kill()
    killed.wait()
    live = f"{SCRATCH_PREFIX}livedump00"
    with psycopg.connect(pg_admin, autocommit=True) as holder:
        holder.execute(f"CREATE DATABASE {live}".encode())
        holder.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (0x6D696764, live))
        # its backends notice the closed sockets (the replay within the 2 s check interval); its lock goes too
        gone = (
            "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = %(db)s)"
            " AND NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %(class)s"
            " AND objid = hashtext(%(db)s)::oid)"
        )
        while holder.execute(gone, {"db": left, "class": 0x6D696764}).fetchone() != (True,):
            assert time.monotonic() < deadline + 30
            time.sleep(0.1)
        (migrations_dir / f"{NEXT}_slow.sql").unlink()
        dump_schema(migrations_dir, tmp_path / "b.sql", pg_admin)
        remaining = _scratch_databases(pg_admin) - before
        holder.execute(f"DROP DATABASE {live}".encode())
    assert left not in remaining
    assert remaining == {live}
