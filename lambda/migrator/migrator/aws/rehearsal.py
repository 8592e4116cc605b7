"""A rehearsal on a restored copy of an environment's instance: restore, wait, measure, report, delete.

RDS for PostgreSQL has no thin clones: a point-in-time restore always creates a new instance ("typically a few
minutes"), whose data then loads lazily from S3, so first reads of cold blocks are slow. The copy is restored from
the newest restorable time into the source's own DB subnet group, parameter group and security groups, never
publicly accessible, single-AZ, without automated backups, of a small class (configurable). An encrypted source's
restore is encrypted with the source's own KMS key: RestoreDBInstanceToPointInTime takes no key for a same-region
restore, so none is given.
Every copy is tagged `migrator:rehearsal=<environment>`, with the bundle's fingerprint and an expiry
(`migrator:expires-at`); it is deleted when the rehearsal ends, failed or not, and the scheduled sweeper
(`migrator.aws.sweeper`) deletes any whose expiry passed (a runner killed mid-way). The report lands in S3 at
`rehearsals/<environment>/<fingerprint>.json`, where the operator command and the migration step's gate read it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from migrator.aws.contract import StepProperties
from migrator.errors import MigratorError

log = logging.getLogger("migrator")

REHEARSAL_TAG = "migrator:rehearsal"  # its value: the environment; the sweeper and IAM's delete condition key on it
FINGERPRINT_TAG = "migrator:fingerprint"
EXPIRES_TAG = "migrator:expires-at"  # ISO 8601 UTC
ID_PREFIX = "rehearsal"
REPORT_PREFIX = "rehearsals"
DEFAULT_CLASS = "db.t4g.small"
BUILD_HOURS = 8  # the rehearsal build's timeout (rehearsal_command): a large instance's restore alone can take hours
# A copy outliving its build by an hour is the sweeper's: never sooner, or it would delete a copy still measured.
DEFAULT_TTL_HOURS = BUILD_HOURS + 1
POLL_S = 30.0
RESTORE_TIMEOUT_S = 3 * 3600.0  # a large instance's restore can take an hour or more
# us-east-1 list prices per hour, single-AZ (docs/configuration.md); others: the cost is given as unknown.
HOURLY_USD = {
    "db.t4g.micro": 0.016,
    "db.t4g.small": 0.032,
    "db.t4g.medium": 0.065,
    "db.t4g.large": 0.129,
    "db.m7g.large": 0.168,
    "db.r7g.large": 0.239,
}
STUCK_STATES = (  # states a fresh copy does not leave by itself: waiting for `available` would take the build's hours
    "failed",
    "incompatible-restore",
    "incompatible-network",
    "incompatible-parameters",
    "restore-error",
    # it cannot use the source's KMS key: recoverable only by fixing the key and starting it, terminal after 7 days
    "inaccessible-encryption-credentials-recoverable",
    "inaccessible-encryption-credentials",
)
LAZY_LOAD_NOTE = (
    "a restored instance loads its blocks from S3 on first read: each touched table was read once before the"
    " batch, but timings on a fresh restore stay pessimistic"
)

Measure = Callable[[str], dict[str, Any]]
"""The seam to the engine: given the restored instance's address, apply the pending files there, measured, and
return the local rehearsal's JSON (`rehearse --json`'s object: files, verify, ...); raise MigratorError on failure."""


def _clean(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def full_class(instance_class: str) -> str:
    """cdk.json names classes without RDS's `db.` prefix (t4g.small); the API wants it."""
    return instance_class if instance_class.startswith("db.") else f"db.{instance_class}"


