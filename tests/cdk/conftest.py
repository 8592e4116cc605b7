from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from tests.cdk.synth import synth


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    """All three environments, synthesized once for the session."""
    return synth(Path(tmp_path_factory.mktemp("cdk.out")))
