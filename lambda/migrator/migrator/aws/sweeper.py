"""The rehearsal sweeper: a scheduled function that deletes every rehearsal instance past its expiry.

A rehearsal deletes its restored copy itself, failed or not; this catches the copy of a runner that was killed
or timed out. It deletes only instances tagged `migrator:rehearsal` (its role may delete nothing else: the IAM
condition keys on the same tag), and never the database: it never connects to one, so it runs outside the VPC
and reaches the RDS API directly.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from migrator.aws import clients
from migrator.aws.contract import ENV_REHEARSAL_ENV
from migrator.aws.rehearsal import sweep

log = logging.getLogger("migrator")
log.setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge's scheduled event (its content is not read)."""
    clients.invocation(context)
    deleted = sweep(clients.client("rds"), datetime.now(UTC), os.environ[ENV_REHEARSAL_ENV])
    for ident in deleted:
        log.warning("deleted the expired rehearsal instance %s", ident)
    return {"deleted": deleted}
