"""Drift: how the live database differs from what its migrations and the privilege model make it.

Everything `verify` compares, plus what a definition comparison cannot see (INVALID indexes, NOT VALID
constraints), owners and privileges against the privilege model (`migrator.roles`), the roles' attributes,
the history's integrity against the files, and sequences near their limit.

It writes nothing the application sees: schema.sql is built in verify's scratch schema inside a transaction
that is always rolled back (so no catalog has to ship in the asset and stay current with schema.sql). It
never takes the migration lock and never delays a deploy: it reads `pg_locks` before and after its reads and
stands aside while a deploy holds the lock, and its session waits at most LOCK_TIMEOUT for any lock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg

from migrator import history
from migrator.catalog import OWNED_KINDS, RELATION_KINDS, describe, kinds_sql
from migrator.engine import Inputs
from migrator.errors import HistoryError, MigratorError
from migrator.files import SchemaFile
from migrator.live import invalid_indexes
from migrator.lock import held_by_another
from migrator.plan import CHANGED, MISSING, PENDING, REUSED, survey
from migrator.roles import CLAUSES, KIND_SQL, POWERS, memberships
from migrator.verify import expected_catalog, live_schema_name

LOCK_TIMEOUT = "500ms"  # a catalog read that meets a deploy's lock gives up at once (and then stands aside)
STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_SEQUENCE_THRESHOLD = 0.8  # a sequence that has used this share of its range is reported

# The kinds of difference, as log lines and the JSON name them.
SCHEMA, INVALID_INDEX, NOT_VALID = "schema", "invalid-index", "not-valid-constraint"
OWNER, PRIVILEGE, ROLE, HISTORY, SEQUENCE = "owner", "privilege", "role", "history", "sequence"

TABLE_RIGHTS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})  # roles._APP_GRANTS, on tables
SEQUENCE_RIGHTS = frozenset({"USAGE", "SELECT", "UPDATE"})  # and on sequences


@dataclass(frozen=True)
class Difference:
    kind: str
    name: str  # the object, as a person would look it up
    message: str
    fix: str | None = None  # SQL that would remove the difference, where one exists

    def line(self) -> str:
        return f"drift {self.kind} {self.name}: {self.message}" + (f"; fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class PrivilegeModel:
    """Who owns the application's objects (the migration role), and who reads and writes their data."""

    owner: str
    app: str | None = None


@dataclass(frozen=True)
class DriftReport:
    differences: list[Difference]
    stood_aside: str | None = None  # why nothing was checked: a deploy in flight


# The server's keywords that quote_ident() quotes (all but the unreserved), read once per check: a fix names
# a column "order" or "user" as the server would parse it, and a newer server's keywords come with it.
_KEYWORDS: ContextVar[frozenset[str]] = ContextVar("keywords", default=frozenset())


def ident(name: str) -> str:
    """A name as quote_ident() would write it: bare where the server reads it back unchanged."""
    bare = re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in _KEYWORDS.get()
    return name if bare else '"' + name.replace('"', '""') + '"'


def _load_keywords(conn: psycopg.Connection) -> None:
    rows = conn.execute(b"SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U'").fetchall()
    _KEYWORDS.set(frozenset(str(word) for (word,) in rows))


def check(
    conn: psycopg.Connection, inputs: Inputs, model: PrivilegeModel, threshold: float = DEFAULT_SEQUENCE_THRESHOLD
) -> DriftReport:
    """Every difference, or none and the reason when a deploy is in flight (its lock held, or versions pending)."""
    conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'".encode())
    conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}".encode())
    _load_keywords(conn)
    holder = held_by_another(conn)
    if holder is not None:
        return DriftReport([], f"a deploy holds the migration lock: {holder}")
    try:
        found = list(_differences(conn, inputs, model, threshold))
    except (psycopg.errors.LockNotAvailable, MigratorError):
        holder = held_by_another(conn)
        if holder is None:
            raise
        return DriftReport([], f"a deploy took the migration lock during the check: {holder}")
    except _Pending as pending:
        return DriftReport([], str(pending))
    holder = held_by_another(conn)
    if holder is not None:
        return DriftReport([], f"a deploy took the migration lock during the check: {holder}")
    return DriftReport(found)


