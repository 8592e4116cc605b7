"""The rehearsal gate in the migration step (moto server, a real database): a migrating deploy of an environment that
requires a rehearsal is refused until a passing report of the same bundle is on record (decisions: tests/unit)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from migrator.aws.rehearsal import Reports
from migrator.errors import DeployFailed
from tests.aws import REGION, Environment, client
from tests.engine.helpers import history
from tests.handler.lifecycle import event, run
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import NEXT

ENV = "prod"
FINGERPRINT = "c0ffee" * 10


def test_a_migrating_deploy_waits_for_a_passing_rehearsal_of_its_bundle(
    aws: Environment, context: LambdaContext
) -> None:
    run(event("Create", aws.properties()), context)  # a first deploy is never held back
    bucket = f"reports-{aws.instance}"
    s3 = client(aws.endpoint, "s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.add_migration(f"{NEXT}_gated.sql", "CREATE TABLE gated (id integer);\n")
    props = aws.properties(RehearsalRequired="true", RehearsalBucket=bucket, Fingerprint=FINGERPRINT)
    update = event("Update", props) | {
        "StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/AalapVma-{ENV}/1"
    }
    with pytest.raises(DeployFailed) as refused:
        run(update, context)
    assert "rehearsal gate" in str(refused.value) and f"python -m migrator --env {ENV} rehearse" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert NEXT not in [v for v, *_ in history(aws.conninfo)]
    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    Reports(s3, bucket).put({"environment": ENV, "fingerprint": FINGERPRINT, "passed": True, "finished_at": finished})
    data, _ = run(update, context)
    assert data["SchemaVersion"] == NEXT
