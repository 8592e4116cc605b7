"""A copy of a database on its own server, made while other sessions use it.

`CREATE DATABASE … TEMPLATE` fails while anyone else is connected to the source (55006), and the wheel's pg_dump
refuses a newer server; so the copy's schema is built by the engine (the source's own history, replayed) and
checked object by object against the source, then every table's rows are streamed with COPY inside one
REPEATABLE READ READ ONLY snapshot of the source. That snapshot holds ACCESS SHARE on each table it has read until
the copy ends: a deploy's ALTER on the source queues behind it meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from migrator import history, scratch
from migrator.catalog import describe, differences
from migrator.connect import pin_search_path
from migrator.errors import MigratorError

PREFIX = "migrator_rehearsal_"
_LOCK_CLASS = 0x6D697263  # "mirc": the source's session holds it, with the copy's name, while the copy exists
# Read through to_jsonb: the provider's and locale's columns differ between PostgreSQL 14, 15-16 and 17.
_LOCALE = b"""
SELECT pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype, pg_catalog.to_jsonb(d) ->> 'datlocprovider',
       pg_catalog.to_jsonb(d) ->> 'datlocale', pg_catalog.to_jsonb(d) ->> 'daticulocale'
  FROM pg_catalog.pg_database d WHERE datname = pg_catalog.current_database()
"""


def _comment_of(source: str) -> str:
    """The copy's comment: advisory locks are per database, so a copy is judged only by rehearsals of its source."""
    return f"rehearsal copy of {source}"


def _create_sql(conn: psycopg.Connection, name: str) -> sql.Composed:
    """CREATE DATABASE with the source's encoding and locale (they decide sort order, so index builds)."""
    row = conn.execute(_LOCALE).fetchone()
    assert row is not None
    encoding, collate, ctype, provider, locale, icu = row
    parts = [
        sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
            sql.Identifier(name), sql.Literal(encoding), sql.Literal(collate), sql.Literal(ctype)
        )
    ]
    if provider == "i":
        parts.append(sql.SQL("LOCALE_PROVIDER icu ICU_LOCALE {}").format(sql.Literal(locale or icu)))
    elif provider == "b":
        parts.append(sql.SQL("LOCALE_PROVIDER builtin BUILTIN_LOCALE {}").format(sql.Literal(locale)))
    return sql.SQL(" ").join(parts)


# The source database's own settings (ALTER DATABASE … SET), those a role of ours may set.
_DATABASE_SETTINGS = b"""
SELECT s.name, s.value FROM (
  SELECT pg_catalog.split_part(c, '=', 1) AS name, pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1) AS value
    FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) AS c
   WHERE d.setrole = 0
     AND d.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
) AS s LEFT JOIN pg_catalog.pg_settings p USING (name)
WHERE p.context IS NULL OR p.context = 'user'
   OR (p.context = 'superuser' AND pg_catalog.has_parameter_privilege(s.name, 'SET'))
"""


# Settings whose value is a list, stored as the server parsed it (`"$user", public`): pg_dump's list.
_LISTS = frozenset({"search_path", "temp_tablespaces", "local_preload_libraries", "session_preload_libraries"})


def _copy_settings(conn: psycopg.Connection, name: str) -> None:
    """The source database's settings on the copy: its migrations run under the same search_path, time zone or
    work_mem as on the source. A list is set in this session for a moment and saved FROM CURRENT, so it keeps its
    items; any other value is saved as it reads (never set here: `role` would change who runs the next statement)."""
    for setting, value in conn.execute(_DATABASE_SETTINGS).fetchall():
        alter = sql.SQL("ALTER DATABASE {} SET {}").format(sql.Identifier(name), sql.Identifier(str(setting)))
        if setting not in _LISTS:
            conn.execute(sql.SQL("{} = {}").format(alter, sql.Literal(value)))
            continue
        with conn.transaction():
            conn.execute(b"SELECT pg_catalog.set_config(%s, %s, true)", (setting, value))
            conn.execute(sql.SQL("{} FROM CURRENT").format(alter))


