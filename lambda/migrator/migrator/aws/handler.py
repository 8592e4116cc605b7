"""The custom-resource handlers behind aws_cdk.custom_resources.Provider.

Only a raised exception makes the Provider answer FAILED (a returned status is
ignored), so every failure raises with a reason CloudFormation can show. Every
Create or Update answer carries every attribute the template reads (`answer`).
Delete never touches the database. An Update that goes back in time (a rollback,
or an assembly synthesized before the deploy it follows) runs the plan like any
other: what it brings is applied or fails, but if it brings nothing new, failing
to look cannot fail it, because CloudFormation cannot recover from a failed rollback.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import replace
from typing import Any

from migrator.aws import clients, codebuild, drift_watch, metrics, predictions, rehearsal
from migrator.aws.contract import KEYS, RUNNER_CODEBUILD, ContractError, StepProperties, env_of
from migrator.aws.deploy import Bundle, Deployment, bundle_from_environment, is_fresh, properties
from migrator.aws.step_data import NONE, StepData, answer, from_event
from migrator.errors import DeployFailed, MigratorError, OutOfOrder
from migrator.files import listing

log = logging.getLogger("migrator")
log.setLevel(logging.INFO)
# botocore logs whole response bodies at DEBUG, GetSecretValue's included: never let that through.
for _noisy in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.INFO)
MAX_REASON = 1000  # CloudFormation's whole response must stay under 4 KB


def _clients() -> tuple[Any, Any]:
    return clients.client("rds"), clients.client("secretsmanager")


REQUEST_TYPES = ("Create", "Update", "Delete")
_PROPERTIES = ("ResourceProperties", "OldResourceProperties")


def _object(event: dict[str, Any], key: str) -> dict[str, Any]:
    """An event's object field ({} when absent or null); anything else is a malformed event, said plainly."""
    value = event.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MigratorError(f"malformed event: {key} is {type(value).__name__}, not an object; nothing was done")
    return value


def _matching_asset(props: StepProperties, bundle: Bundle) -> None:
    """The template lists the migrations it was synthesized with; the function must ship exactly those."""
    listed = props.migrations
    if listed is None:
        return  # a direct invocation (status, tests) names none
    shipped = listing(bundle.options.migrations_dir)
    if list(listed) != shipped:
        raise MigratorError(
            f"the template lists {len(listed)} migrations (newest {listed[-1] if listed else 'none'}) but this"
            f" function's asset holds {len(shipped)} (newest {shipped[-1] if shipped else 'none'}): the template and"
            " the asset come from different synths; nothing was done",
            hint="deploy template and asset together with one `cdk deploy` of one synth",
        )


def _deployment(props: StepProperties) -> Deployment:
    rds, secrets = _clients()
    return Deployment.create(props, os.environ, rds=rds, secrets=secrets)


def _properties(raw: dict[str, Any]) -> StepProperties:
    """Properties come from the custom resource; the function's environment fills in for direct calls."""
    return properties(raw, os.environ)


def _physical_id(event: dict[str, Any]) -> str:
    """Stable for the resource's life: a new id would make CloudFormation send a Delete for the old one."""
    props = event.get("ResourceProperties")
    instance = props.get(KEYS["instance"]) if isinstance(props, dict) else None
    return str(event.get("PhysicalResourceId") or f"schema-migrations-{instance or 'database'}")


def _fail(exc: Exception) -> DeployFailed:
    text = str(exc)
    reason = text if len(text) <= MAX_REASON else text[: MAX_REASON - 15] + " …(truncated)"
    log.error("migration step failed: %s", text)
    return DeployFailed(reason)


def is_backward(event: dict[str, Any]) -> bool:
    """An Update carrying an older synth than the one it replaces: a rollback, or a stale assembly.

    The deploy token is the synth's UTC time; without tokens (-c migrate=on-change) an older newest
    migration version tells. Either can be a real deploy, so this only decides how a failure to
    look at the database is answered, never whether the plan runs.
    """
    if event.get("RequestType") != "Update":
        return False
    try:
        new, old = (StepProperties.parse(_object(event, key), required=False) for key in _PROPERTIES)
    except (ContractError, MigratorError):
        return False  # malformed properties: the plan's own checks say so
    if new.deploy_token and old.deploy_token and new.deploy_token != old.deploy_token:
        return new.deploy_token < old.deploy_token
    new_version, old_version = new.newest_version, old.newest_version
    return new_version.isdigit() and old_version.isdigit() and int(new_version) < int(old_version)


def _backward_unchecked(exc: Exception) -> StepData:
    """A backward Update that could not look: answered as success, with the reason in every attribute's Note."""
    note = f"older template (rollback?): the database was not checked and was left as is: {exc}"
    log.warning(note)
    return answer({"SchemaVersion": "unchecked", "Note": note[:MAX_REASON], "Phase": "done"})


