"""The drift check on the RDS-like server: clean after a deploy's work, each kind of drift found with the SQL
that fixes it, and silent while a deploy holds the migration lock. What is injected is derived from the
project's own schema.sql, so a new migration changes nothing here."""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from migrator import drift, engine
from migrator.catalog import Catalog, describe
from migrator.connect import SessionLimits, connect
from migrator.drift import Difference, PrivilegeModel
from migrator.lock import LOCK_KEY
from migrator.roles import ensure_app_role, ensure_owner_role
from tests.engine.helpers import cli
from tests.pg import MASTER_USER, superuser_view
from tests.support.migrations import FOLDER, VERSIONS
from tests.support.project import PROJECT

ROLE_PASSWORD = "Mig-Drift-41"
INPUTS = engine.load_inputs(engine.Options(FOLDER, PROJECT / "schema.sql"))


@dataclass(frozen=True)
class Deployed:
    """A database as a deploy leaves it: handed over, migrated by the migration role, the app role granted."""

    role: str  # conninfo of the migration role
    superuser: str
    model: PrivilegeModel

    def check(self) -> drift.DriftReport:
        with connect(self.role, SessionLimits()) as conn:
            return drift.check(conn, INPUTS, self.model)


@pytest.fixture
def deployed(role_name: str, app_role_name: str, pg_admin: str, db: str) -> Deployed:
    with psycopg.connect(db, autocommit=True) as master:
        ensure_owner_role(master, role_name, ROLE_PASSWORD, master.info.dbname)
    role = make_conninfo(db, user=role_name, password=ROLE_PASSWORD)
    with connect(role, SessionLimits()) as conn:
        engine.apply(conn, INPUTS, engine.Options(FOLDER, PROJECT / "schema.sql"))
    with psycopg.connect(db, autocommit=True) as master:
        ensure_app_role(master, app_role_name, "App-Drift-41", master.info.dbname, owner=role_name)
    return Deployed(role, superuser_view(pg_admin, db), PrivilegeModel(role_name, app_role_name))


def _plain_index(expected: Catalog) -> tuple[str, str]:
    """(table, index) of an index schema.sql creates that backs no constraint."""
    for key in sorted(expected):
        kind, _, qualified = key.partition(" ")
        if kind == "index" and f"constraint {qualified}" not in expected:
            table, _, index = qualified.partition(".")
            return table, index
    pytest.skip("schema.sql creates no index of its own outside constraints")  # the project's schema decides


def _check_constraint(expected: Catalog) -> tuple[tuple[str, str], str]:
    """((table, name), definition) of a CHECK constraint schema.sql creates."""
    for key, definition in sorted(expected.items()):
        if key.startswith("constraint ") and definition.startswith("CHECK "):
            table, _, name = key.partition(" ")[2].partition(".")
            return (table, name), definition
    pytest.skip("schema.sql has no CHECK constraint")  # the project's schema decides


def _constraint_with_index(expected: Catalog) -> tuple[str, str] | None:
    """(table, name) of a constraint with an index of its own on a table no foreign key references (so that it
    can be dropped alone), if schema.sql has one."""
    for key in sorted(expected):
        kind, _, qualified = key.partition(" ")
        table, _, name = qualified.partition(".")
        referenced = any(f"REFERENCES {table} (" in definition for definition in expected.values())
        if kind == "constraint" and f"index {qualified}" in expected and not referenced:
            return table, name
    return None


def _found(report: drift.DriftReport) -> dict[tuple[str, str], list[Difference]]:
    found: dict[tuple[str, str], list[Difference]] = {}
    for difference in report.differences:
        found.setdefault((difference.kind, difference.name), []).append(difference)
    return found


