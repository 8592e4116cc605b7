#!/usr/bin/env python3
"""The CDK app: one stack per environment of cdk.json, or the one `-c env=NAME` selects.

Context is read here, once, into typed configuration; nothing below reads context
or the process environment.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from migrator.aws.contract import stack_name
from migrator.errors import MigratorError
from stacks.bundle import CaBundleError, describe_bundle
from stacks.config import ConfigError, parse_app_config
from stacks.database_stack import DatabaseStack, write_stack_policies
from stacks.migration import MigrationSettings
from stacks.regions import check_region


def build(app: cdk.App) -> list[DatabaseStack]:
    context = {"environments": app.node.try_get_context("environments")}
    config = parse_app_config(
        context,
        app.node.try_get_context("env"),
        app.node.try_get_context("migrate"),
        os.environ.get("CDK_DEFAULT_ACCOUNT"),
        os.environ.get("CDK_DEFAULT_REGION"),
    )
    bundle = describe_bundle()
    for env in config.environments:
        check_region(env.name, env.region, bundle.ca_bundle)
    token = None if config.migrate == "on-change" else datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stacks = []
    for env in config.environments:
        settings = MigrationSettings(
            bundle=bundle,
            deploy_token=token,
            snapshot_retention=env.snapshot_retention,
            timeout_minutes=env.migration_timeout_minutes,
        )
        stacks.append(
            DatabaseStack(
                app,
                stack_name(env.name),
                config=env,
                migration=settings,
                env=cdk.Environment(account=env.account, region=env.region),
                description=f"Aalap VMA database ({env.name}): RDS PostgreSQL and its schema migrations",
            )
        )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stacks


def main(app: cdk.App | None = None) -> None:
    """Synthesize; a configuration or CA bundle problem ends synth with one `error: …` line, no traceback."""
    app = app or cdk.App()
    try:
        stacks = build(app)
    except (ConfigError, CaBundleError, MigratorError) as exc:  # MigratorError: a misnamed or unreadable migration
        sys.exit(f"error: {exc}")
    assembly = app.synth()
    write_stack_policies(stacks, Path(assembly.directory))


if __name__ == "__main__":
    main()
