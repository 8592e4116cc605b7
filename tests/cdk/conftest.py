from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from stacks.database_stack import DatabaseStack
from tests.cdk.synth import synth_stacks


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DatabaseStack]:
    """All three environments, synthesized once for the session."""
    return synth_stacks(Path(tmp_path_factory.mktemp("cdk.out")))


@pytest.fixture(scope="session")
def templates(stacks: dict[str, DatabaseStack]) -> dict[str, Template]:
    return {name: Template.from_stack(stack) for name, stack in stacks.items()}
