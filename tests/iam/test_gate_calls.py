"""The prod template's migration functions read the rehearsal gate's report and, after the apply, the same report
for the predictions' metrics, as their policies allow: judged by the IAM evaluator on prod's own statements (the
other scenarios judge staging's, where the gate is off and no report is read)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aws_cdk.assertions import Template

from migrator.aws.rehearsal import Reports
from tests.aws import REGION, Environment, client
from tests.handler.lifecycle import event, run
from tests.iam.emulated import HANDLERS, Target, add_app_secret, add_role_secret, app_secret_for, target
from tests.support.aws_calls import CallRecorder
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import later

ENV = "prod"
FINGERPRINT = "feed" * 16
GET_OBJECT = "s3:GetObject"


@pytest.fixture
def prod(
    role_name: str, app_role: str, aws: Environment, templates: dict[str, Template], monkeypatch: pytest.MonkeyPatch
) -> tuple[Target, str]:
    """Prod's functions bound to the emulated target, with the stack's report bucket bound to one in moto."""
    add_role_secret(aws, role_name)
    add_app_secret(aws, app_role)
    template, bucket = templates[ENV], f"reports-{aws.instance}"
    client(aws.endpoint, "s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    bound = target(template, aws, reports_bucket=bucket, stack=f"AalapVma-{ENV}")
    for key, value in bound.environment.items():  # as Lambda gives them to prod's functions
        monkeypatch.setenv(key, value)
    return bound, bucket


def test_a_gated_deploy_reads_its_rehearsal_as_prods_policy_allows(
    prod: tuple[Target, str], aws: Environment, calls: CallRecorder, context: LambdaContext
) -> None:
    bound, bucket = prod
    props = aws.properties(
        MigratorSecretArn=aws.role_secret_arn,
        AppSecretArn=app_secret_for(aws),
        RehearsalRequired="true",
        RehearsalBucket=bucket,
        Fingerprint=FINGERPRINT,
    )
    stack = {"StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/AalapVma-{ENV}/1"}
    run(event("Create", props) | stack, context)  # a first deploy is never held back
    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = {"environment": ENV, "fingerprint": FINGERPRINT, "passed": True, "finished_at": finished}
    Reports(client(aws.endpoint, "s3"), bucket).put(report)
    aws.add_migration(f"{later(1)}_gated.sql", "CREATE TABLE gated (id integer);\n")
    data, _ = run(event("Update", props) | stack, context)
    assert data["SchemaVersion"] == later(1)
    read_by = {function for function in HANDLERS if GET_OBJECT in calls.actions(function)}
    assert read_by == set(HANDLERS), "the gate's read (on_event) and the predictions' (after the apply)"
    denied = bound.denials(calls)
    assert denied == [], "calls prod's IAM policies do not allow:\n" + "\n".join(denied)