class _Pending(Exception):
    """The asset brings versions the database lacks: a deploy between its code update and its apply."""


def _differences(
    conn: psycopg.Connection, inputs: Inputs, model: PrivilegeModel, threshold: float
) -> Iterator[Difference]:
    yield from _history(conn, inputs)
    schema = live_schema_name(conn)
    unfinished = list(_unfinished(conn, schema))
    if inputs.schema is not None:  # an INVALID index is reported as such; a constraint to drop or re-add, once
        invalid = {d.name.rpartition(".")[2] for d in unfinished if d.kind == INVALID_INDEX}
        compared = [d for d in _schema(conn, inputs.schema, schema) if not _names_index(d, invalid)]
        replaced = {d.name.partition(" ")[2] for d in compared if d.name.startswith("constraint ")}
        unfinished = [d for d in unfinished if not (d.kind == NOT_VALID and d.name in replaced)]
        yield from compared
    yield from unfinished
    yield from _owners(conn, model.owner, (schema, history.SCHEMA))
    if model.app is not None:
        yield from _privileges(conn, schema, model.app)
    yield from _roles(conn, model)
    yield from _sequences(conn, (schema, history.SCHEMA), threshold)


def _names_index(difference: Difference, names: set[str]) -> bool:
    kind, _, qualified = difference.name.partition(" ")
    return kind == "index" and qualified.partition(".")[2] in names


def _history(conn: psycopg.Connection, inputs: Inputs) -> Iterator[Difference]:
    try:
        applied = history.read(conn)
    except HistoryError as exc:
        yield Difference(HISTORY, history.QUALIFIED, exc.message + (f" ({exc.hint})" if exc.hint else ""))
        return
    states = survey(inputs.migrations, applied, allow_out_of_order=True)
    pending = [s.version for s in states if s.state == PENDING]
    if pending:
        raise _Pending(f"this asset brings versions the database lacks ({', '.join(pending)}): a deploy in flight")
    for state in states:
        if state.state == CHANGED and state.migration is not None:
            yield Difference(
                HISTORY,
                f"version {state.version}",
                f"the history's checksum of {state.migration.filename} is not the deployed file's (the deploy"
                " checked them, so the row was most likely edited since)",
                f"UPDATE {history.QUALIFIED} SET checksum = '{state.migration.checksum}'"
                f" WHERE version = '{state.version}'",
            )
        elif state.state in (REUSED, MISSING):
            yield Difference(HISTORY, f"version {state.version}", str(state.detail))


def _schema(conn: psycopg.Connection, schema_file: SchemaFile, schema: str) -> Iterator[Difference]:
    expected, live = expected_catalog(conn, schema_file), describe(conn, schema)
    differing = {key for key in expected.keys() | live.keys() if _differs(expected.get(key), live.get(key))}
    for key in sorted(differing):
        want, have = expected.get(key), live.get(key)
        if key.startswith("index ") and f"constraint {key.partition(' ')[2]}" in differing:
            continue  # a constraint's own index: the constraint's fix adds or drops it
        if have is None:
            message = f"missing (schema.sql: {want})"
        elif want is None:
            message = f"unexpected ({have})"
        else:
            message = f"different: schema.sql has {want}; the database has {have}"
        yield Difference(SCHEMA, key, message, _schema_fix(key, want, have))


def _differs(want: str | None, have: str | None) -> bool:
    """Not equal, and not merely not validated (that is reported as a NOT VALID constraint)."""
    return want != have and not (want is not None and have is not None and _validated(have) == want)


def _validated(definition: str) -> str:
    """The definition as it reads once validated (pg_get_constraintdef and the catalog each add NOT VALID)."""
    while definition.endswith(" NOT VALID"):
        definition = definition.removesuffix(" NOT VALID")
    return definition


