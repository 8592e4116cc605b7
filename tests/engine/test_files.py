"""Discovery, checksums and statement splitting: pure, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import InvalidInput
from migrator.files import checksum, load_migrations, load_schema_file, normalise
from migrator.sqlsplit import split_statements


def _dir(tmp_path: Path, files: dict[str, bytes]) -> Path:
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    return tmp_path


def test_migrations_are_ordered_by_number_and_other_files_ignored(tmp_path: Path) -> None:
    found = load_migrations(_dir(tmp_path, {"010_b.sql": b"", "002_a.sql": b"", "README.md": b"x"}))
    assert [(m.version, m.name) for m in found] == [("002", "a"), ("010", "b")]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"001_a.sql": b"", "1_b.sql": b""}, "1_b.sql: not a migration name"),
        ({"001_A.sql": b""}, "001_A.sql: not a migration name"),
        ({"001_a.sql": b"", "001_b.sql": b""}, "duplicate version 001: 001_a.sql and 001_b.sql"),
        ({"001_a.sql": b"", "0001_b.sql": b""}, "duplicate version 001: 0001_b.sql and 001_a.sql"),
        ({"001_a.sql": b"SELECT '\xff';"}, "001_a.sql: not valid UTF-8"),
        ({"001_a.sql": b"SELECT 'open;\n"}, "001_a.sql:1: unterminated quoted string"),
        ({"001_a.sql": b"DO $x$ BEGIN END;\n"}, "unterminated dollar quote $x$"),
    ],
)
def test_invalid_folders_are_refused(tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_migrations(_dir(tmp_path, files))
    assert message in str(caught.value)
    assert caught.value.exit_status == 2


def test_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.txt").write_text("SELECT 1;")
    (tmp_path / "001_link.sql").symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(InvalidInput, match="not a regular file"):
        load_migrations(tmp_path)


def test_crlf_and_bom_do_not_change_the_checksum(tmp_path: Path) -> None:
    lf = normalise(b"SELECT 1;\nSELECT 2;\n", tmp_path)
    assert checksum(lf) == checksum(normalise(b"\xef\xbb\xbfSELECT 1;\r\nSELECT 2;\r\n", tmp_path))
    assert checksum(lf) != checksum(normalise(b"SELECT 1;\nSELECT 3;\n", tmp_path))


def test_schema_file_needs_a_version_header(tmp_path: Path) -> None:
    (tmp_path / "schema.sql").write_text("CREATE TABLE a (id int);\n")
    with pytest.raises(InvalidInput, match="schema-version"):
        load_schema_file(tmp_path / "schema.sql")


def test_splitter_respects_quotes_comments_and_dollar_bodies() -> None:
    text = (
        "-- leading comment; not a statement\n"
        "SELECT 'a;b', \"we;ird\", E'it\\'s;';\n"
        "/* block /* nested; */ still; */\n"
        "DO $body$ BEGIN PERFORM 1; END $body$;\n"
        "\n"
        "SELECT $$x;y$$\n"
        "  ;\n"
        "-- trailing comment only\n"
    )
    statements = split_statements(text)
    assert [s.line for s in statements] == [2, 4, 6]
    assert statements[0].sql == "SELECT 'a;b', \"we;ird\", E'it\\'s;';"
    assert statements[1].sql.startswith("DO $body$")
    assert statements[2].sql == "SELECT $$x;y$$\n  ;"


def test_a_last_statement_without_semicolon_is_kept() -> None:
    assert [(s.sql, s.line) for s in split_statements("SELECT 1;\n\nSELECT 2")] == [("SELECT 1;", 1), ("SELECT 2", 3)]


def test_splitter_keeps_a_begin_atomic_body_whole() -> None:
    text = (
        "CREATE OR REPLACE FUNCTION mode_label(m text) RETURNS text LANGUAGE sql\n"
        "BEGIN ATOMIC\n"
        "  SELECT CASE WHEN m = 'script' THEN 'Script; full' ELSE 'Music' END; -- end;\n"
        "END;\n"
        "create procedure touch() language sql begin atomic update users set updated_at = now(); end;\n"
        "SELECT 1;\n"
    )
    statements = split_statements(text)
    assert [s.line for s in statements] == [1, 5, 6]
    assert statements[0].sql.endswith("-- end;\nEND;")
    assert statements[1].sql.endswith("begin atomic update users set updated_at = now(); end;")


@pytest.mark.parametrize(
    "text",
    [
        'CREATE TABLE t ("end" integer, begin_at integer, case_id integer);\nSELECT 1;',
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;\nSELECT 1;",
        "SELECT CASE WHEN true THEN 1 END;\nSELECT 1;",
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql RETURN 'begin';\nSELECT 1;",
    ],
)
def test_begin_case_and_end_elsewhere_do_not_hold_a_statement_open(text: str) -> None:
    assert len(split_statements(text)) == 2


# psql's lexer (src/fe_utils/psqlscan.l) is the reference for all of the following;
# tests/engine/test_psql_parity_split.py checks the same inputs against psql itself.


def test_a_semicolon_inside_parentheses_does_not_split() -> None:
    text = "CREATE RULE r AS ON DELETE TO a DO INSTEAD (DELETE FROM b; DELETE FROM c);\nSELECT 1;\n"
    assert [s.sql for s in split_statements(text)] == [
        "CREATE RULE r AS ON DELETE TO a DO INSTEAD (DELETE FROM b; DELETE FROM c);",
        "SELECT 1;",
    ]


@pytest.mark.parametrize(
    "routine",
    [
        "CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1;",
        'CREATE FUNCTION f() RETURNS TABLE (begin int, "end" int) LANGUAGE sql AS $$ SELECT 1, 2 $$;',
        "CREATE PROCEDURE p(case_ int, begin text) LANGUAGE sql AS 'SELECT 1';",
    ],
)
def test_a_name_begin_inside_parentheses_opens_no_block(routine: str) -> None:
    assert [s.sql for s in split_statements(routine + "\nSELECT 2;\nSELECT 3;")] == [routine, "SELECT 2;", "SELECT 3;"]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("SELECT 'a' ESCAPE'\\';\nSELECT 2;", "SELECT 'a' ESCAPE'\\';"),  # the word ESCAPE, then the string '\'
        ("SELECT somee'x\\';\nSELECT 2;", "SELECT somee'x\\';"),
        ("SELECT 1e'\\';\nSELECT 2;", "SELECT 1e'\\';"),  # 1e is one (junk) token: no E'' string here
        ("SELECT a$b$c;\nSELECT 2;", "SELECT a$b$c;"),  # an identifier, not a dollar quote
        ("SELECT x$y$ + 1;\nSELECT $y$ ;$y$;", "SELECT x$y$ + 1;"),
    ],
)
def test_e_prefix_and_dollar_quotes_count_only_where_a_token_starts(text: str, first: str) -> None:
    assert [s.sql for s in split_statements(text)] == [first, text.split("\n", 1)[1]]


def test_a_comment_between_create_and_function_keeps_begin_atomic_whole() -> None:
    text = (
        "CREATE /* the label */ OR -- always\n"
        "  REPLACE FUNCTION one() RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n"
        "  SELECT 1;\n"
        "END;\n"
        "SELECT 2;\n"
    )
    statements = split_statements(text)
    assert [s.line for s in statements] == [1, 6]
    assert statements[0].sql.endswith("SELECT 1;\nEND;")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("SET standard_conforming_strings = off;\nSELECT '\\';", 2, "standard_conforming_strings"),
        ("SELECT 1;\nSELECT set_config('standard_conforming_strings', 'off', false);", 3, "conforming"),
        ("SELECT 1;\nRESET Standard_Conforming_Strings;", 3, "standard_conforming_strings"),
        ("SELECT 1;\nCOPY users (id, name) FROM stdin;\n1\tann\n\\.\n", 3, "COPY … FROM STDIN"),
        ("COPY (SELECT 1) TO STDOUT;", 2, "COPY … TO STDOUT"),
        ("SELECT 1 \\gset\n", 2, "psql meta-command"),
        ("SELECT 1;\n\\set x 1\n", 3, "psql meta-command"),
    ],
)
def test_what_psql_would_not_send_as_sql_is_refused_with_file_and_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 0;\n" + body)
    with pytest.raises(InvalidInput) as caught:
        load_migrations(tmp_path)
    assert f"001_a.sql:{line}: " in str(caught.value)
    assert message in str(caught.value)


def test_pg_dump_setting_standard_conforming_strings_on_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n")
    assert len(load_migrations(tmp_path)[0].statements) == 2


def test_a_crlf_file_sends_its_string_literals_as_written_and_checksums_as_lf(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_bytes(b"SELECT 1;\r\nINSERT INTO t VALUES ('two\r\nlines');\r\n\r\nSELECT 3;\r\n")
    (tmp_path / "002_b.sql").write_bytes(b"SELECT 1;\nINSERT INTO t VALUES ('two\nlines');\n\nSELECT 3;\n")
    crlf, lf = load_migrations(tmp_path)
    assert [s.sql for s in crlf.statements] == ["SELECT 1;", "INSERT INTO t VALUES ('two\r\nlines');", "SELECT 3;"]
    assert [s.line for s in crlf.statements] == [s.line for s in lf.statements] == [1, 2, 5]
    assert crlf.checksum == lf.checksum


def test_lines_count_a_lone_cr_as_a_line_break() -> None:
    assert [s.line for s in split_statements("SELECT 1;\rSELECT 2;\r\rSELECT 3")] == [1, 2, 4]
