from __future__ import annotations

from collections.abc import Iterator

import pytest
from aws_cdk.assertions import Template

from migrator.aws import handler
from tests.aws import Environment
from tests.iam.emulated import Target, add_app_secret, add_role_secret, target
from tests.support.aws_calls import CallRecorder, recording


@pytest.fixture(scope="session")
def template(templates: dict[str, Template]) -> Template:
    """The staging template of the session's one synth of the default app."""
    return templates["staging"]


@pytest.fixture
def app_role(app_role_name: str) -> str:
    """The application role the hand-over creates; requested before `aws`, so dropped after its database."""
    return app_role_name


@pytest.fixture
def deployed(
    role_name: str, app_role: str, aws: Environment, template: Template, monkeypatch: pytest.MonkeyPatch
) -> Target:
    """The emulated target with the two roles' secrets, and Lambda's environment for its functions."""
    add_role_secret(aws, role_name)
    add_app_secret(aws, app_role)
    bound = target(template, aws)
    for key, value in bound.environment.items():
        monkeypatch.setenv(key, value)
    return bound


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallRecorder]:
    """Every AWS call on_event and is_complete make during the test, attributed to the one that made it."""
    with recording() as recorder:
        for name in ("on_event", "is_complete"):
            monkeypatch.setattr(handler, name, recorder.wrap(getattr(handler, name), name))
        yield recorder