@metrics.on_event  # an EMF line (stdout) when the step fails here
def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    clients.invocation(context)
    if event.get("Action") == "status":
        return status(event, context)
    if drift_watch.is_action(event):  # the environment's schedule: {"action": "drift"}
        return drift_watch.run(event, lambda: _deployment(_properties({})))
    request, physical = event.get("RequestType"), _physical_id(event)
    if request == "Delete":
        return _delete(event, physical)
    if request not in REQUEST_TYPES:
        raise _fail(
            MigratorError(f"unknown RequestType {request!r}: expected Create, Update or Delete; nothing was done")
        )
    backward = is_backward(event)
    log.info("%s %s%s", request, physical, " (older template than the deployed one)" if backward else "")
    try:
        raw = _object(event, "ResourceProperties")
        if not raw:
            raise MigratorError(f"malformed event: a {request} without ResourceProperties; nothing was done")
        props = _properties(raw)
        codebuild.stop_stale_builds(props)  # a rollback leaves none applying
        _matching_asset(props, bundle_from_environment(os.environ))  # once per request: is_complete follows this one
        claim = str(event.get("RequestId") or uuid.uuid4().hex)
        deployment = replace(_deployment(props), claim=claim)
        plan = deployment.prepare()
    except OutOfOrder as exc:  # the bundle brings a version the database lacks: a real deploy, never skipped
        raise _fail(exc) from None
    except Exception as exc:
        if backward:
            return {"PhysicalResourceId": physical, "Data": _backward_unchecked(exc)}
        raise _fail(exc) from None
    try:
        env = env_of(str(event.get("StackId") or ""))
        if not (backward or plan.is_noop or is_fresh(plan)):  # a rollback or a first deploy is never held back
            rehearsal.require(deployment.request, env, clients.client)
        runner = codebuild.route(deployment.request, plan, fresh=is_fresh(plan), env=env)
        data: StepData = {**deployment.start(plan, started_at=time.time()), **runner, "Claim": claim}
    except Exception as exc:
        raise _fail(exc) from None
    return {"PhysicalResourceId": physical, "Data": answer(data)}


def _delete(event: dict[str, Any], physical: str) -> dict[str, Any]:
    """A Delete never fails and never touches the database: a failed Delete leaves a stack nobody can remove."""
    note = "delete keeps the database"
    try:
        codebuild.stop_stale_builds(StepProperties.parse(_object(event, "ResourceProperties"), required=False))
    except Exception as exc:
        note += f"; stopping a runner build failed ({type(exc).__name__}: {exc})"
        log.warning(note)
    return {"PhysicalResourceId": physical, "Data": answer({"Phase": "done", "Note": note[:MAX_REASON]})}


@metrics.is_complete  # an EMF line (stdout) when the step ends: duration, applied, snapshot wait, outcome
def is_complete(event: dict[str, Any], context: Any) -> dict[str, Any]:
    clients.invocation(context)
    try:
        data = from_event(_object(event, "Data"))
        if "Phase" not in data:
            raise MigratorError("malformed event: is_complete got no step data (Data has no Phase); nothing was done")
    except (MigratorError, ValueError) as exc:
        raise _fail(exc) from None
    if data.get("Phase") == "done":
        return {"IsComplete": True, "Data": answer(data)}
    try:
        deployment = replace(_deployment(_properties(_object(event, "ResourceProperties"))), claim=data.get("Claim"))
        if data.get("Phase") == "snapshot" and not deployment.snapshot_ready(data):
            return {"IsComplete": False}
        if data.get("RunsIn") == RUNNER_CODEBUILD:
            done = codebuild.poll(deployment, event, data)
            if done is None:
                return {"IsComplete": False}
            data.update(done)
        else:
            data.update(deployment.apply(context.get_remaining_time_in_millis(), data))
    except Exception as exc:
        raise _fail(exc) from None
    # Per file: measured beside rehearsed. Not in the answer: CloudFormation's response must stay under 4 KB.
    timings = predictions.decode(data.pop("FileSeconds", ""))
    predictions.record(deployment.request, env_of(str(event.get("StackId") or "")), timings, clients.client)
    pruned, prune_error = deployment.prune()
    data["Pruned"] = ",".join(pruned) or NONE
    if prune_error:
        data["PruneError"] = prune_error
    log.info("schema version %s; applied %s", data.get("SchemaVersion"), data.get("Applied") or "nothing")
    return {"IsComplete": True, "Data": answer(data)}


def status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Read-only: what a deployed environment has applied and what its bundle would apply."""
    from migrator.report import survey_to_json

    try:
        deployment = _deployment(_properties(_object(event, "ResourceProperties")))
        survey = deployment.survey()
    except MigratorError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True} | survey_to_json(survey, deployment.request.instance)
