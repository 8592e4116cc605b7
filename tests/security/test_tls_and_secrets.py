"""TLS to the database and secrets that never leak, on a server that, like RDS with rds.force_ssl=1,
refuses plaintext TCP and checks scram-sha-256 passwords."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg
import pytest

from migrator.aws.secrets import conninfo_from_secret
from migrator.cli import main
from migrator.errors import SecretError
from tests.support.project import PROJECT
from tests.support.tls_server import PASSWORD, TlsServer

Capture = pytest.CaptureFixture[str]


def _status(url: str) -> list[str]:
    return [
        "--database-url",
        url,
        "--migrations-dir",
        str(PROJECT / "migrations"),
        "--schema-file",
        str(PROJECT / "schema.sql"),
        "--connect-timeout",
        "5",
        "status",
    ]


def test_a_connection_without_tls_is_refused(tls_server: TlsServer, capsys: Capture) -> None:
    assert main(_status(tls_server.url(sslmode="disable"))) == 1
    err = capsys.readouterr().err
    assert "no encryption" in err or "pg_hba.conf rejects" in err
    assert PASSWORD not in err


def test_verify_full_accepts_the_trusted_ca_and_rejects_an_untrusted_one(
    tls_server: TlsServer, capsys: Capture
) -> None:
    trusted = tls_server.url(sslmode="verify-full", sslrootcert=str(tls_server.trusted_ca))
    with psycopg.connect(trusted) as conn:
        assert conn.info.pgconn.ssl_in_use
    assert main(_status(trusted)) == 0
    capsys.readouterr()
    untrusted = tls_server.url(sslmode="verify-full", sslrootcert=str(tls_server.untrusted_ca))
    assert main(_status(untrusted)) == 1
    err = capsys.readouterr().err
    assert "certificate verify failed" in err
    assert PASSWORD not in err


def test_verify_full_checks_the_host_name(tls_server: TlsServer, capsys: Capture) -> None:
    wrong_name = tls_server.url(host="127.0.0.2", sslmode="verify-full", sslrootcert=str(tls_server.trusted_ca))
    assert main(_status(wrong_name)) == 1
    assert PASSWORD not in capsys.readouterr().err


def test_wrong_password_and_wrong_host_fail_without_showing_the_password(
    tls_server: TlsServer, capsys: Capture
) -> None:
    wrong = "Wrong-Pass-5521"
    assert main(_status(tls_server.url(password=wrong, sslmode="require"))) == 1
    err = capsys.readouterr().err
    assert "password authentication failed" in err
    assert wrong not in err
    assert main(_status(tls_server.url(host="nonexistent.invalid", sslmode="require"))) == 1
    err = capsys.readouterr().err
    assert "cannot connect to host=nonexistent.invalid" in err and PASSWORD not in err


def test_the_lambda_never_connects_without_tls() -> None:
    secret = json.dumps({"host": "db", "port": 5432, "username": "u", "password": "p-1", "dbname": "d"})
    assert "sslmode=require" in conninfo_from_secret(secret)
    pinned = conninfo_from_secret(secret, "verify-full", "/var/task/certs/rds-global-bundle.pem")
    assert "sslmode=verify-full" in pinned and "sslrootcert=/var/task/certs/rds-global-bundle.pem" in pinned


def test_the_lambda_reaches_the_tls_server_with_verify_full(tls_server: TlsServer) -> None:
    secret = json.dumps(
        {
            "host": "127.0.0.1",
            "port": tls_server.server.port,
            "username": "postgres",
            "password": PASSWORD,
            "dbname": "postgres",
        }
    )
    with psycopg.connect(conninfo_from_secret(secret, "verify-full", str(tls_server.trusted_ca))) as conn:
        assert conn.info.pgconn.ssl_in_use


@pytest.mark.parametrize(
    "secret",
    [
        "not json",
        "[1, 2]",
        json.dumps({"username": "u", "password": "Leaky-Pass-77"}),
        json.dumps({"host": "h", "port": 1, "username": "u", "password": "Leaky-Pass-77"}),
    ],
)
def test_a_bad_secret_is_named_and_its_password_never_shown(secret: str) -> None:
    with pytest.raises(SecretError) as caught:
        conninfo_from_secret(secret)
    assert "Leaky-Pass-77" not in str(caught.value)
    assert "secret" in str(caught.value)


def test_no_log_line_holds_the_password(
    tls_server: TlsServer, caplog: pytest.LogCaptureFixture, capsys: Capture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    main(_status(tls_server.url(password="Wrong-Pass-5521", sslmode="require")))
    main(_status(tls_server.url(sslmode="verify-full", sslrootcert=str(tls_server.untrusted_ca))))
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert "Wrong-Pass-5521" not in everything and PASSWORD not in everything


def test_the_migration_role_logs_in_with_scram_over_tls(tls_server: TlsServer) -> None:
    from migrator.roles import ensure_owner_role

    admin_socket = tls_server.server.conninfo()
    with psycopg.connect(admin_socket, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = 'app'").fetchone() is None:
            admin.execute("CREATE DATABASE app")
    with psycopg.connect(tls_server.server.conninfo("app"), autocommit=True) as admin:
        ensure_owner_role(admin, "tls_migrator", "Role-Tls-Pass-4", "app")
    role_url = tls_server.url(sslmode="verify-full", sslrootcert=str(tls_server.trusted_ca))
    role_url = role_url.replace("user=postgres", "user=tls_migrator").replace(PASSWORD, "Role-Tls-Pass-4")
    role_url = role_url.replace("dbname=postgres", "dbname=app")
    with psycopg.connect(role_url) as conn:
        assert conn.execute(
            "SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone() == ("tls_migrator", "tls_migrator")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(role_url.replace("Role-Tls-Pass-4", "Wrong-4"))
