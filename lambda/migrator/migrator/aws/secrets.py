"""Database credentials from the RDS-generated Secrets Manager secret, turned into a libpq conninfo."""

from __future__ import annotations

import json
from typing import Any

from psycopg.conninfo import make_conninfo

from migrator.errors import SecretError

REQUIRED_KEYS = ("host", "port", "username", "password", "dbname")


def conninfo_from_secret(secret_string: str, sslmode: str = "require", sslrootcert: str | None = None) -> str:
    """Build the conninfo; TLS is always required (verify-full when a CA bundle is given)."""
    try:
        values: dict[str, Any] = json.loads(secret_string)
    except json.JSONDecodeError:
        raise SecretError("the database secret is not JSON", hint="store the RDS-generated JSON secret") from None
    if not isinstance(values, dict):
        raise SecretError("the database secret is not a JSON object")
    missing = [key for key in REQUIRED_KEYS if not values.get(key)]
    if missing:
        raise SecretError(
            f"the database secret lacks {', '.join(missing)}",
            hint="the secret must hold host, port, username, password and dbname (attach it to the instance)",
        )
    params = {
        "host": str(values["host"]),
        "port": str(values["port"]),
        "user": str(values["username"]),
        "password": str(values["password"]),
        "dbname": str(values["dbname"]),
        "sslmode": sslmode,
    }
    if sslrootcert:
        params["sslrootcert"] = sslrootcert
    return make_conninfo(**params)


CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"  # Secrets Manager's staging labels


def read_secret(client: Any, secret_arn: str, stage: str = CURRENT) -> str:
    """The secret's value of `stage`: AWSCURRENT, or AWSPENDING (a rotation that set the password in the database
    and has not finished: the database already has the pending password, the current label still the old one)."""
    try:
        response = client.get_secret_value(SecretId=secret_arn, VersionStage=stage)
    except Exception as exc:  # botocore raises many types; the message never holds the secret value
        raise SecretError(
            f"cannot read the database secret {secret_arn} ({stage}): {type(exc).__name__}: {exc}",
            hint="check the function's IAM policy and the Secrets Manager VPC endpoint",
        ) from None
    return str(response["SecretString"])


def role_credentials(secret_string: str) -> tuple[str, str]:
    """(username, password) of the migration role's secret."""
    try:
        values = json.loads(secret_string)
    except json.JSONDecodeError:
        raise SecretError("the migration role's secret is not JSON") from None
    if not isinstance(values, dict) or not values.get("username") or not values.get("password"):
        raise SecretError(
            "the migration role's secret lacks username or password",
            hint='the secret must hold {"username": ..., "password": ...}',
        )
    return str(values["username"]), str(values["password"])