def _schema_fix(key: str, want: str | None, have: str | None) -> str | None:
    """The SQL that brings one object back to schema.sql's definition, where that is one clear statement."""
    kind, _, qualified = key.partition(" ")
    table, _, name = qualified.partition(".")
    alter = f"ALTER TABLE {ident(table)}"
    if kind == "index":
        drop = f"DROP INDEX {ident(name)}"
        return want if have is None else drop if want is None else f"{drop}; {want}"
    if kind == "constraint":
        drop, add = f"{alter} DROP CONSTRAINT {ident(name)}", f"{alter} ADD CONSTRAINT {ident(name)} {want}"
        return add if have is None else drop if want is None else f"{drop}, ADD CONSTRAINT {ident(name)} {want}"
    if kind == "column" and want is None:
        return f"{alter} DROP COLUMN {ident(name)}"
    if kind == "column" and have is None and want is not None and " IDENTITY " not in want:
        return f"{alter} ADD COLUMN {ident(name)} {want}"
    return None


def _unfinished(conn: psycopg.Connection, schema: str) -> Iterator[Difference]:
    for qualified in sorted(invalid_indexes(conn)):
        yield Difference(
            INVALID_INDEX,
            qualified,
            "INVALID (a failed or cancelled CREATE INDEX CONCURRENTLY): it serves no query but slows every write;"
            " drop it, then build it again",
            f"DROP INDEX CONCURRENTLY {qualified}",
        )
    rows = conn.execute(
        "SELECT t.relname, k.conname FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class t ON t.oid = k.conrelid"
        " WHERE t.relnamespace = %s::regnamespace AND NOT k.convalidated ORDER BY 1, 2",
        (schema,),
    ).fetchall()
    for table, name in rows:
        yield Difference(
            NOT_VALID,
            f"{table}.{name}",
            "NOT VALID: the rows that existed when it was added were never checked",
            f"ALTER TABLE {ident(table)} VALIDATE CONSTRAINT {ident(name)}",
        )


# pg_database_owner (PostgreSQL 15's owner of `public` in a new database) stands for whoever owns the
# database: when that is the migration role, it owns the object in every respect that matters here.
_OWNED_BY_ROLE = """{column} = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s)
  OR ({column} = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = 'pg_database_owner')
      AND (SELECT datdba FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
          = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s))"""
_OWNERS = f"""
SELECT n.nspname, c.relkind, c.relname, pg_catalog.pg_get_userbyid(c.relowner)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ({kinds_sql(OWNED_KINDS)})
  AND NOT coalesce({_OWNED_BY_ROLE.format(column="c.relowner")}, false)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d  -- sequences of serial/identity columns follow their table
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
UNION ALL
SELECT n.nspname, 'n', n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n
WHERE n.nspname = ANY(%(schemas)s) AND NOT coalesce({_OWNED_BY_ROLE.format(column="n.nspowner")}, false)
ORDER BY 1, 3
""".encode()


def _owners(conn: psycopg.Connection, owner: str, schemas: tuple[str, ...]) -> Iterator[Difference]:
    for schema, kind, name, actual in conn.execute(_OWNERS, {"schemas": list(schemas), "role": owner}):
        what, qualified = ("SCHEMA", ident(name)) if kind == "n" else (KIND_SQL[kind], f"{ident(schema)}.{ident(name)}")
        yield Difference(
            OWNER,
            qualified,
            f"owned by {actual}, not by the migration role {owner} (the next migration that alters it fails)",
            f"ALTER {what} {qualified} OWNER TO {ident(owner)}",
        )


_GRANTS = f"""
SELECT c.relname, coalesce(g.rolname, 'PUBLIC'), array_agg(a.privilege_type ORDER BY a.privilege_type)
FROM pg_catalog.pg_class c
CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault(
    CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ({kinds_sql((*RELATION_KINDS, "S"))})
  AND a.grantee <> c.relowner
GROUP BY 1, 2
""".encode()
_RELATIONS = f"""
SELECT c.relkind, c.relname FROM pg_catalog.pg_class c
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ({kinds_sql((*RELATION_KINDS, "S"))}) ORDER BY 2
""".encode()


