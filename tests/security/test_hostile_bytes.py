"""Bytes a reviewer cannot see are refused before anything connects, and names are shown escaped.

The database URL points at a port nothing listens on: a run that connected first would fail with
exit status 1 ("cannot connect"), not with the refusal (exit status 2) these tests expect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.cli import main

Capture = pytest.CaptureFixture[str]
NOWHERE = "postgresql://nobody@127.0.0.1:9/nothing?connect_timeout=1"


def run(folder: Path, capsys: Capture, *command: str) -> tuple[int, str, str]:
    status = main(["--database-url", NOWHERE, "--migrations-dir", str(folder), "--no-schema", *command])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    ("content", "where", "code"),
    [
        (
            b"CREATE TABLE accounts (id int, balance int);\nUPDATE accounts SET balance = 0 \x00WHERE id = 1;\n",
            "2:33",
            "U+0000",
        ),
        (b"SELECT 1;\n-- looks like a comment \xe2\x80\xae ;DROP TABLE accounts\n", "2:25", "U+202E"),
        (b"SELECT 'bell \x07';\n", "1:14", "U+0007"),
    ],
    ids=["nul-truncates-the-where-clause", "bidi-override", "bell-in-a-literal"],
)
def test_a_hidden_character_is_refused_with_file_line_and_column(
    tmp_path: Path, capsys: Capture, content: bytes, where: str, code: str
) -> None:
    (tmp_path / "001_hidden.sql").write_bytes(content)
    for command in ("apply", "status", "plan"):
        status, _, err = run(tmp_path, capsys, command)
        assert status == 2, (command, err)
        assert f"001_hidden.sql:{where}: hidden character {code}" in err
        assert "nothing was applied" in err and "cannot connect" not in err


def test_sql_whitespace_and_visible_unicode_are_not_hidden(tmp_path: Path, capsys: Capture) -> None:
    (tmp_path / "001_fine.sql").write_bytes("SELECT\t1\x0c;\r\nSELECT 'caf\u00e9 \u2014 \U0001f600';\x0b\n".encode())
    status, _, err = run(tmp_path, capsys, "status")
    assert status == 1 and "cannot connect" in err  # the files passed; only then did it try the database


def test_a_file_name_with_control_characters_is_shown_escaped(tmp_path: Path, capsys: Capture) -> None:
    (tmp_path / "001_x\x1b[2J\x1b[H.sql").write_text("SELECT 1;\n")
    status, out, err = run(tmp_path, capsys, "status")
    assert status == 2
    assert "\x1b" not in out + err
    assert "001_x\\x1b[2J\\x1b[H.sql: not a migration name" in err
