"""The operator side of the environment rehearsal (migrator.aws.rehearsal_command): which build it starts, on which
asset and fingerprint, and what it reports (AWS faked here; the runner's calls: tests/iam/test_rehearsal_calls.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from migrator.aws.contract import (
    ENV_FINGERPRINT,
    ENV_REHEARSAL_CLASS,
    ENV_REHEARSAL_ENV,
    ENV_REPORT_BUCKET,
    ENV_RUNNER_MODE,
    MODE_REHEARSE,
)
from migrator.aws.rehearsal import report_key
from migrator.aws.rehearsal_command import Rehearse, report_lines
from migrator.errors import RunnerFailed

FINGERPRINT = "ab12" * 16
SOURCE_KEY = "f00d.zip"
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/AalapVma-prod/1"
TEMPLATE = {
    "Resources": {
        "RunnerProject1": {
            "Type": "AWS::CodeBuild::Project",
            "Properties": {"Source": {"Location": {"Fn::Sub": "cdk-assets-${AWS::AccountId}/" + SOURCE_KEY}}},
        },
        "RehearsalReports1": {"Type": "AWS::S3::Bucket"},
        "Step": {
            "Type": "Custom::SchemaMigration",
            "Properties": {
                "RunnerProject": {"Ref": "RunnerProject1"},
                "RehearsalBucket": {"Ref": "RehearsalReports1"},
                "Fingerprint": FINGERPRINT,
            },
        },
    }
}


class FakeAws:
    def __init__(self, report: dict[str, Any] | None) -> None:
        self.started: list[dict[str, Any]] = []
        self.objects = {} if report is None else {report_key("prod", FINGERPRINT): json.dumps(report).encode()}
        outer = self

        class Missing(Exception):
            pass

        class Client:
            exceptions = type("Exceptions", (), {"NoSuchKey": Missing})

            def describe_change_set(self, **_: Any) -> dict[str, Any]:
                return {"StackId": STACK_ID, "Status": "CREATE_COMPLETE"}

            def get_template(self, **_: Any) -> dict[str, Any]:
                return {"TemplateBody": json.dumps(TEMPLATE)}

            def describe_stack_resource(self, StackName: str, LogicalResourceId: str) -> dict[str, Any]:
                names = {"RunnerProject1": "aalap-runner", "RehearsalReports1": "aalap-reports"}
                return {"StackResourceDetail": {"PhysicalResourceId": names[LogicalResourceId]}}

            def start_build(self, **params: Any) -> dict[str, Any]:
                outer.started.append(params)
                variables = params["environmentVariablesOverride"]
                return {
                    "build": {
                        "id": "aalap-runner:1",
                        "buildStatus": "SUCCEEDED",
                        "environment": {"environmentVariables": variables},
                    }
                }

            def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
                if Key not in outer.objects:
                    raise Missing(Key)
                return {"Body": io.BytesIO(outer.objects[Key])}

            def get_log_events(self, **_: Any) -> dict[str, Any]:
                return {"events": []}

        self.one = Client()

    def client(self, service: str) -> Any:
        return self.one


def test_the_runner_rehearses_the_change_sets_asset_and_fingerprint_and_the_report_is_printed() -> None:
    report = {"environment": "prod", "fingerprint": FINGERPRINT, "passed": True, "restore": {"deleted": True}}
    aws = FakeAws(report)
    status, found = Rehearse(aws, lambda line: None, poll_seconds=0).run("prod", "cs-1", "db.t4g.medium")  # type: ignore[arg-type]
    assert (status, found) == (0, report)
    (started,) = aws.started
    variables = {v["name"]: v["value"] for v in started["environmentVariablesOverride"]}
    assert variables[ENV_RUNNER_MODE] == MODE_REHEARSE and variables[ENV_REHEARSAL_ENV] == "prod"
    assert (variables[ENV_FINGERPRINT], variables[ENV_REPORT_BUCKET]) == (FINGERPRINT, "aalap-reports")
    assert variables[ENV_REHEARSAL_CLASS] == "db.t4g.medium"
    assert (started["projectName"], started["sourceLocationOverride"]) == (
        "aalap-runner",
        f"cdk-assets-123456789012/{SOURCE_KEY}",
    )
    assert "passed" in report_lines(found)[0]


def test_a_failed_rehearsal_exits_1_and_a_build_that_left_no_report_is_a_runner_failure() -> None:
    failed = {"environment": "prod", "fingerprint": FINGERPRINT, "passed": False, "error": "003_x.sql:1: 42P07"}
    status, found = Rehearse(FakeAws(failed), lambda line: None, poll_seconds=0).run("prod", "cs-1")  # type: ignore[arg-type]
    assert status == 1 and "FAILED: 003_x.sql:1: 42P07" in report_lines(found)[0]
    with pytest.raises(RunnerFailed, match="aalap-runner:1 ended SUCCEEDED"):
        Rehearse(FakeAws(None), lambda line: None, poll_seconds=0).run("prod", "cs-1")  # type: ignore[arg-type]
