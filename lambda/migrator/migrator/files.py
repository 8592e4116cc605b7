"""Discover migration files and schema.sql, and check them before any database is touched."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from migrator.durations import milliseconds
from migrator.errors import InvalidInput, SplitError
from migrator.sqlsplit import Statement, split_statements

MIGRATION_NAME = re.compile(r"^(?P<version>[0-9]{3,})_(?P<name>[a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
NO_TRANSACTION_MARK = "-- migrate:no-transaction"  # the first line only
RUNNER_MARKER = "-- migrate:runner=codebuild"  # any line of the leading comments
MAX_LOCK_HOLD_MARK = "-- migrate:max-lock-hold="  # any line of the leading comments: a DURATION, 0 = no limit
SCHEMA_VERSION = re.compile(r"^--\s*schema-version:\s*(?P<version>[0-9]{3,})\s*$", re.MULTILINE)
_BOM = "\ufeff"
_SET_TRANSACTION = re.compile(r"SET\s+TRANSACTION\b", re.IGNORECASE)
_NAME_PART = r'(?:"(?:[^"]|"")*"|[^\s".;]+)'
_ADDS_ENUM_VALUE = re.compile(rf"ALTER\s+TYPE\s+{_NAME_PART}(?:\s*\.\s*{_NAME_PART})*\s+ADD\s+VALUE\b", re.IGNORECASE)
_ADD_VALUE = re.compile(r"ADD\s+VALUE\b", re.IGNORECASE)  # a quick look at the text before any statement
_TRANSACTION_CONTROL = re.compile(
    r"(BEGIN|COMMIT|ROLLBACK|ABORT|END|START\s+TRANSACTION|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b",
    re.IGNORECASE,
)


def decode(raw: bytes, where: Path) -> str:
    """The file's text as psql reads it: UTF-8 without its BOM (psql skips one too), line endings kept.

    Statements are cut from this text, so a string literal spanning lines of a CRLF file keeps its
    \r\n, as psql sends it. Hidden characters are refused (see `_refuse_hidden`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where}: not valid UTF-8 (byte {exc.start})", hint="save the file as UTF-8") from None
    text = text.removeprefix(_BOM)
    _refuse_hidden(text, where)
    return text


# What no reviewer sees: NUL (the server reads a statement only up to it, so `SET x = 0 \0WHERE id = 1` runs
# without its WHERE), other control characters but SQL's whitespace (tab, LF, VT, FF, CR), and the
# bidirectional controls that reorder what an editor shows ("Trojan Source").
_HIDDEN_IN_SQL = re.compile("[\x00-\x08\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _refuse_hidden(text: str, where: Path) -> None:
    found = _HIDDEN_IN_SQL.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    code = f"U+{ord(found[0]):04X}"
    raise InvalidInput(
        f"{where}:{line}:{column}: hidden character {code} ({'NUL' if found[0] == chr(0) else 'a control character'});"
        " nothing was applied",
        hint="remove it; where a string needs such a character, write it as an escape (E'\\x1b', U&'\\202E')"
        " so that review sees it",
    )


def normalise(raw: bytes, where: Path) -> str:
    """Decoded text with LF line endings, so a Windows checkout checksums the same (checksums only)."""
    return _lf(decode(raw, where))


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")  # the same object when there is no CR


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path: Path) -> str:
    """The decoded file (see `decode`); its LF form, for checksums and headers, is `_lf` of it."""
    try:
        return decode(path.read_bytes(), path)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    text: str = field(repr=False)
    checksum: str
    statements: list[Statement] = field(repr=False, compare=False)
    # The header's markers, read once when the file is loaded (`header`), never by copying the whole text.
    no_transaction: bool = field(init=False, compare=False)
    runs_in_codebuild: bool = field(init=False, compare=False)
    max_lock_hold_s: float | None = field(init=False, compare=False)  # None: the run's budget applies
    # Loaded leniently (`status`): why its statements could not be read (it has none then); apply refuses it.
    refused: InvalidInput | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        end = self.text.find("\n")
        first = self.text[: len(self.text) if end < 0 else end]
        object.__setattr__(self, "no_transaction", first.strip() == NO_TRANSACTION_MARK)
        lines = header(self.text)
        object.__setattr__(self, "runs_in_codebuild", RUNNER_MARKER in lines)
        object.__setattr__(self, "max_lock_hold_s", _max_lock_hold(lines, self.path))

    @property
    def number(self) -> int:
        return int(self.version)

    @property
    def sets_transaction(self) -> bool:
        """Its first statement is SET TRANSACTION (an isolation level, read only): it must be its transaction's
        first statement, so the file starts a batch of its own and that statement goes first (as `psql -1`)."""
        first = self.statements[0] if self.statements else None
        return first is not None and _SET_TRANSACTION.match(first.source, first.start) is not None

    @functools.cached_property
    def adds_enum_value(self) -> bool:
        """A statement of it is ALTER TYPE … ADD VALUE: the value is usable only once committed (55P04), so the
        file ends its batch and the files after it run in a new transaction, as each file of `psql -1` commits."""
        if _ADD_VALUE.search(self.text) is None:  # in C over the text; the statements only when it may be there
            return False
        return any(_ADDS_ENUM_VALUE.match(s.source, s.start, s.end) for s in self.statements)

    @property
    def filename(self) -> str:
        return self.path.name


