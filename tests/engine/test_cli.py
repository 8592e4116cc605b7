"""The command line as a user meets it: exit statuses, messages, no tracebacks, no passwords."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from migrator.files import load_schema_file
from migrator.lock import LOCK_KEY
from tests.engine.helpers import catalog, cli, history, lock_is_free, run_sql, write
from tests.support.migrations import NEXT, later
from tests.support.project import PROJECT

Capture = pytest.CaptureFixture[str]


def _subprocess(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrator", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_bad_arguments_exit_2_without_traceback() -> None:
    done = _subprocess("--database-url", "postgresql://x@127.0.0.1:1/db", "frobnicate")
    assert done.returncode == 2
    assert "invalid choice: 'frobnicate'" in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_files_exit_2_before_the_database_is_touched(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, "notes.sql", "SELECT 1;")
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert status == 2
    assert "notes.sql: not a migration name" in err
    assert catalog(db) == {} and history(db) == []


def test_schema_header_must_name_an_existing_migration(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    written = load_schema_file(schema_file).version  # what schema.sql says, even while it is stale
    schema_file.write_text(schema_file.read_text().replace(f"schema-version: {written}", f"schema-version: {later(2)}"))
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert status == 2
    assert f"schema-version {later(2)} names no migration" in err


def test_unreachable_database_fails_fast_and_hides_the_password() -> None:
    secret = "s3cr3t-Pa55word"
    started = time.monotonic()
    done = _subprocess(
        "--database-url", f"postgresql://app:{secret}@127.0.0.1:1/aalap", "--connect-timeout", "3", "status"
    )
    assert done.returncode == 1
    assert time.monotonic() - started < 30
    assert "cannot connect to host=127.0.0.1 port=1 dbname=aalap user=app" in done.stderr
    assert secret not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_database_url_comes_from_the_environment(db: str) -> None:
    done = _subprocess("--json", "status", env={"DATABASE_URL": db})
    assert done.returncode == 0, done.stderr
    assert '"pending"' in done.stdout


def test_invalid_timeout_is_invalid_input(db: str, migrations_dir: Path, schema_file: Path, capsys: Capture) -> None:
    status, _, err = cli(capsys, db, migrations_dir, schema_file, "--lock-timeout", "soon", "status")
    assert status == 2
    assert "argument --lock-timeout: 'soon' is not a duration" in err


def test_lock_held_by_another_session_times_out_naming_the_holder(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    with psycopg.connect(db, autocommit=True) as holder:
        holder.execute("SET application_name = 'deploy-staging-42'")
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        pid = holder.info.backend_pid
        started = time.monotonic()
        status, _, err = cli(capsys, db, migrations_dir, schema_file, "apply")
        waited = time.monotonic() - started
    assert status == 1
    assert f"pid {pid} (application_name 'deploy-staging-42'" in err
    assert 1.5 < waited < 10
    assert history(db) == []


def test_lock_is_released_after_a_failed_run(db: str, migrations_dir: Path, schema_file: Path, capsys: Capture) -> None:
    write(migrations_dir, f"{NEXT}_bad.sql", "SELECT 1/0;")
    assert cli(capsys, db, migrations_dir, schema_file, "apply")[0] == 1
    assert lock_is_free(db)


def test_verify_lists_every_difference_by_name(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    assert cli(capsys, db, migrations_dir, schema_file, "apply")[0] == 0
    run_sql(
        db,
        "ALTER TABLE users DROP COLUMN avatar_url; ALTER TABLE users ALTER COLUMN name SET NOT NULL;"
        " ALTER TABLE videos ALTER COLUMN width TYPE bigint; DROP INDEX idx_scenes_video_id;"
        " ALTER TABLE projects ALTER COLUMN mode SET DEFAULT 'manual';"
        " ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_scene_id_fkey,"
        "   ADD CONSTRAINT chat_messages_scene_id_fkey FOREIGN KEY (scene_id) REFERENCES scenes (id)"
        "   ON DELETE SET NULL; CREATE TABLE extra (id int)",
    )
    status, out, _ = cli(capsys, db, migrations_dir, schema_file, "verify")
    assert status == 1
    for expected in (
        "missing column users.avatar_url",
        "different column users.name",
        "different column videos.width",
        "missing index scenes.idx_scenes_video_id",
        "different column projects.mode",
        "ON DELETE SET NULL",
        "unexpected table extra",
    ):
        assert expected in out


# The command line's shape: subcommands, their own options, exit statuses (issue 10)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--keep", "3", "apply", "prune"], "invalid choice: '3'"),
        (["apply", "prune", "--keep", "3"], "unrecognized arguments: prune --keep 3"),
        (["status", "extra"], "unrecognized arguments: extra"),
        (["--statement-timeout", "-5", "status"], "cannot be negative"),
        (["--lock-timeout", "5parsecs", "status"], "unknown unit 'parsecs'"),
        (["--lock-wait", "soon", "apply"], "is not a duration"),
        (["--connect-timeout", "0", "status"], "at least 1s"),
        (["snapshots", "prune", "--keep", "-1", "--env", "staging"], "not a whole number"),
        (["baseline"], "the following arguments are required: VERSION"),
        (["new"], "the following arguments are required: NAME"),
        (["rehearse", "--instance-class"], "--instance-class: expected one argument"),
    ],
)
def test_invalid_arguments_exit_2_with_one_line_before_connecting(
    argv: list[str], expected: str, capsys: Capture
) -> None:
    from migrator.cli import main

    unreachable = ["--database-url", "postgresql://nobody@127.0.0.1:1/none"]
    assert main([*unreachable, *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1 and err.startswith("error: "), err  # one line, not a connection error


def test_global_options_work_before_and_after_the_subcommand(
    db: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    from migrator.cli import main

    files = ["--migrations-dir", str(migrations_dir), "--schema-file", str(schema_file)]
    assert main(["--database-url", db, *files, "--json", "status"]) == 0
    before = capsys.readouterr().out
    assert main(["status", "--database-url", db, *files, "--json"]) == 0
    assert capsys.readouterr().out == before
    assert (
        main(["--json", "--database-url", "postgresql://x@127.0.0.1:1/y", "status", "--database-url", db, *files]) == 0
    )
    assert '"pending"' in capsys.readouterr().out  # given after the subcommand, it wins


def test_help_version_and_exit_statuses() -> None:
    done = _subprocess("--help")
    assert done.returncode == 0
    for word in ("status", "plan", "apply", "verify", "dump", "new", "baseline", "snapshots", "exit statuses:"):
        assert word in done.stdout
    prune = _subprocess("snapshots", "prune", "--help")
    assert prune.returncode == 0 and "--dry-run" in prune.stdout and "--yes" in prune.stdout
    version = _subprocess("--version")
    assert version.returncode == 0 and version.stdout.startswith("python -m migrator ")


def test_a_bare_number_is_seconds_not_milliseconds(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: Capture
) -> None:
    write(migrations_dir, f"{NEXT}_short_sleep.sql", "SELECT pg_sleep(0.3);\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "--statement-timeout", "1", "apply")
    assert status == 0, err  # 1 second, not 1 ms
    write(migrations_dir, f"{later(2)}_long_sleep.sql", "SELECT pg_sleep(3);\n")
    status, _, err = cli(capsys, at_newest, migrations_dir, schema_file, "--statement-timeout", "1", "apply")
    assert status == 1 and "SQLSTATE 57014" in err


# Password masking: the password in connection parameters, never its text elsewhere


def test_masking_keeps_words_that_happen_to_equal_the_password() -> None:
    from migrator.connect import _scrub

    url = "postgresql://postgres:postgres@127.0.0.1:1/db"
    message = 'password authentication failed for user "postgres"'
    assert _scrub(message, url) == message
    short = "postgresql://app:p@127.0.0.1:1/db"
    refused = 'connection to server at "127.0.0.1", port 1 failed: Servname not supported for ai_socktype'
    assert _scrub(refused, short) == refused
    echoed = f"could not use {url}; also host=h password=s3cret dbname=x and postgresql://u:pw@h/x"
    scrubbed = _scrub(echoed, url)
    assert "postgres:postgres@" not in scrubbed and "s3cret" not in scrubbed and "u:pw@" not in scrubbed
    assert "password=********" in scrubbed and "postgresql://u:********@h/x" in scrubbed


def test_a_wrong_password_equal_to_the_user_name_is_reported_readably(db: str) -> None:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(db)
    wrong = make_conninfo(db, password=params.get("user") or "aalap_admin")
    done = _subprocess("--database-url", wrong, "--connect-timeout", "5", "status")
    assert done.returncode == 1
    assert f'user "{params.get("user")}"' in done.stderr  # the user's name, not ********
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["apply", "--change-set", "cs-1"], "--change-set applies only with --env"),
        (["apply", "--no-wait"], "--no-wait applies only with --env"),
        (["status", "--region", "eu-west-1"], "--region applies only with --env"),
        (["--profile", "ops", "status"], "--profile applies only with --env"),
        (["--env", "staging", "--database-url", "postgresql://x@127.0.0.1:9/x", "status"], "--env and --database-url"),
    ],
)
def test_an_option_that_does_not_apply_is_refused_not_ignored(
    db: str, migrations_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    """A pipeline command without its --env applied the local database and exited 0: now one line, exit 2,
    and nothing is done."""
    from migrator.cli import main

    before = history(db)
    with_url = [] if "--database-url" in argv else ["--database-url", db]
    status = main([*with_url, "--migrations-dir", str(migrations_dir), "--no-schema", *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert named in err and err.count("\n") <= 2
    assert history(db) == before


def test_json_says_what_failed_on_stdout_too(
    at_newest: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script reading `--json` got nothing on stdout when the command failed: now one object, same exit status."""
    import json

    write(migrations_dir, f"{NEXT}_broken.sql", "SELECT 1;\nSELECT 1/0;\n")
    status, out, _err = cli(capsys, at_newest, migrations_dir, schema_file, "apply", "--json")
    assert status == 1
    failed = json.loads(out)
    assert (failed["error"], failed["file"], failed["line"], failed["sqlstate"]) == (
        "MigrationFailed",
        f"{NEXT}_broken.sql",
        2,
        "22012",
    )
    assert failed["committed"] == [] and failed["exit_status"] == 1 and failed["hint"]
    write(migrations_dir, f"{NEXT}_twin.sql", "SELECT 2;\n")  # two files of one version: invalid input
    status, out, _err = cli(capsys, at_newest, migrations_dir, schema_file, "status", "--json")
    assert status == 2
    assert json.loads(out)["error"] == "InvalidInput"


def test_a_port_that_is_not_a_number_is_invalid_input(migrations_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It read as 'cannot connect … check host, port, credentials and network path', exit 1: now exit 2."""
    status, _out, err = cli(capsys, "postgresql://u@127.0.0.1:abc/db", migrations_dir, None, "status")
    assert status == 2
    assert "the database URL's port 'abc' is not a number" in err
