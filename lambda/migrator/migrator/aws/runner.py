"""`python -m migrator.aws.runner`: apply the asset's pending migrations in one process, outside Lambda.

The CodeBuild project runs this from the same asset as the Lambda functions, so the same engine
applies the same files: one process holds the batch's transaction and the migration lock from the
first statement to the commit, as the Lambda does, but for as long as its deadline allows (hours),
not 15 minutes. The migration step starts it and polls the build; this process never answers
CloudFormation itself.

Inputs (environment, set by the project and by the migration step per build):
  MIGRATOR_SECRET_ARN        the master user's secret (required)
  MIGRATOR_ROLE_SECRET_ARN   the migration role's secret (migrations run as that role)
  MIGRATOR_INSTANCE          the RDS instance (for messages)
  MIGRATOR_DEADLINE          epoch seconds by which the run must be over, commit included (required)
  MIGRATOR_LOCK_TIMEOUT      lock_timeout for statements (default 5s)
  MIGRATOR_IDLE_TIMEOUT      seconds a session may sit idle (in a transaction or not) before the server ends it
  MIGRATOR_SSLROOTCERT       CA bundle (default: the asset's certs/rds-ca-bundle.pem)
  MIGRATOR_BUNDLE_ROOT       the asset's root (default: the folder holding the package)

A runner torn down without closing its connection must not leave the batch's locks held. Killed, its
kernel closes the socket and the server aborts the statement (client_connection_check_interval). Gone
silent (container frozen, network cut), the server ends the session itself: the transaction cannot
outlive the deadline (transaction_timeout, PostgreSQL 17+), an idle session or transaction is ended
after MIGRATOR_IDLE_TIMEOUT, and TCP keepalives on both ends detect a peer that no longer answers.

The last line of output says what happened; exit 0 applied (or nothing pending), 1 failed (the failed
batch rolled back), 2 invalid input.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migrator.aws.budget import IDLE_TIMEOUT_S, MIN_RUN_S
from migrator.aws.codebuild import PREFIX
from migrator.aws.contract import (
    ENV_CLAIM,
    ENV_DEADLINE,
    ENV_IDLE_TIMEOUT,
    ENV_INSTANCE,
    ENV_RUNNER_MODE,
    ENV_SECRET_ARN,
    KEYS,
    MODE_REHEARSE,
)
from migrator.errors import InvalidInput, MigratorError

if TYPE_CHECKING:
    from migrator.aws.deploy import Deployment

log = logging.getLogger("migrator")


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise InvalidInput(f"{name} is not set", hint="the CodeBuild project and the migration step set it")
    return value


def _deadline(environ: Mapping[str, str]) -> float:
    raw = _required(environ, ENV_DEADLINE)
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{ENV_DEADLINE} must be epoch seconds, got {raw!r}") from None


def _idle_timeout(environ: Mapping[str, str]) -> int:
    raw = environ.get(ENV_IDLE_TIMEOUT) or str(IDLE_TIMEOUT_S)
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"{ENV_IDLE_TIMEOUT} must be whole seconds, got {raw!r}")
    return int(raw)


def deployment_from(environ: Mapping[str, str], secrets: Any) -> Deployment:
    """The handler's Deployment, from the environment alone, with the runner's session bounds."""
    from migrator.aws.deploy import Deployment

    _required(environ, ENV_SECRET_ARN)
    given = {KEYS["instance"]: environ.get(ENV_INSTANCE) or "database"}
    found = Deployment.from_environment(
        given, environ, rds=None, secrets=secrets, runner_idle_timeout_s=_idle_timeout(environ)
    )
    return replace(found, claim=environ.get(ENV_CLAIM) or None)  # applies only while its request is the newest


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _one_line(exc: MigratorError) -> str:
    """The message and its hint on the final line, which is what the migration step shows CloudFormation."""
    text = " ".join(exc.message.split())
    return f"{text} (hint: {' '.join(exc.hint.split())})" if exc.hint else text


def run(environ: Mapping[str, str], secrets: Any) -> tuple[int, str]:
    """(exit status, final line). Never raises for a failure it can explain."""
    try:
        deadline = _deadline(environ)
        deployment = deployment_from(environ, secrets)
        left = deadline - time.time()
        if left < MIN_RUN_S:
            return 1, (
                f"{PREFIX} FAILED: only {max(0, left):.0f}s left before the deadline, too little to migrate safely;"
                " nothing was applied (deploy again for a full budget)"
            )
        log.info("applying the pending migrations of %s; deadline %s", deployment.request.instance, _iso(deadline))
        deployment.hand_over()
        started = time.monotonic()
        data = deployment.apply_within(int((deadline - time.time()) * 1000))
    except InvalidInput as exc:
        return 2, f"{PREFIX} INVALID: {_one_line(exc)}"
    except MigratorError as exc:
        return 1, f"{PREFIX} FAILED: {_one_line(exc)}"
    applied = data.get("Applied") or "nothing"
    seconds = time.monotonic() - started
    return 0, f"{PREFIX} OK schema version {data['SchemaVersion']}; applied {applied} in {seconds:.1f}s"


def _secrets_client() -> Any:
    import boto3  # the CodeBuild image's Python ships boto3; the asset does not need to

    return boto3.client("secretsmanager")


def main() -> int:
    if os.environ.get(ENV_RUNNER_MODE) == MODE_REHEARSE:  # an environment rehearsal (migrator.aws.rehearsal)
        from migrator.aws import rehearsal_runner

        return rehearsal_runner.main()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    for noisy in ("botocore", "boto3", "urllib3"):  # never log response bodies (GetSecretValue's)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    status, line = run(os.environ, _secrets_client())
    print(line, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
