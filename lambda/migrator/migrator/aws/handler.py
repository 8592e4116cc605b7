"""The custom-resource handlers behind aws_cdk.custom_resources.Provider.

Only a raised exception makes the Provider answer FAILED (a returned status is
ignored), so every failure raises with a reason CloudFormation can show. Delete
and a rollback's Update never touch the database and never fail.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from migrator.aws.deploy import Bundle, Deployment, Request
from migrator.errors import MigratorError

log = logging.getLogger("migrator")
log.setLevel(logging.INFO)
# botocore logs whole response bodies at DEBUG, GetSecretValue's included: never let that through.
for _noisy in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.INFO)
MAX_REASON = 1000  # CloudFormation's whole response must stay under 4 KB


class DeployFailed(Exception):
    """Raised to make the Provider answer FAILED; the message is the reason CloudFormation shows."""


def _bundle() -> Bundle:
    return Bundle(Path(os.environ.get("MIGRATOR_BUNDLE_ROOT") or Path(__file__).resolve().parents[2]))


def _clients() -> tuple[Any, Any]:
    import boto3  # imported on first use: keeps the module's cold import small

    return boto3.client("rds"), boto3.client("secretsmanager")


def _deployment(props: dict[str, Any]) -> Deployment:
    """Properties come from the custom resource; the function's environment fills in for direct calls."""
    props = {
        "SecretArn": os.environ.get("MIGRATOR_SECRET_ARN"),
        "InstanceIdentifier": os.environ.get("MIGRATOR_INSTANCE"),
        "MigratorSecretArn": os.environ.get("MIGRATOR_ROLE_SECRET_ARN"),
    } | {k: v for k, v in props.items() if v}
    rds, secrets = _clients()
    ca = os.environ.get("MIGRATOR_SSLROOTCERT")
    return Deployment(
        Request.from_properties(props),
        rds,
        secrets,
        _bundle(),
        sslmode="verify-full" if ca else "require",
        sslrootcert=ca,
    )


def _physical_id(event: dict[str, Any]) -> str:
    """Stable for the resource's life: a new id would make CloudFormation send a Delete for the old one."""
    instance = event.get("ResourceProperties", {}).get("InstanceIdentifier", "database")
    return str(event.get("PhysicalResourceId") or f"schema-migrations-{instance}")


def _fail(exc: Exception) -> DeployFailed:
    text = str(exc)
    reason = text if len(text) <= MAX_REASON else text[: MAX_REASON - 15] + " …(truncated)"
    log.error("migration step failed: %s", text)
    return DeployFailed(reason)


def is_rollback(event: dict[str, Any]) -> bool:
    """An Update that goes back in time: CloudFormation rolling back, or a deliberate downgrade.

    A rollback sends the properties of an earlier synth, so its deploy token (a UTC timestamp) is
    older than the one being undone; without tokens (-c migrate=on-change) an older newest
    migration version tells. Such an Update must not touch the database, nor fail.
    """
    if event.get("RequestType") != "Update":
        return False
    new, old = event.get("ResourceProperties", {}), event.get("OldResourceProperties", {})
    new_token, old_token = str(new.get("DeployToken", "")), str(old.get("DeployToken", ""))
    if new_token and old_token and new_token != old_token:
        return new_token < old_token
    new_version, old_version = str(new.get("NewestVersion", "")), str(old.get("NewestVersion", ""))
    return new_version.isdigit() and old_version.isdigit() and int(new_version) < int(old_version)


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("Action") == "status":
        return status(event, context)
    request, physical = event["RequestType"], _physical_id(event)
    log.info("%s %s", request, physical)
    if request == "Delete" or is_rollback(event):
        note = "delete keeps the database" if request == "Delete" else "rollback to an older bundle: left as is"
        return {"PhysicalResourceId": physical, "Data": {"Phase": "noop", "Note": note}}
    try:
        data = _deployment(event["ResourceProperties"]).start()
    except Exception as exc:
        raise _fail(exc) from None
    return {"PhysicalResourceId": physical, "Data": data}


def is_complete(event: dict[str, Any], context: Any) -> dict[str, Any]:
    data: dict[str, str] = dict(event.get("Data") or {})
    phase = data.get("Phase")
    if phase in ("noop", "done"):
        return {"IsComplete": True, "Data": {k: v for k, v in data.items() if k != "Phase"}}
    try:
        deployment = _deployment(event["ResourceProperties"])
        if phase == "snapshot" and not deployment.snapshot_ready(data):
            return {"IsComplete": False}
        data |= deployment.apply(context.get_remaining_time_in_millis())
        data["Pruned"] = ",".join(deployment.prune())
    except Exception as exc:
        raise _fail(exc) from None
    data.pop("Phase", None)
    log.info("schema version %s; applied %s", data.get("SchemaVersion"), data.get("Applied") or "nothing")
    return {"IsComplete": True, "Data": data}


def status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Read-only: what a deployed environment has applied and what its bundle would apply."""
    from migrator.report import status_to_json

    try:
        deployment = _deployment(event.get("ResourceProperties") or {})
        plan = deployment.inspect()
    except MigratorError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True} | status_to_json(plan, deployment.request.instance)