@pytest.fixture
def drifted(deployed: Deployed) -> tuple[Deployed, dict[str, str]]:
    """Every kind of drift at once, on objects named from schema.sql; yields the names it used."""
    with psycopg.connect(deployed.superuser, autocommit=True) as su:
        expected = describe(su, "public")
        table, index = _plain_index(expected)
        other = sorted(k.split(" ", 1)[1] for k in expected if k.startswith("table ") and k != f"table {table}")[0]
        app, owner = deployed.model.app, deployed.model.owner
        su.execute(f"DROP INDEX {index}".encode())
        su.execute(f"ALTER TABLE {table} ADD COLUMN drift_extra int".encode())
        checked, check = _check_constraint(expected)
        su.execute(f"ALTER TABLE {checked[0]} DROP CONSTRAINT {checked[1]}".encode())  # a migration's NOT VALID
        su.execute(f"ALTER TABLE {checked[0]} ADD CONSTRAINT {checked[1]} {check} NOT VALID".encode())
        su.execute(f"REVOKE DELETE ON {table} FROM {app}".encode())
        su.execute(f"GRANT SELECT ON {table} TO PUBLIC".encode())
        su.execute(f"ALTER TABLE {other} OWNER TO {MASTER_USER}".encode())
        su.execute(b"UPDATE migrator.history SET checksum = md5(checksum) WHERE version = %s", (VERSIONS[0],))
        su.execute(f"CREATE SEQUENCE drift_counter AS integer; ALTER SEQUENCE drift_counter OWNER TO {owner}".encode())
        su.execute(b"SELECT setval('drift_counter', 2000000000)")
        su.execute(f"CREATE TABLE drift_probe (x int); ALTER TABLE drift_probe OWNER TO {owner}".encode())
        su.execute(b"INSERT INTO drift_probe VALUES (1), (1)")
        su.execute(f"CREATE VIEW drift_view AS SELECT 1 AS x; ALTER VIEW drift_view OWNER TO {owner}".encode())
        with pytest.raises(psycopg.errors.UniqueViolation):
            su.execute(b"CREATE UNIQUE INDEX CONCURRENTLY drift_probe_x ON drift_probe (x)")
        su.execute(f"ALTER ROLE {app} CREATEDB".encode())
        indexed = _constraint_with_index(expected)
        if indexed is not None:
            su.execute(f"ALTER TABLE {indexed[0]} DROP CONSTRAINT {indexed[1]}".encode())
    return deployed, {
        "table": table,
        "index": index,
        "other": other,
        "unchecked": ".".join(checked),
        "indexed": ".".join(indexed or ()),
        "create_index": expected[f"index {table}.{index}"],
    }


def test_clean_after_a_deploy(deployed: Deployed) -> None:
    report = deployed.check()
    assert report.stood_aside is None
    assert [d.line() for d in report.differences] == []


def test_each_kind_of_drift_is_found_with_the_sql_that_fixes_it(drifted: tuple[Deployed, dict[str, str]]) -> None:
    deployed, names = drifted
    table, app, owner = names["table"], deployed.model.app, deployed.model.owner
    report = deployed.check()
    found = _found(report)
    lines = "\n".join(d.line() for d in report.differences)

    def fixes(kind: str, name: str) -> list[str | None]:
        assert (kind, name) in found, f"no {kind} difference for {name} in:\n{lines}"
        return [d.fix for d in found[(kind, name)]]

    assert fixes(drift.SCHEMA, f"index {table}.{names['index']}") == [names["create_index"]]
    assert fixes(drift.SCHEMA, f"column {table}.drift_extra") == [f"ALTER TABLE {table} DROP COLUMN drift_extra"]
    unchecked_table, unchecked = names["unchecked"].split(".")
    assert fixes(drift.NOT_VALID, names["unchecked"]) == [
        f"ALTER TABLE {unchecked_table} VALIDATE CONSTRAINT {unchecked}"
    ]
    assert set(fixes(drift.PRIVILEGE, table)) == {
        f"GRANT DELETE ON TABLE {table} TO {app}",
        f"REVOKE ALL ON TABLE {table} FROM PUBLIC",
    }
    assert fixes(drift.OWNER, f"public.{names['other']}") == [f"ALTER TABLE public.{names['other']} OWNER TO {owner}"]
    (history_fix,) = fixes(drift.HISTORY, f"version {VERSIONS[0]}")
    assert history_fix is not None and history_fix.startswith("UPDATE migrator.history SET checksum = ")
    assert fixes(drift.SEQUENCE, "public.drift_counter") == ["ALTER SEQUENCE public.drift_counter AS bigint"]
    assert fixes(drift.INVALID_INDEX, "public.drift_probe_x") == ["DROP INDEX CONCURRENTLY public.drift_probe_x"]
    assert f"ALTER ROLE {app} NOCREATEDB" in fixes(drift.ROLE, str(app))

    if names["indexed"]:  # one difference and one fix for a constraint and the index it owns
        indexed_table, indexed = names["indexed"].split(".")
        (add,) = fixes(drift.SCHEMA, f"constraint {names['indexed']}")
        assert add is not None and add.startswith(f"ALTER TABLE {indexed_table} ADD CONSTRAINT {indexed} ")
        assert (drift.SCHEMA, f"index {names['indexed']}") not in found
    assert f"GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE drift_view TO {app}" in fixes(drift.PRIVILEGE, "drift_view")

    with psycopg.connect(deployed.superuser, autocommit=True) as su:  # the fixes, as an operator would run them
        su.execute(b"DROP TABLE drift_probe")  # the probe table is the operator's to remove: no fix is offered
        for difference in report.differences:
            if difference.fix is not None and "drift_probe" not in difference.fix:
                su.execute(difference.fix.encode())
        su.execute(b"DROP VIEW drift_view")  # likewise, once its fixes ran
    assert [d.line() for d in deployed.check().differences] == [], "every fix removes its difference"


