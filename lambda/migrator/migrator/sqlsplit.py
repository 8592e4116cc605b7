"""Split a SQL file into statements exactly where `psql -f` splits it, each with the line it starts on.

Statements are sent one at a time (as psql does) so that an error names its line, and so that a
no-transaction file never forms an implicit transaction. The rules are psql's lexer's
(src/fe_utils/psqlscan.l, PostgreSQL 17), which tests/engine/test_psql_parity_split.py checks
against psql itself:

- A `;` ends a statement only outside quotes, dollar quotes, comments and parentheses.
- Quotes: '...' (standard_conforming_strings on: no backslash escapes), E'...' (backslash escapes),
  "...", doubled quotes inside all of them; $tag$...$tag$ with a tag that has no `$`.
- Prefixes and dollar quotes count only where a token starts: `ESCAPE'\\'` is the word ESCAPE and
  the string '\\', `a$b$c` is one identifier, a number swallows letters after it (`1e'x'` is the
  junk token 1e and the string 'x').
- -- comments run to the end of the line; /* */ comments nest.
- BEGIN ATOMIC bodies: in a statement whose first identifiers are CREATE [OR REPLACE]
  FUNCTION|PROCEDURE (comments and quoted names do not count), the words BEGIN, and CASE inside
  a block, open a block and END closes one, outside parentheses only; no `;` ends the statement
  inside a block.
- psql lexes a file line by line, so a string continued on the next line ('a'<newline>'b') is
  two strings to it, and the second one follows standard rules even after E'...'. Its lines end
  at LF only: continued across a lone CR, E'...' is one literal and its escapes go on.

What psql does and a migration must not depend on is refused (SplitRefused, with the line):
psql meta-commands (any backslash outside quotes and comments), COPY ... FROM STDIN / TO STDOUT
(psql would stream the lines after it as data), and changing standard_conforming_strings (psql
would lex the rest of the file by other rules).

The regular expressions skip the common, uninteresting text (words, numbers, operators, closed
quotes, flat comments, shallow parentheses) in C; Python handles only the tokens that change
state, so a 1.5M-statement file splits in seconds.
"""

from __future__ import annotations

import bisect
import functools
import re
from typing import NamedTuple

from migrator.errors import SplitError, SplitRefused, UnterminatedSQL

