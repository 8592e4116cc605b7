"""One deploy's migration step: inspect, snapshot when needed, apply within the time left.

Decisions live here, AWS calls go through the clients passed in, and the database
work is the engine's, so the same code runs under moto, LocalStack and in Lambda.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator import engine
from migrator.aws.secrets import conninfo_from_secret, read_secret, role_credentials
from migrator.aws.snapshots import Snapshots, snapshot_id
from migrator.connect import SessionLimits, connect
from migrator.errors import MigratorError
from migrator.plan import Plan
from migrator.roles import ensure_owner_role

log = logging.getLogger("migrator")
SAFETY_MARGIN_MS = 30_000  # stop our own work this long before Lambda would kill us


@dataclass(frozen=True)
class Bundle:
    """What the Lambda asset carries next to the package."""

    root: Path

    @property
    def options(self) -> engine.Options:
        return engine.Options(self.root / "migrations", self.root / "schema.sql", applied_by="cdk-deploy")


@dataclass(frozen=True)
class Request:
    """The custom resource's properties, typed and checked."""

    secret_arn: str
    instance: str
    snapshot_retention: int
    take_snapshots: bool
    stamp: str
    lock_timeout: str
    migrator_secret_arn: str | None = None  # the role migrations run as; None: the master user

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> Request:
        missing = [k for k in ("SecretArn", "InstanceIdentifier") if not props.get(k)]
        if missing:
            raise MigratorError(f"custom resource properties lack {', '.join(missing)}")
        return cls(
            secret_arn=str(props["SecretArn"]),
            instance=str(props["InstanceIdentifier"]),
            snapshot_retention=int(props.get("SnapshotRetention", 3)),
            take_snapshots=str(props.get("TakeSnapshots", "true")).lower() == "true",
            stamp=str(props.get("DeployToken") or props.get("Fingerprint", "")[:12] or "manual"),
            lock_timeout=str(props.get("LockTimeout", "5s")),
            migrator_secret_arn=str(props["MigratorSecretArn"]) if props.get("MigratorSecretArn") else None,
        )


def snapshot_tags(data: dict[str, str]) -> dict[str, str]:
    return {"migrator:from": data["FromVersion"], "migrator:to": data["ToVersion"]}


@dataclass(frozen=True)
class Deployment:
    request: Request
    rds: Any
    secrets: Any
    bundle: Bundle
    sslmode: str = "require"
    sslrootcert: str | None = None

    @cached_property
    def _admin_conninfo(self) -> str:
        """Read once per invocation: on_event and is_complete each connect more than once."""
        return conninfo_from_secret(read_secret(self.secrets, self.request.secret_arn), self.sslmode, self.sslrootcert)

    @cached_property
    def _role(self) -> tuple[str, str] | None:
        if self.request.migrator_secret_arn is None:
            return None
        return role_credentials(read_secret(self.secrets, self.request.migrator_secret_arn))

    def _conninfo(self, as_admin: bool = False) -> str:
        if as_admin or self._role is None:
            return self._admin_conninfo
        user, password = self._role
        return make_conninfo(self._admin_conninfo, user=user, password=password)

    def _connect(self, statement_timeout_ms: int, attempts: int, as_admin: bool = False) -> psycopg.Connection:
        limits = SessionLimits(self.request.lock_timeout, f"{max(1000, statement_timeout_ms)}ms", connect_timeout=10)
        return connect(self._conninfo(as_admin), limits, attempts=attempts, backoff=2.0)

    def hand_over(self) -> None:
        """Make the migration role (from its own secret) own the database; idempotent, once per deploy."""
        if self._role is None:
            return
        user, password = self._role
        with self._connect(60_000, attempts=5, as_admin=True) as admin:
            ensure_owner_role(admin, user, password, str(conninfo_to_dict(admin.info.dsn).get("dbname")))

    def inspect(self) -> Plan:
        inputs = engine.load_inputs(self.bundle.options)
        with self._connect(60_000, attempts=5) as conn:
            return engine.plan(conn, inputs, self.bundle.options)

    def start(self) -> dict[str, str]:
        """Decide what this deploy does; start the snapshot if one is needed. Returns the handler's Data."""
        self.hand_over()
        plan = self.inspect()
        data = {
            "FromVersion": plan.current_version or "none",
            "ToVersion": plan.target_version or "none",
            "SchemaVersion": plan.current_version or "none",
            "SnapshotId": "",
            "Applied": "",
        }
        for unknown in plan.unknown_applied:
            log.warning("version %s (%s) is applied but not in this bundle; left as is", unknown.version, unknown.name)
        if plan.is_noop:
            return data | {"Phase": "done"}
        fresh = plan.load_schema is not None or (not plan.applied and not plan.adopting_legacy)
        if fresh or not self.request.take_snapshots:
            return data | {"Phase": "apply"}  # a fresh database has nothing to lose
        ident = snapshot_id(
            self.request.instance, plan.current_version, plan.target_version or "none", self.request.stamp
        )
        status = self.snapshots.ensure(ident, snapshot_tags(data))
        log.info("pre-migration snapshot %s: %s", ident, status)
        return data | {"Phase": "snapshot", "SnapshotId": ident}

    @property
    def snapshots(self) -> Snapshots:
        return Snapshots(self.rds, self.request.instance)

    def snapshot_ready(self, data: dict[str, str]) -> bool:
        """Is the snapshot `data` names available? Starts it if the instance was busy until now."""
        ident = data["SnapshotId"]
        status = self.snapshots.ensure(ident, snapshot_tags(data))
        if status in ("creating", "waiting-for-instance", "pending"):
            return False
        if status != "available":
            raise MigratorError(
                f"pre-migration snapshot {ident} is {status}; nothing was applied",
                hint="check the RDS console, then deploy again",
            )
        return True

    def apply(self, remaining_ms: int) -> dict[str, str]:
        budget_ms = remaining_ms - SAFETY_MARGIN_MS
        if budget_ms < 5_000:
            raise MigratorError(
                "too little Lambda time left to migrate safely; nothing was applied",
                hint="deploy again (the next is_complete call starts with a full budget)",
            )
        options = self.bundle.options
        inputs = engine.load_inputs(options)
        deadline = time.monotonic() + budget_ms / 1000
        with self._connect(budget_ms, attempts=3) as conn:
            remaining_s = deadline - time.monotonic()
            opts = engine.Options(
                options.migrations_dir,
                options.schema_file,
                applied_by=options.applied_by,
                lock_wait_seconds=max(1.0, min(120.0, remaining_s / 3)),
                deadline=deadline,
            )
            outcome = engine.apply(conn, inputs, opts)
        after = outcome.plan.target_version or "none"
        return {
            "SchemaVersion": after,
            "ToVersion": after,
            "Applied": ",".join(outcome.result.recorded_by_schema + outcome.result.applied),
        }

    def prune(self) -> list[str]:
        if not self.request.take_snapshots:
            return []
        try:
            return self.snapshots.prune(self.request.snapshot_retention)
        except Exception as exc:  # pruning is housekeeping: never fail a deploy that migrated
            log.warning("could not prune old pre-migration snapshots: %s", exc)
            return []
