"""Stack names (migrator.aws.contract): the environment a stack name or ARN belongs to."""

from __future__ import annotations

import pytest

from migrator.aws.contract import env_of, stack_name


@pytest.mark.parametrize("env", ["dev", "staging", "prod", "pr-42"])
def test_the_environment_comes_back_from_its_stack_name(env: str) -> None:
    assert env_of(stack_name(env)) == env


@pytest.mark.parametrize(
    ("stack", "env"),
    [
        ("arn:aws:cloudformation:eu-west-1:123456789012:stack/AalapVma-prod/0a1b2c3d-4e5f-6789", "prod"),
        ("arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/AalapVma-dev/guid", "dev"),
        ("arn:aws:cloudformation:eu-west-1:123456789012:stack/OtherApp-prod/guid", None),
        ("arn:aws:cloudformation:eu-west-1:123456789012:stack/AalapVma-staging", "staging"),
        ("OtherApp-prod", None),
        ("aalapvma-prod", None),
        ("", None),
    ],
)
def test_the_environment_of_a_stack_arn_or_name(stack: str, env: str | None) -> None:
    assert env_of(stack) == env
