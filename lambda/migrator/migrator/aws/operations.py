"""Operator commands against a deployed environment: its pre-migration snapshots, and its status
read through the migration function (no database access needed from the operator's machine)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.aws.contract import ACTION_KEY, DRIFT_ACTION, OUTPUT_FUNCTION, OUTPUT_INSTANCE, stack_name
from migrator.aws.snapshots import FROM_TAG, TO_TAG, Snapshots
from migrator.drift import Difference, DriftReport
from migrator.errors import InvalidInput, MigratorError

REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")  # eu-west-1, us-gov-west-1, ap-southeast-5


def environments(cdk_json: Path) -> dict[str, dict[str, Any]] | None:
    """The environments cdk.json defines, or None where there is no cdk.json (an installed package)."""
    try:
        context = json.loads(cdk_json.read_text())["context"]
    except (OSError, ValueError, KeyError):
        return None
    found = context.get("environments")
    return found if isinstance(found, dict) else None


def check_env(env: str, known: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The environment's cdk.json block; InvalidInput for a name cdk.json does not define."""
    if known is None:
        return {}
    if env not in known:
        raise InvalidInput(
            f"--env {env}: cdk.json defines no such environment",
            hint=f"use one of {', '.join(sorted(known))}",
        )
    return known[env]


@dataclass(frozen=True)
class Aws:
    """One AWS session for an operator command: its region and profile decided before any call."""

    session: Any
    region: str

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region)


def session(region: str | None, profile: str | None, pinned_region: str | None = None) -> Aws:
    """--region, else the environment's region in cdk.json, else $AWS_REGION / $AWS_DEFAULT_REGION, else the
    profile's. botocore itself reads only AWS_DEFAULT_REGION, so AWS_REGION (what CI sets) is read here.
    A missing profile or region is InvalidInput, found before any AWS call."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        made = boto3.Session(profile_name=profile) if profile else boto3.Session()
    except BotoCoreError as exc:  # ProfileNotFound above all
        raise InvalidInput(f"--profile {profile}: {exc}", hint="see `aws configure list-profiles`") from None
    chosen = (
        region
        or pinned_region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or made.region_name
    )
    if not chosen:
        raise InvalidInput(
            "no AWS region: pass --region, set AWS_REGION, or give the environment a region in cdk.json",
            hint="e.g. --region eu-west-1",
        )
    if not REGION_NAME.match(chosen):
        raise InvalidInput(f"--region {chosen}: not an AWS region name", hint="e.g. eu-west-1")
    return Aws(made, chosen)


@dataclass(frozen=True)
class Deployed:
    stack: str
    instance: str
    function_name: str


def resolve(env: str, cfn: Any) -> Deployed:
    """The deployed environment, from its stack's outputs."""
    stack = stack_name(env)
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:  # botocore's ClientError and endpoint errors alike
        raise MigratorError(
            f"cannot read stack {stack}: {exc}",
            hint="check AWS credentials and region, and that the environment is deployed",
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])}
    missing = [key for key in (OUTPUT_INSTANCE, OUTPUT_FUNCTION) if key not in outputs]
    if missing:
        raise MigratorError(f"stack {stack} has no output {', '.join(missing)}", hint="deploy the current version")
    return Deployed(stack=stack, instance=outputs[OUTPUT_INSTANCE], function_name=outputs[OUTPUT_FUNCTION])


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
                "from": tags.get(FROM_TAG, "?"),
                "to": tags.get(TO_TAG, "?"),
            }
        )
    return rows


def prune_candidates(rds: Any, instance: str, keep: int) -> list[str]:
    """What `snapshots prune` deletes: Snapshots.prune's own choice."""
    return Snapshots(rds, instance).prune_candidates(keep)


def delete_snapshots(rds: Any, identifiers: list[str]) -> None:
    for ident in identifiers:
        rds.delete_db_snapshot(DBSnapshotIdentifier=ident)


# A VPC function idle for weeks goes Inactive: its first invocation fails (ResourceConflictException) and
# starts its reactivation (Pending, then Active, within minutes). The operator commands wait for it.
NOT_READY_STATES = ("Inactive", "Pending")
ACTIVE_WAIT = {"Delay": 5, "MaxAttempts": 120}  # up to 10 minutes


def _invoke(lambda_client: Any, function_name: str, payload: bytes) -> Any:
    """Invoke; a function that is Inactive or Pending is waited for until Active, then invoked once more."""
    try:
        return lambda_client.invoke(FunctionName=function_name, Payload=payload)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code != "ResourceConflictException" or not any(state in str(exc) for state in NOT_READY_STATES):
            raise
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=function_name, WaiterConfig=ACTIVE_WAIT)
    return lambda_client.invoke(FunctionName=function_name, Payload=payload)


def _answer(lambda_client: Any, function_name: str, event: dict[str, str], doing: str) -> dict[str, Any]:
    """Invoke one of the function's read-only actions; its failure is ours, never swallowed."""
    answer = _invoke(lambda_client, function_name, json.dumps(event).encode())
    body = answer["Payload"].read()
    payload: dict[str, Any] = json.loads(body) if body else {}
    if answer.get("FunctionError"):
        raise MigratorError(f"{function_name} failed: {payload.get('errorMessage', body[:500])}")
    if not payload.get("ok"):
        raise MigratorError(f"{function_name} could not {doing}: {payload.get('error', 'no answer')}")
    return payload


def remote_status(lambda_client: Any, function_name: str) -> dict[str, Any]:
    return _answer(lambda_client, function_name, {"Action": "status"}, "read the status")


def remote_drift(lambda_client: Any, function_name: str) -> DriftReport:
    """The drift watch's own check, on demand (it also counts in the Drift metric, as a scheduled one would)."""
    payload = _answer(lambda_client, function_name, {ACTION_KEY: DRIFT_ACTION}, "check for drift")
    if not payload.get("checked"):
        return DriftReport([], str(payload.get("reason") or "the function checked nothing"))
    fields = ("kind", "name", "message", "fix")
    return DriftReport([Difference(**{k: d.get(k) for k in fields}) for d in payload.get("differences", [])])
