"""The default CDK app (cdk.json's three environments), synthesized once per test session and shared by
every test that reads it: the template tests, cdk-nag, cfn-lint, the IAM evaluation and the e2e lifecycle;
and staging with every optional setting on (OPTIONS), the one extra synth the operations and key tests need.
Registered for the whole suite by tests/conftest.py's `pytest_plugins`."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from tests.cdk.synth import shared_assembly, templates_in, with_environment
from tests.support.cdk_envs import OPTIONS


@pytest.fixture(scope="session")
def cdk_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cloud assembly (cdk.out) of the default app: one synth per session, across the xdist workers."""
    return shared_assembly(tmp_path_factory, "default")


@pytest.fixture(scope="session")
def templates(cdk_assembly: Path) -> dict[str, Template]:
    return templates_in(cdk_assembly)


@pytest.fixture(scope="session")
def options_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Staging with every optional setting on (OPTIONS), once per session."""
    return shared_assembly(tmp_path_factory, "options", **with_environment("staging", **OPTIONS))


@pytest.fixture(scope="session")
def options(options_assembly: Path) -> Template:
    return templates_in(options_assembly)["staging"]
