"""One deploy's migration step: inspect, snapshot when needed, apply within the time left.

Decisions live here, AWS calls go through the clients passed in, and the database
work is the engine's, so the same code runs under moto, LocalStack and in Lambda.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator import engine
from migrator.aws.secrets import conninfo_from_secret, read_secret, role_credentials
from migrator.aws.snapshots import WAITING_STATES, Snapshots, snapshot_id, version_tags
from migrator.aws.step_data import NONE, StepData
from migrator.connect import DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT, DEFAULT_LOCK_TIMEOUT, SessionLimits, connect
from migrator.errors import AuthenticationFailed, MigratorError, SnapshotError
from migrator.plan import Plan
from migrator.roles import ensure_app_role, ensure_owner_role

log = logging.getLogger("migrator")
SAFETY_MARGIN_MS = 30_000  # stop our own work this long before Lambda would kill us
ANSWER_MARGIN_S = 120  # the framework needs this long, after the last apply, to answer CloudFormation
MIN_APPLY_S = 60  # less than this left after a snapshot wait: fail clearly instead of starting
DEFAULT_TIMEOUT_S = 3600  # CloudFormation's ServiceTimeout when a template does not say


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
    timeout_seconds: int = DEFAULT_TIMEOUT_S  # CloudFormation's ServiceTimeout for the whole step
    app_secret_arn: str | None = None  # the application's role (data rights only); None: none managed

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> Request:
        missing = [k for k in ("SecretArn", "InstanceIdentifier") if not props.get(k)]
        if missing:
            raise MigratorError(f"custom resource properties lack {', '.join(missing)}")
        given = props.get("MigrationTimeoutSeconds")
        timeout = str(DEFAULT_TIMEOUT_S if given is None or given == "" else given)
        if not timeout.isdigit() or not 60 <= int(timeout) <= DEFAULT_TIMEOUT_S:
            raise MigratorError(f"MigrationTimeoutSeconds must be 60-3600, got {timeout!r}")
        retention = str(props.get("SnapshotRetention", 3))
        if not retention.isdigit() or int(retention) < 1:
            raise MigratorError(f"SnapshotRetention must be a whole number of at least 1, got {retention!r}")
        return cls(
            secret_arn=str(props["SecretArn"]),
            instance=str(props["InstanceIdentifier"]),
            snapshot_retention=int(retention),
            take_snapshots=str(props.get("TakeSnapshots", "true")).lower() == "true",
            stamp=str(props.get("DeployToken") or props.get("Fingerprint", "")[:12] or "manual"),
            lock_timeout=str(props.get("LockTimeout") or DEFAULT_LOCK_TIMEOUT),
            migrator_secret_arn=str(props["MigratorSecretArn"]) if props.get("MigratorSecretArn") else None,
            timeout_seconds=int(timeout),
            app_secret_arn=str(props["AppSecretArn"]) if props.get("AppSecretArn") else None,
        )


def is_fresh(plan: Plan) -> bool:
    """A database with nothing to lose: no history, or schema.sql loads it. It needs no snapshot, and in
    pipeline mode its first deploy applies in the custom resource (nothing could run before it existed)."""
    return plan.load_schema is not None or (not plan.applied and not plan.adopting_legacy)


def snapshot_tags(data: StepData) -> dict[str, str]:
    return version_tags(data.get("FromVersion"), data.get("ToVersion"))


def cloudformation_deadline(data: StepData, request: Request) -> float:
    """Epoch seconds by which our work must end so that CloudFormation hears an answer in time."""
    started = float(data.get("StartedAt") or time.time())
    return started + request.timeout_seconds - ANSWER_MARGIN_S


@dataclass(frozen=True)
class Deployment:
    request: Request
    rds: Any
    secrets: Any
    bundle: Bundle
    sslrootcert: str
    sslmode: str = "verify-full"
    # libpq parameters added to every connection (the CodeBuild runner's TCP keepalives and session bounds)
    extra_conninfo: tuple[tuple[str, str], ...] = ()
    # how long the server lets an engine session idle inside a transaction (a frozen client's locks)
    idle_in_transaction_timeout: str = DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT

    @cached_property
    def _admin_conninfo(self) -> str:
        """Read once per invocation: on_event and is_complete each connect more than once."""
        secret = read_secret(self.secrets, self.request.secret_arn)
        conninfo = conninfo_from_secret(secret, self.sslmode, self.sslrootcert)
        return make_conninfo(conninfo, **dict(self.extra_conninfo)) if self.extra_conninfo else conninfo

    @cached_property
    def _role(self) -> tuple[str, str] | None:
        if self.request.migrator_secret_arn is None:
            return None
        return role_credentials(read_secret(self.secrets, self.request.migrator_secret_arn))

    @cached_property
    def _app_role(self) -> tuple[str, str] | None:
        if self.request.app_secret_arn is None:
            return None
        return role_credentials(read_secret(self.secrets, self.request.app_secret_arn))

    def _forget_secrets(self) -> None:
        for name in ("_admin_conninfo", "_role", "_app_role"):
            self.__dict__.pop(name, None)

    def _conninfo(self, as_admin: bool = False) -> str:
        if as_admin or self._role is None:
            return self._admin_conninfo
        user, password = self._role
        return make_conninfo(self._admin_conninfo, user=user, password=password)

    def _connect(self, statement_timeout_ms: int, attempts: int, as_admin: bool = False) -> psycopg.Connection:
        """Connect; a password rotated since the secret was read is re-read once, and the role re-handed over."""
        limits = SessionLimits(
            self.request.lock_timeout,
            f"{max(1000, statement_timeout_ms)}ms",
            idle_in_transaction_timeout=self.idle_in_transaction_timeout,
        )
        try:
            return connect(self._conninfo(as_admin), limits, attempts=attempts, backoff=2.0)
        except AuthenticationFailed:
            log.warning("authentication failed; reading the secrets again (rotated during the deploy?)")
            self._forget_secrets()
            if not as_admin and self._role is not None:
                self.hand_over()  # the role's password comes from its secret: set it again
            return connect(self._conninfo(as_admin), limits, attempts=attempts, backoff=2.0)

    def hand_over(self) -> None:
        """Make the migration role (from its own secret) own the database, and the application's role (from
        its own) read and write its data; idempotent, once per deploy."""
        if self._role is None:
            return
        user, password = self._role
        with self._connect(60_000, attempts=5, as_admin=True) as admin:
            database = str(conninfo_to_dict(admin.info.dsn).get("dbname"))
            ensure_owner_role(admin, user, password, database)
            if self._app_role is not None:
                ensure_app_role(admin, *self._app_role, database, owner=user)

    def inspect(self) -> Plan:
        inputs = engine.load_inputs(self.bundle.options)
        with self._connect(60_000, attempts=5) as conn:
            return engine.plan(conn, inputs, self.bundle.options)

    def survey(self) -> engine.Survey:
        """Every version's state, even when apply would refuse (drift, order): what `status` shows."""
        inputs = engine.load_inputs(self.bundle.options)
        with self._connect(60_000, attempts=5) as conn:
            return engine.inspect(conn, inputs, self.bundle.options)

    def prepare(self) -> Plan:
        """What this deploy would do, after handing the database to the migration role."""
        self.hand_over()
        return self.inspect()

    def start(self, plan: Plan, started_at: float) -> StepData:
        """Decide what this deploy does; start the snapshot if one is needed. Returns the handler's Data."""
        data: StepData = {
            "FromVersion": plan.current_version or NONE,
            "ToVersion": plan.target_version or NONE,
            "SchemaVersion": plan.current_version or NONE,
            "StartedAt": f"{started_at:.0f}",
        }
        unknown = [f"{a.version} ({a.name})" for a in plan.unknown_applied]
        if unknown:
            note = f"applied but not in this bundle, left as is: {', '.join(unknown)}"
            log.warning(note)
            data["Note"] = note
        if plan.is_noop:
            return {**data, "Phase": "done"}
        if is_fresh(plan) or not self.request.take_snapshots:
            return {**data, "Phase": "apply"}  # a fresh database has nothing to lose
        ident = snapshot_id(
            self.request.instance, plan.current_version, plan.target_version or NONE, self.request.stamp
        )
        status = self._ensure_snapshot(ident, data)
        log.info("pre-migration snapshot %s: %s", ident, status)
        return {**data, "Phase": "snapshot", "SnapshotId": ident}

    @property
    def snapshots(self) -> Snapshots:
        return Snapshots(self.rds, self.request.instance)

    def _ensure_snapshot(self, ident: str, data: StepData) -> str:
        """Start the snapshot; at the manual-snapshot quota, prune our own old ones once and try again."""
        return self.snapshots.ensure_pruning(ident, snapshot_tags(data), self.request.snapshot_retention)

    def snapshot_ready(self, data: StepData) -> bool:
        """Is the snapshot `data` names available? Starts it if the instance was busy until now."""
        ident = data["SnapshotId"]
        status = self._ensure_snapshot(ident, data)
        if status in WAITING_STATES:
            left = cloudformation_deadline(data, self.request) - time.time()
            if left < MIN_APPLY_S:
                raise SnapshotError(
                    f"pre-migration snapshot {ident} is still {status} and the migration step's time"
                    f" ({self.request.timeout_seconds // 60} min) runs out; nothing was applied",
                    hint="deploy again once the snapshot is available (it is kept and reused), or raise"
                    " migrationTimeoutMinutes in cdk.json",
                )
            return False
        if status != "available":
            raise SnapshotError(
                f"pre-migration snapshot {ident} is {status}; nothing was applied",
                hint="check the RDS console and events, then deploy again",
            )
        return True

    def apply(self, remaining_ms: int, data: StepData) -> StepData:
        """Apply within this invocation's time and CloudFormation's, whichever ends first."""
        cloudformation_ms = (cloudformation_deadline(data, self.request) - time.time()) * 1000
        budget_ms = int(min(remaining_ms - SAFETY_MARGIN_MS, cloudformation_ms))
        if budget_ms < 5_000:
            raise MigratorError(
                "too little time left to migrate safely; nothing was applied",
                hint="deploy again (a new deploy starts with a full budget), or raise migrationTimeoutMinutes",
            )
        return self.apply_within(budget_ms)

    def apply_within(self, budget_ms: int) -> StepData:
        """Apply everything pending in one run that ends within `budget_ms` (the Lambda's or the runner's)."""
        options = self.bundle.options
        inputs = engine.load_inputs(options)
        deadline = time.monotonic() + budget_ms / 1000
        with self._connect(budget_ms, attempts=3) as conn:
            remaining_s = deadline - time.monotonic()
            opts = replace(options, lock_wait_seconds=max(1.0, min(120.0, remaining_s / 3)), deadline=deadline)
            outcome = engine.apply(conn, inputs, opts)
        after = outcome.plan.target_version or NONE
        return {
            "SchemaVersion": after,
            "ToVersion": after,
            "Applied": ",".join(outcome.result.recorded_by_schema + outcome.result.applied),
        }

    def prune(self) -> tuple[list[str], str | None]:
        """Delete our snapshots beyond the retention; returns (deleted, error). Never fails a deploy."""
        if not self.request.take_snapshots:
            return [], None
        try:
            return self.snapshots.prune(self.request.snapshot_retention), None
        except Exception as exc:  # pruning is housekeeping: report it, never fail a deploy that migrated
            error = f"could not prune old pre-migration snapshots: {type(exc).__name__}: {exc}"
            log.warning(error)
            return [], error[:300]
