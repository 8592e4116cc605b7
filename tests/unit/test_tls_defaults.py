"""The command line checks certificates wherever a CA is known, and says so wherever it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from migrator.errors import InvalidInput
from migrator.tls import with_tls_defaults

RDS = "postgresql://aalap@db.abc123.eu-west-1.rds.amazonaws.com:5432/aalap_vma"


@pytest.fixture(autouse=True)
def no_ca_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MIGRATOR_SSLROOTCERT", "PGSSLROOTCERT", "PGSSLMODE", "PGHOST"):
        monkeypatch.delenv(name, raising=False)


def test_an_rds_host_without_sslmode_is_verified_against_the_project_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / ".local" / "rds-ca-bundle.pem"
    bundle.parent.mkdir()
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    url, warning = with_tls_defaults(RDS, tmp_path)
    params = conninfo_to_dict(url)
    assert (params["sslmode"], params["sslrootcert"], warning) == ("verify-full", str(bundle), None)


def test_an_rds_host_without_a_known_ca_is_refused_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="RDS endpoint, and no RDS CA bundle was found") as refused:
        with_tls_defaults(RDS, tmp_path)
    assert "sslmode=require" in refused.value.hint and "make setup" in refused.value.hint


def test_a_given_ca_means_verify_full_for_any_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSSLROOTCERT", "/etc/ssl/company-ca.pem")
    url, warning = with_tls_defaults("postgresql://u@db.internal.example/app", tmp_path)
    assert conninfo_to_dict(url)["sslmode"] == "verify-full" and warning is None


@pytest.mark.parametrize("mode", ["require", "prefer", "disable"])
def test_an_explicit_opt_out_is_kept_and_said(tmp_path: Path, mode: str) -> None:
    given = f"{RDS}?sslmode={mode}"
    url, warning = with_tls_defaults(given, tmp_path)
    assert url == given
    assert warning is not None and f"(sslmode={mode})" in warning and "not checked" in warning


def test_local_servers_and_explicit_verification_are_left_alone(tmp_path: Path) -> None:
    for given in ("host=/tmp/sock dbname=x", "postgresql://u@127.0.0.1:5432/x", f"{RDS}?sslmode=verify-full"):
        assert with_tls_defaults(given, tmp_path) == (given, None)


def test_a_remote_host_with_no_ca_known_gets_a_warning(tmp_path: Path) -> None:
    url, warning = with_tls_defaults("postgresql://u@db.internal.example/app", tmp_path)
    assert url == "postgresql://u@db.internal.example/app"
    assert warning is not None and "no sslmode and no CA" in warning
