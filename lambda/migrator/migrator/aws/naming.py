"""Names shared by the CDK app, the handler and the operator commands: defined here, once.

The package is importable by stacks/ (the CDK app) and ships in the Lambda asset, so both sides
read the same stack-name pattern, output keys and asset layout instead of repeating them.
"""

from __future__ import annotations

STACK_PREFIX = "AalapVma-"
OUTPUT_INSTANCE = "DatabaseInstanceId"
OUTPUT_FUNCTION = "MigrationFunctionName"
CA_BUNDLE_IN_ASSET = "certs/rds-ca-bundle.pem"  # the RDS CA bundle, relative to the asset's root

# The environment the CDK app gives the functions and the runner, and they read: each name written here only.
ENV_SECRET_ARN = "MIGRATOR_SECRET_ARN"  # the master user's secret
ENV_ROLE_SECRET_ARN = "MIGRATOR_ROLE_SECRET_ARN"  # the migration role's secret
ENV_INSTANCE = "MIGRATOR_INSTANCE"  # the RDS instance identifier
ENV_SSLROOTCERT = "MIGRATOR_SSLROOTCERT"  # the CA bundle that verifies the server (the asset's, or a test CA)
ENV_BUNDLE_ROOT = "MIGRATOR_BUNDLE_ROOT"  # the asset's root (tests, the runner's checks)
ENV_REQUEST = "MIGRATOR_REQUEST"  # the runner build's request id: how a poll finds it again
ENV_DEADLINE = "MIGRATOR_DEADLINE"  # epoch seconds by which the runner must be done
ENV_LOCK_TIMEOUT = "MIGRATOR_LOCK_TIMEOUT"  # the runner's lock_timeout
ENV_IDLE_TIMEOUT = "MIGRATOR_IDLE_TIMEOUT"  # seconds a runner session may idle before the server ends it


def stack_name(env: str) -> str:
    return f"{STACK_PREFIX}{env}"


def env_of(stack: str) -> str | None:
    """The environment a stack name or stack ARN belongs to, or None for another stack."""
    name = stack.split(":stack/", 1)[1].split("/", 1)[0] if ":stack/" in stack else stack
    return name.removeprefix(STACK_PREFIX) if name.startswith(STACK_PREFIX) else None
