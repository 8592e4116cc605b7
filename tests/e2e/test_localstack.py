"""The LocalStack tier's wiring, and what LocalStack community does differently from AWS (see the README).

The lifecycle scenarios themselves run on both tiers from test_lifecycle.py; these tests check that
"LocalStack community + moto RDS" means what it says, and pin the differences that made the tier
the shape it is: if LocalStack changes, these fail and the README's list needs another look.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from migrator.aws import handler
from tests.aws import CREDENTIALS, Aws, aws_environment, client
from tests.e2e.template_model import CUSTOM_RESOURCE_TYPE, stack_model
from tests.e2e.templates import Assembly
from tests.support.localstack import REQUIREMENTS as LOCK
from tests.support.localstack import TIER as LOCALSTACK
from tests.support.localstack import LocalStack
from tools.locks import dist_info_pin, read_lock


def test_each_service_reaches_botocore_through_its_own_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    aws = Aws(
        label="split",
        default="http://127.0.0.1:1",
        services={"rds": "http://127.0.0.1:2", "secretsmanager": "http://127.0.0.1:3"},
    )
    assert aws.environment() == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_RDS": "http://127.0.0.1:2",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:3",
    }
    for key, value in (CREDENTIALS | aws.environment()).items():
        monkeypatch.setenv(key, value)
    built = {service: boto3.client(service).meta.endpoint_url for service in ("rds", "secretsmanager", "sts")}
    assert built == {"rds": "http://127.0.0.1:2", "secretsmanager": "http://127.0.0.1:3", "sts": "http://127.0.0.1:1"}


def test_the_handlers_clients_use_localstack_for_secrets_and_moto_for_rds(
    localstack: LocalStack, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = Aws(label=LOCALSTACK, default=localstack.endpoint, services={"rds": moto_server})
    for key, value in aws_environment(aws).items():
        monkeypatch.setenv(key, value)
    rds, secrets = handler._clients()  # built as in Lambda: from the environment alone
    assert (rds.meta.endpoint_url, secrets.meta.endpoint_url) == (moto_server, localstack.endpoint)
    arn = secrets.create_secret(Name=f"routing-{time.time_ns()}", SecretString="{}")["ARN"]
    assert client(localstack.endpoint, "secretsmanager").describe_secret(SecretId=arn)["ARN"] == arn
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client(moto_server, "secretsmanager").describe_secret(SecretId=arn)


def test_localstack_community_answers_every_rds_call_501(localstack: LocalStack) -> None:
    """Why RDS is moto's in this tier: RDS is a paid LocalStack feature."""
    with pytest.raises(ClientError) as refused:
        client(localstack.endpoint, "rds").describe_db_instances()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "not included in your current license plan" in str(refused.value)


def _stack_finished(cloudformation: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        stack: dict[str, Any] = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.2)


def test_localstack_community_cloudformation_completes_our_custom_resource_without_running_it(
    localstack: LocalStack, assembly: Assembly
) -> None:
    """Why the lifecycle drives the custom resource with its own CloudFormation stand-in on both tiers.

    The synthesized Custom::SchemaMigration, with a ServiceToken naming a function that does not
    exist: AWS fails the create (the token cannot be invoked). LocalStack community logs "not
    supported but was deployed as a fallback", reports CREATE_COMPLETE, and every output that reads
    the resource's attributes says "unknown": nothing ran, and nothing says so.
    """
    model = stack_model(
        assembly,
        {"SecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:s", "MigratorSecretArn": "m"}
        | {"InstanceIdentifier": "no-such-db", "AppSecretArn": "a", "RunnerProject": "r"},
    )
    template = {
        "Resources": {model.resource_id: {"Type": CUSTOM_RESOURCE_TYPE, "Properties": model.resolved_properties()}},
        "Outputs": {name: {"Value": {"Fn::GetAtt": [model.resource_id, attr]}} for name, attr in model.outputs.items()},
    }
    cloudformation = client(localstack.endpoint, "cloudformation")
    name = f"custom-resource-{time.time_ns()}"
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    stack = _stack_finished(cloudformation, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    assert set(outputs) == set(model.outputs) and set(outputs.values()) == {"unknown"}, outputs
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events if e["LogicalResourceId"] == model.resource_id]
    assert any("not supported but was deployed as a fallback" in r for r in reasons), reasons


def test_the_localstack_venv_holds_exactly_its_lock(localstack: LocalStack) -> None:
    """Every distribution pip installed there is pinned, with hashes, by locks/localstack.txt (pip itself, from
    the interpreter's own venv module, aside)."""
    site = localstack.venv.python.parent.parent / "lib"
    installed = {dist_info_pin(info) for info in site.glob("python3.*/site-packages/*.dist-info")}
    pinned = {(pin.name, str(pin.version)) for pin in read_lock(LOCK)}
    assert {name for name, _ in installed - pinned} <= {"pip"}
    assert pinned <= installed