_SPACE = " \t\n\r\f\v"
# Character classes as the complement of ASCII ranges: psql treats every non-ASCII byte as a letter, and a
# class spelled `\x80-\U0010ffff` costs Python's re ~17 ms to compile each time it appears (2.5 s per import).
_START = "[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"  # identifier start: letters, _, non-ASCII
_CONT = "[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # identifier continuation: also digits, $
_TAG = "[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # dollar-quote tags, psql variable names: no `$`
_OPERATOR_CHARS = "".join(  # ASCII that is neither a letter, digit nor a character the lexer acts on
    re.escape(chr(c)) for c in range(128) if not re.match("[-/'\"$;()\\\\:.0-9A-Za-z_]", chr(c))
)
_DEC = "[0-9](?:_?[0-9])*+"
# A number is the longest of a pure number (1_000, 1.5, 1e+5, and 1e+ which takes the sign) and a
# number glued to an identifier (junk: 1abc, 1_0$x, 1.5e5$$), which runs to the end of the letters,
# digits, _ and $ around it. Pure numbers are longer only through a '.' or an exponent's sign.
_JUNK = f"{_START}{_CONT}*+"
_EXPONENT_TAIL = f"(?:[0-9]++(?:{_JUNK})?)?"  # after e+ / e-: digits, or nothing (the sign is taken)
_FRACTION_TAIL = f"(?:(?:{_DEC})?[eE][-+]{_EXPONENT_TAIL}|[0-9]*+(?:{_JUNK})?)"  # after the '.'
_NUMBER = (
    f"{_DEC}\\.(?!\\.){_FRACTION_TAIL}",  # 1.5, 1. ("1..2" is 1 then ..)
    f"\\.(?=[0-9]){_FRACTION_TAIL}",  # .5
    f"{_DEC}[eE][-+]{_EXPONENT_TAIL}",
    f"[0-9]++(?:{_JUNK})?",
)
_DOLLAR = f"\\$(?:{_START}{_TAG}*+)?\\$"
_FLAT_COMMENT = r"/\*(?:[^*/]++|\*(?!/)|/(?!\*))*+\*/"  # nested ones are left to Python
_E_BODY = "'(?:[^'\\\\]++|\\\\.|'')*+'"
# psql reads a file by LF-ended lines and lexes each alone; within one line, a string followed by spaces holding
# a lone CR (and comments ending at one) and a quote continues (psqlscan.l's quotecontinue), by E'' rules still.
_CR_CONTINUES = "(?:[ \t\f\v]|--[^\n\r]*+)*+\r(?:[ \t\r\f\v]++|--[^\n\r]*+\r)*+"
# Text to skip, commonest first. Every branch starts with a literal or a character class, which
# the regex engine tests before entering the branch: this is what makes the scan fast.
_SKIP = (
    f"[{_OPERATOR_CHARS}]++",  # spaces, operators, commas
    "'[^']*+'",  # '' inside a string reads as two strings: the same span
    '"[^"]*+"',
    *_NUMBER,
    "\\.",
    "-(?!-)",
    "--[^\n\r]*+",
    "/(?!\\*)",
    _FLAT_COMMENT,
    f"[eE]{_E_BODY}(?:{_CR_CONTINUES}{_E_BODY})*+",
    f":(?::|{_TAG}++)?",  # casts; psql variables (never defined here) as psql reads them
    f"\\$(?:[0-9]++(?:{_JUNK})?|(?!(?:{_START}{_TAG}*+)?\\$))",  # $1 parameters, a lone $
)
_WORDS = (  # identifiers and keywords skipped whole: then `$` and E' inside them are never seen
    f"(?![eE]){_START}{_CONT}*+",
    f"[eE](?!'){_CONT}*+",
)
_NOT_WORDS = ("[bBnNxX](?=')|[uU]&",)  # B'', X'', N'', U&'', U&"": not identifiers, then plain quotes
_DOLLAR_QUOTED = f"(?P<tag>{_DOLLAR})(?s:.*?)(?P=tag)"  # once per pattern: a group name cannot repeat
_IDENT = f"(?![bBeEnNxX]'|[uU]&){_START}{_CONT}*+"  # what psql counts as an identifier
_INNER = "|".join(_SKIP[:1] + _WORDS + _SKIP[1:])
_PARENS = f"\\((?:{_INNER}|\\((?:{_INNER})*+\\))*+\\)"  # two levels deep, closed, no ';' inside
_STATE = f"(?P<t>[;()\\\\'\"]|/\\*|[eE]'|{_DOLLAR})"  # tokens Python acts on (or reports)
_SLOW = "|".join(_SKIP + _NOT_WORDS)
_LEADING = f"(?:[{_SPACE}]++|--[^\n\r]*+|{_FLAT_COMMENT})*"
# CREATE, spaces only, and a second word that makes it plain (not OR, FUNCTION or PROCEDURE, see _kind);
# anything else between the two words (a comment, a quoted name) is left to the slow path.
_CREATE_PLAIN = f"(?i:create)[{_SPACE}]++(?!(?i:or|function|procedure)(?!{_CONT})){_IDENT}"
# The common statement in one call: leading spaces and comments, a first word that is neither
# CREATE nor COPY (or a plain CREATE …), then plain text up to a token (a ';' there ends the
# statement at depth 0).
_STATEMENT = re.compile(
    f"{_LEADING}(?P<first>(?:(?!(?i:create|copy)(?!{_CONT})){_IDENT}|{_CREATE_PLAIN})"
    f"(?:{_INNER}|{_PARENS}|{_DOLLAR_QUOTED})*{_STATE}?)?",
    re.DOTALL,
)


class _Scanners(NamedTuple):
    """The slow path's scanners: until a statement's kind is known, for plain ones, for routines."""

    prefix: re.Pattern[str]
    plain: re.Pattern[str]
    routine: re.Pattern[str]


@functools.cache
def _scanners() -> _Scanners:
    """Compiled on first use (~15 ms at import otherwise): files of plain statements never need them."""
    return _Scanners(
        re.compile(f"(?:{_SLOW}|{_DOLLAR_QUOTED})*(?:{_STATE}|(?P<w>{_IDENT}))?", re.DOTALL),
        re.compile(f"(?:{_INNER}|{_PARENS}|{_DOLLAR_QUOTED})*(?:{_STATE}|(?P<w>(?!)))?", re.DOTALL),
        re.compile(f"(?:{_SLOW}|{_PARENS}|{_DOLLAR_QUOTED})*(?:{_STATE}|(?P<w>{_IDENT}))?", re.DOTALL),
    )


