"""A second embedded PostgreSQL that behaves like RDS with rds.force_ssl=1: TCP on loopback,
TLS with a certificate from a test CA, scram-sha-256 passwords, and no plaintext TCP at all."""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import socket
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psycopg.conninfo import make_conninfo

from migrator.embedded import SERVER_SETTINGS, EmbeddedPostgres

PASSWORD = "tls-Server-Pass-93x"
HBA = """local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
hostnossl all all 0.0.0.0/0 reject
"""


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


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
    ca_key, other_key, server_key = _key(), _key(), _key()
    ca = _cert("test CA", ca_key, None, ca=True)
    (tls / "ca.pem").write_bytes(_pem(ca))
    (tls / "other-ca.pem").write_bytes(_pem(_cert("untrusted CA", other_key, None, ca=True)))
    (tls / "server.pem").write_bytes(_pem(_cert("localhost", server_key, ("test CA", ca_key), ca=False)))
    (tls / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
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