def test_silent_while_a_deploy_holds_the_migration_lock(drifted: tuple[Deployed, dict[str, str]]) -> None:
    deployed, _ = drifted
    with psycopg.connect(deployed.role, autocommit=True) as deploy:
        deploy.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        held = deployed.check()
        assert held.differences == []
        assert held.stood_aside is not None and f"pid {deploy.info.backend_pid}" in held.stood_aside
        with psycopg.connect(deployed.superuser, autocommit=True) as su:  # the lock is read, never taken
            waiting = su.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()
        assert waiting == (0,)
    assert deployed.check().differences, "once the deploy is over, the drift is reported"


def test_a_fix_quotes_names_as_the_server_reads_them(deployed: Deployed) -> None:
    """A reserved word or a capital in a name: the fix quotes it as quote_ident() would, and runs."""
    with psycopg.connect(deployed.superuser, autocommit=True) as su:
        table = sorted(k.split(" ", 1)[1] for k in describe(su, "public") if k.startswith("table "))[0]
        su.execute(f'ALTER TABLE {table} ADD COLUMN "order" int, ADD COLUMN "Mixed" int, ADD COLUMN plain int'.encode())
    fixes = {d.fix for d in deployed.check().differences}
    assert {f'ALTER TABLE {table} DROP COLUMN "order"', f'ALTER TABLE {table} DROP COLUMN "Mixed"'} <= fixes
    assert f"ALTER TABLE {table} DROP COLUMN plain" in fixes, "a plain name stays bare"
    with psycopg.connect(deployed.superuser, autocommit=True) as su:
        for fix in sorted(f for f in fixes if f is not None):
            su.execute(fix.encode())
    assert deployed.check().differences == [], "every fix ran and removed its difference"


def test_the_drift_command_prints_each_difference_with_its_fix_and_exits_1(
    drifted: tuple[Deployed, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    deployed, names = drifted
    app, owner = str(deployed.model.app), deployed.model.owner
    schema = PROJECT / "schema.sql"
    status, out, err = cli(capsys, deployed.role, FOLDER, schema, "drift", "--app-role", app)
    assert status == 1, err
    expected = deployed.check().differences
    assert f"{len(expected)} difference(s)" in out.splitlines()[0]
    assert f"  schema column {names['table']}.drift_extra: unexpected" in out
    assert f"    fix: ALTER TABLE {names['table']} DROP COLUMN drift_extra" in out
    status, out, _ = cli(capsys, deployed.role, FOLDER, schema, "--json", "drift", "--app-role", app, "--owner", owner)
    answer = json.loads(out)
    assert status == 1 and answer["checked"] is True and answer["reason"] is None
    assert [(d["kind"], d["name"], d["fix"]) for d in answer["differences"]] == [
        (d.kind, d.name, d.fix) for d in expected
    ]


def test_the_drift_command_without_the_app_role_leaves_privileges_unchecked_and_exits_0_when_clean(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = PROJECT / "schema.sql"
    status, out, err = cli(capsys, deployed.role, FOLDER, schema, "drift", "--app-role", str(deployed.model.app))
    assert (status, err) == (0, "")
    assert "drift " in out and ": none: " in out
    with psycopg.connect(deployed.superuser, autocommit=True) as su:
        table = sorted(k.split(" ", 1)[1] for k in describe(su, "public") if k.startswith("table "))[0]
        su.execute(f"GRANT SELECT ON {table} TO PUBLIC".encode())
    assert cli(capsys, deployed.role, FOLDER, schema, "drift")[0] == 0, "no application role named: no rights checked"
    assert cli(capsys, deployed.role, FOLDER, schema, "drift", "--app-role", str(deployed.model.app))[0] == 1


def test_the_drift_command_exits_3_while_a_deploy_holds_the_lock(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(deployed.role, autocommit=True) as deploy:
        deploy.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        status, out, _ = cli(capsys, deployed.role, FOLDER, PROJECT / "schema.sql", "drift")
        pid = deploy.info.backend_pid
    assert status == 3
    assert f"not checked: a deploy holds the migration lock: pid {pid}" in out


def test_a_schema_owned_by_pg_database_owner_is_the_database_owners(deployed: Deployed) -> None:
    """PostgreSQL 15's `public` of a new database (what a local database keeps): the migration role owns it
    while it owns the database; for a role that does not own the database it is someone else's."""
    with psycopg.connect(deployed.superuser, autocommit=True) as su:
        su.execute(b"ALTER SCHEMA public OWNER TO pg_database_owner")
    assert deployed.check().differences == [], "the migration role owns the database, so public too"
    with connect(deployed.role, SessionLimits()) as conn:
        other = drift.check(conn, INPUTS, PrivilegeModel(MASTER_USER)).differences
    assert (drift.OWNER, "public") in [(d.kind, d.name) for d in other]
