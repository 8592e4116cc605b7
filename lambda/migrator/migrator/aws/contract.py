"""The deploy's contract, written once: what the CDK app gives the runtime and the runtime reads back.

Dependency-free (standard library only) so that the CDK app imports it at synth without the engine's
psycopg, and the Lambda asset ships it: the custom resource's properties (`StepProperties`, rendered by
stacks/ and parsed by the handler, the runner and the pipeline command with the same code), the
environment variable names, the runner modes, the stack and output names and the asset's layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

STACK_PREFIX = "AalapVma-"
OUTPUT_INSTANCE = "DatabaseInstanceId"
OUTPUT_FUNCTION = "MigrationFunctionName"
CA_BUNDLE_IN_ASSET = "certs/rds-ca-bundle.pem"  # the RDS CA bundle, relative to the asset's root
CDK_CHANGE_SET = "cdk-deploy-change-set"  # the change set `cdk deploy --method=prepare-change-set` names by default
LAMBDA_PYTHON = "3.14"  # the functions' runtime, the asset's wheels and the CodeBuild runner's interpreter

# The environment the CDK app gives the functions and the runner, and they read: each name written here only.
# The event the drift watch's schedule sends the migration function: {ACTION_KEY: DRIFT_ACTION}.
ACTION_KEY = "action"
DRIFT_ACTION = "drift"

ENV_SECRET_ARN = "MIGRATOR_SECRET_ARN"  # the master user's secret
ENV_ROLE_SECRET_ARN = "MIGRATOR_ROLE_SECRET_ARN"  # the migration role's secret
ENV_APP_SECRET_ARN = "MIGRATOR_APP_SECRET_ARN"  # the application role's secret (the drift check's privilege model)
ENV_INSTANCE = "MIGRATOR_INSTANCE"  # the RDS instance identifier
ENV_SSLROOTCERT = "MIGRATOR_SSLROOTCERT"  # the CA bundle that verifies the server (the asset's, or a test CA)
ENV_BUNDLE_ROOT = "MIGRATOR_BUNDLE_ROOT"  # the asset's root (tests, the runner's checks)
ENV_REQUEST = "MIGRATOR_REQUEST"  # the runner build's request id: how a poll finds it again
ENV_CLAIM = "MIGRATOR_CLAIM"  # the request's claim on the database: the runner applies only while it is newest
ENV_DEADLINE = "MIGRATOR_DEADLINE"  # epoch seconds by which the runner must be done
ENV_LOCK_TIMEOUT = "MIGRATOR_LOCK_TIMEOUT"  # the runner's lock_timeout
ENV_IDLE_TIMEOUT = "MIGRATOR_IDLE_TIMEOUT"  # seconds a runner session may idle before the server ends it
ENV_LOCK_RETRY_WINDOW = "MIGRATOR_LOCK_RETRY_WINDOW"  # the runner's lock-wait retry window (a duration)
ENV_MAX_LOCK_HOLD = "MIGRATOR_MAX_LOCK_HOLD"  # the runner's hold budget (a duration; 0: none)
# The environment rehearsal (migrator.aws.rehearsal): the runner's mode, and what the operator command gives a build.
ENV_RUNNER_MODE = "MIGRATOR_RUNNER_MODE"  # "apply" (default) or "rehearse"
ENV_REHEARSAL_ENV = "MIGRATOR_REHEARSAL_ENV"  # the environment rehearsed (the copy's tag, the report's key)
ENV_FINGERPRINT = "MIGRATOR_FINGERPRINT"  # the bundle's fingerprint the rehearsal is of
ENV_REHEARSAL_CLASS = "MIGRATOR_REHEARSAL_CLASS"  # the restored copy's instance class
ENV_REPORT_BUCKET = "MIGRATOR_REPORT_BUCKET"  # where rehearsal reports are written and read
MODE_APPLY, MODE_REHEARSE = "apply", "rehearse"

# Where a migrating deploy runs. A migration marked `-- migrate:runner=codebuild` always goes to CodeBuild;
# "pipeline": before the change set, by the operator command (the custom resource only verifies).
RUNNER_LAMBDA = "lambda"
RUNNER_CODEBUILD = "codebuild"
RUNNER_PIPELINE = "pipeline"
RUNNERS = (RUNNER_LAMBDA, RUNNER_CODEBUILD, RUNNER_PIPELINE)

DEFAULT_RETENTION = 3
DEFAULT_REHEARSAL_MAX_AGE_HOURS = 24
MAX_SERVICE_TIMEOUT_S = 3600  # CloudFormation's longest ServiceTimeout, and its default


class ContractError(ValueError):
    """A property the template or the environment gives is missing or malformed; the message names it."""


def stack_name(env: str) -> str:
    return f"{STACK_PREFIX}{env}"


def env_of(stack: str) -> str | None:
    """The environment a stack name or stack ARN belongs to, or None for another stack."""
    name = stack.split(":stack/", 1)[1].split("/", 1)[0] if ":stack/" in stack else stack
    return name.removeprefix(STACK_PREFIX) if name.startswith(STACK_PREFIX) else None


def _whole(low: int, high: int | None = None) -> Callable[[str, Any], int]:
    def parse(key: str, value: Any) -> int:
        text = str(value)
        if not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
            span = f"{low}-{high}" if high is not None else f"a whole number of at least {low}"
            raise ContractError(f"{key} must be {span}, got {text!r}")
        return int(text)

    return parse


def _text(_key: str, value: Any) -> str:
    return str(value)


def _flag(key: str, value: Any) -> bool:
    text = str(value).lower()
    if text not in ("true", "false"):
        raise ContractError(f"{key} must be true or false, got {str(value)!r}")
    return text == "true"


def _names(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ContractError(f"{key} must be a list of file names")
    return tuple(value)


_DURATION = re.compile(r"[0-9]+(\.[0-9]+)?(ms|s|min|h)")


def is_duration(text: str) -> bool:
    """A duration with its unit (PostgreSQL would read a bare number as milliseconds, this tool as seconds)."""
    return _DURATION.fullmatch(text) is not None


def _duration(key: str, value: Any) -> str:
    text = str(value).strip()
    if not is_duration(text):
        raise ContractError(f"{key} must be a duration with its unit (500ms, 5s, 15min, 1h), got {str(value)!r}")
    return text


def duration_s(text: str) -> float:
    """Seconds of a duration `_duration` accepted."""
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}[unit]


def _runner(key: str, value: Any) -> str:
    if value not in RUNNERS:
        raise ContractError(f"{key} must be one of {', '.join(RUNNERS)}, got {str(value)!r}")
    return str(value)


def _key(name: str, parse: Callable[[str, Any], Any] = _text, default: Any = None) -> Any:
    return field(default=default, metadata={"key": name, "parse": parse})


@dataclass(frozen=True)
class StepProperties:
    """The migration step's custom resource properties, by their template keys.

    The CDK app renders them (`render`); CloudFormation hands them to the functions as strings; the handler,
    the runner and the pipeline command parse them (`parse`). One table of keys serves both directions, and
    a round-trip test holds them equal. A value left empty is not rendered and parses to its default."""

    secret_arn: str = _key("SecretArn", default="")  # the master user's secret
    instance: str = _key("InstanceIdentifier", default="")
    migrator_secret_arn: str | None = _key("MigratorSecretArn")  # the role migrations run as; None: the master
    app_secret_arn: str | None = _key("AppSecretArn")  # the application's role (data rights only)
    snapshot_retention: int = _key("SnapshotRetention", _whole(1), DEFAULT_RETENTION)
    take_snapshots: bool = _key("TakeSnapshots", _flag, True)
    fingerprint: str = _key("Fingerprint", default="")  # the bundle's: changes whenever a file does
    newest_version: str = _key("NewestVersion", default="")
    migrations: tuple[str, ...] | None = _key("Migrations", _names)  # the synth's file names, in order
    timeout_seconds: int = _key("MigrationTimeoutSeconds", _whole(60, MAX_SERVICE_TIMEOUT_S), MAX_SERVICE_TIMEOUT_S)
    deploy_token: str = _key("DeployToken", default="")  # the synth's UTC time: every deploy migrates
    lock_timeout: str | None = _key("LockTimeout", _duration)  # one attempt's lock wait; None: the engine's default
    lock_retry_window: str | None = _key("LockRetryWindow", _duration)  # None: the engine's default
    max_lock_hold: str | None = _key("MaxLockHold", _duration)  # "0s": no hold budget; None: the engine's default
    runner: str = _key("Runner", _runner, RUNNER_LAMBDA)
    runner_project: str | None = _key("RunnerProject")  # the CodeBuild project's name
    build_timeout_seconds: int = _key("BuildTimeoutSeconds", _whole(0), 0)  # from on_event's start
    runner_timeout_seconds: int = _key("RunnerTimeoutSeconds", _whole(0), 0)  # from on_event's start
    pipeline_timeout_minutes: int | None = _key("PipelineTimeoutMinutes", _whole(1))
    # The rehearsal gate (migrator.aws.rehearsal): a migrating deploy needs a passing rehearsal of this fingerprint.
    rehearsal_required: bool = _key("RehearsalRequired", _flag, False)
    rehearsal_max_age_hours: int = _key("RehearsalMaxAgeHours", _whole(1), DEFAULT_REHEARSAL_MAX_AGE_HOURS)
    rehearsal_bucket: str | None = _key("RehearsalBucket")  # where the reports are

    REQUIRED = ("secret_arn", "instance")

    @classmethod
    def parse(cls, props: Mapping[str, Any], required: bool = True) -> StepProperties:
        """Typed and checked; raises ContractError naming the key. `required`: the secret and the instance."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = props.get(spec.metadata["key"])
            if raw is None or raw == "":
                continue
            values[spec.name] = spec.metadata["parse"](spec.metadata["key"], raw)
        missing = [KEYS[name] for name in cls.REQUIRED if required and not values.get(name)]
        if missing:
            raise ContractError(f"custom resource properties lack {', '.join(missing)}")
        return cls(**values)

    def render(self) -> dict[str, Any]:
        """The template's properties: strings (CloudFormation passes nothing else), a list for Migrations."""
        rendered: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            rendered[spec.metadata["key"]] = list(value) if isinstance(value, tuple) else str(value)
        return rendered

    def stamp(self, fallback: str) -> str:
        """What names this deploy's snapshot: the deploy token, else the bundle's fingerprint, else `fallback`."""
        return self.deploy_token or self.fingerprint[:12] or fallback


KEYS = {spec.name: spec.metadata["key"] for spec in fields(StepProperties)}