def header(text: str) -> list[str]:
    """The file's leading comment lines, stripped, up to its first statement (blank lines do not end them)."""
    lines: list[str] = []
    start = 1 if text.startswith("\ufeff") else 0  # loaded files have none; text handed in directly may
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end].strip()
        start = end + 1
        if not line:
            continue
        if not line.startswith("--"):
            break
        lines.append(line)
    return lines


def _max_lock_hold(lines: list[str], path: Path) -> float | None:
    given = [line.removeprefix(MAX_LOCK_HOLD_MARK) for line in lines if line.startswith(MAX_LOCK_HOLD_MARK)]
    if not given:
        return None
    try:
        return milliseconds(given[-1]) / 1000
    except ValueError as exc:
        raise InvalidInput(f"{path}: {MAX_LOCK_HOLD_MARK}{given[-1]}: {exc}") from None


# A file wrapped whole in one plain transaction (what Prisma generates when an enum value is removed):
# `BEGIN`/`BEGIN WORK|TRANSACTION`/`START TRANSACTION` first, `COMMIT`/`END` [WORK|TRANSACTION] last.
_WRAP_BEGIN = re.compile(r"(?:BEGIN(?:\s+(?:WORK|TRANSACTION))?|START\s+TRANSACTION)\s*;?\s*", re.IGNORECASE)
_WRAP_END = re.compile(r"(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?\s*;?\s*", re.IGNORECASE)


def _unwrapped(statements: list[Statement], path: Path, no_transaction: bool) -> list[Statement]:
    """The statements between a whole-file BEGIN … COMMIT, which are not sent: the file runs inside the batch's
    transaction and commits or rolls back with it (alone, the outcome of `psql -1 -f`; inside a batch, sending
    the COMMIT would commit the files before it). Anything else is returned as it is, and refused below."""
    if len(statements) < 2:
        return statements
    first, last = statements[0], statements[-1]
    if not (
        _WRAP_BEGIN.fullmatch(first.source, first.start, first.end)
        and _WRAP_END.fullmatch(last.source, last.start, last.end)
    ):
        return statements
    if no_transaction:
        raise InvalidInput(
            f"{path}:{first.line}: a file marked '{NO_TRANSACTION_MARK}' is wrapped in BEGIN … COMMIT",
            hint="drop the marker (the file then runs in the batch's transaction) or the BEGIN and COMMIT lines",
        )
    return statements[1:-1]


def parse_statements(text: str, path: Path, no_transaction: bool = False) -> list[Statement]:
    """Statements of a file (its decoded text, line endings as on disk); what psql would not send as
    SQL (meta-commands, COPY data, a change of standard_conforming_strings) and transaction control
    (we own the transaction) are refused, but for a plain BEGIN … COMMIT around the whole file."""
    try:
        statements = _unwrapped(split_statements(text), path, no_transaction)
    except SplitError as exc:
        raise InvalidInput(f"{path}:{exc.line}: {exc}", hint=exc.hint) from None
    controls = [
        (statement, found)
        for statement in statements
        if (found := _TRANSACTION_CONTROL.match(statement.source, statement.start))  # no copy of the statement
    ]
    if controls:
        statement, control = controls[0]
        raise InvalidInput(
            f"{path}:{statement.line}: transaction control ({control.group(1).upper()}) in a migration",
            hint=_partial_wrap_hint(controls, no_transaction)
            or "remove it: the migrator owns transactions (a batch runs in one; a file whose first line is"
            " '-- migrate:no-transaction' runs statement by statement in autocommit, also without BEGIN/COMMIT;"
            " only a plain BEGIN as the first statement and COMMIT as the last, around the whole file, are"
            " accepted, and not sent)",
        )
    return statements