@contextmanager
def scratch_copy(conn: psycopg.Connection) -> Iterator[str]:
    """An empty database beside the source, named `migrator_rehearsal_…`, owned by the connected role and
    dropped when the block ends, also on an error or Ctrl-C; `conn` (the source's, autocommit) holds its lock."""
    source = str(conn.info.dbname)
    name = f"{PREFIX}{uuid.uuid4().hex[:10]}"
    pin_search_path(conn)
    scratch.drop_leftovers(conn, PREFIX, _LOCK_CLASS, _comment_of(source))
    scratch.hold(conn, _LOCK_CLASS, name)
    try:
        conn.execute(_create_sql(conn, name))
    except psycopg.errors.InsufficientPrivilege:
        scratch.release(conn, _LOCK_CLASS, name)
        raise MigratorError(
            f"cannot create the rehearsal's copy next to {source}: the role may not create databases (CREATEDB)",
            hint="rehearse as a role with CREATEDB that can read every table and the migration history (a"
            " deployed environment's master user has CREATEDB but cannot read them: `--env ENV rehearse` rehearses"
            " a restored copy); the source was not changed",
        ) from None
    except psycopg.errors.DuplicateDatabase:  # not this run's: it is left alone
        scratch.release(conn, _LOCK_CLASS, name)
        raise MigratorError(
            f"cannot create the rehearsal's copy next to {source}: a database named {name} already exists, and it is"
            " not this run's (it was left alone); nothing was rehearsed",
            hint="run again: each run names its copy anew; the source was not changed",
        ) from None
    try:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(_comment_of(source)))
        )
        _copy_settings(conn, name)
        yield name
    finally:
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        finally:
            scratch.release(conn, _LOCK_CLASS, name)


# --- the rows -----------------------------------------------------------------------------------------------------

_TABLES = b"""
SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
       pg_catalog.array_remove(pg_catalog.array_agg(pg_catalog.quote_ident(a.attname::text) ORDER BY a.attnum), NULL)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attribute a
    ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
 WHERE c.relkind = 'r' AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'migrator')
 GROUP BY 1
"""
# Foreign keys of their own (not a partition's clone of its parent's), as the copy re-creates them after the rows.
_FOREIGN_KEYS = b"""
SELECT k.conrelid::pg_catalog.regclass::pg_catalog.text, pg_catalog.quote_ident(k.conname),
       pg_catalog.pg_get_constraintdef(k.oid)
  FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
 WHERE k.contype = 'f' AND k.conparentid = 0 AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrator')
 ORDER BY 1, 2
"""
_SEQUENCES = b"""
SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrator')
"""
# Partitioned tables' first: ALTER TABLE on one sets its partitions' clones of the trigger too, so each partition's
# own state is set after its parent's.
_TRIGGERS = b"""
SELECT t.tgrelid::regclass::text, pg_catalog.quote_ident(t.tgname), t.tgenabled::text
  FROM pg_catalog.pg_trigger t WHERE NOT t.tgisinternal
 ORDER BY (SELECT pg_catalog.count(*) FROM pg_catalog.pg_partition_ancestors(t.tgrelid)), t.oid
"""
# Materialized views and whether they hold rows (never REFRESHed after `WITH NO DATA`, a query of one fails), in the
# order they were made (one may read another).
_MATVIEWS = b"""
SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), c.relispopulated
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'm' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY c.oid
"""
# Both ends read and write text in one format, whatever the two databases' own settings say; a table's COPY lasts as
# long as the table is large (the run's statement_timeout is for the migrations). A row-level security policy that
# would hide rows from this role fails the read instead (as pg_dump makes it): a copy missing rows is no copy.
_SESSION = (
    b"SET LOCAL DateStyle = ISO, YMD; SET LOCAL IntervalStyle = postgres; SET LOCAL extra_float_digits = 3;"
    b" SET LOCAL statement_timeout = 0; SET LOCAL row_security = off"
)
_HISTORY_EXISTS = f"SELECT pg_catalog.to_regclass('{history.QUALIFIED}') IS NOT NULL".encode()
_ENABLE = {"O": "ENABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER", "D": "DISABLE TRIGGER"}


