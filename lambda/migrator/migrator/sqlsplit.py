"""Split a SQL file into statements, each with the line it starts on.

Statements are sent one at a time (as psql does) so that an error names its
line, and so that a no-transaction file never forms an implicit transaction.
Quotes, dollar quotes and comments are skipped, so semicolons inside them do
not split. In `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, SQL-standard
`BEGIN ATOMIC ... END` bodies are kept whole with psql's own rule: BEGIN opens a
block, CASE inside a block opens one, END closes one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_OPENER = r"--|/\*|[eE]'|'|\"|\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$"  # comments, quotes, dollar quotes
_TOKEN = re.compile(_OPENER + "|;")
_CODE = re.compile(r"[^\s]")
_ROUTINE = re.compile(r"create\s+(?:or\s+replace\s+)?(?:function|procedure)\b", re.IGNORECASE)
_BLOCK_TOKEN = re.compile(_OPENER + r"|\b(?:begin|case|end)\b", re.IGNORECASE)
_BLOCK_WORDS = ("begin", "case", "end")


@dataclass(frozen=True)
class Statement:
    """One statement, as a span of its file's text: a 50 MB file is held once, not twice."""

    source: str = field(repr=False, compare=False)
    start: int
    end: int
    line: int

    @property
    def sql(self) -> str:
        return self.source[self.start : self.end].strip()


class UnterminatedSQL(ValueError):
    """A quote, dollar quote or comment is never closed."""

    def __init__(self, what: str, line: int) -> None:
        super().__init__(f"unterminated {what} starting at line {line}")
        self.line = line


def _end_of_block_comment(text: str, start: int) -> int:
    depth, pos = 1, start + 2
    while depth:
        opener, closer = text.find("/*", pos), text.find("*/", pos)
        if closer < 0:
            raise UnterminatedSQL("comment", text.count("\n", 0, start) + 1)
        if 0 <= opener < closer:
            depth, pos = depth + 1, opener + 2
        else:
            depth, pos = depth - 1, closer + 2
    return pos


def _end_of_quoted(text: str, start: int, quote: str, backslashes: bool) -> int:
    pos = start
    while True:
        end = text.find(quote, pos)
        if end < 0:
            raise UnterminatedSQL("quoted string", text.count("\n", 0, start) + 1)
        if backslashes:
            slashes = len(text[pos:end]) - len(text[pos:end].rstrip("\\"))
            if slashes % 2:
                pos = end + 1
                continue
        if text.startswith(quote, end + 1):
            pos = end + 2
            continue
        return end + 1


def _skip(text: str, token: str, start: int) -> int:
    """Return the offset just after the construct that `token` opens at `start`."""
    if token == "--":
        end = text.find("\n", start)
        return len(text) if end < 0 else end + 1
    if token == "/*":
        return _end_of_block_comment(text, start)
    if token in ("'", '"'):
        return _end_of_quoted(text, start + 1, token, backslashes=False)
    if token in ("e'", "E'"):
        return _end_of_quoted(text, start + 2, "'", backslashes=True)
    end = text.find(token, start + len(token))
    if end < 0:
        raise UnterminatedSQL(f"dollar quote {token}", text.count("\n", 0, start) + 1)
    return end + len(token)


def _has_code(text: str, start: int, end: int) -> int:
    """Offset of the first character of code in text[start:end], or -1 (comments only)."""
    pos = start
    while pos < end:
        found = _CODE.search(text, pos, end)
        if not found:
            return -1
        pos = found.start()
        if text.startswith("--", pos):
            nl = text.find("\n", pos)
            pos = end if nl < 0 else nl + 1
        elif text.startswith("/*", pos):
            pos = _end_of_block_comment(text, pos)
        else:
            return pos
    return -1


def _block_depth(text: str, start: int, end: int, depth: int) -> int:
    """How many BEGIN/CASE blocks are open at `end`, given `depth` at `start`, counted as psql does."""
    pos = start
    while (match := _BLOCK_TOKEN.search(text, pos, end)) is not None:
        word = match.group().lower()
        if word not in _BLOCK_WORDS:
            pos = _skip(text, match.group(), match.start())
            continue
        if word == "begin" or (word == "case" and depth):
            depth += 1
        elif word == "end":
            depth = max(depth - 1, 0)
        pos = match.end()
    return depth


def split_statements(text: str) -> list[Statement]:
    statements: list[Statement] = []
    start = pos = 0
    line, counted_to = 1, 0
    first: int | None = None  # where the current statement's code begins, found at its first ';'
    routine, depth, scanned = False, 0, 0  # CREATE FUNCTION/PROCEDURE? open blocks up to `scanned`

    def emit(end: int, first: int) -> None:
        nonlocal line, counted_to
        if first < 0:
            return
        line += text.count("\n", counted_to, first)
        counted_to = first
        statements.append(Statement(text, first, end, line))

    while (match := _TOKEN.search(text, pos)) is not None:
        token = match.group()
        if token != ";":
            pos = _skip(text, token, match.start())
            continue
        if first is None:
            first = _has_code(text, start, match.end())
            routine, depth, scanned = _ROUTINE.match(text, first) is not None, 0, start
        if routine:
            depth, scanned = _block_depth(text, scanned, match.start(), depth), match.end()
            if depth:
                pos = match.end()
                continue
        emit(match.end(), first)
        start = pos = match.end()
        first = None
    emit(len(text), _has_code(text, start, len(text)) if first is None else first)
    return statements
