"""The splitter against psql itself: the same files, the same statements.

psql's statements are OBSERVED, not re-implemented: real `psql -X -f` runs each file against a fake
server (tests/support/psql_oracle.py) that records every query string psql sends. Our side is
`split_statements` over the file as the engine reads it (files.decode: UTF-8, BOM dropped, line
endings kept).

What is compared, per file, is the sequence of statements after this normalisation (applied to
both sides alike), because psql reshapes text around statements without changing where they end:
- leading spaces and comments are dropped (psql drops leading `--` comments but keeps `/* */` ones;
  our statements start at their first code), trailing spaces too;
- runs of LFs become one LF (psql drops empty lines outside quotes: `\\n\\n` -> `\\n`);
- statements that are then empty are dropped (psql sends a file's trailing `/* */` comment alone).
Line endings are otherwise kept, so CRLF inside a literal must match byte for byte.

Where we refuse a file, psql must have sent the same statements before the refused one; where a
quote never closes, psql sends the rest of the file as one last statement, which we compare too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.errors import SplitRefused, UnterminatedSQL
from migrator.files import decode
from migrator.sqlsplit import split_statements
from tests.support.project import PROJECT
from tests.support.psql_oracle import COPY_DATA, PsqlOracle

EXAMPLES = int(os.environ.get("PARITY_EXAMPLES", "50"))  # each example is a batch of up to 8 files
_LEADING = re.compile(r"(?:[ \t\n\r\f\v]+|--[^\n\r]*)*")
_BLOCK_COMMENT = re.compile(r"/\*|\*/")


def _after_block_comment(text: str, start: int) -> int | None:
    """End of the (nested) comment opening at `start`, or None if it never closes."""
    depth = 0
    for mark in _BLOCK_COMMENT.finditer(text, start):
        depth += 1 if mark.group() == "/*" else -1
        if depth == 0:
            return mark.end()
    return None


def normalised(statement: str) -> str:
    """See the module docstring: what is compared of one statement."""
    pos = 0
    while True:
        pos = _LEADING.match(statement, pos).end()  # type: ignore[union-attr]  # always matches
        end = _after_block_comment(statement, pos) if statement.startswith("/*", pos) else None
        if end is None:
            break
        pos = end
    return re.sub(r"\n\n+", "\n", statement[pos:]).rstrip(" \t\n\r\f\v")


def _compared(statements: list[str]) -> list[str]:
    return [n for n in map(normalised, statements) if n]


def _ours(text: str) -> tuple[list[str], str | None]:
    """Our statements, and why we refuse the file (None if we don't).

    A quote that never closes: psql sends what is left as one last statement (the server then
    refuses it), so that is what we compare. A refusal: the statements before the refused one."""
    try:
        return [s.sql for s in split_statements(text)], None
    except UnterminatedSQL as exc:
        return [s.sql for s in exc.statements] + [text[exc.start :]], None
    except SplitRefused as exc:
        return [s.sql for s in exc.statements], str(exc)


def assert_parity(label: str, raw: bytes, sent: list[str]) -> None:
    """Our statements for the file `raw` equal psql's (`sent`), in the sense of the module docstring."""
    ours, refused = _ours(decode(raw, Path("parity.sql")))
    streamed = any(q.startswith(COPY_DATA) for q in sent)
    if refused is None:
        assert not streamed, f"{label}: psql streamed COPY data that we did not refuse: {raw!r}"
        assert _compared(ours) == _compared(sent), f"{label}: {raw!r}"
    else:  # we refuse before connecting; psql had sent the same statements before that point
        assert _compared(sent)[: len(_compared(ours))] == _compared(ours), f"{label}: {raw!r}"
        assert not streamed or "COPY" in refused, f"{label}: {refused}"


@pytest.fixture(scope="module")
def oracle() -> Iterator[PsqlOracle]:
    started = PsqlOracle()
    yield started
    started.close()


CORPUS: dict[str, bytes] = {
    # the defects this splitter fixed
    "rule_with_parenthesised_actions": b"CREATE RULE r AS ON DELETE TO a DO INSTEAD (DELETE FROM b; DELETE FROM c);\n"
    b"SELECT 1;\n",
    "parameter_named_begin": b"CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1;\nSELECT 2;\nSELECT 3;\n",
    "column_named_begin": b"CREATE FUNCTION f() RETURNS TABLE (begin int) LANGUAGE sql AS $$ SELECT 1 $$;\nSELECT 2;",
    "escape_word_then_string": b"SELECT 'a' LIKE 'b' ESCAPE'\\';\nSELECT 2;\n",
    "e_inside_a_word": b"SELECT somee'x\\'; SELECT 2;",
    "dollars_inside_identifiers": b"SELECT a$b$c; SELECT 2; SELECT x$y$ + 1; SELECT $y$ ;$y$;",
    "comment_between_create_and_function": b"CREATE /* c */ OR -- x\n REPLACE FUNCTION f() RETURNS int LANGUAGE sql\n"
    b"BEGIN ATOMIC SELECT 1; END;\nSELECT 2;",
    "standard_conforming_strings_off": b"SELECT 1;\nSET standard_conforming_strings = off;\nSELECT '\\'; SELECT 2;\n",
    "copy_from_stdin": b"SELECT 1;\nCOPY t (a, b) FROM stdin;\n1\tx;\n2\ty\n\\.\nSELECT 3;\n",
    "crlf_literal": b"SELECT 1;\r\nINSERT INTO t VALUES ('two\r\n\r\nlines');\r\n\r\nSELECT\r\n\r\n 3;\r\n",
    # psqlscan.l's finer points
    "junk_after_numbers": b"SELECT 1e'\\'; SELECT 1.e'\\'; SELECT 1_e'\\'; SELECT 0xe'\\'; SELECT 2;",
    "e_string_after_operators": b"SELECT .e'\\'';' ; SELECT a::e'\\'';'; SELECT $e'\\'';';"
    b" SELECT 1e+e'\\'';'; SELECT 2;",
    "dollar_after_numbers": b"SELECT 1$a$ ; $a$; SELECT $1$a$ ; $a$; SELECT 2;",
    "numbers_glued_to_dollars": b"SELECT 1_0$$; SELECT 1.5_0$$; SELECT 1e5$$; SELECT $1_0$$; SELECT 1e+5$$ ;$$;"
    b" SELECT 1_0.5$$ ;$$; SELECT 2;",
    "realfail_takes_a_dash": b"SELECT 1e--c\n;SELECT 2; SELECT 1e---c\n;SELECT 3;",
    "psql_variables_eat_letters": b"SELECT :e'\\'; SELECT :a$b$ ;$b$; SELECT 2;",
    "prefixed_strings": b"SELECT B'01', X'1F', N'x;', U&'\\0041;', U&\"a;\"; SELECT 2;",
    "nested_comments": b"SELECT 'a' /* x /* y; */ z; */ ; SELECT */*x;*/ 1; SELECT 1 +--x;\n2; SELECT 3;",
    "e_string_escapes": b"SELECT E'\\\\'; SELECT E'a''b\\''; SELECT E'\\';'; SELECT 2;",
    "continued_strings_are_two_strings": b"SELECT E'a'\n'b\\'; SELECT 2;'; SELECT 3;",
    "case_inside_begin_atomic": b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC\n"
    b"SELECT CASE WHEN true THEN 1 END; SELECT (CASE WHEN true THEN 2 END); END; SELECT 2;",
    # psql sends the routine and the statements after it as one query: refused with the fix
    "column_named_begin_inside_begin_atomic": b"SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC\n"
    b"SELECT begin FROM t; END;\nCREATE TABLE u (id int);\nSELECT 3;\n",
    "begin_outside_parentheses_in_a_routine": b"CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN begin;\n"
    b"SELECT 2; END; SELECT 3;",
    "or_or_function": b"create or or function f() returns int begin atomic select 1; end; select 2;",
    "prefix_letters_are_not_identifiers": b"create e'x' function f() begin atomic select 1; end; select 2;",
    "parenthesised_words_count": b"create (a) function f() begin atomic select 1; end; select 2;",
    "dollar_quotes_back_to_back": b"SELECT $$a$$$$b$$; SELECT $a$ $b$ ; $a$; SELECT 2;",
    "non_ascii_letters": "SELECT é$x$ ; ée'\\'; SELECT 2; SELECT $é$;$é$;".encode(),
    "bom_and_lone_cr": b"\xef\xbb\xbfSELECT 1;\rSELECT 2;\r\rSELECT 3",
    # psql's lines end at LF: across a lone CR, E'' goes on as one literal (its escapes too)
    "e_string_continued_across_a_lone_cr": b"SELECT E'a'\r'b\\'c';\rSELECT 2;\r",
    "e_string_continued_across_cr_and_comment": b"SELECT e'a' -- c;\r \x0b\r'b\\';';\rSELECT 2;",
    "e_string_not_continued_across_crlf": b"SELECT E'a'\r\n'b\\';\r\nSELECT 2;'\r\n",
    "trailing_comments": b"SELECT 1;\n\n/* a */\n\n-- b\n\nSELECT\n\n\n2 /* x */\n\n;\n/* tail */\n-- tail\n",
    "vertical_tab_is_space": b"SELECT 1;\x0b\x0c",
    "unterminated_quote": b"SELECT 1; SELECT 'open;\nSELECT 2;",
    "deep_parentheses": b"SELECT (((1; 2))); SELECT ((((';')))); SELECT ( $$)$$ ; ); SELECT 2;",
    "meta_command": b"SELECT 1;\nSELECT 2 \\gset\nSELECT 3;",
}
for _path in [*sorted((PROJECT / "migrations").glob("*.sql")), PROJECT / "schema.sql"]:
    CORPUS[_path.name] = _path.read_bytes()


def test_the_corpus_splits_as_psql_does(oracle: PsqlOracle) -> None:
    names = sorted(CORPUS)
    for name, sent in zip(names, oracle.run([CORPUS[n] for n in names]), strict=True):
        assert_parity(name, CORPUS[name], sent)


# Generated SQL: statements composed of the pieces psql's lexer cares about.
_SPACES = st.sampled_from(["", " ", "  ", "\n", "\t", "\r\n", " \n\n ", "\x0c", "\r", " \r "])
_WORDS = st.sampled_from(
    [
        "SELECT", "select", "begin", "BEGIN", "end", "END", "case", "Case", "atomic", "ATOMIC", "create",
        "CREATE", "or", "replace", "function", "FUNCTION", "procedure", "when", "then", "e", "E", "b", "x",
        "n", "u", "U", "a$b", "a$b$c", "somee", "ESCAPE", "t1", "é", "_x", "copy", "to", "from",
    ]
)  # fmt: skip
_NUMBERS = st.sampled_from(
    ["1", "1.5", "1e5", "1e", "1.", ".5", "0x1F", "1_000", "1e-", "$1", "12", "1_0", "1.5_0", "1e+5", "$1_0", "1..2"]
)
_OPERATORS = st.sampled_from(["+", "-", "*", "::", "=", ",", ".", ":", "$", "@", "&", "U&", "/", "<>", ";"])


def _quoted(quote: str, pieces: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), max_size=5).map(lambda parts: quote + "".join(parts) + quote[-1])


