"""`python -m migrator --env NAME {status,snapshots}`: the operator's view of a deployed environment."""

from __future__ import annotations

import argparse
import json
from typing import Any

from migrator.aws import operations
from migrator.aws.snapshots import Snapshots
from migrator.errors import InvalidInput


def _print(args: argparse.Namespace, payload: Any, lines: list[str]) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else "\n".join(lines))


def run_deployed(args: argparse.Namespace) -> int:
    if not args.env:
        raise InvalidInput(f"{args.command} of a deployed environment needs --env", hint="e.g. --env staging")
    deployed = operations.resolve(args.env)
    if args.command == "status":
        payload = operations.remote_status(operations.client("lambda"), deployed.function_name)
        _print(args, payload, operations.remote_status_lines(payload, deployed.stack))
        return 0
    if args.command != "snapshots":
        raise InvalidInput(f"{args.command} runs against a database; with --env only status and snapshots work")
    rds = operations.client("rds")
    if args.action == "prune":
        if args.keep is None:
            raise InvalidInput("snapshots prune needs --keep N", hint="the newest N of our snapshots are kept")
        deleted = Snapshots(rds, deployed.instance).prune(args.keep)
        _print(args, {"deleted": deleted}, [f"deleted {d}" for d in deleted] or ["nothing to delete"])
        return 0
    rows = operations.snapshot_rows(rds, deployed.instance)
    lines = [f"pre-migration snapshots of {deployed.instance} ({deployed.stack}), oldest first:"]
    lines += [f"  {r['id']}  v{r['from']} -> v{r['to']}  {r['status']}  {r['created'][:19]}" for r in rows]
    _print(args, rows, lines if rows else [*lines, "  none"])
    return 0