@dataclass(frozen=True)
class Target:
    """What one rehearsal restores, and how it is labelled."""

    env: str
    source: str  # the environment's instance identifier
    fingerprint: str  # the bundle's, of the assembly about to be deployed
    instance_class: str = DEFAULT_CLASS
    ttl_hours: int = DEFAULT_TTL_HOURS

    def instance_id(self, now: datetime) -> str:
        """rehearsal-<source>-<fingerprint[:8]>-<UTC time>: RDS's 63 characters, a letter first, single hyphens."""
        stamp = now.strftime("%Y%m%dt%H%M%Sz")
        head = _clean(f"{ID_PREFIX}-{self.source}")[: 63 - 26].rstrip("-")
        return _clean(f"{head}-{_clean(self.fingerprint)[:8] or 'none'}-{stamp}")

    def tags(self, now: datetime) -> dict[str, str]:
        expires = now + timedelta(hours=self.ttl_hours)
        return {REHEARSAL_TAG: self.env, FINGERPRINT_TAG: self.fingerprint or "none", EXPIRES_TAG: _iso(expires)}


def restore_request(source: Mapping[str, Any], target: Target, ident: str, now: datetime) -> dict[str, Any]:
    """RestoreDBInstanceToPointInTime's parameters, from DescribeDBInstances' answer for the source (pure)."""
    groups = [g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", []) if g.get("Status") != "inactive"]
    parameter_groups = [p["DBParameterGroupName"] for p in source.get("DBParameterGroups", [])]
    subnet_group = (source.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    if not subnet_group:
        raise MigratorError(
            f"instance {target.source} has no DB subnet group: a copy would not land in its isolated subnets;"
            " nothing was restored"
        )
    request: dict[str, Any] = {
        "SourceDBInstanceIdentifier": target.source,
        "TargetDBInstanceIdentifier": ident,
        "UseLatestRestorableTime": True,
        "DBInstanceClass": full_class(target.instance_class),
        "DBSubnetGroupName": subnet_group,
        "VpcSecurityGroupIds": groups,
        "MultiAZ": False,
        "PubliclyAccessible": False,
        "AutoMinorVersionUpgrade": False,
        "DeletionProtection": False,
        "CopyTagsToSnapshot": False,
        "BackupRetentionPeriod": 0,  # the source's otherwise ("Default: Uses existing setting"): no backups of a copy
        "Tags": [{"Key": k, "Value": v} for k, v in target.tags(now).items()],
    }
    if parameter_groups:
        request["DBParameterGroupName"] = parameter_groups[0]
    option_groups = [o["OptionGroupName"] for o in source.get("OptionGroupMemberships", [])]
    if option_groups:  # the source's, named: IAM authorises the restore on it
        request["OptionGroupName"] = option_groups[0]
    return request


def tags_of(instance: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in instance.get("TagList", [])}


def expired(instance: Mapping[str, Any], now: datetime, env: str | None = None) -> bool:
    """A rehearsal's instance (of `env`, if given) whose expiry passed (or is unreadable: it is ours, and would
    cost forever)."""
    tags = tags_of(instance)
    if REHEARSAL_TAG not in tags or (env is not None and tags[REHEARSAL_TAG] != env):
        return False
    expiry = parse_time(tags.get(EXPIRES_TAG, ""))
    return expiry is None or expiry <= now


def estimated_cost(instance_class: str, seconds: float) -> float | None:
    """Instance-hours (RDS bills per second, with a 10-minute minimum) times the class's hourly price."""
    price = HOURLY_USD.get(full_class(instance_class))
    return None if price is None else round(max(seconds, 600.0) / 3600.0 * price, 4)


@dataclass
class RestoredCopy:
    """One rehearsal's instance, through the RDS client passed in (boto3 or moto)."""

    rds: Any
    target: Target
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    ident: str = ""
    restore_point: str | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def restore(self) -> str:
        source = self.rds.describe_db_instances(DBInstanceIdentifier=self.target.source)["DBInstances"][0]
        self.ident = self.target.instance_id(self.now())
        self.rds.restore_db_instance_to_point_in_time(**restore_request(source, self.target, self.ident, self.now()))
        latest = source.get("LatestRestorableTime")
        self.restore_point = _iso(latest) if isinstance(latest, datetime) else (str(latest) if latest else None)
        log.info("restoring %s at its latest restorable time into %s", self.target.source, self.ident)
        return self.ident

    def wait(self, timeout_s: float = RESTORE_TIMEOUT_S) -> str:
        """The restored instance's address once it is `available`; raises when it cannot become so in time."""
        deadline = self.clock() + timeout_s
        while True:
            found = self.rds.describe_db_instances(DBInstanceIdentifier=self.ident)["DBInstances"][0]
            status = str(found["DBInstanceStatus"])
            if status == "available" and found.get("Endpoint", {}).get("Address"):
                return str(found["Endpoint"]["Address"])
            if status in STUCK_STATES:
                raise MigratorError(
                    f"the rehearsal's restore {self.ident} is {status}; nothing was rehearsed",
                    hint="see the instance's RDS events; the instance is deleted",
                )
            if self.clock() >= deadline:
                raise MigratorError(
                    f"the rehearsal's restore {self.ident} was not available after {timeout_s:.0f}s (last: {status});"
                    " nothing was rehearsed",
                    hint="a large instance restores slowly: try again later; the instance is deleted",
                )
            self.sleep(POLL_S)

    def delete(self) -> bool:
        """Delete the instance and its automated backups (no final snapshot); False when it could not be."""
        if not self.ident:
            return True
        try:
            self.rds.delete_db_instance(
                DBInstanceIdentifier=self.ident, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
            )
        except self.rds.exceptions.DBInstanceNotFoundFault:
            return True
        except Exception as exc:  # the sweeper deletes it at its expiry
            log.error("could not delete the rehearsal's instance %s: %s: %s", self.ident, type(exc).__name__, exc)
            return False
        return True


@dataclass
class Report:
    """What a rehearsal on a restored copy found: written to S3 as JSON, read by the command and the gate."""

    env: str
    source: str
    fingerprint: str
    instance: str
    instance_class: str
    started_at: str
    finished_at: str = ""
    restore_point: str | None = None
    restore_seconds: float = 0.0
    seconds: float = 0.0
    deleted: bool = False
    passed: bool = False
    error: str | None = None
    measurement: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.env,
            "source_instance": self.source,
            "fingerprint": self.fingerprint,
            "passed": self.passed,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "restore": {
                "instance": self.instance,
                "instance_class": full_class(self.instance_class),
                "restore_point": self.restore_point,
                "seconds": round(self.restore_seconds, 1),
                "deleted": self.deleted,
            },
            "seconds": round(self.seconds, 1),
            "estimated_cost_usd": estimated_cost(self.instance_class, self.seconds),
            "measurement": self.measurement,
            "notes": [LAZY_LOAD_NOTE],
        }


def rehearse(copy: RestoredCopy, measure: Measure, restore_timeout_s: float = RESTORE_TIMEOUT_S) -> Report:
    """Restore, wait, measure, delete (always, whatever failed); a failure is the report's `error`."""
    started = copy.clock()
    target = copy.target
    report = Report(
        env=target.env,
        source=target.source,
        fingerprint=target.fingerprint,
        instance="",
        instance_class=target.instance_class,
        started_at=_iso(copy.now()),
    )
    try:
        report.instance = copy.restore()
        report.restore_point = copy.restore_point
        host = copy.wait(restore_timeout_s)
        report.restore_seconds = copy.clock() - started
        report.measurement = measure(host)
        failed = report.measurement.get("error")  # `rehearse --json`'s failure keys: error (its kind), message
        report.passed = not failed
        report.error = str(report.measurement.get("message") or failed) if failed else None
    except MigratorError as exc:
        report.error = " ".join(str(exc).split())
    except Exception as exc:  # an AWS error: the instance, if any, is still deleted below
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        report.deleted = copy.delete()
        report.seconds = copy.clock() - started
        report.finished_at = _iso(copy.now())
    return report


def report_key(env: str, fingerprint: str) -> str:
    return f"{REPORT_PREFIX}/{env}/{fingerprint or 'none'}.json"


@dataclass(frozen=True)
class Reports:
    """The rehearsal reports of one bucket, by environment and bundle fingerprint."""

    s3: Any
    bucket: str

    def put(self, report: Mapping[str, Any]) -> str:
        key = report_key(str(report["environment"]), str(report["fingerprint"]))
        body = json.dumps(report, indent=1, sort_keys=True).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def get(self, env: str, fingerprint: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=report_key(env, fingerprint))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        found = json.loads(body)
        return found if isinstance(found, dict) else None


def gate_refusal(
    report: Mapping[str, Any] | None, env: str, fingerprint: str, max_age_hours: float, now: datetime
) -> str | None:
    """Why the migration step must refuse (one line naming the command to run), or None when it may go on."""
    command = f"run `python -m migrator --env {env} rehearse` on this assembly, then deploy again"
    if report is None:
        return f"{env} requires a passing rehearsal of bundle {fingerprint[:12]}, and there is none: {command}"
    if report.get("fingerprint") != fingerprint:
        return f"the rehearsal found is of another bundle ({str(report.get('fingerprint'))[:12]}): {command}"
    if not report.get("passed"):
        why = report.get("error") or "see its report"
        return f"the rehearsal of bundle {fingerprint[:12]} failed ({why}): {command}"
    finished = parse_time(str(report.get("finished_at") or ""))
    if finished is None or now - finished > timedelta(hours=max_age_hours):
        age = "of unknown age" if finished is None else f"{(now - finished).total_seconds() / 3600:.1f} h old"
        return f"the rehearsal of bundle {fingerprint[:12]} is {age}, more than {max_age_hours:g} h: {command}"
    return None


def require(props: StepProperties, env: str | None, client: Callable[[str], Any], now: datetime | None = None) -> None:
    """The gate, before a migrating deploy snapshots or applies anything: raises unless the environment requires no
    rehearsal or a passing one of this bundle, young enough, is on record."""
    if not props.rehearsal_required:
        return
    name = env or "ENV"
    if not props.rehearsal_bucket:
        raise MigratorError(
            f"{name} requires a rehearsal, but the stack names no report bucket; nothing was applied",
            hint="deploy the stack version that creates the rehearsal bucket (stacks/rehearsal.py)",
        )
    try:
        report = Reports(client("s3"), props.rehearsal_bucket).get(name, props.fingerprint)
    except Exception as exc:
        raise MigratorError(
            f"cannot read the rehearsal report of {name} from s3://{props.rehearsal_bucket}: {type(exc).__name__};"
            " nothing was applied",
            hint="check the function's s3:GetObject grant and the S3 gateway endpoint",
        ) from None
    refusal = gate_refusal(report, name, props.fingerprint, props.rehearsal_max_age_hours, now or datetime.now(UTC))
    if refusal is not None:
        raise MigratorError(f"rehearsal gate: {refusal}; nothing was applied")


def sweep(rds: Any, now: datetime, env: str) -> list[str]:
    """Delete every rehearsal instance of `env` past its expiry; never an instance without that rehearsal tag.
    Returns those deleted. One that cannot be deleted now (DeleteDBInstance's InvalidDBInstanceState, a copy
    deleted meanwhile, a throttle) is logged and left to the next hour's sweep, never sparing the others."""
    doomed = [
        str(i["DBInstanceIdentifier"])
        for page in rds.get_paginator("describe_db_instances").paginate()
        for i in page["DBInstances"]
        if expired(i, now, env) and i.get("DBInstanceStatus") != "deleting"
    ]
    deleted: list[str] = []
    for ident in doomed:
        try:
            rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
        except rds.exceptions.DBInstanceNotFoundFault:
            continue  # deleted since the listing (its own rehearsal's delete)
        except Exception as exc:
            log.error(
                "could not delete the expired rehearsal instance %s (the next hour's sweep tries again): %s: %s",
                ident,
                type(exc).__name__,
                exc,
            )
            continue
        deleted.append(ident)
    return deleted
