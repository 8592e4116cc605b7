"""`python -m migrator --env NAME {status,snapshots,apply,rehearse,drift}`: a deployed environment, through AWS.

Everything a person can get wrong (the environment's name, region, profile, a prune without
confirmation) is refused with exit status 2 before the first AWS call; an AWS failure afterwards
is one line with exit status 1, never a botocore traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from migrator import report
from migrator.aws import operations
from migrator.aws.contract import CDK_CHANGE_SET
from migrator.embedded import project_root
from migrator.errors import InvalidInput, MigratorError


def _print(args: argparse.Namespace, payload: Any, lines: list[str]) -> None:
    print(report.render(payload, lines, args.json))


def _checked(args: argparse.Namespace) -> operations.Aws:
    """Every argument checked, the session built; no AWS call made yet."""
    if args.command not in ("status", "snapshots", "apply", "rehearse", "drift"):
        raise InvalidInput(
            f"{args.command} runs against a database; with --env only status, snapshots, apply, rehearse, drift work"
        )
    if not args.env:
        raise InvalidInput(f"{args.command} of a deployed environment needs --env", hint="e.g. --env staging")
    block = operations.check_env(args.env, operations.environments(project_root() / "cdk.json"))
    if _action(args) == "prune" and not (args.yes or args.dry_run or sys.stdin.isatty()):
        raise InvalidInput(
            "snapshots prune deletes snapshots and needs a confirmation: run it in a terminal, or pass --yes",
            hint="--dry-run lists what it would delete",
        )
    return operations.session(args.region, args.profile, block.get("region"))


def _action(args: argparse.Namespace) -> str:
    return getattr(args, "action", None) or "list"


def run_deployed(args: argparse.Namespace) -> int:
    aws = _checked(args)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _dispatch(args, aws)
    except (BotoCoreError, ClientError) as exc:
        raise MigratorError(
            f"AWS ({aws.region}): {exc}", hint="check credentials (--profile), --region and that the stack is deployed"
        ) from None


def _dispatch(args: argparse.Namespace, aws: operations.Aws) -> int:
    if args.command == "apply":
        return _apply(args, aws)
    if args.command == "rehearse":
        return _rehearse(args, aws)
    deployed = operations.resolve(args.env, aws.client("cloudformation"))
    if args.command == "status":
        payload = operations.remote_status(aws.client("lambda"), deployed.function_name)
        _print(args, payload, report.remote_status_lines(payload, deployed.stack))
        if not getattr(args, "exit_code", False):
            return 0
        return 4 if payload.get("unknown_applied") else 3 if payload.get("pending") else 0
    if args.command == "drift":
        found = operations.remote_drift(aws.client("lambda"), deployed.function_name)
        _print(args, report.drift_to_json(found, deployed.stack), report.drift_lines(found, deployed.stack))
        return report.drift_exit_status(found)
    rds = aws.client("rds")
    if _action(args) == "prune":
        return _prune(args, rds, deployed)
    rows = operations.snapshot_rows(rds, deployed.instance)
    _print(args, rows, report.snapshot_lines(rows, deployed.instance, deployed.stack))
    return 0


def _prune(args: argparse.Namespace, rds: Any, deployed: operations.Deployed) -> int:
    doomed = operations.prune_candidates(rds, deployed.instance, args.keep)
    if args.dry_run or not doomed:
        dry_run = bool(args.dry_run)
        _print(args, report.prune_to_json(doomed, dry_run), report.prune_lines(doomed, dry_run))
        return 0
    if not args.yes:
        print("\n".join(report.confirm_lines(doomed)), file=sys.stderr)
        answer = input(f"delete these {len(doomed)} snapshot(s) of {deployed.instance}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not confirmed; nothing was deleted", file=sys.stderr)
            return 1
    operations.delete_snapshots(rds, doomed)
    _print(
        args, report.prune_to_json(doomed, dry_run=False, deleted_now=True), report.prune_lines(doomed, dry_run=False)
    )
    return 0


def _apply(args: argparse.Namespace, aws: operations.Aws) -> int:
    """Pipeline mode: the prepared change set's migrations, in the CodeBuild runner, before it is executed."""
    from migrator.aws.pipeline import Operator, progress

    status, line = Operator(aws, progress, poll_seconds=args.poll_seconds).run(
        args.env, args.change_set or CDK_CHANGE_SET, wait=not args.no_wait
    )
    _print(args, {"status": status, "result": line}, [line])
    return status


def _rehearse(args: argparse.Namespace, aws: operations.Aws) -> int:
    """A restored copy of the environment rehearses the prepared change set's migrations (migrator.aws.rehearsal)."""
    from migrator.aws.pipeline import progress
    from migrator.aws.rehearsal import DEFAULT_CLASS
    from migrator.aws.rehearsal_command import Rehearse, report_lines

    block = operations.check_env(args.env, operations.environments(project_root() / "cdk.json"))
    configured = (
        (block.get("rehearsal") or {}).get("instanceClass") if isinstance(block.get("rehearsal"), dict) else None
    )
    instance_class = args.instance_class or configured or DEFAULT_CLASS
    rehearse = Rehearse(aws, progress, poll_seconds=args.poll_seconds)
    status, found = rehearse.run(args.env, args.change_set or CDK_CHANGE_SET, str(instance_class))
    _print(args, found, report_lines(found))
    return status
