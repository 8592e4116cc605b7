"""What the migration Lambda carries, and its fingerprint, computed once at synth.

The fingerprint covers the migrations, schema.sql and the engine's code, so a
change to any of them changes the custom resource's properties (and `cdk diff`
lists the migration files a deploy brings).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from migrator.files import load_migrations

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = PROJECT_ROOT / "lambda" / "migrator" / "migrator"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
SCHEMA_FILE = PROJECT_ROOT / "schema.sql"
# Optional: the RDS CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem). When
# present it ships in the asset and the Lambda connects with sslmode=verify-full instead of require.
CA_BUNDLE = PROJECT_ROOT / "lambda" / "migrator" / "certs" / "rds-global-bundle.pem"
CA_BUNDLE_IN_LAMBDA = "/var/task/certs/rds-global-bundle.pem"


@dataclass(frozen=True)
class MigrationBundle:
    fingerprint: str
    migrations: tuple[str, ...]  # "008_add_tags.sql@1a2b3c4d5e6f" — readable in cdk diff
    newest_version: str


def _engine_files() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def describe_bundle(migrations_dir: Path = MIGRATIONS_DIR, schema_file: Path = SCHEMA_FILE) -> MigrationBundle:
    migrations = load_migrations(migrations_dir)
    digest = hashlib.sha256()
    for migration in migrations:
        digest.update(f"{migration.filename}:{migration.checksum}\n".encode())
    digest.update(schema_file.read_bytes())
    if CA_BUNDLE.is_file():
        digest.update(CA_BUNDLE.read_bytes())
    for path in _engine_files():
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes())
    return MigrationBundle(
        fingerprint=digest.hexdigest(),
        migrations=tuple(f"{m.filename}@{m.checksum[:12]}" for m in migrations),
        newest_version=migrations[-1].version if migrations else "000",
    )
