"""The migration role: owns the application database, cannot reach beyond it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator.errors import MigratorError
from migrator.roles import ensure_owner_role
from migrator.sqlsplit import split_statements
from tests.engine.helpers import cli
from tests.pg import MASTER_USER, scratch_database, superuser_view


@pytest.fixture
def role(role_name: str) -> str:
    """A role name of this test's own; request it before `db`, so it is dropped after the database."""
    return role_name


ROLE_PASSWORD = "Role-Pass-31"


def _as(url: str, role: str) -> str:
    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    return make_conninfo(**(params | {"user": role, "password": ROLE_PASSWORD}))


def _bootstrap(url: str, role: str, password: str = ROLE_PASSWORD) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        ensure_owner_role(admin, role, password, str(conninfo_to_dict(url)["dbname"]))


def test_a_legacy_database_is_handed_over_and_migrated_by_the_role(
    pg_admin: str, role: str, db: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(db, autocommit=True) as admin:  # the legacy database, owned by the admin
        for statement in split_statements((migrations_dir / "000_baseline.sql").read_text()):
            admin.execute(statement.sql.encode())
    _bootstrap(db, role)
    _bootstrap(db, role)  # idempotent: every deploy runs it
    role_url = _as(db, role)
    assert cli(capsys, role_url, migrations_dir, schema_file, "apply")[0] == 0
    assert cli(capsys, role_url, migrations_dir, schema_file, "verify")[0] == 0
    with psycopg.connect(superuser_view(pg_admin, db)) as inspector:  # pg_authid is the superuser's to read
        owners = {r[0] for r in inspector.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
        flags = inspector.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
            " rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s",
            (role,),
        ).fetchone()
    assert owners == {role}
    assert flags == (False, False, False, False, False, True)


def test_the_role_has_no_ddl_rights_beyond_its_database(pg_admin: str, role: str, db: str) -> None:
    _bootstrap(db, role)
    with scratch_database(pg_admin, "other") as other, psycopg.connect(_as(other, role), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE intruder (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE DATABASE another_one")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE another_role")


def test_the_hand_over_runs_as_a_master_user_that_is_not_a_superuser(pg_admin: str, db: str) -> None:
    """RDS's master: the deploy path must never need SUPERUSER (the fixtures give it none)."""
    with psycopg.connect(db) as master:
        current, is_super = master.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() or ("", True)
        member = master.execute("SELECT pg_has_role(current_user, 'rds_superuser', 'MEMBER')").fetchone()
    assert (current, is_super, member) == (MASTER_USER, False, (True,))


@pytest.mark.parametrize("power", ["SUPERUSER", "BYPASSRLS", "REPLICATION"])
def test_a_role_with_powers_only_a_superuser_can_remove_is_refused(
    pg_admin: str, role: str, db: str, power: str
) -> None:
    with psycopg.connect(pg_admin, autocommit=True) as superuser:
        superuser.execute(sql.SQL("CREATE ROLE {} LOGIN " + power).format(sql.Identifier(role)))
        superuser.execute(
            sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(sql.Identifier(role), sql.Identifier(MASTER_USER))
        )
    with pytest.raises(MigratorError, match=f"has {power}"):
        _bootstrap(db, role)
    with psycopg.connect(superuser_view(pg_admin, db)) as inspector:
        owner = inspector.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert owner.fetchone() == (MASTER_USER,)  # refused inside the transaction: nothing handed over
