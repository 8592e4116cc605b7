"""A prepared change set as CloudFormation describes it, for pipeline mode's operator command.

moto's GetTemplate ignores ChangeSetName (it returns the stack's current template), so the change set
is served here; its template has the shape CDK synthesizes (tests/cdk/test_pipeline_mode.py checks
the command reads the real synthesized template the same way).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from migrator.aws.contract import OUTPUT_FUNCTION, OUTPUT_INSTANCE, stack_name

ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET_SUB = "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


def change_set_template(
    project_name: str, asset_key: str, newest: str, token: str, **properties: str
) -> dict[str, Any]:
    """The parts of a synthesized template the command reads: the migration step and its runner project."""
    return {
        "Resources": {
            "SchemaMigrationRunnerProject706FFA1E": {
                "Type": "AWS::CodeBuild::Project",
                "Properties": {
                    "Name": project_name,
                    "Source": {
                        "Type": "S3",
                        "Location": {"Fn::Join": ["", [{"Fn::Sub": BUCKET_SUB}, f"/{asset_key}"]]},
                    },
                },
            },
            "SchemaMigration2FEF9A12": {
                "Type": "Custom::SchemaMigration",
                "Properties": {
                    "RunnerProject": {"Ref": "SchemaMigrationRunnerProject706FFA1E"},
                    "Runner": "pipeline",
                    "NewestVersion": newest,
                    "DeployToken": token,
                    "SnapshotRetention": "3",
                    "TakeSnapshots": "true",
                }
                | properties,
            },
        }
    }


@dataclass
class FakeCloudFormation:
    """One deployed stack (outputs, the runner project) and its prepared change sets."""

    env: str
    instance: str
    project_name: str
    function_name: str = "AalapVma-staging-MigrationOnEvent"
    status: str = "UPDATE_COMPLETE"
    change_sets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def stack_id(self) -> str:
        return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name(self.env)}/0f1e2d3c"

    def prepare(self, name: str, template: dict[str, Any], status: str = "CREATE_COMPLETE", reason: str = "") -> str:
        ident = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{name}/{uuid.uuid4()}"
        self.change_sets[name] = {"id": ident, "template": template, "status": status, "reason": reason}
        return ident

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName != stack_name(self.env) or self.status == "NONE":
            raise RuntimeError(f"An error occurred (ValidationError): Stack with id {StackName} does not exist")
        outputs = {OUTPUT_INSTANCE: self.instance, OUTPUT_FUNCTION: self.function_name}
        return {
            "Stacks": [
                {
                    "StackName": StackName,
                    "StackId": self.stack_id,
                    "StackStatus": self.status,
                    "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                }
            ]
        }

    def describe_change_set(self, StackName: str, ChangeSetName: str) -> dict[str, Any]:
        found = self.change_sets[ChangeSetName]
        return {
            "ChangeSetId": found["id"],
            "StackId": self.stack_id,
            "Status": found["status"],
            "StatusReason": found["reason"],
        }

    def get_template(self, StackName: str, ChangeSetName: str, TemplateStage: str) -> dict[str, Any]:
        assert TemplateStage == "Original"
        return {"TemplateBody": json.dumps(self.change_sets[ChangeSetName]["template"])}

    def describe_stack_resource(self, StackName: str, LogicalResourceId: str) -> dict[str, Any]:
        assert LogicalResourceId == "SchemaMigrationRunnerProject706FFA1E"
        return {"StackResourceDetail": {"PhysicalResourceId": self.project_name}}