def _partial_wrap_hint(controls: list[tuple[Statement, re.Match[str]]], no_transaction: bool) -> str:
    """Plain BEGIN … COMMIT pairs around parts of a file (Prisma's enum changes): `psql -1` commits at the first
    COMMIT and runs the rest in autocommit; the engine runs the whole file in one transaction, so they are
    redundant."""
    if no_transaction or not controls or len(controls) % 2:
        return ""
    pairs: list[str] = []
    for (begin, _), (end, found) in zip(controls[::2], controls[1::2], strict=True):
        opens = _WRAP_BEGIN.fullmatch(begin.source, begin.start, begin.end)
        if not (opens and _WRAP_END.fullmatch(end.source, end.start, end.end)):
            return ""
        pairs.append(f"the BEGIN (line {begin.line}) and the {found.group(1).upper()} (line {end.line})")
    return (
        "the migrator already runs the whole file in one transaction, so BEGIN … COMMIT around part of it is"
        f" redundant: delete {', '.join(pairs)}; the file then has the same result, applied atomically"
    )


def _migration(directory: Path, entry: os.DirEntry[str], lenient: bool = False) -> Migration:
    path = directory / entry.name
    match = MIGRATION_NAME.match(entry.name)
    if match is None:
        raise InvalidInput(
            f"{path}: not a migration name",
            hint="name migrations NNN_snake_case.sql (e.g. 008_add_tags.sql), or move the file out",
        )
    if entry.is_symlink() or not entry.is_file(follow_symlinks=False):  # from the listing: no stat per file
        raise InvalidInput(
            f"{path}: not a regular file",
            hint="a migration must be a real file (a symlink may not survive packaging)",
        )
    raw = _read(path)
    text = _lf(raw)
    refused = None
    try:
        statements = parse_statements(raw, path, _first_line(raw).strip() == NO_TRANSACTION_MARK)
    except InvalidInput as exc:
        if not lenient:
            raise
        statements, refused = [], exc
    return Migration(
        version=match["version"],
        name=match["name"],
        path=path,
        text=text,
        checksum=checksum(text),
        statements=statements,
        refused=refused,
    )


def _first_line(text: str) -> str:
    end = text.find("\n")
    return text if end < 0 else text[:end]


def listing(directory: Path) -> list[str]:
    """`name@checksum` (12 hex digits) of each migration in version order, as the CDK app lists them in the
    custom resource: read and checksummed, not split, so a handler can compare cheaply before it plans."""
    named = [(MIGRATION_NAME.match(path.name), path) for path in directory.glob("*.sql")]
    ordered = sorted((int(match["version"]), path) for match, path in named if match)
    return [f"{path.name}@{checksum(_lf(_read(path)))[:12]}" for _, path in ordered]


def load_migrations(directory: Path, lenient: bool = False) -> list[Migration]:
    """All migrations of `directory`, ordered by version; any doubt is InvalidInput. `lenient` (for `status`,
    which lists every version whatever is wrong): a file whose statements cannot be read is kept, `refused`."""
    if not directory.is_dir():
        raise InvalidInput(f"{directory}: migrations directory not found")
    with os.scandir(directory) as listing:  # in path order, as sorted(directory.iterdir()) would give
        candidates = sorted(
            (e for e in listing if e.name.lower().endswith(".sql")), key=lambda e: os.path.normcase(e.name)
        )
    migrations = sorted((_migration(directory, e, lenient) for e in candidates), key=lambda m: m.number)
    seen: dict[int, Migration] = {}
    for migration in migrations:
        twin = seen.setdefault(migration.number, migration)
        if twin is not migration:
            raise InvalidInput(
                f"duplicate version {migration.version}: {twin.filename} and {migration.filename}",
                hint="give each migration its own version number",
            )
    return migrations


@dataclass(frozen=True)
class SchemaFile:
    path: Path
    text: str = field(repr=False)
    version: str
    statements: list[Statement] = field(repr=False, compare=False)

    @property
    def number(self) -> int:
        return int(self.version)


def load_schema_file(path: Path) -> SchemaFile:
    if not path.is_file():
        raise InvalidInput(f"{path}: schema file not found", hint="pass --schema-file, or --no-schema")
    raw = _read(path)
    text = _lf(raw)
    match = SCHEMA_VERSION.search(text)
    if match is None:
        raise InvalidInput(
            f"{path}: no '-- schema-version: NNN' header",
            hint="state which migration version the schema equals, e.g. '-- schema-version: 007'",
        )
    return SchemaFile(path=path, text=text, version=match["version"], statements=parse_statements(raw, path))
