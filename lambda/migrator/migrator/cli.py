"""`python -m migrator`: the engine on a laptop, with exit status 0 ok, 1 failure, 2 invalid input."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from migrator import engine
from migrator.connect import SessionLimits, connect, redact
from migrator.embedded import LOCAL_DATABASE, default_server, project_root
from migrator.errors import InvalidInput, MigratorError
from migrator.report import plan_lines, plan_to_json, status_lines, status_to_json

COMMANDS = ("status", "plan", "apply", "verify", "snapshots")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidInput(f"{self.prog}: {message}", hint=f"see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    root = project_root()
    parser = _Parser(prog="python -m migrator", description="Apply the project's SQL migrations, all or nothing.")
    parser.add_argument("--database-url", help="libpq URL or conninfo; default $DATABASE_URL, else the embedded server")
    parser.add_argument("--migrations-dir", type=Path, default=root / "migrations")
    parser.add_argument("--schema-file", type=Path, default=root / "schema.sql")
    parser.add_argument("--no-schema", action="store_true", help="replay every migration from 000 on a fresh database")
    parser.add_argument(
        "--allow-out-of-order", action="store_true", help="apply pending files older than the newest applied one"
    )
    parser.add_argument(
        "--lock-wait", type=float, default=60.0, metavar="SECONDS", help="wait for another run's lock (60)"
    )
    parser.add_argument("--lock-timeout", default="5s", help="PostgreSQL lock_timeout per statement (5s)")
    parser.add_argument("--statement-timeout", default="15min", help="PostgreSQL statement_timeout (15min)")
    parser.add_argument("--connect-timeout", type=int, default=10, metavar="SECONDS")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--env", help="a deployed environment (status, snapshots): read through AWS, not the database")
    parser.add_argument("--keep", type=int, metavar="N", help="snapshots prune: how many of ours to keep")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("action", nargs="?", choices=("list", "prune"), help="snapshots: list (default) or prune")
    return parser


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return default_server().ensure_database(LOCAL_DATABASE)


def _limits(args: argparse.Namespace) -> SessionLimits:
    return SessionLimits(args.lock_timeout, args.statement_timeout, args.connect_timeout)


def _options(args: argparse.Namespace) -> engine.Options:
    return engine.Options(
        migrations_dir=args.migrations_dir,
        schema_file=None if args.no_schema else args.schema_file,
        use_schema=not args.no_schema,
        allow_out_of_order=args.allow_out_of_order,
        lock_wait_seconds=args.lock_wait,
    )


def _emit(args: argparse.Namespace, payload: dict[str, Any], lines: list[str]) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else "\n".join(lines))


def _run(args: argparse.Namespace) -> int:
    if args.env or args.command == "snapshots":
        from migrator.cli_deployed import run_deployed

        return run_deployed(args)
    options = _options(args)
    inputs = engine.load_inputs(options)
    url = _database_url(args)
    try:
        conn = connect(url, _limits(args))
    except psycopg.errors.InvalidParameterValue as exc:
        raise InvalidInput(f"invalid timeout setting: {exc.diag.message_primary}") from None
    with conn:
        target = redact(url)
        if args.command in ("status", "plan"):
            the_plan = engine.plan(conn, inputs, options)
            if args.command == "status":
                _emit(args, status_to_json(the_plan, target), status_lines(the_plan, target))
            else:
                _emit(args, plan_to_json(the_plan, target), plan_lines(the_plan, target))
            return 0
        if args.command == "apply":
            outcome = engine.apply(conn, inputs, options)
            payload = status_to_json(outcome.plan, target) | {
                "applied_now": outcome.result.applied,
                "schema_loaded": outcome.result.schema_loaded,
            }
            _emit(args, payload, plan_lines(outcome.plan, target, done=True))
            return 0
        diffs = engine.verify_schema(conn, inputs)
        _emit(
            args,
            {"target": target, "differences": diffs},
            [f"verify {target}: {'schema matches schema.sql' if not diffs else f'{len(diffs)} difference(s)'}"]
            + [f"  {d}" for d in diffs],
        )
        return 1 if diffs else 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(build_parser().parse_args(argv))
    except MigratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("error: interrupted; any open transaction was rolled back by the server", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"error: database error: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
        return 1
