"""The CodeBuild runner in rehearsal mode (MIGRATOR_RUNNER_MODE=rehearse): one build restores the environment's
instance, applies the asset's pending migrations to the copy measured, writes the report to S3 and deletes the copy.

A build may run for hours (a restore of a large instance takes long), in the isolated subnets with the RDS API,
Secrets Manager and S3 endpoints, and reaches the copy on 5432 because the copy carries the source's security
groups. The copy IS the scratch database here: nothing is copied again, the engine applies to it directly.

Inputs beyond the runner's own (migrator.aws.runner): MIGRATOR_REHEARSAL_ENV, MIGRATOR_FINGERPRINT,
MIGRATOR_REPORT_BUCKET (required), MIGRATOR_REHEARSAL_CLASS (default db.t4g.small). The final line starts with
`migrator-runner:`; exit 0 the rehearsal passed, 1 it failed (the report says why), 2 invalid input.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from psycopg.conninfo import make_conninfo

from migrator.aws.codebuild import PREFIX
from migrator.aws.contract import (
    ENV_FINGERPRINT,
    ENV_INSTANCE,
    ENV_REHEARSAL_CLASS,
    ENV_REHEARSAL_ENV,
    ENV_REPORT_BUCKET,
    ENV_SECRET_ARN,
)
from migrator.aws.rehearsal import DEFAULT_CLASS, Measure, Reports, RestoredCopy, Target, rehearse
from migrator.errors import InvalidInput
from migrator.rehearse import rehearse_restored_json

log = logging.getLogger("migrator")


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise InvalidInput(f"{name} is not set", hint="`python -m migrator --env ENV rehearse` sets it")
    return value


def target_from(environ: Mapping[str, str]) -> Target:
    return Target(
        env=_required(environ, ENV_REHEARSAL_ENV),
        source=_required(environ, ENV_INSTANCE),
        fingerprint=_required(environ, ENV_FINGERPRINT),
        instance_class=environ.get(ENV_REHEARSAL_CLASS) or DEFAULT_CLASS,
    )


def engine_measure(environ: Mapping[str, str], secrets: Any) -> Measure:
    """The engine applying the asset's pending files to the copy, as the master user (the copy's own roles are the
    source's, from the restore point), over verify-full TLS to the copy's own address."""
    from migrator.aws.deploy import bundle_from_environment, ca_bundle

    def measure(host: str) -> dict[str, Any]:
        bundle = bundle_from_environment(environ)
        conninfo = copy_conninfo(secrets, environ[ENV_SECRET_ARN], ca_bundle(bundle, environ), host)
        return rehearse_restored_json(conninfo, bundle.options)

    return measure


# The copy's master password is the source's at the restore point: AWSCURRENT's, unless a rotation finished
# since (AWSPREVIOUS holds it) or set it and has not finished (AWSPENDING).
RESTORE_POINT_STAGES = ("AWSCURRENT", "AWSPREVIOUS", "AWSPENDING")


def copy_conninfo(secrets: Any, secret_arn: str, sslrootcert: str, host: str) -> str:
    """The master user's conninfo for the restored copy, with the first of the secret's passwords it accepts."""
    from migrator.aws.secrets import conninfo_from_secret, read_secret
    from migrator.connect import SessionLimits, connect
    from migrator.errors import AuthenticationFailed, MigratorError, SecretError

    tried = []
    for stage in RESTORE_POINT_STAGES:
        try:
            secret = read_secret(secrets, secret_arn, stage)
        except SecretError:
            continue  # no such version: no rotation in that state
        conninfo = make_conninfo(conninfo_from_secret(secret, "verify-full", sslrootcert), host=host)
        try:
            connect(conninfo, SessionLimits(), attempts=3, backoff=2.0).close()
        except AuthenticationFailed:
            tried.append(stage)
            continue
        if stage != RESTORE_POINT_STAGES[0]:
            log.warning("the copy refused AWSCURRENT's password and took %s's (rotated since the restore point)", stage)
        return conninfo
    raise MigratorError(
        f"the restored copy refused the master secret's {', '.join(tried) or 'passwords'}: its password is the"
        " source's at the restore point, and no version of the secret holds it",
        hint="rehearse again (a newer restore point), or see the secret's rotation history",
    )


def run(environ: Mapping[str, str], rds: Any, s3: Any, measure: Measure) -> tuple[int, str]:
    """(exit status, final line). The copy is deleted whatever happens; the report is written whenever it can be."""
    try:
        target = target_from(environ)
        reports = Reports(s3, _required(environ, ENV_REPORT_BUCKET))
    except InvalidInput as exc:
        return 2, f"{PREFIX} INVALID: {exc.message}"
    report = rehearse(RestoredCopy(rds, target), measure).to_json()
    try:
        key = reports.put(report)
    except Exception as exc:
        return 1, f"{PREFIX} FAILED: the rehearsal ran but its report could not be written: {type(exc).__name__}"
    verdict = "OK" if report["passed"] else f"FAILED: {report['error']}"
    return (0 if report["passed"] else 1), f"{PREFIX} REHEARSAL {verdict}; report s3://{reports.bucket}/{key}"


def main() -> int:
    import boto3  # the CodeBuild image's Python ships boto3

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    for noisy in ("botocore", "boto3", "urllib3"):  # never log response bodies (GetSecretValue's)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    secrets = boto3.client("secretsmanager")
    status, line = run(os.environ, boto3.client("rds"), boto3.client("s3"), engine_measure(os.environ, secrets))
    print(line, flush=True)
    return status