_STRINGS = st.one_of(
    _quoted("'", ["a", ";", "\\", "''", "\n", "$", "$$", "--", "/*", "*/", "(", ")", '"', " ", "\r\n", "é"]),
    _quoted("E'", ["a", ";", "\\'", "\\\\", "''", "\n", "$", "--", "\\n", "/*"]),
    st.sampled_from(["B'01'", "X'1F'", "N'x;'", "U&'\\0041;'", 'U&"a;"']),
    _quoted('"', ["a", ";", '""', "'", "begin", "$", " "]),
)


@st.composite
def _dollar_quoted(draw: st.DrawFn) -> str:
    tag = draw(st.sampled_from(["", "a", "tag", "a1", "_", "é"]))
    parts = draw(st.lists(st.sampled_from(["a", ";", "'", "$", "$b$", "$$", "\n", "--", "/*", "BEGIN", "END"])))
    body = "".join(parts).replace(f"${tag}$", "")
    return f"${tag}${body}${tag}$"


def _comment() -> st.SearchStrategy[str]:
    line = st.lists(st.sampled_from(["a", ";", "'", "$$", "/*", " "]), max_size=4).map(
        lambda p: "--" + "".join(p) + "\n"
    )
    flat = st.lists(st.sampled_from(["a", ";", "'", "*", " ", "$$", "\n"]), max_size=4).map(
        lambda p: "/*" + "".join(p).replace("*", "* ") + "*/"
    )
    nested = st.recursive(
        flat, lambda inner: st.tuples(flat, inner).map(lambda t: t[0][:-2] + t[1] + " */"), max_leaves=3
    )
    return st.one_of(line, flat, nested)


