"""`python -m migrator`: the engine on a laptop; every argument is checked before any connection."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from migrator import engine, numbering, progress
from migrator.aws.contract import CDK_CHANGE_SET
from migrator.connect import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_STATEMENT_TIMEOUT,
    SessionLimits,
    connect,
    redact,
)
from migrator.durations import postgres_setting, seconds, whole_seconds
from migrator.embedded import LOCAL_DATABASE, default_server, project_root
from migrator.errors import InvalidInput, MigratorError, printable
from migrator.live import DEFAULT_LOCK_RETRY_WINDOW_S, DEFAULT_MAX_LOCK_HOLD_S, LockPolicy
from migrator.lock import DEFAULT_WAIT_S as LOCK_WAIT_S
from migrator.output import say
from migrator.report import (
    applied_lines,
    applied_to_json,
    baseline_lines,
    baseline_to_json,
    drift_exit_status,
    drift_lines,
    drift_to_json,
    error_to_json,
    exit_code,
    plan_survey_lines,
    plan_to_json,
    rehearsal_lines,
    rehearsal_to_json,
    render,
    sql_to_json,
    survey_lines,
    survey_to_json,
    verify_lines,
    verify_to_json,
)
from migrator.tls import with_tls_defaults

PROG = "python -m migrator"
EXIT_STATUSES = """\
exit statuses:
  0  success (status/plan --exit-code: every migration applied, nothing wrong)
  1  failure: SQL error, lock timeout, unreachable database, apply refused (a file changed after it was
     applied, a reused number, out of order, an unknown database), verify or drift differences,
     dump --check found schema.sql stale, an AWS call failed
  2  invalid input: bad arguments or migration files; nothing was connected to or changed (but status,
     which lists every version and marks the file it cannot read)
  3  status/plan --exit-code: migrations are pending, nothing is wrong; apply --env --no-wait: still running;
     drift: a deploy is in flight, nothing was checked
  4  status/plan --exit-code: something needs a person (changed, reused number, out of order,
     applied but missing from the folder, a database that is not this application's)
"""
Adder = Callable[[argparse.ArgumentParser, Any], None]


class _Parser(argparse.ArgumentParser):
    """argparse that raises InvalidInput (exit 2, one line) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidInput(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _default(value: Any, suppress: bool) -> Any:
    """Options exist before and after the subcommand; after it, an absent one must not reset the first."""
    return argparse.SUPPRESS if suppress else value


def _database_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    group = parser.add_argument_group("database")
    group.add_argument(
        "--database-url",
        default=_default(None, suppress),
        help="libpq URL or conninfo; default $DATABASE_URL, else the embedded server",
    )
    group.add_argument(
        "--connect-timeout",
        type=whole_seconds,
        default=_default(DEFAULT_CONNECT_TIMEOUT_S, suppress),
        metavar="DURATION",
        help=f"({DEFAULT_CONNECT_TIMEOUT_S}s)",
    )
    group.add_argument(
        "--lock-timeout",
        type=postgres_setting,
        default=_default(DEFAULT_LOCK_TIMEOUT, suppress),
        metavar="DURATION",
        help=f"PostgreSQL lock_timeout per statement ({DEFAULT_LOCK_TIMEOUT}); a bare number is seconds, 0 = none",
    )
    group.add_argument(
        "--lock-retry-window",
        type=seconds,
        default=_default(DEFAULT_LOCK_RETRY_WINDOW_S, suppress),
        metavar="DURATION",
        help=f"a lock wait that times out is retried, with growing pauses, for this long"
        f" ({DEFAULT_LOCK_RETRY_WINDOW_S:.0f}s); then the run fails naming who held the lock",
    )
    group.add_argument(
        "--max-lock-hold",
        type=seconds,
        default=_default(DEFAULT_MAX_LOCK_HOLD_S, suppress),
        metavar="DURATION",
        help=f"a batch holding a lock that blocks the application's queries of an existing table longer than"
        f" this is rolled back ({DEFAULT_MAX_LOCK_HOLD_S:.0f}s); 0 = no limit; a file's"
        " '-- migrate:max-lock-hold=30min' sanctions more",
    )
    group.add_argument(
        "--statement-timeout",
        type=postgres_setting,
        default=_default(DEFAULT_STATEMENT_TIMEOUT, suppress),
        metavar="DURATION",
        help=f"PostgreSQL statement_timeout ({DEFAULT_STATEMENT_TIMEOUT}); a bare number is seconds, 0 = none",
    )
    group.add_argument(
        "--idle-timeout",
        type=postgres_setting,
        default=_default(DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT, suppress),
        metavar="DURATION",
        help=f"the server ends this run's session if it idles this long inside a transaction, e.g. a stopped or"
        f" suspended client holding locks ({DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT}); 0 = none",
    )
    group.add_argument(
        "--lock-wait",
        type=seconds,
        default=_default(LOCK_WAIT_S, suppress),
        metavar="DURATION",
        help=f"how long to wait for another run's migration lock ({LOCK_WAIT_S:.0f}s)",
    )


def _file_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    root = project_root()
    group = parser.add_argument_group("files")
    group.add_argument("--migrations-dir", type=Path, default=_default(root / "migrations", suppress))
    group.add_argument("--schema-file", type=Path, default=_default(root / "schema.sql", suppress))
    group.add_argument(
        "--no-schema",
        action="store_true",
        default=_default(False, suppress),
        help="replay every migration from 000 on a fresh database",
    )


def _order_option(parser: argparse.ArgumentParser, suppress: bool) -> None:
    parser.add_argument(
        "--allow-out-of-order",
        action="store_true",
        default=_default(False, suppress),
        help="apply pending files older than the newest applied one",
    )


def _json_option(parser: argparse.ArgumentParser, suppress: bool) -> None:
    parser.add_argument("--json", action="store_true", default=_default(False, suppress), help="print one JSON object")


def _aws_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    group = parser.add_argument_group("deployed environment (read through AWS, not the database)")
    group.add_argument(
        "--env", default=_default(None, suppress), help="an environment of cdk.json (status, snapshots, apply)"
    )
    group.add_argument("--region", default=_default(None, suppress), help="AWS region (default: cdk.json, $AWS_REGION)")
    group.add_argument("--profile", default=_default(None, suppress), help="AWS profile (default: $AWS_PROFILE)")


ALL_OPTIONS: tuple[Adder, ...] = (_database_options, _file_options, _order_option, _json_option, _aws_options)


def _command(
    commands: Any, name: str, summary: str, adders: Sequence[Adder], description: str = ""
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description or summary,
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for add in adders:
        add(parser, True)
    return parser


class _VersionAction(argparse.Action):
    """--version, looked up only when asked: importlib.metadata costs every other run ~30 ms of start-up."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib import metadata

        try:
            version = metadata.version("aalap-vma-migrator")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed as a package)"
        print(f"{parser.prog} {version}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Apply the project's SQL migrations to PostgreSQL, all or nothing.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    for add in ALL_OPTIONS:
        add(parser, False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    db, files, order, out = _database_options, _file_options, _order_option, _json_option

    status = _command(
        commands,
        "status",
        "every version and its state (with --env: a deployed environment's)",
        [db, files, order, out, _aws_options],
    )
    status.add_argument("--exit-code", action="store_true", help="exit 3 when pending, 4 when something is wrong")

    plan = _command(commands, "plan", "what apply would do, and every version's state", [db, files, order, out])
    plan.add_argument("--sql", action="store_true", help="also print the statements apply would send")
    plan.add_argument("--exit-code", action="store_true", help="exit 3 when pending, 4 when something is wrong")

    apply = _command(
        commands,
        "apply",
        "apply pending migrations (schema.sql on a fresh database; with --env: pipeline mode, see README)",
        [db, files, order, out, _aws_options],
    )
    pipeline = apply.add_argument_group("with --env (pipeline mode: before executing a prepared change set)")
    pipeline.add_argument(
        "--change-set", default=None, help=f"the prepared change set (default: CDK's name, {CDK_CHANGE_SET})"
    )
    pipeline.add_argument("--no-wait", action="store_true", help="exit 3 while the runner still runs")
    pipeline.add_argument("--poll-seconds", type=float, default=30.0, help=argparse.SUPPRESS)
    _command(commands, "verify", "compare the database with schema.sql, object by object", [db, files, out])
    drift = _command(
        commands,
        "drift",
        "what verify compares, plus owners, privileges, roles, the history and sequences, each with its fix"
        " (with --env: the deployed function's own check)",
        [db, files, out, _aws_options],
        "The check the drift watch runs on schedule: schema.sql's objects (built in a scratch schema, rolled"
        " back), INVALID indexes, NOT VALID constraints, owners against the migration role, the application"
        " role's rights, role attributes, the history against the files, and sequences past 80% of their"
        " range. It writes nothing and never waits for a deploy: while one holds the migration lock it"
        " checks nothing and exits 3. Exit 1 when it finds a difference.",
    )
    model = drift.add_argument_group("the privilege model (local only: a deployed function knows its own)")
    model.add_argument("--owner", default=None, help="the role that owns the objects (default: the connecting user)")
    model.add_argument(
        "--app-role", default=None, help="the application's role, whose data rights are checked (default: none)"
    )
    rehearse = _command(
        commands,
        "rehearse",
        "apply the pending migrations to a copy of the database, measured; the copy is dropped (--env: a restored"
        " copy of the environment)",
        [db, files, order, out, _aws_options],
        "Copies the database into a scratch database on the same server (the schema built from its history,"
        " the rows read in one snapshot: ACCESS SHARE on each table while they are read), applies the pending"
        " migrations there with the same engine and limits, reports per file its seconds, WAL, size change,"
        " rewritten tables and locks, then verify; drops the copy. The source keeps its schema and history."
        " Exit 0 when every pending file applied on the copy, 1 when one failed there. With --env, the prepared"
        " change set's migrations run on a restored copy of the environment's instance instead"
        " (docs/operations.md).",
    )
    on_env = rehearse.add_argument_group("with --env (a restored copy of a deployed environment)")
    on_env.add_argument(
        "--change-set", default=None, help=f"the prepared change set (default: CDK's name, {CDK_CHANGE_SET})"
    )
    on_env.add_argument(
        "--instance-class", default=None, help="the restored copy's class (default: cdk.json rehearsal.instanceClass)"
    )
    on_env.add_argument("--poll-seconds", type=float, default=30.0, help=argparse.SUPPRESS)

    baseline = _command(
        commands,
        "baseline",
        "record versions up to VERSION as applied without running them",
        [db, files, out],
        "For a database that already has the schema up to VERSION but no migration history (as `flyway"
        " baseline`): records 000..VERSION in one transaction, under the lock; later versions are left"
        " pending for apply. Refused when the database already has a history.",
    )
    baseline.add_argument("version", metavar="VERSION", help="the newest migration the database already has")

    dump = _command(
        commands,
        "dump",
        "write schema.sql from the migrations (replayed on a scratch database)",
        [_dump_options],
        "Replays every migration on a scratch database (on the embedded server, or on --database-url's"
        " server, where it creates and drops one) and writes pg_dump's schema, normalised, with the"
        " `-- schema-version` header.",
    )
    dump.add_argument("--check", action="store_true", help="write nothing; exit 1 if schema.sql is stale")

    new = _command(commands, "new", "write the next numbered migration file", [_migrations_dir_option])
    new.add_argument("name", metavar="NAME", help="snake_case, e.g. add_project_tags")
    new.add_argument("--no-transaction", action="store_true", help="mark it to run outside a transaction")

    snapshots = _command(commands, "snapshots", "a deployed environment's pre-migration snapshots", [out, _aws_options])
    actions = snapshots.add_subparsers(dest="action", metavar="ACTION")
    snapshot_list = actions.add_parser("list", help="ours, oldest first (the default)")
    for add in (_json_option, _aws_options):
        add(snapshot_list, True)
    prune = actions.add_parser("prune", help="delete ours beyond the newest N (never anyone else's)")
    for add in (_json_option, _aws_options):
        add(prune, True)
    prune.add_argument("--keep", type=_count, required=True, metavar="N", help="how many of ours to keep")
    prune.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    prune.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def _dump_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    parser.add_argument(
        "--database-url",
        default=_default(None, suppress),
        help="a server where a scratch database may be created (default: the embedded server)",
    )
    _migrations_dir_option(parser, suppress)
    parser.add_argument(
        "--schema-file", type=Path, default=_default(project_root() / "schema.sql", suppress), help="the file written"
    )


def _migrations_dir_option(parser: argparse.ArgumentParser, suppress: bool) -> None:
    parser.add_argument("--migrations-dir", type=Path, default=_default(project_root() / "migrations", suppress))


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of snapshots (0 or more)")
    return int(text)


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return default_server().ensure_database(LOCAL_DATABASE)


def _limits(args: argparse.Namespace) -> SessionLimits:
    return SessionLimits(
        lock_timeout=args.lock_timeout,
        statement_timeout=args.statement_timeout,
        connect_timeout=args.connect_timeout,
        idle_in_transaction_timeout=args.idle_timeout,
    )


def _options(args: argparse.Namespace) -> engine.Options:
    return engine.Options(
        migrations_dir=args.migrations_dir,
        schema_file=None if args.no_schema else args.schema_file,
        allow_out_of_order=args.allow_out_of_order,
        lock_wait_seconds=args.lock_wait,
        lock_policy=LockPolicy(args.lock_retry_window, args.max_lock_hold or None),
    )


def _emit(args: argparse.Namespace, payload: Any, lines: list[str]) -> None:
    say(render(payload, lines, args.json))


def _checked_port(url: str) -> str:
    """A port that is not a number (or a list of them) is invalid input, before libpq reads it as a host problem."""
    try:
        port = str(conninfo_to_dict(url).get("port") or "")
    except psycopg.ProgrammingError as exc:
        raise InvalidInput(f"the database URL cannot be read: {printable(str(exc))}") from None
    if port and not all(part.strip().isdigit() for part in port.split(",")):
        raise InvalidInput(
            f"the database URL's port {port!r} is not a number; nothing was done",
            hint="write it as postgresql://user@host:5432/dbname",
        )
    return url


def _connect(args: argparse.Namespace) -> tuple[psycopg.Connection, str]:
    url, warning = with_tls_defaults(_checked_port(_database_url(args)), project_root())
    if warning:
        say(warning, sys.stderr)
    try:
        return connect(url, _limits(args)), redact(url)
    except psycopg.errors.InvalidParameterValue as exc:
        raise InvalidInput(f"invalid timeout setting: {exc.diag.message_primary}") from None


def _status(args: argparse.Namespace, conn: psycopg.Connection, inputs: engine.Inputs, target: str) -> int:
    survey = engine.survey(conn, inputs, _options(args))
    _emit(args, survey_to_json(survey, target), survey_lines(survey, target))
    if isinstance(survey.refusal, InvalidInput):  # every version listed; the unreadable file is invalid input
        say(f"error: {survey.refusal}", sys.stderr)
        return survey.refusal.exit_status
    return exit_code(survey) if args.exit_code else 0


def _plan(args: argparse.Namespace, conn: psycopg.Connection, inputs: engine.Inputs, target: str) -> int:
    survey = engine.survey(conn, inputs, _options(args))
    payload = survey_to_json(survey, target)
    if survey.plan is not None:
        payload |= plan_to_json(survey.plan, target) | {"versions": payload["versions"]}
        if args.sql:
            payload["sql"] = sql_to_json(survey.plan)
    _emit(args, payload, plan_survey_lines(survey, target, with_sql=args.sql))
    if args.exit_code:
        return exit_code(survey)
    return survey.refusal.exit_status if survey.refusal is not None else 0  # 2 for a pending file apply refuses


def _apply(args: argparse.Namespace, conn: psycopg.Connection, inputs: engine.Inputs, target: str) -> int:
    stream = sys.stderr if args.json else sys.stdout
    options = _options(args)
    options = replace(
        options,
        on_file=progress.reporter(lambda line: say(line, stream)),
        lock_policy=replace(options.lock_policy, say=lambda line: say(line, stream)),
    )
    outcome = engine.apply(conn, inputs, options)
    for migration in outcome.plan.to_apply:  # `new`'s untouched files were refused (see plan._invalid)
        if not migration.statements and migration.version in outcome.result.applied:
            say(f"warning: {migration.filename} is empty: version {migration.version} recorded, nothing run", stream)
    try:
        after = engine.survey(conn, inputs, options)  # what the database is now, not what it was
    except KeyboardInterrupt:
        done = ", ".join(outcome.result.recorded_by_schema + outcome.result.applied) or "nothing to apply"
        raise MigratorError(f"interrupted after the apply had finished ({done}); only this report is missing") from None
    _emit(
        args,
        applied_to_json(after, target, outcome.result),
        applied_lines(outcome.plan, after, target, outcome.result),
    )
    return 0


def _verify(args: argparse.Namespace, conn: psycopg.Connection, inputs: engine.Inputs, target: str) -> int:
    stale, diffs = engine.verify_schema(conn, inputs)
    _emit(args, verify_to_json(diffs, target, stale), verify_lines(diffs, target, stale))
    return 1 if diffs else 0


def _drift(args: argparse.Namespace, conn: psycopg.Connection, inputs: engine.Inputs, target: str) -> int:
    from migrator import drift

    model = drift.PrivilegeModel(args.owner or str(conn.info.user), args.app_role)
    found = drift.check(conn, inputs, model)
    _emit(args, drift_to_json(found, target), drift_lines(found, target))
    return drift_exit_status(found)


def _baseline(args: argparse.Namespace, conn: psycopg.Connection, inputs: engine.Inputs, target: str) -> int:
    recorded = engine.baseline(conn, inputs, _options(args), args.version)
    _emit(args, baseline_to_json(recorded, target), baseline_lines(recorded, target))
    return 0


def _rehearse(args: argparse.Namespace) -> int:
    from migrator.rehearse import rehearse

    inputs = engine.load_inputs(_options(args))
    conn, target = _connect(args)
    stream = sys.stderr if args.json else sys.stdout
    options = replace(_options(args), on_file=progress.reporter(lambda line: say(line, stream)))
    with conn:
        found = rehearse(conn, inputs, options, _limits(args), lambda line: say(line, stream))
    _emit(args, rehearsal_to_json(found, target), rehearsal_lines(found, target))
    if found.error is not None:
        say(f"error: on the copy: {found.error}", sys.stderr)
        return 1
    return 0


DATABASE_COMMANDS = {
    "status": _status,
    "plan": _plan,
    "apply": _apply,
    "verify": _verify,
    "drift": _drift,
    "baseline": _baseline,
}


def _new(args: argparse.Namespace) -> int:
    path = numbering.write_new(args.migrations_dir, args.name, args.no_transaction)
    say(f"created {path}")
    say(
        "  write the change (idempotent), then `make run`, and `make schema` to bring schema.sql up to it;"
        " after it is applied anywhere, never edit it"
    )
    return 0


def _dump(args: argparse.Namespace) -> int:
    from migrator.dump import dump_schema

    written = dump_schema(args.migrations_dir, args.schema_file, args.database_url, check=args.check)
    say(written.message, sys.stderr if written.stale else sys.stdout)
    return 1 if written.stale else 0


def _refuse_ignored(args: argparse.Namespace) -> None:
    """An option that does not apply to what was asked is an error, never silently dropped: a pipeline
    command without its --env would otherwise apply the local database and exit 0."""
    with_env = bool(getattr(args, "env", None))
    needs_env = {
        "--change-set": getattr(args, "change_set", None) is not None,
        "--no-wait": bool(getattr(args, "no_wait", False)),
        "--region": getattr(args, "region", None) is not None,
        "--profile": getattr(args, "profile", None) is not None,
        "--instance-class": getattr(args, "instance_class", None) is not None,
    }
    given = [name for name, present in needs_env.items() if present]
    if given and not with_env and args.command != "snapshots":
        raise InvalidInput(
            f"{', '.join(given)} applies only with --env (a deployed environment); nothing was done",
            hint=f"add --env ENV, or drop {given[0]} to work on the local database",
        )
    local_only = [
        name for name, dest in (("--owner", "owner"), ("--app-role", "app_role")) if getattr(args, dest, None)
    ]
    if local_only and with_env:
        raise InvalidInput(
            f"{', '.join(local_only)} applies only to a database you connect to; nothing was done",
            hint="a deployed function checks against its own migration and application roles: drop it",
        )
    if with_env and getattr(args, "database_url", None):
        raise InvalidInput(
            "--env and --database-url name two different databases; nothing was done",
            hint="--env reads a deployed environment through AWS; --database-url a database you can reach",
        )


def _run(args: argparse.Namespace) -> int:
    _refuse_ignored(args)
    if args.command == "snapshots" or getattr(args, "env", None):
        from migrator.cli_deployed import run_deployed

        return run_deployed(args)
    if args.command == "rehearse":
        return _rehearse(args)
    if args.command == "new":
        return _new(args)
    if args.command == "dump":
        return _dump(args)
    inputs = engine.load_inputs(_options(args), lenient=args.command == "status")
    if args.command == "baseline":
        engine.baseline_migrations(inputs, args.version)  # a wrong VERSION is exit 2, before connecting
    conn, target = _connect(args)
    with conn:
        return DATABASE_COMMANDS[args.command](args, conn, inputs, target)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(build_parser().parse_args(given))
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except MigratorError as exc:
        say(f"error: {exc}", sys.stderr)
        if "--json" in given:  # a script reading stdout gets one object on failure too
            say(json.dumps(error_to_json(exc)))
        return exc.exit_status
    except KeyboardInterrupt:  # outside apply (apply says what it committed): nothing was changed
        say("error: interrupted; nothing was changed", sys.stderr)
        return 1
    except psycopg.Error as exc:
        message = f"database error: {type(exc).__name__}: {printable(str(exc).strip())}"
        say(f"error: {message}", sys.stderr)
        if "--json" in given:
            say(
                json.dumps(
                    {"error": type(exc).__name__, "message": message, "sqlstate": exc.sqlstate, "exit_status": 1}
                )
            )
        return 1
