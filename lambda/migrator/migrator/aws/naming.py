"""Names shared by the CDK app, the handler and the operator commands: defined here, once.

The package is importable by stacks/ (the CDK app) and ships in the Lambda asset, so both sides
read the same stack-name pattern, output keys and asset layout instead of repeating them.
"""

from __future__ import annotations

STACK_PREFIX = "AalapVma-"
OUTPUT_INSTANCE = "DatabaseInstanceId"
OUTPUT_FUNCTION = "MigrationFunctionName"
CA_BUNDLE_IN_ASSET = "certs/rds-ca-bundle.pem"  # the RDS CA bundle, relative to the asset's root


def stack_name(env: str) -> str:
    return f"{STACK_PREFIX}{env}"


def env_of(stack: str) -> str | None:
    """The environment a stack name or stack ARN belongs to, or None for another stack."""
    name = stack.split(":stack/", 1)[1].split("/", 1)[0] if ":stack/" in stack else stack
    return name.removeprefix(STACK_PREFIX) if name.startswith(STACK_PREFIX) else None