_ATOMS = st.one_of(_WORDS, _WORDS, _NUMBERS, _OPERATORS, _STRINGS, _dollar_quoted(), _comment())


def _body(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A sequence of atoms and structures, joined by (sometimes no) space."""
    return st.lists(st.tuples(children, _SPACES), min_size=1, max_size=6).map(lambda p: "".join(a + s for a, s in p))


_NESTED = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        _body(inner).map(lambda b: "(" + b + ")"),
        _body(inner).map(lambda b: "BEGIN ATOMIC " + b + "; END"),
        _body(inner).map(lambda b: "CASE WHEN " + b + " THEN 1 END"),
        _body(inner),
    ),
    max_leaves=12,
)
_ROUTINE_HEADS = st.sampled_from(
    [
        "",
        "",
        "CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql ",
        "create or replace procedure p() ",
        "CREATE /* c */ OR -- x\n REPLACE FUNCTION f() ",
        "CREATE PROCEDURE p(case int) ",
        "CREATE TABLE t ",
    ]
)
_STATEMENTS = st.tuples(_ROUTINE_HEADS, _body(_NESTED), st.sampled_from([";", ";", ";\n", " ;", ""])).map("".join)
_FILES = st.lists(st.tuples(_STATEMENTS, _SPACES), min_size=1, max_size=5).map(lambda p: "".join(a + s for a, s in p))


@pytest.mark.slow  # 50 generated batches, each through real psql (about 30 s)
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(files=st.lists(_FILES, min_size=1, max_size=8))
def test_generated_sql_splits_as_psql_does(oracle: PsqlOracle, files: list[str]) -> None:
    raws = [text.encode() for text in files]
    for index, (raw, sent) in enumerate(zip(raws, oracle.run(raws), strict=True)):
        assert_parity(f"generated file {index}", raw, sent)
