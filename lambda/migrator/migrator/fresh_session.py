"""What gives each file the session a new `psql -1 -f` would, inside the batch's one session and transaction.

Every file starts after the reset (`reset_sql`: defaults, the login role, the engine's limits, and the database's
and role's settings once a file of the run may have changed them). What a session's end discards (`SESSION_END`)
goes before every file after the first: a file's text cannot tell (a function it calls makes a temp table, an
INSERT's serial default calls nextval), and in the pipeline it costs some 30 µs a file (bench/bench_session_end.py).
Pending deferred checks are settled where a file may have left some, judged by a look at its text and one at the
catalog per batch.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from migrator.errors import InvalidInput, MigratorError
from migrator.files import Migration
from migrator.sqlsplit import Statement, split_statements

# Settings the engine itself sets per session; every file starts with these and nothing else of ours.
_ENGINE_SETTINGS = (
    "lock_timeout",
    "statement_timeout",
    "transaction_timeout",
    "application_name",
    "client_connection_check_interval",
    "idle_in_transaction_session_timeout",
)

# The settings a new session of the login role would start with, read when sent: ALTER DATABASE … SET and
# ALTER ROLE … [IN DATABASE …] SET of an earlier file (committed, or earlier in this transaction). Precedence as
# the server's own login (postinit.c): role in database, role, database, every role. Settings this role may not
# SET itself (a superuser's ALTER ROLE … SET of a superuser-only one) are left at their reset values.
_DATABASE_AND_ROLE_SETTINGS = b"""SELECT pg_catalog.set_config(s.name, s.value, false) FROM (
  SELECT DISTINCT ON (name) name, value FROM (
    SELECT pg_catalog.split_part(c, '=', 1) AS name, pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1) AS value,
           (d.setdatabase OPERATOR(pg_catalog.<>) 0)::int OPERATOR(pg_catalog.+)
           2 OPERATOR(pg_catalog.*) (d.setrole OPERATOR(pg_catalog.<>) 0)::int AS precedence
    FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) AS c
    WHERE d.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()))
      AND d.setrole IN (0, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = session_user))
  ) AS given ORDER BY name, precedence DESC
) AS s LEFT JOIN pg_catalog.pg_settings p USING (name)
WHERE p.context IS NULL OR p.context = 'user'
   OR (p.context = 'superuser' AND pg_catalog.has_parameter_privilege(s.name, 'SET'))"""

_SETTABLE = "(p.context = 'user' OR (p.context = 'superuser' AND pg_catalog.has_parameter_privilege(p.name, 'SET')))"

# A setting this session took at login from the database's or role's settings that none of them gives any more
# (a file's ALTER DATABASE … RESET): a new session starts with what lies beneath, the server's configuration, which
# only a superuser can read. The batch is refused rather than run with a guess (its next file would silently create
# its objects elsewhere, or run with another timeout).
_RESET_SINCE_LOGIN = f"""DO $migrator$
DECLARE
  lost text;
BEGIN
  SELECT pg_catalog.string_agg(p.name, ', ' ORDER BY p.name) INTO lost FROM pg_catalog.pg_settings p
  WHERE p.source IN ('global', 'database', 'user', 'database user') AND {_SETTABLE}
    AND p.name OPERATOR(pg_catalog.<>) ALL (ARRAY[{", ".join(f"'{name}'" for name in _ENGINE_SETTINGS)}])
    AND NOT EXISTS (
      SELECT FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) AS c
      WHERE d.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()))
        AND d.setrole IN (0, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = session_user))
        AND pg_catalog.lower(pg_catalog.split_part(c, '=', 1)) OPERATOR(pg_catalog.=) pg_catalog.lower(p.name));
  IF lost IS NOT NULL THEN
    RAISE EXCEPTION 'a file of this run reset the database''s or role''s % (ALTER DATABASE/ROLE … RESET), which this'
      ' session read at login: a new session starts with the server''s own value, which the migrator cannot read;'
      ' nothing of this batch was applied', lost
      USING ERRCODE = '55000', HINT = 'set the value the next files need instead of RESET (e.g. ALTER DATABASE … SET'
        ' search_path = "$user", public), or move the files after it to a later run';
  END IF;