@dataclass(frozen=True)
class Table:
    name: str  # quoted and qualified
    columns: tuple[str, ...]  # quoted; generated columns left out (the copy computes them)


@dataclass(frozen=True)
class Copied:
    tables: int
    rows: int
    sequences: int


def same_schema(source: psycopg.Connection, copy: psycopg.Connection, schema: str) -> None:
    """The copy the engine built must be the source's schema object by object, or the rehearsal measures another
    database: the source drifted from its migrations (a hand-made change), and `verify` there says how."""
    found = differences(describe(source, schema), describe(copy, schema))
    if found:
        shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
        raise MigratorError(
            f"the source's schema is not what its migration history builds ({shown}); nothing was rehearsed",
            hint="`verify` on the source lists the drift; bring it back to its migrations, then rehearse",
        )


def copy_rows(source: psycopg.Connection, copy: psycopg.Connection) -> Copied:
    """Every table's rows, every sequence's value and the history, from one snapshot of the source."""
    source_tables = {t.name: t for t in _tables(source)}
    copy_tables = {t.name: t for t in _tables(copy)}
    missing = sorted(source_tables.keys() - copy_tables.keys())
    if missing:
        raise MigratorError(
            f"tables {', '.join(missing)} exist on the source but not in what its migrations build; nothing was"
            " rehearsed",
            hint="a table made by hand (or in a schema schema.sql does not cover): drop it, or add it in a migration",
        )
    order = [copy_tables[name] for name in sorted(source_tables)]
    rows = 0
    saved = (source.isolation_level, source.read_only)
    source.isolation_level, source.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
    try:
        with source.transaction(), copy.transaction():
            source.execute(_SESSION)
            copy.execute(_SESSION)
            triggers = _disable_triggers(copy)
            keys = _drop_foreign_keys(copy)
            if order:  # emptied in this transaction, so COPY … FREEZE writes rows as vacuum would have left them
                copy.execute(f"TRUNCATE {', '.join(t.name for t in order)}".encode())
            # The rows meet the copy's CHECKs, domains, generated columns and index expressions, whose functions
            # resolve names by the session's search_path: the one the application and the migrations have.
            copy.execute(b"SET LOCAL search_path TO DEFAULT")
            for table in order:
                rows += _copy_table(source, copy, table, source_tables[table.name].columns)
            pin_search_path(copy)
            _add_foreign_keys(copy, keys)
            sequences = _copy_sequences(source, copy)
            if _one(source, _HISTORY_EXISTS):  # a fresh source has none yet
                _copy_history(source, copy)
            _restore_triggers(copy, triggers)
    finally:
        source.isolation_level, source.read_only = saved
    _refresh_materialized_views(source, copy)
    copy.execute(b"ANALYZE")  # the planner sees what it sees on the source, not empty tables
    return Copied(tables=len(order), rows=rows, sequences=sequences)


def _one(conn: psycopg.Connection, query: bytes, params: tuple[str, ...] = ()) -> bool:
    row = conn.execute(query, params or None).fetchone()
    return bool(row and row[0])


def _tables(conn: psycopg.Connection) -> list[Table]:
    return [Table(str(name), tuple(columns)) for name, columns in conn.execute(_TABLES).fetchall()]


def _refresh_materialized_views(source: psycopg.Connection, copy: psycopg.Connection) -> None:
    """Each materialized view computed from the copied rows where the source's holds rows, and left unpopulated
    where the source's is: a migration that reads one fails on the copy exactly when it would on the source."""
    populated = {str(name): bool(filled) for name, filled in source.execute(_MATVIEWS).fetchall()}
    for name, filled in copy.execute(_MATVIEWS).fetchall():
        if populated.get(str(name), filled):
            copy.execute(f"REFRESH MATERIALIZED VIEW {name}".encode())
        elif filled:
            copy.execute(f"REFRESH MATERIALIZED VIEW {name} WITH NO DATA".encode())


ForeignKey = tuple[str, str, str]  # the table, the constraint's name, its definition


