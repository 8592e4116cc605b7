"""The history is not believed blindly: rows the engine did not write, rows it wrote that vanished, and
versions that are not numbers are refused with one clear line (exit 1), and the batch is rolled back."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from migrator.files import checksum
from tests.engine.helpers import cli, history, run_sql, write

Capture = pytest.CaptureFixture[str]
CREATE = "CREATE TABLE {name} (id int);\n"


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(r[0]) for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_a_migration_that_records_a_future_version_is_rolled_back(tmp_path: Path, db: str, capsys: Capture) -> None:
    later = CREATE.format(name="later_table")
    forged = (
        "INSERT INTO migrator.history (version, name, checksum, execution_ms, applied_by, applied_via)"
        f" VALUES ('002', 'later', '{checksum(later)}', 0, 'me', 'migration');\n"
    )
    write(tmp_path, "001_forger.sql", CREATE.format(name="first_table") + forged)
    status, out, err = cli(capsys, db, tmp_path, None, "apply")
    assert status == 1
    assert "versions 002 appeared in the history migrator.history during this batch" in err
    assert "Traceback" not in out + err
    assert history(db) == [] and "first_table" not in _tables(db)
    write(tmp_path, "001_forger.sql", CREATE.format(name="first_table"))  # the forgery removed: both run
    write(tmp_path, "002_later.sql", later)
    assert cli(capsys, db, tmp_path, None, "apply")[0] == 0
    assert {"first_table", "later_table"} <= _tables(db)


def test_a_trigger_that_swallows_history_rows_fails_the_batch(tmp_path: Path, db: str, capsys: Capture) -> None:
    swallow = (
        "CREATE FUNCTION public.swallow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;\n"
        "CREATE TRIGGER swallow BEFORE INSERT ON migrator.history FOR EACH ROW EXECUTE FUNCTION public.swallow();\n"
    )
    write(tmp_path, "001_swallow.sql", CREATE.format(name="first_table") + swallow)
    status, out, err = cli(capsys, db, tmp_path, None, "apply")
    assert status == 1
    assert "did not keep the rows just written for versions 001" in err
    assert "now at version" not in out
    assert "first_table" not in _tables(db)


def test_a_version_that_is_not_a_number_is_a_history_error_not_a_traceback(
    tmp_path: Path, db: str, capsys: Capture
) -> None:
    write(tmp_path, "001_first.sql", CREATE.format(name="first_table"))
    assert cli(capsys, db, tmp_path, None, "apply")[0] == 0
    run_sql(
        db,
        "INSERT INTO migrator.history (version, name, checksum, execution_ms, applied_by, applied_via)"
        " VALUES ('1b', 'odd', 'x', 0, 'someone', 'migration')",
    )
    for command in ("status", "plan", "apply"):
        status, out, err = cli(capsys, db, tmp_path, None, command)
        assert status == 1, command
        assert "the history migrator.history has a row whose version is not a number: version '1b'" in err
        assert "Traceback" not in out + err
