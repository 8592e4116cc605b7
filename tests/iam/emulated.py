"""The synthesized stack's migration functions, bound to one emulated deploy target.

The template's tokens are resolved to what moto holds for the test: the instance id, the two
secrets' ARNs (moto's account and the test region), so that the functions' policies can be
evaluated against the exact ARNs the handler's calls carry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from aws_cdk.assertions import Template

from tests.aws import REGION, Environment
from tests.cdk.synth import only
from tests.support.aws_calls import CallRecorder
from tests.support.iam import Decision, Scope, function_id, resolve, role_statements, verdicts

HANDLERS = ("on_event", "is_complete")  # the handler entry points, as the recorder names them
RUNNER_PROJECT = "aalap-migration-runner"
FUNCTION_ENVIRONMENT = (
    "MIGRATOR_SECRET_ARN",
    "MIGRATOR_INSTANCE",
    "MIGRATOR_ROLE_SECRET_ARN",
    "MIGRATOR_APP_SECRET_ARN",
)


def handler_function(template: Template, handler: str) -> str:
    """The logical id of the function running `handler` (OnEvent / IsComplete of SchemaMigration)."""
    return function_id(template, f"migrator.aws.handler.{handler}")


def scope_for(
    template: Template, instance: str, secret_arn: str, role_secret_arn: str, app_secret_arn: str = ""
) -> Scope:
    """Bind the custom resource's Refs (instance, master secret, role secret, app secret) to the emulated ones."""
    _, resource = only(template, "Custom::SchemaMigration")
    props = resource["Properties"]
    refs = {
        props["InstanceIdentifier"]["Ref"]: instance,
        props["SecretArn"]["Ref"]: secret_arn,
        props["MigratorSecretArn"]["Ref"]: role_secret_arn,
        props["AppSecretArn"]["Ref"]: app_secret_arn or f"{role_secret_arn}-app-unbound",
    }
    refs[props["RunnerProject"]["Ref"]] = RUNNER_PROJECT  # the CodeBuild runner's project and its log group
    (logs,) = [n for n in template.find_resources("AWS::Logs::LogGroup") if n.startswith("SchemaMigrationRunnerLogs")]
    refs[logs] = f"/aws/codebuild/{RUNNER_PROJECT}"
    for name, attachment in template.find_resources("AWS::SecretsManager::SecretTargetAttachment").items():
        if name in refs:  # the attachment's Ref is its secret's ARN: the secret itself is the same one
            refs[attachment["Properties"]["SecretId"]["Ref"]] = refs[name]
    return Scope(region=REGION, refs=refs, stack_name="AalapVma-staging")


@dataclass(frozen=True)
class Target:
    """One deploy target: the policies of each function and the environment Lambda would give it."""

    scope: Scope
    statements: dict[str, list[dict[str, Any]]]  # handler -> its role's statements
    environment: dict[str, str]

    def denials(self, recorder: CallRecorder) -> list[str]:
        """Every recorded call's requests that the policy of the function which made it does not allow."""
        found = []
        for call in recorder.calls:
            statements = self.statements[call.function]
            for verdict in verdicts(statements, call.service, call.operation, call.params, self.scope):
                if verdict.decision is not Decision.ALLOW:
                    found.append(f"{call.function}: {verdict}")
        return found


def target(template: Template, aws: Environment, reports_bucket: str | None = None, stack: str | None = None) -> Target:
    """`reports_bucket`: the stack's rehearsal report bucket bound to this one (an environment with the gate)."""
    scope = scope_for(template, aws.instance, aws.secret_arn, aws.role_secret_arn, app_secret_for(aws))
    if reports_bucket is not None:
        resources = template.to_json()["Resources"]
        (bucket,) = [n for n, r in resources.items() if r["Type"] == "AWS::S3::Bucket" and n.startswith("Rehearsal")]
        arn = f"arn:aws:s3:::{reports_bucket}"
        scope = replace(
            scope, refs={**scope.refs, bucket: reports_bucket}, attributes={**scope.attributes, (bucket, "Arn"): arn}
        )
    if stack is not None:
        scope = replace(scope, stack_name=stack)
    functions = {h: handler_function(template, h) for h in HANDLERS}
    variables = template.to_json()["Resources"][functions["on_event"]]["Properties"]["Environment"]["Variables"]
    return Target(
        scope,
        {h: role_statements(template, f, scope) for h, f in functions.items()},
        {k: str(resolve(variables[k], scope)) for k in FUNCTION_ENVIRONMENT},
    )


APP_SECRETS: dict[str, str] = {}  # instance -> the application role's secret ARN (Environment has no field for it)


def app_secret_for(aws: Environment) -> str:
    return APP_SECRETS.get(aws.instance, "")


def add_app_secret(aws: Environment, role: str) -> None:
    """The application role's secret, as the stack creates it (the hand-over creates the role from it)."""
    secret = aws.secrets().create_secret(
        Name=f"{aws.instance}-app", SecretString=json.dumps({"username": role, "password": "App-Pass-31"})
    )
    APP_SECRETS[aws.instance] = secret["ARN"]


def add_role_secret(aws: Environment, role: str) -> None:
    """The migration role's secret, as the stack creates it (the deploy hands the database over to it)."""
    secret = aws.secrets().create_secret(
        Name=f"{aws.instance}-migrator", SecretString=json.dumps({"username": role, "password": "Mig-Pass-88"})
    )
    aws.role_secret_arn = secret["ARN"]
