"""The migration functions' own grants (beside the AWS managed Lambda execution policies): exactly
the actions their recorded calls need (test_handler_calls.py shows each one used), and `*` only
for the one call that names no resource."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.aws import REGION
from tests.iam.emulated import HANDLERS, RUNNER_PROJECT, handler_function, scope_for
from tests.support.granted import GRANTED
from tests.support.iam import ACCOUNT, role_statements

INSTANCE, SECRET_ARN, ROLE_SECRET_ARN, APP_SECRET_ARN = (
    "db-1",
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:master-AbCdEf",
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:role-GhIjKl",
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app-MnOpQr",
)
SNAPSHOTS = f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:premigrate-{INSTANCE}-*"
INSTANCE_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{INSTANCE}"


def _own(template: Template, handler: str) -> list[dict[str, Any]]:
    scope = scope_for(template, INSTANCE, SECRET_ARN, ROLE_SECRET_ARN, APP_SECRET_ARN)
    return role_statements(template, handler_function(template, handler), scope, aws_managed=False)


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@pytest.mark.parametrize("handler", HANDLERS)
def test_each_function_is_granted_exactly_the_actions_its_calls_need(template: Template, handler: str) -> None:
    statements = _own(template, handler)
    assert all(s["Effect"] == "Allow" and "Action" in s and "Resource" in s for s in statements)
    assert {a for s in statements for a in _listed(s["Action"])} == GRANTED[handler]


BUILD_ACTIONS = tuple(f"codebuild:{a}" for a in ("StartBuild", "BatchGetBuilds", "ListBuildsForProject", "StopBuild"))
PROJECT_ARN = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{RUNNER_PROJECT}"
RESOURCES = {  # each action's resources: this instance, our snapshots, the three secrets; `*` for the listing only
    "secretsmanager:GetSecretValue": {SECRET_ARN, ROLE_SECRET_ARN, APP_SECRET_ARN},
    "rds:DescribeDBInstances": {INSTANCE_ARN},
    "rds:DescribeDBSnapshots": {"*"},  # the list call names no snapshot (a status check names ours: also covered)
    "rds:CreateDBSnapshot": {INSTANCE_ARN, SNAPSHOTS},
    "rds:AddTagsToResource": {SNAPSHOTS},
    "rds:ListTagsForResource": {SNAPSHOTS},
    "rds:DeleteDBSnapshot": {SNAPSHOTS},
    **{action: {PROJECT_ARN} for action in BUILD_ACTIONS},  # this project only
    "logs:GetLogEvents": {f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/{RUNNER_PROJECT}:log-stream:*"},
}


@pytest.mark.parametrize("handler", HANDLERS)
def test_each_action_is_granted_on_this_instance_its_snapshots_or_secrets_only(
    template: Template, handler: str
) -> None:
    granted: dict[str, set[str]] = {}
    for statement in _own(template, handler):
        for action in _listed(statement["Action"]):
            granted.setdefault(action, set()).update(_listed(statement["Resource"]))
    assert granted == {action: RESOURCES[action] for action in GRANTED[handler]}
