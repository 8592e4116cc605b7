"""Emulated AWS for tests: an `Aws` says which endpoint serves each service. moto in server mode on
loopback (boto3 talks HTTP) serves everything in the moto tier; in the LocalStack tier LocalStack
community serves everything but RDS (a paid feature there), which moto serves. The handler builds
its own clients, so the endpoints reach it through AWS_ENDPOINT_URL and the per-service
AWS_ENDPOINT_URL_<SERVICE> variables, exactly as configuration would in any other environment."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore import utils as botocore_utils
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


@dataclass(frozen=True)
class Aws:
    """One emulated AWS: the endpoint of each service (boto3 client names), `default` for the others."""

    label: str
    default: str
    services: Mapping[str, str] = field(default_factory=dict)

    def endpoint(self, service: str) -> str:
        return self.services.get(service, self.default)

    def environment(self) -> dict[str, str]:
        """The variables botocore reads: AWS_ENDPOINT_URL, and AWS_ENDPOINT_URL_<SERVICE ID> per service."""
        return {"AWS_ENDPOINT_URL": self.default} | {
            endpoint_variable(service): url for service, url in self.services.items()
        }


def endpoint_variable(service: str) -> str:
    """botocore's name for a service's endpoint variable: secretsmanager -> AWS_ENDPOINT_URL_SECRETS_MANAGER."""
    name = botocore_utils.SERVICE_NAME_ALIASES.get(service, service)
    hyphenized = botocore_utils.CLIENT_NAME_TO_HYPHENIZED_SERVICE_ID_OVERRIDES.get(name, name)
    return f"AWS_ENDPOINT_URL_{hyphenized.replace('-', '_').upper()}"


def as_aws(aws: str | Aws) -> Aws:
    """A bare endpoint is an AWS whose every service is there."""
    return aws if isinstance(aws, Aws) else Aws(aws, aws)


def client(aws: str | Aws, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=as_aws(aws).endpoint(service),
        region_name=REGION,  # type: ignore[call-overload]
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Environment:
    """One emulated deploy target: an RDS instance record, its secret, and the real database behind it."""

    endpoint: Aws
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


def make_environment(endpoint: str | Aws, conninfo: str, project: Path, workdir: Path) -> Environment:
    endpoint = as_aws(endpoint)
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


def aws_environment(endpoint: str | Aws) -> dict[str, str]:
    return CREDENTIALS | as_aws(endpoint).environment()


def localstack_endpoint() -> str | None:
    """A LocalStack someone else runs (CI's optional Pro job); without it the tier starts its own."""
    return os.environ.get("LOCALSTACK_ENDPOINT") or None
