"""Emulated AWS for tests: moto in server mode on loopback (boto3 talks HTTP), or LocalStack when
LOCALSTACK_ENDPOINT is set. The handler builds its own clients, so the endpoint reaches it
through AWS_ENDPOINT_URL, exactly as configuration would in any other environment."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from psycopg.conninfo import conninfo_to_dict

REGION = "eu-west-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,  # type: ignore[call-overload]
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Environment:
    """One emulated deploy target: an RDS instance record, its secret, and the real database behind it."""

    endpoint: str
    instance: str
    secret_arn: str
    conninfo: str
    bundle: Path
    role_secret_arn: str = ""

    def rds(self) -> Any:
        return client(self.endpoint, "rds")

    def secrets(self) -> Any:
        return client(self.endpoint, "secretsmanager")

    def properties(self, **extra: Any) -> dict[str, Any]:
        return {
            "SecretArn": self.secret_arn,
            "InstanceIdentifier": self.instance,
            "SnapshotRetention": "3",
            "TakeSnapshots": "true",
            "NewestVersion": newest_version(self.bundle),
            "DeployToken": deploy_token(),
        } | extra

    def add_migration(self, name: str, sql: str) -> None:
        (self.bundle / "migrations" / name).write_text(sql)


def deploy_token() -> str:
    """As app.py makes it: the synth's UTC time, so a later deploy has a later token (microseconds here)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def newest_version(bundle: Path) -> str:
    return sorted(p.name.split("_", 1)[0] for p in (bundle / "migrations").glob("*.sql"))[-1]


def secret_for(conninfo: str, instance: str) -> str:
    params = conninfo_to_dict(conninfo)
    return json.dumps(
        {
            "engine": "postgres",
            "host": params["host"],
            "port": int(str(params.get("port") or 5432)),
            "username": params.get("user") or "postgres",
            "password": params.get("password") or "not-the-real-one-Zq9",
            "dbname": params["dbname"],
            "dbInstanceIdentifier": instance,
        }
    )


def make_environment(endpoint: str, conninfo: str, project: Path, workdir: Path) -> Environment:
    instance = f"aalap-test-{uuid.uuid4().hex[:8]}"
    rds = client(endpoint, "rds")
    rds.create_db_instance(
        DBInstanceIdentifier=instance,
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="aalap_admin",
        MasterUserPassword="x" * 12,
    )
    secret = client(endpoint, "secretsmanager").create_secret(
        Name=f"{instance}-secret", SecretString=secret_for(conninfo, instance)
    )
    bundle = workdir / "bundle"
    shutil.copytree(project / "migrations", bundle / "migrations", ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(project / "schema.sql", bundle / "schema.sql")
    return Environment(endpoint, instance, secret["ARN"], conninfo, bundle)


def aws_environment(endpoint: str) -> dict[str, str]:
    return CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint}


def localstack_endpoint() -> str | None:
    return os.environ.get("LOCALSTACK_ENDPOINT") or None
