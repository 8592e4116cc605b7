"""Manual RDS snapshots taken before a migration: named, tagged, awaited, and pruned.

The id is deterministic for one deploy's pending set, so a retried call finds the
snapshot it already started instead of failing on DBSnapshotAlreadyExists.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from migrator.errors import MigratorError, SnapshotError, SnapshotQuotaExceeded

log = logging.getLogger("migrator")
TAG_KEY = "migrator:pre-migration"
FROM_TAG, TO_TAG = "migrator:from", "migrator:to"  # the versions before and after the deploy it was taken for
# Snapshot states (and ensure's own "waiting-for-instance") that pass by themselves: wait, then look again.
WAITING_STATES = ("creating", "pending", "waiting-for-instance")
SNAPSHOT_READY_INSTANCE_STATES = ("available", "storage-optimization")
# Instance states that do not pass by themselves: waiting for them would only spend the deploy's hour.
STUCK_INSTANCE_STATES = (
    "failed",
    "stopped",
    "stopping",
    "storage-full",
    "deleting",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-parameters",
    "incompatible-restore",
    "insufficient-capacity",
    "restore-error",
)


PREFIX = "premigrate"


def _clean(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def version_tags(from_version: str | None, to_version: str | None) -> dict[str, str]:
    """The tags that say which deploy a snapshot was taken for (what `snapshots list` shows)."""
    return {FROM_TAG: from_version or "none", TO_TAG: to_version or "none"}


def snapshot_id(instance: str, from_version: str | None, to_version: str, stamp: str) -> str:
    """e.g. premigrate-aalap-staging-db-v007-to-v009-20261127t1915z (RDS: letters, digits, single hyphens)."""
    ident = f"{PREFIX}-{_clean(instance)}-v{from_version or 'none'}-to-v{to_version}-{_clean(stamp)}"
    return _clean(ident)[:255].rstrip("-")


def our_prefix(instance: str) -> str:
    return f"{PREFIX}-{_clean(instance)}-"


@dataclass(frozen=True)
class Snapshots:
    client: Any
    instance: str

    def instance_status(self) -> str:
        found = self.client.describe_db_instances(DBInstanceIdentifier=self.instance)["DBInstances"]
        return str(found[0]["DBInstanceStatus"])

    def status(self, ident: str) -> str | None:
        try:
            found = self.client.describe_db_snapshots(DBSnapshotIdentifier=ident)["DBSnapshots"]
        except self.client.exceptions.DBSnapshotNotFoundFault:
            return None
        return str(found[0]["Status"]) if found else None

    def ensure(self, ident: str, tags: dict[str, str]) -> str:
        """Start the snapshot if it does not exist yet; return its status, or 'waiting-for-instance'.

        RDS accepts CreateDBSnapshot only while the instance is `available` or `storage-optimization`
        (which follows every storage change and can last many hours); in a transient state we wait,
        in a state that will not pass by itself we stop at once, saying which.
        """
        current = self.status(ident)
        if current is not None:
            return current
        instance_status = self.instance_status()
        if instance_status in STUCK_INSTANCE_STATES:
            raise SnapshotError(
                f"instance {self.instance} is {instance_status}: no pre-migration snapshot can be taken;"
                " nothing was applied",
                hint="fix the instance (RDS console, events), then deploy again",
            )
        if instance_status not in SNAPSHOT_READY_INSTANCE_STATES:
            return "waiting-for-instance"
        try:
            self.client.create_db_snapshot(
                DBSnapshotIdentifier=ident,
                DBInstanceIdentifier=self.instance,
                Tags=[{"Key": TAG_KEY, "Value": "true"}] + [{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except self.client.exceptions.DBSnapshotAlreadyExistsFault:
            pass  # a retried call: the snapshot is ours already
        except self.client.exceptions.InvalidDBInstanceStateFault:
            return "waiting-for-instance"  # the instance left `available` between the look and the call
        except self.client.exceptions.SnapshotQuotaExceededFault:
            raise SnapshotQuotaExceeded(
                f"the account's manual snapshot quota is reached; no pre-migration snapshot {ident} was taken;"
                " nothing was applied",
                hint="delete manual snapshots you no longer need (python -m migrator --env ENV snapshots prune),"
                " lower snapshotRetention, or ask AWS for a higher 'Manual DB instance snapshots' quota",
            ) from None
        return self.status(ident) or "creating"

    def ensure_pruning(self, ident: str, tags: dict[str, str], keep: int) -> str:
        """`ensure`; at the manual-snapshot quota, delete ours beyond the newest `keep` once and try again."""
        try:
            return self.ensure(ident, tags)
        except SnapshotQuotaExceeded as exc:
            try:
                pruned = self.prune(keep)
            except Exception as prune_error:
                raise SnapshotQuotaExceeded(
                    f"{exc.message}; pruning ours failed too: {type(prune_error).__name__}", hint=exc.hint
                ) from None
            if not pruned:
                raise
            log.warning("snapshot quota reached: pruned %s, trying again", ", ".join(pruned))
            return self.ensure(ident, tags)

    def ours(self) -> list[dict[str, Any]]:
        """Our pre-migration snapshots of this instance: manual, our prefix, our tag; oldest first.

        A failed listing is raised saying what it needs: unpruned snapshots pile up silently until the
        account's manual snapshot quota stops every migrating deploy.
        """
        try:
            pages = self.client.get_paginator("describe_db_snapshots").paginate(
                DBInstanceIdentifier=self.instance, SnapshotType="manual"
            )
            found = [
                s
                for page in pages
                for s in page["DBSnapshots"]
                if s["DBSnapshotIdentifier"].startswith(our_prefix(self.instance))
            ]
        except Exception as exc:  # AccessDenied above all; throttling or the network otherwise
            raise MigratorError(
                f"cannot list the snapshots of {self.instance}, so old pre-migration snapshots are not pruned:"
                f" {type(exc).__name__}: {exc}",
                hint="allow rds:DescribeDBSnapshots on '*': a list call names no snapshot, so a premigrate-* grant"
                " denies it",
            ) from exc
        tagged = [s for s in found if any(t["Key"] == TAG_KEY for t in self.tags(s))]
        return sorted(tagged, key=lambda s: (s.get("SnapshotCreateTime") or "", s["DBSnapshotIdentifier"]))

    def tags(self, snapshot: dict[str, Any]) -> list[dict[str, str]]:
        if "TagList" in snapshot:
            return list(snapshot["TagList"])
        arn = snapshot["DBSnapshotArn"]
        return list(self.client.list_tags_for_resource(ResourceName=arn)["TagList"])

    def prune_candidates(self, keep: int) -> list[str]:
        """Ours, available, beyond the newest `keep`: what prune deletes (never anyone else's)."""
        available = [s for s in self.ours() if s["Status"] == "available"]
        return [s["DBSnapshotIdentifier"] for s in available[: max(0, len(available) - keep)]]

    def prune(self, keep: int) -> list[str]:
        """Delete our available snapshots beyond the newest `keep`; never anyone else's."""
        doomed = self.prune_candidates(keep)
        for ident in doomed:
            self.client.delete_db_snapshot(DBSnapshotIdentifier=ident)
        return doomed
