"""status/plan that always answer, apply's progress and after-state, adoption only of our own database,
baseline, and `new` (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.cli import main
from migrator.files import load_migrations
from tests.engine.helpers import catalog, cli, history, run_sql, run_with_psql, state, write
from tests.support.migrations import NEXT, SCHEMA_VERSION, VERSIONS, later

Capture = pytest.CaptureFixture[str]


def _versions(out: str) -> dict[str, str]:
    return {v["version"]: v["state"] for v in json.loads(out)["versions"]}


def test_status_lists_every_state_even_when_apply_would_refuse(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_add_t{NEXT}.sql", f"CREATE TABLE t{NEXT} (id int);\n")
    write(migrations_dir, f"{later(2)}_add_t{later(2)}.sql", f"CREATE TABLE t{later(2)} (id int);\n")
    write(migrations_dir, "020_gone_later.sql", "CREATE TABLE t020 (id int);\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    edited = migrations_dir / "003_add_bpm_to_audio_variations.sql"
    edited.write_text(edited.read_text() + "\n-- tweak\n")  # changed since applied
    (migrations_dir / f"{later(2)}_add_t{later(2)}.sql").unlink()
    write(migrations_dir, f"{later(2)}_other_branch_feature.sql", "CREATE TABLE other (id int);\n")  # number reused
    (migrations_dir / "020_gone_later.sql").unlink()  # applied, missing from the folder
    write(migrations_dir, "015_late.sql", "SELECT 1;\n")  # out of order: older than 020
    write(migrations_dir, "021_next.sql", "SELECT 1;\n")  # pending

    status, out, err = cli(capsys, at_newest, migrations_dir, schema_file, "--json", "status")
    assert status == 0, err  # status answers; without --exit-code it succeeds
    states = _versions(out)
    assert states["000"] == "applied" and states[NEXT] == "applied"
    assert states["003"] == "changed"
    assert states[later(2)] == "reused"
    assert states["020"] == "missing"
    assert states["015"] == "out_of_order"
    assert states["021"] == "pending"
    assert json.loads(out)["apply_refuses"]["error"] == "ChecksumDrift"

    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "status")
    assert "CHANGED since applied" in out and "REUSED number" in out and "OUT OF ORDER" in out
    assert "apply would refuse" in out
    assert cli(capsys, at_newest, migrations_dir, schema_file, "status", "--exit-code")[0] == 4


def test_two_branches_with_the_same_number_is_a_reused_number_not_an_edit(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{later(2)}_add_t{later(2)}.sql", f"CREATE TABLE t{later(2)} (id int);\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    (migrations_dir / f"{later(2)}_add_t{later(2)}.sql").unlink()
    write(migrations_dir, f"{later(2)}_other_branch_feature.sql", "CREATE TABLE other (id int);\n")
    before = state(at_newest)
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "apply")
    assert status == 1
    assert (
        f"version {later(2)} is recorded as 'add_t{later(2)}', "
        f"but the folder's {later(2)} is {later(2)}_other_branch_feature.sql" in err
    )
    assert "two branches took the same number" in err and "next free number" in err
    assert "restore the file" not in err
    assert state(at_newest) == before
    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "plan")
    assert status == 1 and "REUSED number" in out and "apply would refuse" in out


def test_exit_codes_for_ci_gates(at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture) -> None:
    assert cli(capsys, at_newest, migrations_dir, schema_file, "status", "--exit-code")[0] == 0
    write(migrations_dir, f"{NEXT}_next.sql", "SELECT 1;\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "status", "--exit-code")[0] == 3
    assert cli(capsys, at_newest, migrations_dir, schema_file, "plan", "--exit-code")[0] == 3
    assert cli(capsys, at_newest, migrations_dir, schema_file, "status")[0] == 0


def test_plan_sql_shows_the_statements(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(
        migrations_dir, f"{NEXT}_two.sql", "CREATE TABLE two (id int);\n-- between\nALTER TABLE two ADD COLUMN x int;\n"
    )
    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "plan", "--sql")
    assert status == 0
    assert f"-- {NEXT}_two.sql: 2 statement(s)\nCREATE TABLE two (id int);\nALTER TABLE two ADD COLUMN x int;" in out
    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "--json", "plan", "--sql")
    assert json.loads(out)["sql"] == [
        {"file": f"{NEXT}_two.sql", "statements": ["CREATE TABLE two (id int);", "ALTER TABLE two ADD COLUMN x int;"]}
    ]
    assert "table two" not in catalog(at_newest)


def test_apply_json_reports_the_state_after_and_progress_goes_to_stderr(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_a.sql", "CREATE TABLE a (id int);\n")
    write(migrations_dir, f"{later(2)}_b.sql", "CREATE TABLE b (id int);\n")
    status, out, err = cli(capsys, at_newest, migrations_dir, schema_file, "--json", "apply")
    assert status == 0
    payload = json.loads(out)
    assert payload["current_version"] == later(2) and payload["pending"] == []
    assert payload["applied_now"] == [NEXT, later(2)]
    assert f"start {NEXT}_a.sql" in err and f"done  {later(2)}_b.sql (" in err and " ms)" in err


def test_apply_prints_each_file_as_it_starts_and_ends(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    status, out, _ = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert status == 0
    assert out.index("start schema.sql") < out.index("done  schema.sql") < out.index("loaded schema.sql")


def test_an_unrelated_database_is_not_adopted(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    run_sql(db, "CREATE TABLE invoices (id int PRIMARY KEY, total numeric)")
    before = state(db)
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert status == 1
    assert "holds tables the schema does not define (invoices)" in err and "baseline VERSION" in err
    assert state(db) == before
    status, out, _ = cli(capsys, db, migrations_dir, schema_file, "status", "--exit-code")
    assert status == 4 and "does not look like this application's database" in out


def test_a_legacy_database_of_ours_is_still_adopted(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    run_sql(db, "CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL)")
    status, out, err = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert status == 0, err
    assert "existing database without history" in out


def test_baseline_records_without_running_and_apply_continues(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    run_with_psql(db, [m.path for m in load_migrations(migrations_dir)[:4]])  # built to 003 by hand
    built = catalog(db)
    assert cli(capsys, db, migrations_dir, schema_file, "baseline", "003")[0] == 0
    rows = history(db)
    assert [v for v, _, _ in rows] == ["000", "001", "002", "003"]
    assert catalog(db) == built  # recorded, nothing run
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "baseline", "003")
    assert status == 1 and "already has a migration history" in err
    status, out, _ = cli(capsys, db, migrations_dir, schema_file, "--json", "status")
    assert [p["version"] for p in json.loads(out)["pending"]] == list(VERSIONS[4:])
    assert "applied_by" in out and "baseline by " in out


@pytest.mark.parametrize("tables", ["", "CREATE TABLE invoices (id int PRIMARY KEY)"], ids=["empty", "foreign"])
def test_baseline_of_a_database_without_what_those_versions_create_is_refused(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture, tables: str
) -> None:
    if tables:
        run_sql(db, tables)
    status, out, err = cli(capsys, db, migrations_dir, schema_file, "baseline", SCHEMA_VERSION)
    assert status == 1, out
    assert f"baseline {SCHEMA_VERSION} refused: this database does not hold what migrations up to" in err
    assert "nothing was recorded" in err and "Traceback" not in err
    assert history(db) == []


def test_baseline_of_an_unknown_version_is_invalid_input(
    migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    status, _, err = cli(capsys, "postgresql://x@127.0.0.1:1/none", migrations_dir, schema_file, "baseline", "042")
    assert status == 2 and "no migration has that version" in err


# new, and one width of version numbers


def test_new_writes_the_next_file_at_the_folders_width(migrations_dir: Path, capsys: Capture) -> None:
    assert main(["new", "Add project-tags", "--migrations-dir", str(migrations_dir)]) == 0
    created = migrations_dir / f"{NEXT}_add_project_tags.sql"
    assert f"created {created}" in capsys.readouterr().out
    text = created.read_text()
    assert not text.startswith("-- migrate:no-transaction") and "`-- migrate:no-transaction`" in text
    assert main(["new", "build_index", "--no-transaction", "--migrations-dir", str(migrations_dir)]) == 0
    assert (migrations_dir / f"{later(2)}_build_index.sql").read_text().split("\n", 1)[0] == "-- migrate:no-transaction"
    assert main(["new", "bad/name", "--migrations-dir", str(migrations_dir)]) == 2


def test_mixed_widths_are_refused_with_the_file_named(migrations_dir: Path, schema_file: Path, capsys: Capture) -> None:
    write(migrations_dir, "0075_x.sql", "SELECT 1;\n")
    status, _, err = cli(capsys, "postgresql://x@127.0.0.1:1/none", migrations_dir, schema_file, "status")
    assert status == 2
    assert "mixed version widths" in err and "0075_x.sql" in err and "0075_x.sql -> 075_x.sql" in err
    assert main(["new", "y", "--migrations-dir", str(migrations_dir)]) == 2


def test_a_number_that_outgrows_the_width_is_not_a_mix(tmp_path: Path) -> None:
    from migrator.numbering import check_widths, next_migration

    check_widths(["998_a.sql", "999_b.sql", "1000_c.sql"])
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")
    assert next_migration(tmp_path, "b").path.name == "0002_b.sql"


def test_status_lists_every_version_and_marks_a_file_it_cannot_split(
    db: str, migrations_dir: Path, capsys: Capture
) -> None:
    """A file apply would refuse (here: an unterminated quote) is listed with its error; the rest as ever."""
    write(migrations_dir, f"{NEXT}_broken.sql", "SELECT 'open;\n")
    write(migrations_dir, f"{later(2)}_fine.sql", "SELECT 1;\n")
    status, out, err = cli(capsys, db, migrations_dir, None, "status")
    assert status == 2, err  # the folder holds invalid input, as apply and plan say
    assert f"{NEXT}_broken.sql:1: unterminated quoted string" in err
    lines = out.splitlines()
    for version in [*VERSIONS, later(2)]:
        assert any(line.split()[:1] == [version] for line in lines), (version, out)
    assert any(line.split()[:2] == [NEXT, "INVALID"] for line in lines), out
    assert f"{NEXT}_broken.sql:1: unterminated quoted string" in out.split("problems:")[1]
    status, out, _ = cli(capsys, db, migrations_dir, None, "--json", "status")
    assert status == 2
    states = _versions(out)
    assert states[NEXT] == "invalid"
    assert states[later(2)] == "pending"
    assert set(VERSIONS) <= set(states)


def test_an_empty_migration_is_refused_before_it_uses_up_its_version(
    db: str, migrations_dir: Path, capsys: Capture
) -> None:
    """`new` writes only comments: `make run` before the SQL is written recorded the version as applied (and
    the SQL written later was then a changed file). That file is refused; a file empty on purpose (other tools'
    projects keep some) applies, with a warning that says it is empty."""
    from migrator.numbering import write_new

    created = write_new(migrations_dir, "add_tags")
    status, out, err = cli(capsys, db, migrations_dir, None, "apply")
    assert status == 2, err
    assert f"{created.name} is empty" in err and "nothing was applied" in err
    assert "Traceback" not in err
    status, out, err = cli(capsys, db, migrations_dir, None, "--json", "status")
    assert status == 2, err
    states = _versions(out)
    assert states[NEXT] == "invalid"
    assert all(states[v] == "pending" for v in VERSIONS)  # nothing applied
    created.write_text("-- kept empty on purpose\n")
    status, out, err = cli(capsys, db, migrations_dir, None, "apply")
    assert status == 0, err
    assert f"warning: {created.name} is empty: version {NEXT} recorded" in out, out.splitlines()
    assert [v for v, *_ in history(db)][-1] == NEXT


def test_verify_says_first_that_schema_sql_is_older_than_the_migrations(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    """After `new`, an edit and `make run`, verify listed its differences with no word that schema.sql is stale."""
    write(migrations_dir, f"{NEXT}_add_tags.sql", "CREATE TABLE tags (id int PRIMARY KEY);\n")
    assert cli(capsys, at_newest, migrations_dir, schema_file, "apply")[0] == 0
    status, out, err = cli(capsys, at_newest, migrations_dir, schema_file, "verify")
    assert status == 1, err
    first, second = out.splitlines()[:2]
    assert "schema.sql is older than the migrations" in first and f"the database is at version {NEXT}" in first
    assert "make schema" in first
    assert "difference(s)" in second
    status, out, _ = cli(capsys, at_newest, migrations_dir, schema_file, "--json", "verify")
    assert "make schema" in json.loads(out)["schema_file_stale"]
