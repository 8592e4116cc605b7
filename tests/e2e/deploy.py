"""A stand-in for CloudFormation + the Provider framework, driving the real handlers.

Properties come from the synthesized template of an environment; each deploy's migration
set is described by the same `describe_bundle` the CDK app uses. Responses are built as
the framework builds them, so their size and content can be checked.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from migrator.aws import handler
from stacks.bundle import describe_bundle
from tests.aws import Environment, deploy_token, make_environment
from tests.conftest import PROJECT
from tests.handler.conftest import LambdaContext

RESPONSE_LIMIT = 4096  # bytes CloudFormation accepts for a custom resource response


def template_properties(template: Template) -> dict[str, Any]:
    (resource,) = template.find_resources("Custom::SchemaMigration").values()
    return dict(resource["Properties"])


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, dict) and len(value) == 1 and ("Ref" in value or "Fn::GetAtt" in value):
        target = value.get("Ref") or value["Fn::GetAtt"][0]
        return next(v for prefix, v in refs.items() if str(target).startswith(prefix))
    if isinstance(value, list):
        return [_resolve(v, refs) for v in value]
    return value


@dataclass
class Deployer:
    environment: Environment
    template_props: dict[str, Any]
    record: Callable[[str, float], None]
    project: Path
    responses: list[dict[str, Any]] = field(default_factory=list)
    physical_id: str | None = None
    current: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        endpoint: str,
        db: str,
        role: str,
        workdir: Path,
        monkeypatch: pytest.MonkeyPatch,
        record: Callable[[str, float], None],
    ) -> Deployer:
        from tests.e2e.templates import staging_template

        environment = make_environment(endpoint, db, PROJECT, workdir)
        environment.role_secret_arn = environment.secrets().create_secret(
            Name=f"{environment.instance}-role", SecretString=json.dumps({"username": role, "password": "Role-E2e-1"})
        )["ARN"]
        monkeypatch.setenv("MIGRATOR_BUNDLE_ROOT", str(environment.bundle))
        return cls(environment, template_properties(staging_template()), record, workdir)

    def add_migration(self, name: str, sql: str) -> None:
        self.environment.add_migration(name, sql)

    def remove_migration(self, name: str) -> None:
        (self.environment.bundle / "migrations" / name).unlink()

    def properties(self) -> dict[str, Any]:
        """What the template would carry for the bundle as it is now (as a fresh synth computes it)."""
        refs = {
            "DatabaseInstanceSecretAttachment": self.environment.secret_arn,
            "DatabaseInstance": self.environment.instance,
            "SchemaMigrationRoleSecret": self.environment.role_secret_arn,
        }
        props = {k: _resolve(v, refs) for k, v in self.template_props.items() if k != "ServiceToken"}
        bundle = describe_bundle(self.environment.bundle / "migrations", self.environment.bundle / "schema.sql")
        return props | {
            "Fingerprint": bundle.fingerprint,
            "Migrations": list(bundle.migrations),
            "NewestVersion": bundle.newest_version,
            "DeployToken": deploy_token(),
        }

    def deploy(
        self,
        step: str,
        request: str | None = None,
        props: dict[str, Any] | None = None,
        context: LambdaContext | None = None,
    ) -> dict[str, Any]:
        """One CloudFormation operation on the resource; returns the response body the framework would send."""
        request = request or ("Update" if self.physical_id else "Create")
        props = props if props is not None else self.properties()
        event = {
            "RequestType": request,
            "ResourceProperties": props,
            "RequestId": str(uuid.uuid4()),
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/AalapVma-staging/x",
            "LogicalResourceId": "SchemaMigrationResource",
            "ResourceType": "Custom::SchemaMigration",
        }
        if self.physical_id:
            event["PhysicalResourceId"] = self.physical_id
        if request == "Update":
            event["OldResourceProperties"] = self.current
        started = time.perf_counter()
        body = self._respond(event, context or LambdaContext())
        self.record(step, time.perf_counter() - started)
        self.responses.append(body)
        if body["Status"] == "SUCCESS" and request != "Delete":
            self.physical_id, self.current = body["PhysicalResourceId"], props
        return body

    def _respond(self, event: dict[str, Any], context: LambdaContext, max_polls: int = 20) -> dict[str, Any]:
        base = {k: event[k] for k in ("RequestId", "StackId", "LogicalResourceId")}
        try:
            started = handler.on_event(event, context)
            waiting = event | started
            for _ in range(max_polls):
                answer = handler.is_complete(waiting, context)
                if answer["IsComplete"]:
                    data = dict(started.get("Data", {})) | dict(answer.get("Data", {}))
                    return base | {
                        "Status": "SUCCESS",
                        "PhysicalResourceId": started["PhysicalResourceId"],
                        "Data": data,
                    }
            raise AssertionError("is_complete never completed")
        except handler.DeployFailed as exc:
            physical = event.get("PhysicalResourceId") or event["RequestId"]
            return base | {"Status": "FAILED", "Reason": str(exc), "PhysicalResourceId": physical}

    def snapshot_ids(self) -> list[str]:
        found = self.environment.rds().describe_db_snapshots(
            DBInstanceIdentifier=self.environment.instance, SnapshotType="manual"
        )["DBSnapshots"]
        return sorted(s["DBSnapshotIdentifier"] for s in found)


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