def _drop_foreign_keys(copy: psycopg.Connection) -> list[ForeignKey]:
    """Foreign keys come off while the rows arrive and go back on after, as pg_restore does: the tables load in any
    order (even those that reference each other, which a role that may not disable the keys could not load one
    after another), and each key checks every row in one query instead of once per row."""
    keys = [(str(table), str(name), str(definition)) for table, name, definition in copy.execute(_FOREIGN_KEYS)]
    for table, name, _ in keys:
        copy.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}".encode())
    return keys


def _add_foreign_keys(copy: psycopg.Connection, keys: list[ForeignKey]) -> None:
    for table, name, definition in keys:
        copy.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}".encode())


def _copy_table(source: psycopg.Connection, copy: psycopg.Connection, table: Table, columns: tuple[str, ...]) -> int:
    """Streams the source's rows into the copy, by column name (the two may order columns differently)."""
    if set(columns) != set(table.columns):
        raise MigratorError(f"{table.name}: the source's columns differ from the copy's; nothing was rehearsed")
    listed = ", ".join(columns)
    rows = 0
    out = f"COPY (SELECT {listed} FROM ONLY {table.name}) TO STDOUT".encode()
    # A table without a column of its own to list (CREATE TABLE t ()) still has rows: an empty line each.
    into = f"COPY {table.name} {f'({listed})' if listed else ''} FROM STDIN (FREEZE)".encode()
    try:
        with source.cursor().copy(out) as reader, copy.cursor().copy(into) as writer:
            for data in reader:
                writer.write(data)
                rows += bytes(data).count(b"\n")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigratorError(
            f"{table.name}: its rows cannot all be read by {source.info.user} (SQLSTATE 42501:"
            f" {(exc.diag.message_primary or str(exc)).strip()}); nothing was rehearsed",
            hint="rehearse as a role that may read every row of it: a row-level security policy binds every role"
            " but a superuser, one with BYPASSRLS, and the table's owner unless it is FORCEd; a deployed"
            " environment's restored copy (`--env ENV rehearse`) copies no rows",
        ) from None
    return rows


def _copy_sequences(source: psycopg.Connection, copy: psycopg.Connection) -> int:
    names = [str(name) for (name,) in source.execute(_SEQUENCES).fetchall()]
    for name in names:
        if not _one(copy, b"SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (name,)):
            raise MigratorError(
                f"sequence {name} exists on the source but not in what its migrations build; nothing was rehearsed",
                hint="a sequence made by hand, or named differently when the source was built: create it in a"
                " migration, or rename it to what the migrations create",
            )
        row = source.execute(f"SELECT last_value, is_called FROM {name}".encode()).fetchone()
        assert row is not None
        copy.execute(b"SELECT pg_catalog.setval(%s::pg_catalog.regclass, %s, %s)", (name, row[0], row[1]))
    return len(names)


def _copy_history(source: psycopg.Connection, copy: psycopg.Connection) -> None:
    """The copy's history becomes the source's, row for row: the plan on the copy is the plan on the source."""
    columns = ", ".join(history.COLUMNS)
    copy.execute(f"DELETE FROM {history.QUALIFIED}".encode())
    with (
        source.cursor().copy(f"COPY {history.QUALIFIED} ({columns}) TO STDOUT".encode()) as reader,
        copy.cursor().copy(f"COPY {history.QUALIFIED} ({columns}) FROM STDIN".encode()) as writer,
    ):
        for data in reader:
            writer.write(data)


def _disable_triggers(copy: psycopg.Connection) -> list[tuple[str, str, str]]:
    """User triggers would rewrite or add rows as they arrive; the rows are already the source's end result."""
    triggers = [(str(t), str(n), str(e)) for t, n, e in copy.execute(_TRIGGERS).fetchall()]
    for table, name, enabled in triggers:
        if enabled != "D":
            copy.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}".encode())
    return triggers


def _restore_triggers(copy: psycopg.Connection, triggers: list[tuple[str, str, str]]) -> None:
    """Every trigger back to its state, the disabled ones too (their parent's ENABLE may have enabled them)."""
    for table, name, enabled in triggers:
        copy.execute(f"ALTER TABLE {table} {_ENABLE[enabled]} {name}".encode())