END
$migrator$""".encode()

# A file that may change what a new session starts with.
_ALTERS_DEFAULTS = re.compile(r"\bALTER\s+(?:DATABASE|ROLE|USER)\b", re.IGNORECASE)


def alters_defaults(text: str) -> bool:
    return _ALTERS_DEFAULTS.search(text) is not None


@dataclass(frozen=True)
class Reset:
    """The reset before each file of a batch, and whether the database held INITIALLY DEFERRED constraints
    when the batch began (their pending checks are then settled at each file's end)."""

    prelude: tuple[bytes, ...]
    deferred_in_database: bool


def reset_sql(conn: psycopg.Connection, defaults_changed: bool = False) -> Reset:
    """What gives a file the session a new `psql` would: defaults, its own login role, and the engine's limits.

    A file's `SET search_path`, `SET ROLE` or `SET statement_timeout = 0` stays in that file, as it would
    with `psql -f` per file. RESET ALL restores the values of connection time: when a file of this run may
    have changed the database's or role's settings (`defaults_changed`), those are read again and applied.
    RESET ALL leaves the role alone, so the role's session default is restored with the limits; only a
    superuser can change the session authorization, so only a superuser's session resets it.
    """
    rows = conn.execute(
        "SELECT name, pg_catalog.current_setting(name, true) FROM pg_catalog.unnest(%s::text[]) AS name",
        (list(_ENGINE_SETTINGS),),
    ).fetchall()
    role_default = conn.execute("SELECT reset_val FROM pg_catalog.pg_settings WHERE name = 'role'").fetchone()
    values = [("role", role_default[0] if role_default else "none"), *((n, v) for n, v in rows if v is not None)]
    restore = [
        sql.SQL("{}({}, {}, false)").format(sql.SQL("pg_catalog.set_config"), sql.Literal(name), sql.Literal(value))
        for name, value in values
    ]
    limits = sql.SQL("SELECT {}").format(sql.SQL(", ").join(restore)).as_bytes(conn)
    found = conn.execute(
        "SELECT rolsuper, EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE condeferred)"
        " FROM pg_catalog.pg_roles WHERE rolname = session_user"
    ).fetchone()
    superuser, deferred = found if found else (False, False)
    authorization = (b"RESET SESSION AUTHORIZATION",) if superuser else ()
    settings = (_RESET_SINCE_LOGIN, _DATABASE_AND_ROLE_SETTINGS) if defaults_changed else ()
    # One statement each: they go out in the file's pipeline. The engine's limits come last and win.
    return Reset((*authorization, b"RESET ALL", *settings, limits), bool(deferred))


# psql runs each file in a session of its own: temporary objects, prepared statements, cursors and sequence
# state (currval, lastval, cached values) end with it. Inside the batch's transaction these may end (DISCARD ALL
# may not); they are sent before every file that follows another.
SESSION_END = split_statements("CLOSE ALL;\nDEALLOCATE ALL;\nDISCARD TEMP;\nDISCARD SEQUENCES;\n")


# A file that may create a deferrable constraint or defer one.
_MAY_DEFER = re.compile(r"\bDEFERR(?:ABLE|ED)\b", re.IGNORECASE)


def may_defer(text: str) -> bool:
    return _MAY_DEFER.search(text) is not None


# psql's commit at a file's end runs the checks deferred until then: SET CONSTRAINTS ALL IMMEDIATE runs them
# now, and the next file's "transaction" then starts as a new one would: the INITIALLY DEFERRED constraints
# deferred again, by name (ALL DEFERRED would defer the DEFERRABLE INITIALLY IMMEDIATE ones too). A name that
# a not-deferred constraint of its schema shares is left immediate: SET CONSTRAINTS would change both.
_SETTLE = """SET CONSTRAINTS ALL IMMEDIATE;
DO $migrator$
DECLARE
  deferred text;
BEGIN
  SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%I.%I', n.nspname, c.conname), ', ') INTO deferred
  FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.connamespace
  WHERE c.condeferred AND NOT pg_catalog.pg_is_other_temp_schema(n.oid)
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint o WHERE o.connamespace OPERATOR(pg_catalog.=) c.connamespace
                    AND o.conname OPERATOR(pg_catalog.=) c.conname AND NOT o.condeferred);
  IF deferred IS NOT NULL THEN
    EXECUTE pg_catalog.format('SET CONSTRAINTS %s DEFERRED', deferred);
  END IF;
END
$migrator$;
"""


@functools.cache
def _settle_statements() -> list[Statement]:  # split when first needed, not at import
    return split_statements(_SETTLE)


def settle_deferred(text: str) -> list[Statement]:
    """The statements that end a file (its `text`) as its commit would, located at the file's last line: a
    deferred check that fails is reported there."""
    last_line = text.count("\n", 0, len(text.rstrip())) + 1
    return [statement._replace(line=last_line) for statement in _settle_statements()]


# A custom setting (a dotted name: app.tenant) that a file sets stays in the session once made: RESET gives it ''
# where psql's next session has none (current_setting(name, true) is NULL, SHOW fails), and nothing removes it.
_CUSTOM = r"([a-z_][\w$]*\.[\w$.]+)"
_SET_STATEMENT = re.compile(rf"SET\s+(?:SESSION\s+|LOCAL\s+)?{_CUSTOM}\s*(?:=|TO\b)", re.IGNORECASE)
_SET_CONFIG = re.compile(r"\bset_config\s*\(\s*'([^'.]+\.[^']+)'", re.IGNORECASE)
_READS_CUSTOM = re.compile(rf"\bcurrent_setting\s*\(\s*'([^'.]+\.[^']+)'|\bSHOW\s+{_CUSTOM}", re.IGNORECASE)


# Statements that define code or rules run later, not now: a set_config or current_setting in a function's body,
# a view or a policy does not run at migration time (Supabase's helpers read request.jwt.claims so).
_DEFINES_CODE = re.compile(
    r"(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY)\s+)?(?:RECURSIVE\s+)?(?:CONSTRAINT\s+)?"
    r"(?:FUNCTION|PROCEDURE|POLICY|VIEW|TRIGGER|RULE)|ALTER\s+POLICY)\b",
    re.IGNORECASE,
)


def _run_now(migration: Migration) -> Iterator[Statement]:
    return (s for s in migration.statements if not _DEFINES_CODE.match(s.source, s.start, s.end))


def _sets(migration: Migration) -> set[str]:
    """The custom settings a file sets as it runs: its SET statements (not ALTER … SET), set_config calls."""
    names: set[str] = set()
    for statement in _run_now(migration):
        found = _SET_STATEMENT.match(statement.source, statement.start, statement.end)
        if found:
            names.add(found[1].lower())
        names |= {f[1].lower() for f in _SET_CONFIG.finditer(statement.source, statement.start, statement.end)}
    return names


def _reads(migration: Migration) -> set[str]:
    """The custom settings a file reads as it runs (current_setting, SHOW)."""
    lowered = migration.text.lower()  # a 50 MB file: 0.1 s, where the regular expression alone takes seconds
    if "current_setting" not in lowered and "show" not in lowered:
        return set()
    return {
        (found[1] or found[2]).lower()
        for statement in _run_now(migration)
        for found in _READS_CUSTOM.finditer(statement.source, statement.start, statement.end)
    }


def refuse_custom_settings_read_later(conn: psycopg.Connection, files: Sequence[Migration]) -> None:
    """Before anything runs: a file that reads a custom setting an earlier file of the run sets (and it does not
    set itself), where the session did not have it at login (from the database's or role's settings), would read
    '' where psql's new session reads nothing. Refused with the rewrite that reads the same in both."""
    reads = [_reads(migration) for migration in files]
    if not any(reads):  # the common case: no file reads one, nothing more is looked at
        return
    set_by: dict[str, Migration] = {}
    for migration, names in zip(files, reads, strict=True):
        own = _sets(migration)
        for name in sorted(names - own):
            if name not in set_by:
                continue
            row = conn.execute("SELECT pg_catalog.current_setting(%s, true) IS NULL", (name,)).fetchone()
            if row is not None and row[0]:
                raise MigratorError(
                    f"{migration.filename} reads the setting {name}, which {set_by[name].filename} sets: psql's new"
                    f" session would not have it (current_setting('{name}', true) is NULL), but this run's session"
                    " keeps it, empty, once set; nothing was applied",
                    hint=f"read it as NULLIF(current_setting('{name}', true), '') so that unset reads the same in"
                    f" any session, or set it in {migration.filename} itself",
                )
        for name in own:
            set_by.setdefault(name, migration)


# A read-only transaction cannot hold the file's history row: psql runs such a file, the engine failed at its own
# write ("cannot execute INSERT in a read-only transaction", no file named). Refused before anything runs.
_ON = r"'?(?:on|true|yes|t|y|1)\b"
_READ_ONLY_IN_TRANSACTION = re.compile(
    rf"SET\s+TRANSACTION\b[^;]*?\bREAD\s+ONLY\b|SET\s+(?:LOCAL\s+|SESSION\s+)?transaction_read_only\s*(?:=|TO)\s*{_ON}",
    re.IGNORECASE,
)
_READ_ONLY_AFTER = re.compile(  # outside a transaction: what makes the next one (the history's) read-only
    r"SET\s+SESSION\s+CHARACTERISTICS\s+AS\s+TRANSACTION\b[^;]*?\bREAD\s+ONLY\b"
    rf"|SET\s+(?:SESSION\s+)?default_transaction_read_only\s*(?:=|TO)\s*{_ON}",
    re.IGNORECASE,
)


def refuse_read_only(files: Sequence[Migration]) -> None:
    """Before anything runs: a file that would make the transaction that records it read-only."""
    for migration in files:
        if "only" not in migration.text.lower():  # the common case: one look at the text
            continue
        pattern = _READ_ONLY_AFTER if migration.no_transaction else _READ_ONLY_IN_TRANSACTION
        for statement in migration.statements:
            if pattern.match(statement.source, statement.start, statement.end):
                raise InvalidInput(
                    f"{migration.path}:{statement.line}: a read-only transaction in a migration: the migrator records"
                    " the file as applied in the transaction it runs in (or after it, for a no-transaction file),"
                    " which could then write nothing; nothing was applied",
                    hint="remove the statement: the file's queries and checks run the same in a read-write transaction",
                )
