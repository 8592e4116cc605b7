from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from tests.cdk.synth import shared_assembly, templates_in, with_environment
from tests.support.cdk_envs import OPTIONS


@pytest.fixture(scope="session")
def options_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Staging with every optional setting on (OPTIONS): the one extra synth the operations tests need, once per
    session."""
    return shared_assembly(tmp_path_factory, "options", **with_environment("staging", **OPTIONS))


@pytest.fixture(scope="session")
def options(options_assembly: Path) -> Template:
    return templates_in(options_assembly)["staging"]
