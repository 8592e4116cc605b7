"""A second embedded PostgreSQL that behaves like RDS with rds.force_ssl=1: TCP on loopback,
TLS with a certificate from a test CA, scram-sha-256 passwords, and no plaintext TCP at all."""

from __future__ import annotations

import os
import pwd
import socket
from dataclasses import dataclass
from pathlib import Path

import psycopg
import trustme
from psycopg.conninfo import make_conninfo

from migrator.embedded import SERVER_SETTINGS, EmbeddedPostgres

PASSWORD = "tls-Server-Pass-93x"
HBA = """local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
hostnossl all all 0.0.0.0/0 reject
"""


@dataclass(frozen=True)
class TlsServer:
    server: EmbeddedPostgres
    trusted_ca: Path
    untrusted_ca: Path

    def verified_url(self) -> str:
        """The superuser over TLS with the server's identity checked, as the deploy path connects."""
        return self.url(sslmode="verify-full", sslrootcert=str(self.trusted_ca))

    def url(self, password: str = PASSWORD, host: str = "127.0.0.1", **params: str) -> str:
        return make_conninfo(
            host=host, port=str(self.server.port), user="postgres", password=password, dbname="postgres", **params
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _give_to_server(*paths: Path) -> None:
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in paths:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)


def start_tls_server(root: Path, extra_settings: tuple[str, ...] = ()) -> TlsServer:
    tls = root / "tls"
    tls.mkdir(parents=True)
    ca, untrusted = trustme.CA(), trustme.CA()  # the second signs nothing this server presents
    issued = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(tls / "ca.pem"))
    untrusted.cert_pem.write_to_path(str(tls / "other-ca.pem"))
    issued.cert_chain_pems[0].write_to_path(str(tls / "server.pem"))
    issued.private_key_pem.write_to_path(str(tls / "server.key"))
    (tls / "server.key").chmod(0o600)
    (tls / "pg_hba.conf").write_text(HBA)
    _give_to_server(tls, tls / "server.key", tls / "server.pem", tls / "pg_hba.conf")
    tls.chmod(0o755)
    settings = (
        *SERVER_SETTINGS,
        "ssl=on",
        f"ssl_cert_file={tls / 'server.pem'}",
        f"ssl_key_file={tls / 'server.key'}",
        f"hba_file={tls / 'pg_hba.conf'}",
        "password_encryption=scram-sha-256",
        *extra_settings,
    )
    server = EmbeddedPostgres(root / "pg", port=_free_port(), listen_addresses="127.0.0.1", settings=settings)
    server.ensure_running()
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f"ALTER USER postgres PASSWORD '{PASSWORD}'".encode())
    return TlsServer(server, tls / "ca.pem", tls / "other-ca.pem")
