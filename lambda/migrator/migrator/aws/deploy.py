"""One deploy's migration step: inspect, snapshot when needed, apply within the time left.

Decisions live here, AWS calls go through the clients passed in, and the database
work is the engine's, so the same code runs under moto, LocalStack and in Lambda.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrator import claim as claims
from migrator import drift, engine
from migrator.aws import budget, clients, predictions
from migrator.aws.contract import (
    CA_BUNDLE_IN_ASSET,
    ENV_APP_SECRET_ARN,
    ENV_BUNDLE_ROOT,
    ENV_INSTANCE,
    ENV_LOCK_RETRY_WINDOW,
    ENV_LOCK_TIMEOUT,
    ENV_MAX_LOCK_HOLD,
    ENV_ROLE_SECRET_ARN,
    ENV_SECRET_ARN,
    ENV_SSLROOTCERT,
    KEYS,
    ContractError,
    StepProperties,
    duration_s,
)
from migrator.aws.secrets import CURRENT, PENDING, conninfo_from_secret, read_secret, role_credentials
from migrator.aws.session_bounds import runner_connection
from migrator.aws.snapshots import WAITING_STATES, Snapshots, snapshot_id, version_tags
from migrator.aws.step_data import NONE, StepData
from migrator.connect import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
    DEFAULT_LOCK_TIMEOUT,
    SessionLimits,
    connect,
)
from migrator.errors import AuthenticationFailed, InvalidInput, MigratorError, SecretError, SnapshotError
from migrator.live import LockPolicy
from migrator.lock import migration_lock
from migrator.plan import Plan
from migrator.roles import ensure_app_role, ensure_owner_role

log = logging.getLogger("migrator")


@dataclass(frozen=True)
class Bundle:
    """What the Lambda asset carries next to the package."""

    root: Path

    @property
    def options(self) -> engine.Options:
        schema = self.root / "schema.sql"  # every asset ships one; a bundle without it replays every migration
        return engine.Options(self.root / "migrations", schema if schema.exists() else None, applied_by="cdk-deploy")


def bundle_from_environment(environ: Mapping[str, str]) -> Bundle:
    """The asset's root: the folder holding the package (MIGRATOR_BUNDLE_ROOT in tests and the runner's checks)."""
    return Bundle(Path(environ.get(ENV_BUNDLE_ROOT) or Path(__file__).resolve().parents[2]))


def ca_bundle(bundle: Bundle, environ: Mapping[str, str]) -> str:
    """verify-full always: the RDS CA bundle ships in the asset; MIGRATOR_SSLROOTCERT names it (or a test CA)."""
    given = environ.get(ENV_SSLROOTCERT) or str(bundle.root / CA_BUNDLE_IN_ASSET)
    if not Path(given).is_file():
        raise MigratorError(
            f"the CA bundle {given} is missing, so the database's certificate cannot be checked",
            hint="the asset ships certs/rds-ca-bundle.pem; set MIGRATOR_SSLROOTCERT to a CA bundle file",
        )
    return given


# Where the functions' and the runner's environment stands in for a property the event does not carry.
_FROM_ENVIRONMENT = {
    "secret_arn": ENV_SECRET_ARN,
    "instance": ENV_INSTANCE,
    "migrator_secret_arn": ENV_ROLE_SECRET_ARN,
    "app_secret_arn": ENV_APP_SECRET_ARN,
    "lock_timeout": ENV_LOCK_TIMEOUT,
    "lock_retry_window": ENV_LOCK_RETRY_WINDOW,
    "max_lock_hold": ENV_MAX_LOCK_HOLD,
}


def properties(raw: Mapping[str, Any], environ: Mapping[str, str]) -> StepProperties:
    """The step's properties: the event's, with the environment filling in what a direct call leaves out."""
    merged = {KEYS[name]: environ.get(variable) for name, variable in _FROM_ENVIRONMENT.items()}
    merged |= {key: value for key, value in raw.items() if value is not None and value != ""}
    try:
        return StepProperties.parse(merged)
    except ContractError as exc:
        raise InvalidInput(str(exc), hint="the template and the functions' environment set these") from None


def is_fresh(plan: Plan) -> bool:
    """A database with nothing to lose: no history, or schema.sql loads it. It needs no snapshot, and in
    pipeline mode its first deploy applies in the custom resource (nothing could run before it existed)."""
    return plan.load_schema is not None or (not plan.applied and not plan.adopting_legacy)


def snapshot_tags(data: StepData) -> dict[str, str]:
    return version_tags(data.get("FromVersion"), data.get("ToVersion"))


def cloudformation_deadline(data: StepData, request: StepProperties) -> float:
    """Epoch seconds by which our work must end so that CloudFormation hears an answer in time."""
    return budget.cloudformation_deadline(float(data.get("StartedAt") or time.time()), request.timeout_seconds)


@dataclass(frozen=True)
class Deployment:
    """One deploy's database work, built the same way by the handler and the runner (`from_environment`)."""

    request: StepProperties
    rds: Any
    secrets: Any
    bundle: Bundle
    sslrootcert: str
    sslmode: str = "verify-full"
    # libpq parameters added to every connection (the CodeBuild runner's TCP keepalives and session bounds)
    extra_conninfo: tuple[tuple[str, str], ...] = ()
    # how long the server lets an engine session idle inside a transaction (a frozen client's locks)
    idle_in_transaction_timeout: str = DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT
    # this request's claim on the database (migrator.claim): no build or apply starts once a newer one wrote its
    claim: str | None = None

    @classmethod
    def from_environment(
        cls,
        raw: Mapping[str, Any],
        environ: Mapping[str, str],
        *,
        rds: Any,
        secrets: Any,
        runner_idle_timeout_s: int | None = None,
    ) -> Deployment:
        """The functions' (event properties, environment) and the runner's (environment only, no RDS client:
        the step took the snapshot before starting it; with its session bounds) deployment."""
        return cls.create(
            properties(raw, environ), environ, rds=rds, secrets=secrets, runner_idle_timeout_s=runner_idle_timeout_s
        )

    @classmethod
    def create(
        cls,
        props: StepProperties,
        environ: Mapping[str, str],
        *,
        rds: Any,
        secrets: Any,
        runner_idle_timeout_s: int | None = None,
    ) -> Deployment:
        """The one constructor: the asset and its CA bundle from the environment, the runner's bounds if given."""
        bundle = bundle_from_environment(environ)
        made = cls(props, rds=rds, secrets=secrets, bundle=bundle, sslrootcert=ca_bundle(bundle, environ))
        if runner_idle_timeout_s is None:
            return made
        return replace(
            made,
            extra_conninfo=runner_connection(runner_idle_timeout_s),
            idle_in_transaction_timeout=f"{runner_idle_timeout_s}s",  # the engine sets it again after RESET ALL
        )

    @cached_property
    def _admin_conninfo(self) -> str:
        """Read once per invocation: on_event and is_complete each connect more than once."""
        secret = read_secret(self.secrets, self.request.secret_arn, getattr(self, "_master_stage", CURRENT))
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

    def _connect(
        self, statement_timeout_ms: int, attempts: int, as_admin: bool = False, hand_over: bool = True
    ) -> psycopg.Connection:
        """Connect; a password rotated since the secret was read is re-read once, and the role re-handed over
        (unless `hand_over` is False: a read-only caller changes nothing, not even a password)."""
        connect_s, _, tries = clients.timeouts(clients.left_s())  # what the invocation has left bounds the tries
        attempts = max(1, min(attempts, tries))
        limits = SessionLimits(
            self.request.lock_timeout or DEFAULT_LOCK_TIMEOUT,
            f"{max(1000, statement_timeout_ms)}ms",
            idle_in_transaction_timeout=self.idle_in_transaction_timeout,
            connect_timeout=max(2, min(DEFAULT_CONNECT_TIMEOUT_S, round(connect_s * 2))),
        )
        try:
            return connect(self._conninfo(as_admin), limits, attempts=attempts, backoff=2.0)
        except AuthenticationFailed:
            log.warning("authentication failed; reading the secrets again (rotated during the deploy?)")
            self._forget_secrets()
            if hand_over and not as_admin and self._role is not None:
                self.hand_over()  # the role's password comes from its secret: set it again
                return connect(self._conninfo(as_admin), limits, attempts=attempts, backoff=2.0)
        try:
            return connect(self._conninfo(as_admin), limits, attempts=attempts, backoff=2.0)
        except AuthenticationFailed:
            if not self._rotation_pending():
                raise
        log.warning("the master secret's AWSCURRENT password is refused; trying AWSPENDING (a rotation not finished)")
        self._forget_secrets()
        object.__setattr__(self, "_master_stage", PENDING)  # this invocation only: the next reads AWSCURRENT first
        return connect(self._conninfo(as_admin), limits, attempts=attempts, backoff=2.0)

    def _rotation_pending(self) -> bool:
        """Is a rotation of the master secret stuck between setting the password and finishing (an AWSPENDING
        version the database may already use), and not tried yet?"""
        if getattr(self, "_master_stage", CURRENT) == PENDING:
            return False
        try:
            read_secret(self.secrets, self.request.secret_arn, PENDING)
        except SecretError:
            return False
        return True

    @property
    def lock_policy(self) -> LockPolicy:
        """The environment's lock-wait retries and hold budget (cdk.json), the engine's defaults where unset."""
        given, policy = self.request, LockPolicy()
        window = duration_s(given.lock_retry_window) if given.lock_retry_window else policy.retry_window_s
        hold = duration_s(given.max_lock_hold) if given.max_lock_hold else policy.max_hold_s
        return LockPolicy(window, hold or None, say=log.info)

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

    def plan(self) -> Plan:
        inputs = engine.load_inputs(self.bundle.options)
        with self._connect(60_000, attempts=5) as conn:
            return engine.plan(conn, inputs, self.bundle.options)

    def survey(self) -> engine.Survey:
        """Every version's state, even when apply would refuse (drift, order): what `status` shows."""
        inputs = engine.load_inputs(self.bundle.options)
        with self._connect(60_000, attempts=5) as conn:
            return engine.survey(conn, inputs, self.bundle.options)

    def drift(self) -> drift.DriftReport:
        """The drift check (migrator.drift), as the migration role: it owns the database, so schema.sql's scratch
        copy may be built (and rolled back). It never hands over or re-sets a password: it changes nothing."""
        inputs = engine.load_inputs(self.bundle.options)
        with self._connect(drift.STATEMENT_TIMEOUT_MS, attempts=2, hand_over=False) as conn:
            owner = self._role[0] if self._role is not None else str(conn.info.user)
            app = self._app_role[0] if self._app_role is not None else None
            return drift.check(conn, inputs, drift.PrivilegeModel(owner, app))

    def write_claim(self) -> None:
        """This request is the newest: written under the migration lock before any other work."""
        if self.claim is None:
            return
        with self._connect(60_000, attempts=5) as conn, migration_lock(conn, 60.0):
            claims.write(conn, self.claim)

    def check_claim(self) -> None:
        """Superseded when a newer request claimed the database since this one did. Read without the migration
        lock (a running build holds it for hours): the apply itself checks again under the lock."""
        if self.claim is None:
            return
        with self._connect(60_000, attempts=3) as conn:
            claims.check(conn, self.claim)

    def prepare(self) -> Plan:
        """What this deploy would do, after handing the database to the migration role and claiming it."""
        self.hand_over()
        self.write_claim()
        return self.plan()

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
            self.request.instance, plan.current_version, plan.target_version or NONE, self.request.stamp("manual")
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
            if left < budget.MIN_APPLY_S:
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
        cloudformation_left = cloudformation_deadline(data, self.request) - time.time()
        budget_ms = budget.lambda_apply_ms(remaining_ms, cloudformation_left)
        if budget_ms < budget.MIN_LAMBDA_APPLY_S * 1000:
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
            opts = replace(
                options,
                lock_wait_seconds=max(1.0, min(120.0, remaining_s / 3)),
                deadline=deadline,
                lock_policy=self.lock_policy,
                under_lock=None if self.claim is None else partial(claims.check, claim=self.claim),
            )
            outcome = engine.apply(conn, inputs, opts)
        after = outcome.plan.target_version or NONE
        lock = outcome.result.lock
        return {
            "SchemaVersion": after,
            "ToVersion": after,
            "Applied": ",".join(outcome.result.recorded_by_schema + outcome.result.applied),
            "LockRetries": str(lock.retries),
            "LongestLockHold": f"{lock.longest_hold_s:.1f}",
            "FileSeconds": predictions.encode(outcome.result.timings),
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