def _privileges(conn: psycopg.Connection, schema: str, app: str) -> Iterator[Difference]:
    """The application's role holds exactly its data rights on every relation; nobody else but the owner any."""
    grants: dict[tuple[str, str], set[str]] = {}
    for name, grantee, rights in conn.execute(_GRANTS, {"schema": schema}):
        grants[(name, grantee)] = set(rights)
    relations = {str(name): str(kind) for kind, name in conn.execute(_RELATIONS, {"schema": schema})}
    for name, kind in relations.items():
        on = f"{'SEQUENCE' if kind == 'S' else 'TABLE'} {ident(name)}"  # GRANT's TABLE covers views too
        wanted = SEQUENCE_RIGHTS if kind == "S" else TABLE_RIGHTS
        held = grants.pop((name, app), set())
        if held - wanted:
            extra = ", ".join(sorted(held - wanted))
            yield Difference(
                PRIVILEGE,
                name,
                f"{app} holds {extra} beyond its data rights",
                f"REVOKE {extra} ON {on} FROM {ident(app)}",
            )
        if wanted - held:
            lacking = ", ".join(sorted(wanted - held))
            yield Difference(PRIVILEGE, name, f"{app} lacks {lacking}", f"GRANT {lacking} ON {on} TO {ident(app)}")
    for (name, grantee), rights in sorted(grants.items()):
        if name in relations:
            on = f"{'SEQUENCE' if relations[name] == 'S' else 'TABLE'} {ident(name)}"
            yield Difference(
                PRIVILEGE,
                name,
                f"{grantee} holds {', '.join(sorted(rights))}; only {app} may use the application's data",
                f"REVOKE ALL ON {on} FROM {grantee if grantee == 'PUBLIC' else ident(grantee)}",
            )


def _roles(conn: psycopg.Connection, model: PrivilegeModel) -> Iterator[Difference]:
    roles = [("migration", model.owner)] + ([("application", model.app)] if model.app else [])
    for what, role in roles:
        row = conn.execute(
            f"SELECT {', '.join(POWERS)} FROM pg_catalog.pg_roles WHERE rolname = %s".encode(), (role,)
        ).fetchone()
        if row is None:
            yield Difference(ROLE, role, f"the {what} role does not exist (the next deploy creates it)")
            continue
        for power, has in zip(POWERS, row, strict=True):
            if has:
                yield Difference(
                    ROLE,
                    role,
                    f"the {what} role has {CLAUSES[power]}, which the privilege model never grants",
                    f"ALTER ROLE {ident(role)} NO{CLAUSES[power]}",
                )
        if what == "application":
            for granted in memberships(conn, role):
                yield Difference(
                    ROLE,
                    role,
                    f"the application role is a member of {granted} (it must act as itself only)",
                    f"REVOKE {ident(granted)} FROM {ident(role)}",
                )


_SEQUENCES = b"""
SELECT schemaname, sequencename, data_type::text, last_value,
       CASE WHEN increment_by > 0 THEN max_value ELSE min_value END
FROM pg_catalog.pg_sequences
WHERE schemaname = ANY(%(schemas)s) AND last_value IS NOT NULL
  AND last_value::numeric / CASE WHEN increment_by > 0 THEN max_value ELSE min_value END >= %(threshold)s
ORDER BY 1, 2
"""


def _sequences(conn: psycopg.Connection, schemas: tuple[str, ...], threshold: float) -> Iterator[Difference]:
    args = {"schemas": list(schemas), "threshold": threshold}
    for schema, name, data_type, last, limit in conn.execute(_SEQUENCES, args):
        qualified = f"{ident(schema)}.{ident(name)}"
        widen = data_type != "bigint"
        yield Difference(
            SEQUENCE,
            qualified,
            f"{data_type} sequence at {last} of {limit} ({100 * last / limit:.0f}%, threshold"
            f" {100 * threshold:.0f}%): inserts fail when it runs out"
            + ("; widen the column it feeds to bigint too" if widen else ""),
            f"ALTER SEQUENCE {qualified} AS bigint" if widen else None,
        )
