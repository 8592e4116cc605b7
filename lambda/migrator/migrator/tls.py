"""How the command line's connections check the server: verify-full wherever a CA is known, and a visible line
wherever they do not (an explicit opt-out such as `sslmode=require`, or a remote host with no CA to check).

libpq's default (`prefer`) encrypts when it can but believes any certificate, so a host in the middle could read
the migration role's password. The RDS CA bundle comes from MIGRATOR_SSLROOTCERT, PGSSLROOTCERT or the copy
`make setup` writes to .local/rds-ca-bundle.pem (the same bundle the Lambda asset ships).
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo

from migrator.aws.contract import ENV_SSLROOTCERT
from migrator.errors import InvalidInput

RDS_SUFFIXES = (".rds.amazonaws.com", ".rds.amazonaws.com.cn")
UNVERIFIED = ("disable", "allow", "prefer", "require")
LOCAL_BUNDLE = Path(".local") / "rds-ca-bundle.pem"


def _is_local(host: str) -> bool:
    return not host or host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")


def known_ca(project_root: Path) -> str | None:
    for candidate in (os.environ.get(ENV_SSLROOTCERT), os.environ.get("PGSSLROOTCERT")):
        if candidate and Path(candidate).is_file():
            return candidate
    bundle = project_root / LOCAL_BUNDLE
    return str(bundle) if bundle.is_file() else None


def with_tls_defaults(url: str, project_root: Path) -> tuple[str, str | None]:
    """(the URL to connect with, a warning to show or None). An RDS host without sslmode gets verify-full."""
    try:
        params = pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return url, None  # connect() reports the unparseable URL
    host = str(params.get("host") or os.environ.get("PGHOST") or "")
    mode = str(params.get("sslmode") or os.environ.get("PGSSLMODE") or "")
    if mode in UNVERIFIED:
        return url, None if _is_local(host) else _warning(host, f"sslmode={mode}")
    if mode:
        return url, None  # verify-ca or verify-full: checked as asked
    given = params.get("sslrootcert") or os.environ.get("PGSSLROOTCERT")
    ca = str(given) if given else (known_ca(project_root) if host.endswith(RDS_SUFFIXES) else None)
    if ca:
        return pg_conninfo.make_conninfo(url, sslmode="verify-full", sslrootcert=ca), None
    if host.endswith(RDS_SUFFIXES):
        raise InvalidInput(
            f"{host} is an RDS endpoint, and no RDS CA bundle was found to check its certificate",
            hint="run `make setup` (it writes .local/rds-ca-bundle.pem), or set MIGRATOR_SSLROOTCERT, or add"
            " sslmode=require to the URL to connect without checking the certificate",
        )
    return url, None if _is_local(host) else _warning(host, "no sslmode and no CA")


def _warning(host: str, why: str) -> str:
    return (
        f"warning: the certificate of {host} is not checked ({why}): a host in between could read the password;"
        " use sslmode=verify-full with sslrootcert=… (the RDS CA bundle for RDS)"
    )
