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


# One environment with every optional setting of the database and on-call turned on, synthesized once per
# session (with the three default environments, the only extra synth the operations tests need).
OPTIONS = {
    "engineVersion": "18.1",
    "allowMajorVersionUpgrade": True,
    "kmsKey": "create",
    "clientSecurityGroupIds": ["sg-0123456789abcdef0", "sg-0fedcba9876543210"],
    "clientCidrs": ["10.20.0.0/16", "fd00:1::/64"],
    "onCall": {"emails": ["a@example.com", "b@example.com"], "httpsEndpoint": "https://events.example.com/hook"},
    "alarms": {"cpuPercent": 70, "freeStorageGb": 3, "connectionsPercent": False, "manualSnapshots": 90},
    "performanceInsights": True,
    "enhancedMonitoringSeconds": 30,
}


@pytest.fixture(scope="session")
def options_stack(tmp_path_factory: pytest.TempPathFactory) -> DatabaseStack:
    from tests.cdk.synth import with_environment

    (stack,) = synth_stacks(
        Path(tmp_path_factory.mktemp("cdk-options.out")), **with_environment("staging", **OPTIONS)
    ).values()
    return stack


@pytest.fixture(scope="session")
def options(options_stack: DatabaseStack) -> Template:
    return Template.from_stack(options_stack)
