"""A network that stops answering: every AWS endpoint accepts connections and never replies (what a stack
delete meets once CloudFormation has removed the VPC endpoints beside the custom resource). A Delete, and a
backward Update that cannot look, still answer within the invocation's time (a short one is injected
instead of waiting out on_event's three minutes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.aws import handler
from migrator.aws.contract import ENV_BUNDLE_ROOT, ENV_SSLROOTCERT
from tests.support.lambda_context import LambdaContext
from tests.support.project import PROJECT
from tests.support.silent_network import silent_endpoint

REMAINING_MS = 20_000
PROPS = {
    "SecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf",
    "InstanceIdentifier": "aalap-dev-db",
    "RunnerProject": "aalap-dev-runner",
}


@pytest.fixture
def silent_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    with silent_endpoint() as url:
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            ENV_BUNDLE_ROOT: str(PROJECT),
            ENV_SSLROOTCERT: str(tmp_path / "ca.pem"),
        }.items():
            monkeypatch.setenv(name, value)
        (tmp_path / "ca.pem").write_text("never read: the secret never arrives\n")
        yield


def _timed(event: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    answer = handler.on_event(event, LambdaContext(remaining_ms=REMAINING_MS))
    return answer, time.monotonic() - started


def test_a_delete_answers_in_time_when_codebuild_never_answers(
    silent_aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    event = {"RequestType": "Delete", "PhysicalResourceId": "schema-migrations-db", "ResourceProperties": PROPS}
    answer, seconds = _timed(event)
    assert seconds < REMAINING_MS / 1000, f"{seconds:.1f} s: past the invocation's time"
    assert answer["Data"]["Note"] == "delete keeps the database"
    assert "could not stop earlier runner builds of aalap-dev-runner: ReadTimeoutError" in caplog.text


def test_a_backward_update_that_cannot_look_answers_success_in_time(silent_aws: None) -> None:
    event = {
        "RequestType": "Update",
        "PhysicalResourceId": "schema-migrations-db",
        "ResourceProperties": PROPS | {"DeployToken": "20261201T000000Z"},
        "OldResourceProperties": PROPS | {"DeployToken": "20261205T000000Z"},
    }
    answer, seconds = _timed(event)
    assert seconds < REMAINING_MS / 1000, f"{seconds:.1f} s: past the invocation's time"
    assert answer["Data"]["Note"].startswith("older template (rollback?): the database was not checked")
