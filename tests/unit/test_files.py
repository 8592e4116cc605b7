"""Reading migration text without a file (migrator.files): names, decoding, checksums and what a file may hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import InvalidInput
from migrator.files import MIGRATION_NAME, SCHEMA_VERSION, checksum, decode, normalise, parse_statements

WHERE = Path("/nowhere/migrations/001_a.sql")


@pytest.mark.parametrize(
    ("name", "version"),
    [("001_init.sql", "001"), ("0042_add_tags_v2.sql", "0042"), ("1000_x.sql", "1000")],
)
def test_migration_names_give_their_version(name: str, version: str) -> None:
    found = MIGRATION_NAME.match(name)
    assert found is not None and found["version"] == version


@pytest.mark.parametrize(
    "name",
    ["01_short.sql", "001-dash.sql", "001_Upper.sql", "001__double.sql", "001_trailing_.sql", "001_x.SQL", "001.sql"],
)
def test_other_names_are_not_migrations(name: str) -> None:
    assert MIGRATION_NAME.match(name) is None


def test_decoding_drops_one_bom_and_keeps_line_endings() -> None:
    assert decode("\ufeffSELECT 1;\r\n".encode(), WHERE) == "SELECT 1;\r\n"
    assert decode("\ufeff\ufeffx".encode(), WHERE) == "\ufeffx"


def test_text_that_is_not_utf8_is_refused_with_its_byte() -> None:
    with pytest.raises(InvalidInput, match=r"001_a.sql: not valid UTF-8 \(byte 8\)"):
        decode(b"SELECT '\xff';", WHERE)


def test_a_windows_checkout_checksums_as_a_unix_one() -> None:
    unix = normalise(b"CREATE TABLE t (id int);\nSELECT 1;\n", WHERE)
    assert normalise(b"CREATE TABLE t (id int);\r\nSELECT 1;\r\n", WHERE) == unix
    assert normalise(b"\xef\xbb\xbfCREATE TABLE t (id int);\rSELECT 1;\r", WHERE) == unix
    assert checksum(unix) != checksum(unix + "\n"), "any other change is a change"


@pytest.mark.parametrize(
    "text",
    [
        "BEGIN;\nSELECT 1;\nCOMMIT;\nSELECT 2;\n",  # not around the whole file
        "SELECT 1;\ncommit;\n",
        "START TRANSACTION;\n",
        "BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;\n",  # a mode: not a plain wrapper
        "BEGIN;\nSELECT 1;\nCOMMIT AND CHAIN;\n",
        "BEGIN;\nSAVEPOINT s;\nSELECT 1;\nCOMMIT;\n",  # control inside the wrapper
        "SAVEPOINT s;\n",
        "SELECT 1;\n  rollback ;\n",
    ],
)
def test_transaction_control_in_a_migration_is_refused_with_its_line(text: str) -> None:
    with pytest.raises(InvalidInput, match="transaction control") as refused:
        parse_statements(text, WHERE)
    assert refused.value.message.startswith(f"{WHERE}:")


@pytest.mark.parametrize(
    "text",
    [
        "BEGIN;\nCREATE TABLE t (id int);\nALTER TABLE t ADD c int;\nCOMMIT;\n",
        "-- generated\nbegin transaction;\nCREATE TABLE t (id int);\nALTER TABLE t ADD c int;\nend work;\n-- end\n",
        "START TRANSACTION;\nCREATE TABLE t (id int);\nALTER TABLE t ADD c int;\nCOMMIT TRANSACTION\n",
    ],
)
def test_a_plain_begin_commit_around_the_whole_file_is_not_sent(text: str) -> None:
    """Prisma wraps a file in BEGIN … COMMIT: its statements run in the batch's transaction, without the pair."""
    assert [s.sql for s in parse_statements(text, WHERE)] == ["CREATE TABLE t (id int);", "ALTER TABLE t ADD c int;"]


def test_a_wrapped_file_marked_no_transaction_is_refused() -> None:
    with pytest.raises(InvalidInput, match="marked '-- migrate:no-transaction' is wrapped in BEGIN"):
        parse_statements("BEGIN;\nSELECT 1;\nCOMMIT;\n", WHERE, no_transaction=True)


def test_what_only_looks_like_transaction_control_is_sql() -> None:
    assert len(parse_statements("PREPARE q AS SELECT 1;\nEXECUTE q;\n", WHERE)) == 2, "PREPARE alone is not 2PC"
    body = "DO $$ BEGIN PERFORM 1; END $$;\nSELECT 'COMMIT';\n"
    assert len(parse_statements(body, WHERE)) == 2, "BEGIN inside a body or a string is not control"
    with pytest.raises(InvalidInput, match=r"transaction control \(PREPARE TRANSACTION\)"):
        parse_statements("PREPARE TRANSACTION 'x';\n", WHERE)


def test_the_schema_header_may_stand_on_any_line() -> None:
    found = SCHEMA_VERSION.search("-- dumped by migrator\n--  schema-version:  007 \nCREATE TABLE t ();\n")
    assert found is not None and found["version"] == "007"
    assert SCHEMA_VERSION.search("-- schema-version: 7\n") is None


def test_a_routine_psql_would_send_with_the_statements_after_it_is_refused_with_the_fix() -> None:
    """An unquoted column named begin inside BEGIN ATOMIC: psql sends the routine and what follows as one
    multi-statement query, which the engine's one-statement queries cannot send (the server refused it)."""
    text = "SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT begin FROM t;\nEND;\n"
    text += "SELECT 2;\n"
    with pytest.raises(InvalidInput, match=r"001_a\.sql:2: psql would send this routine") as refused:
        parse_statements(text, WHERE)
    assert '("begin")' in refused.value.hint
    quoted = text.replace("SELECT begin", 'SELECT "begin"')
    assert [s.line for s in parse_statements(quoted, WHERE)] == [1, 2, 6]


def test_a_begin_commit_around_part_of_a_file_is_refused_with_the_lines_to_delete() -> None:
    """Prisma wraps only its enum change (trigger.dev, langfuse): psql -1's COMMIT ends the file's transaction and
    the rest runs in autocommit; the engine runs the whole file in one, so deleting the pair keeps the result."""
    text = "-- AlterEnum\nUPDATE t SET c = 1;\nBEGIN;\nCREATE TYPE e AS ENUM ('a');\nCOMMIT;\n\n"
    text += "ALTER TABLE t ADD d int;\n"
    with pytest.raises(InvalidInput, match=r"transaction control \(BEGIN\)") as refused:
        parse_statements(text, WHERE)
    assert refused.value.message.startswith(f"{WHERE}:3:")
    hint = refused.value.hint
    assert "already runs the whole file in one transaction" in hint
    assert "delete the BEGIN (line 3) and the COMMIT (line 5)" in hint, hint


def test_each_begin_commit_pair_around_parts_of_a_file_is_named() -> None:
    """langfuse reorders two enums in one file, each in a pair of its own, then alters a table after them."""
    text = "BEGIN;\nCREATE TYPE a AS ENUM ('x');\nCOMMIT;\n-- next\nBEGIN;\nCREATE TYPE b AS ENUM ('y');\nEND;\n"
    with pytest.raises(InvalidInput, match=r":1: transaction control \(BEGIN\)") as refused:
        parse_statements(text + "ALTER TABLE t ADD d int;\n", WHERE)
    hint = refused.value.hint
    assert "delete the BEGIN (line 1) and the COMMIT (line 3), the BEGIN (line 5) and the END (line 7)" in hint, hint
