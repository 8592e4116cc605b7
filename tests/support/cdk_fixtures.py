"""The default CDK app (cdk.json's three environments), synthesized once per test session and shared by
every test that reads it: the template tests, cdk-nag, cfn-lint, the IAM evaluation and the e2e lifecycle.
Registered for the whole suite by tests/conftest.py's `pytest_plugins`."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from tests.cdk.synth import shared_assembly, templates_in


@pytest.fixture(scope="session")
def cdk_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cloud assembly (cdk.out) of the default app: one synth per session, across the xdist workers."""
    return shared_assembly(tmp_path_factory, "default")


@pytest.fixture(scope="session")
def templates(cdk_assembly: Path) -> dict[str, Template]:
    return templates_in(cdk_assembly)
