"""Operator commands against a deployed environment: its pre-migration snapshots, and its status
read through the migration function (no database access needed from the operator's machine)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from migrator.aws.snapshots import Snapshots
from migrator.errors import MigratorError

STACK_NAME = "AalapVma-{env}"


def client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Deployed:
    stack: str
    instance: str
    function_name: str


def resolve(env: str, cloudformation: Any | None = None) -> Deployed:
    """The deployed environment, from its stack's outputs."""
    stack = STACK_NAME.format(env=env)
    cfn = cloudformation or client("cloudformation")
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:  # botocore's ClientError and endpoint errors alike
        raise MigratorError(
            f"cannot read stack {stack}: {exc}",
            hint="check AWS credentials and region, and that the environment is deployed",
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])}
    missing = [key for key in ("DatabaseInstanceId", "MigrationFunctionName") if key not in outputs]
    if missing:
        raise MigratorError(f"stack {stack} has no output {', '.join(missing)}", hint="deploy the current version")
    return Deployed(stack, outputs["DatabaseInstanceId"], outputs["MigrationFunctionName"])


def snapshot_rows(rds: Any, instance: str) -> list[dict[str, str]]:
    snapshots = Snapshots(rds, instance)
    rows = []
    for snapshot in snapshots.ours():
        tags = {t["Key"]: t["Value"] for t in snapshots.tags(snapshot)}
        rows.append(
            {
                "id": snapshot["DBSnapshotIdentifier"],
                "status": str(snapshot["Status"]),
                "created": str(snapshot.get("SnapshotCreateTime", "")),
                "from": tags.get("migrator:from", "?"),
                "to": tags.get("migrator:to", "?"),
            }
        )
    return rows


def remote_status(lambda_client: Any, function_name: str) -> dict[str, Any]:
    """Invoke the migration function's read-only status action; its failure is ours, never swallowed."""
    answer = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps({"Action": "status"}).encode())
    body = answer["Payload"].read()
    payload: dict[str, Any] = json.loads(body) if body else {}
    if answer.get("FunctionError"):
        raise MigratorError(f"{function_name} failed: {payload.get('errorMessage', body[:500])}")
    if not payload.get("ok"):
        raise MigratorError(f"{function_name} could not read the status: {payload.get('error', 'no answer')}")
    return payload


def remote_status_lines(payload: dict[str, Any], stack: str) -> list[str]:
    lines = [f"{stack} (instance {payload.get('target')}): version {payload.get('current_version') or 'none'}"]
    lines += [
        f"  applied  {a['version']} {a['name']}  ({a['applied_via']}, {a['applied_at'][:16]})"
        for a in payload.get("applied", [])
    ]
    lines += [
        f"  pending  {p['version']} {p['name']}  (applies on the next deploy)" for p in payload.get("pending", [])
    ]
    lines += [
        f"  note: version {u['version']} is applied but not in the deployed bundle"
        for u in payload.get("unknown_applied", [])
    ]
    return lines