_FIRST_CODE = re.compile(_LEADING)
_NEWLINES = re.compile(r"\r\n?|\n")
_LONE_CR = re.compile(r"\r(?!\n)")
_STD_STRINGS = re.compile("_(?i:conforming_strings)")  # a literal first character: a fast search
_STD_STRINGS_ON = re.compile(
    r"SET\s+(?:SESSION\s+|LOCAL\s+)?standard_conforming_strings\s*(?:=|TO)\s*(?:on|true|'on'|'true')\s*;?",
    re.IGNORECASE,
)
_ROUTINE_WORDS = ("function", "procedure")
_COPY_STREAMS = (("from", "stdin"), ("to", "stdout"))


class Statement(NamedTuple):
    """One statement, as a span of its file's text: a 50 MB file is held once, not twice.

    A named tuple, not a frozen dataclass: a 1.5M-statement file makes 1.5M of them, and a tuple is
    built twice as fast."""

    source: str
    start: int
    end: int
    line: int

    def __repr__(self) -> str:  # never the whole file
        return f"Statement(start={self.start}, end={self.end}, line={self.line})"

    @property
    def sql(self) -> str:
        """The statement as the engine sends it: from its first code to its ';' (or the file's last code)."""
        return self.source[self.start : self.end]


def _line_at(text: str, offset: int) -> int:
    """1-based line of `offset`, counting CRLF, LF and a lone CR (as editors do) as one line break each."""
    if _LONE_CR.search(text) is None:
        return text.count("\n", 0, offset) + 1
    return sum(1 for _ in _NEWLINES.finditer(text, 0, offset)) + 1


def _end_of_block_comment(text: str, start: int) -> int:
    depth, pos = 1, start + 2
    while depth:
        opener, closer = text.find("/*", pos), text.find("*/", pos)
        if closer < 0:
            raise UnterminatedSQL("comment", _line_at(text, start))
        if 0 <= opener < closer:
            depth, pos = depth + 1, opener + 2
        else:
            depth, pos = depth - 1, closer + 2
    return pos


def _unskippable(text: str, token: str, start: int) -> int:
    """A token the regular expressions could not skip: a nested comment (skipped here), else an error."""
    if token == "/*":
        return _end_of_block_comment(text, start)
    if token == "\\":
        raise SplitRefused(
            "psql meta-command (a backslash outside quotes)",
            _line_at(text, start),
            "plain SQL only: psql would run the backslash command, the migrator cannot",
        )
    what = (
        "dollar quote " + token if token.startswith("$") else "quoted string" if "'" in token else "quoted identifier"
    )
    raise UnterminatedSQL(what, _line_at(text, start))


def _first_code(text: str, pos: int) -> int:
    """Offset of the next character that is neither space nor comment (len(text) if none)."""
    while True:
        leading = _FIRST_CODE.match(text, pos)
        assert leading is not None  # always matches (all of it is optional); the same below
        pos = leading.end()
        if not text.startswith("/*", pos):
            return pos
        pos = _end_of_block_comment(text, pos)


def _kind(words: list[str]) -> str | None:
    """psql's test of a statement's first identifiers: routine, copy or plain; None until it can tell."""
    if words[0] != "create":
        return "copy" if words[0] == "copy" else "plain"
    if len(words) == 1:
        return None
    if words[1] in _ROUTINE_WORDS:
        return "routine"
    if words[1] != "or" or (len(words) > 2 and words[2] != "replace"):
        return "plain"
    if len(words) < 4:
        return None
    return "routine" if words[3] in _ROUTINE_WORDS else "plain"


