"""The drift action of the migration function, after a deploy through the real Provider framework, invoked
with the event the synthesized schedule sends: clean after the deploy, injected drift logged line by line
with its fix and counted in the DriftDifferences metric, silent while a deploy holds the migration lock."""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
import pytest

from migrator.aws import metrics
from migrator.aws.contract import ACTION_KEY, DRIFT_ACTION
from migrator.catalog import describe
from migrator.lock import LOCK_KEY
from tests.e2e.harness import Deployer
from tests.pg import superuser_view
from tests.support.migrations import VERSIONS


def _scheduled_event(deployer: Deployer) -> dict[str, Any]:
    """The input of the stack's schedule: EventBridge delivers a target's constant input as the whole event."""
    resources = deployer.model.assembly.template["Resources"].values()
    rules = [r for r in resources if r["Type"] == "AWS::Events::Rule"]
    inputs = [json.loads(t["Input"]) for r in rules for t in r["Properties"]["Targets"] if "Input" in t]
    (event,) = [i for i in inputs if i.get(ACTION_KEY) == DRIFT_ACTION]  # the rehearsal sweeper's rule has none
    return dict(event)


def _drift_records(out: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return [r for r in records if r.get("Action") == "drift"]


def _secrets(deployer: Deployer) -> list[str]:
    env, secrets = deployer.environment, deployer.environment.secrets()
    return [
        str(json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])["password"])
        for arn in (env.secret_arn, env.role_secret_arn)
    ]


def test_the_drift_action_after_a_deploy(
    deployer: Deployer,
    app_role_name: str,
    pg_admin: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, logger="migrator")
    env, event = deployer.environment, _scheduled_event(deployer)
    assert deployer.deploy("create on a fresh database").status == "CREATE_COMPLETE"
    capsys.readouterr()

    clean = json.loads(deployer.invoke_function(event).payload)
    assert clean == {"ok": True, "checked": True, "differences": []}
    (record,) = _drift_records(capsys.readouterr().out)
    assert record[metrics.DRIFT_DIFFERENCES] == 0 and record[metrics.DIMENSION] == env.instance

    with psycopg.connect(superuser_view(pg_admin, env.conninfo), autocommit=True) as su:
        live = describe(su, "public")
        table, index = next(
            k.split(" ", 1)[1].split(".")
            for k in sorted(live)
            if k.startswith("index ") and f"constraint {k.split(' ', 1)[1]}" not in live
        )
        su.execute(f"DROP INDEX {index}".encode())
        su.execute(f"REVOKE DELETE ON {table} FROM {app_role_name}".encode())
        su.execute(b"UPDATE migrator.history SET checksum = md5(checksum) WHERE version = %s", (VERSIONS[0],))
    caplog.clear()
    found = json.loads(deployer.invoke_function(event).payload)
    assert found["ok"] and found["checked"]
    kinds = {(d["kind"], d["name"]): d["fix"] for d in found["differences"]}
    assert kinds[("schema", f"index {table}.{index}")] == live[f"index {table}.{index}"]
    assert kinds[("privilege", table)] == f"GRANT DELETE ON TABLE {table} TO {app_role_name}"
    assert ("history", f"version {VERSIONS[0]}") in kinds
    (record,) = _drift_records(capsys.readouterr().out)
    assert record[metrics.DRIFT_DIFFERENCES] == len(found["differences"])
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "migrator"]
    assert len(logged) == len(found["differences"]), "one log line per difference"
    assert (
        f"drift schema index {table}.{index}: missing (schema.sql: {live[f'index {table}.{index}']}); fix: "
        in "\n".join(logged)
    )

    with psycopg.connect(env.conninfo, autocommit=True) as deploy:  # a deploy in flight holds the lock
        deploy.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        quiet = json.loads(deployer.invoke_function(event).payload)
        assert quiet["ok"] and not quiet["checked"] and f"pid {deploy.info.backend_pid}" in quiet["reason"]
    assert _drift_records(capsys.readouterr().out) == [], "no metric while it stands aside: the alarm keeps its state"

    said = caplog.text + capsys.readouterr().out
    assert all(secret not in said for secret in _secrets(deployer))