def _statement_end(text: str, pos: int) -> int:
    """Offset just after the statement starting at `pos`: after its ending ';', or len(text)."""
    scanners = _scanners()
    start, parens, words, scanner = pos, 0, [], scanners.prefix
    blocks, kind, previous = 0, None, ""
    server_blocks = 0  # the server's count: BEGIN ATOMIC and CASE open a block, END closes one
    while True:
        match = scanner.match(text, pos)
        assert match is not None
        pos = match.end()
        token = match["t"]
        if token is not None:
            if token == ";":
                if parens == 0 and blocks == 0:
                    return pos
                if parens == 0 and server_blocks <= 0 and kind == "routine":
                    _refuse_many_in_one(text, start, pos)
            elif token == "(":
                parens += 1
            elif token == ")":
                parens = max(parens - 1, 0)
            else:
                pos = _unskippable(text, token, match.start("t"))
            continue
        word = match["w"]
        if word is None:
            if pos < len(text):  # every character is skipped or a token: this would be a bug here
                raise AssertionError(f"sqlsplit: nothing matches at offset {pos}")
            return pos
        word = word.lower()
        if kind is None:
            words.append(word)
            kind = _kind(words)
            scanner = scanners.plain if kind == "plain" else scanners.prefix if kind is None else scanners.routine
        elif parens:
            continue
        elif kind == "routine":
            if word == "begin" or (word == "case" and blocks):
                blocks += 1
            elif word == "end" and blocks:
                blocks -= 1
            server_blocks += (word == "atomic" and previous == "begin") + (word == "case") - (word == "end")
        elif (previous, word) in _COPY_STREAMS:
            raise SplitRefused(
                f"COPY … {previous.upper()} {word.upper()}",
                _line_at(text, start),
                "psql would stream the lines after it as data, the migrator does not: load the data with"
                " INSERT … VALUES, or COPY from a server-side file",
            )
        previous = word


def _refuse_many_in_one(text: str, start: int, at: int) -> None:
    """psql counts every word BEGIN in a routine as opening a block, so after an unquoted `begin` (a column, a
    parameter outside parentheses) it sends the next statements in one query with the routine; the engine
    sends one statement per query, which the server refuses ("cannot insert multiple commands into a prepared
    statement"), and what psql runs there depends on where an END happens to stand."""
    raise SplitRefused(
        "psql would send this routine and the statements after it as one query: a word begin (not BEGIN ATOMIC)"
        " in it opens a block for psql's lexer",
        _line_at(text, start),
        f"quote the identifier begin (\"begin\") in the routine, so that its statement ends at the ';' on line"
        f" {_line_at(text, at)} or its END, for psql and the migrator alike",
    )


def _refuse_standard_strings_change(text: str, statements: list[Statement]) -> None:
    """psql reads backslashes in '...' by the server's standard_conforming_strings, as it changes."""
    starts = [s.start for s in statements]
    for found in _STD_STRINGS.finditer(text):
        at = found.start() - len("standard")
        if text[max(at, 0) : found.start()].lower() != "standard":
            continue
        index = bisect.bisect_right(starts, at) - 1
        if index < 0 or at >= statements[index].end:
            continue  # in a comment between statements
        statement = statements[index]
        if not _STD_STRINGS_ON.fullmatch(statement.sql):
            refused = SplitRefused(
                "standard_conforming_strings is changed (or mentioned) in a statement",
                statement.line,
                "remove it: migrations are read with standard_conforming_strings on; use E'...' for backslash escapes",
            )
            refused.statements, refused.start = statements[:index], statement.start
            raise refused


def _next_statement(text: str, pos: int) -> tuple[int, int]:
    """(first code, end) of the statement after `pos`; first == len(text) when only spaces and comments remain."""
    match = _STATEMENT.match(text, pos)
    assert match is not None
    if match["t"] == ";":  # the common case, settled in one call
        return match.start("first"), match.end()
    first = _first_code(text, pos)
    return first, first if first == len(text) else _statement_end(text, first)


def split_statements(text: str) -> list[Statement]:
    """Statements of `text` as psql would send them (spans of `text`, comments and spaces around trimmed)."""
    statements: list[Statement] = []
    size, pos = len(text), 0
    line, counted_to = 1, 0
    lone_cr = _LONE_CR.search(text) is not None  # else lines are counted by LF, fast, CRLF included
    while True:
        try:
            first, end = _next_statement(text, pos)
        except SplitError as exc:
            exc.statements, exc.start = statements, pos
            raise
        if first == size:
            break
        pos = end
        if end == size:  # the last statement, without ';': psql sends it up to its last code
            end = len(text.rstrip(_SPACE))
        if lone_cr:
            line += sum(1 for _ in _NEWLINES.finditer(text, counted_to, first))
        else:
            line += text.count("\n", counted_to, first)
        counted_to = first
        statements.append(Statement(text, first, end, line))
    if _STD_STRINGS.search(text):
        _refuse_standard_strings_change(text, statements)
    return statements
