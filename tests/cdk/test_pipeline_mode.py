"""Pipeline mode in the template: what the operator command reads from a change set, the runner's
permission to read the next asset, the configuration's bounds, and the deploy workflow's steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Template

from migrator.aws import pipeline
from migrator.aws.budget import MAX_BUILD_MINUTES, PIPELINE_TIMEOUT_MINUTES
from stacks.config import ConfigError, parse_app_config
from tests.cdk.synth import context, nag_findings, shared_assembly, templates_in, with_environment
from tests.support.iam import ACCOUNT, Decision, Request, Scope, decide, resolve
from tests.support.migrations import NEWEST
from tests.support.project import PROJECT

STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/AalapVma-staging/0f1e2d3c"
HOURS_10 = 600  # beyond GitHub-hosted runners' 6 hours: self-hosted


@pytest.fixture(scope="session")
def pipeline_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    overrides = with_environment("staging", runner="pipeline", pipelineTimeoutMinutes=HOURS_10, selfHostedRunner=True)
    return shared_assembly(tmp_path_factory, "pipeline", **overrides)


@pytest.fixture(scope="session")
def pipeline_template(pipeline_assembly: Path) -> Template:
    return templates_in(pipeline_assembly)["staging"]


def _asset_keys(assembly: Path) -> set[str]:
    manifest = json.loads((assembly / "AalapVma-staging.assets.json").read_text())
    return {d["objectKey"] for f in manifest["files"].values() for d in f["destinations"].values()}


def _runner_reads(template: Template) -> dict[str, Any]:
    """The runner role's one statement that reads the asset (s3:GetObject)."""
    policies = template.find_resources("AWS::IAM::Policy")
    (runner,) = [p for name, p in policies.items() if name.startswith("SchemaMigrationRunnerPolicy")]
    (reads,) = [s for s in runner["Properties"]["PolicyDocument"]["Statement"] if "s3:GetObject" in s["Action"]]
    return dict(reads)


def test_the_command_reads_the_next_asset_and_version_from_the_synthesized_template(
    pipeline_assembly: Path, pipeline_template: Template
) -> None:
    upcoming = pipeline.next_deploy(pipeline_template.to_json(), pipeline.pseudo_parameters(STACK_ID))
    bucket, key = upcoming.source.split("/", 1)
    assert bucket == "cdk-hnb659fds-assets-123456789012-eu-west-1"
    assert key in _asset_keys(pipeline_assembly), "the runner's source is the asset CDK publishes"
    assert (upcoming.newest_version, upcoming.runner, upcoming.timeout_minutes) == (NEWEST, "pipeline", HOURS_10)
    assert upcoming.take_snapshots and upcoming.snapshot_retention >= 1


def test_only_pipeline_mode_lets_the_runner_read_another_asset_than_its_own(
    pipeline_template: Template, templates: dict[str, Template]
) -> None:
    pipeline_reads = _runner_reads(pipeline_template)["Resource"]
    assert json.dumps(pipeline_reads).endswith('/*.zip"]]}'), pipeline_reads
    assert "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}" in json.dumps(pipeline_reads)
    for env, template in templates.items():
        reads = _runner_reads(template)["Resource"]
        assert "*" not in json.dumps(reads), f"{env}: the runner reads its own asset object only"


def _runner_may_read(template: Template, key: str, bucket: str = "") -> Decision:
    """IAM's verdict on the runner role's s3:GetObject of asset `key` (the bootstrap bucket unless given)."""
    scope = Scope(region="eu-west-1", refs={name: name for name in template.to_json()["Resources"]})
    statements = resolve([_runner_reads(template)], scope)  # the others name resources not stood in for here
    bucket = bucket or f"cdk-hnb659fds-assets-{ACCOUNT}-eu-west-1"
    return decide(statements, Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"))


def test_iam_lets_only_the_pipeline_runner_read_the_next_asset(
    pipeline_template: Template, templates: dict[str, Template]
) -> None:
    next_asset = "0" * 64 + ".zip"  # what the next synth publishes: not the object in this template
    assert _runner_may_read(pipeline_template, next_asset) is Decision.ALLOW
    assert _runner_may_read(pipeline_template, "secrets.json") is Decision.IMPLICIT_DENY, "zips only"
    assert _runner_may_read(pipeline_template, next_asset, bucket="someone-elses") is Decision.IMPLICIT_DENY
    assert _runner_may_read(templates["staging"], next_asset) is Decision.IMPLICIT_DENY, "lambda mode: its own only"


def test_pipeline_mode_is_nag_clean_with_reasons(pipeline_assembly: Path) -> None:
    assert nag_findings(pipeline_assembly)["staging"] == []


def test_the_custom_resource_carries_the_pipeline_timeout_only_in_pipeline_mode(
    pipeline_template: Template, templates: dict[str, Template]
) -> None:
    def step(template: Template) -> dict[str, Any]:
        (resource,) = template.find_resources("Custom::SchemaMigration").values()
        return dict(resource["Properties"])

    assert (step(pipeline_template)["Runner"], step(pipeline_template)["PipelineTimeoutMinutes"]) == (
        "pipeline",
        str(HOURS_10),
    )
    assert all("PipelineTimeoutMinutes" not in step(t) for t in templates.values())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"runner": "pipelines"}, "environments.staging.runner"),
        ({"runner": "pipeline", "pipelineTimeoutMinutes": 4}, "environments.staging.pipelineTimeoutMinutes"),
        (
            {"runner": "pipeline", "pipelineTimeoutMinutes": MAX_BUILD_MINUTES + 1},
            "environments.staging.pipelineTimeoutMinutes",
        ),
        (
            {"runner": "pipeline", "pipelineTimeoutMinutes": 301},
            "pipelineTimeoutMinutes is 301; at most 300 minutes on GitHub-hosted runners, which end every job",
        ),
        (
            {"runner": "pipeline", "pipelineTimeoutMinutes": 661, "selfHostedRunner": True},
            "pipelineTimeoutMinutes is 661; at most 660 minutes: the deploy job .* IAM role session",
        ),
    ],
)
def test_pipeline_settings_out_of_bounds_fail_synth_naming_the_key(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_app_config(context(**with_environment("staging", **settings)), "staging", None)


def test_the_default_pipeline_timeout_is_the_commands_default() -> None:
    config = parse_app_config(context(**with_environment("staging", runner="pipeline")), "staging", None)
    (staging,) = [e for e in config.environments if e.name == "staging"]
    assert staging.pipeline_timeout_minutes == PIPELINE_TIMEOUT_MINUTES


def test_the_deploy_workflow_applies_before_executing_the_change_set_in_pipeline_mode() -> None:
    workflow = yaml.safe_load((PROJECT / ".github" / "workflows" / "deploy.yml").read_text())
    for job in ("staging", "prod"):
        steps = workflow["jobs"][job]["steps"]
        script = "\n".join(str(s.get("run", "")) for s in steps)
        prepare = script.index("--method=prepare-change-set")
        command = script.index(f"python -m migrator --env {job} apply --change-set")
        execute = script.index("--method=execute-change-set")
        assert prepare < command < execute, f"{job}: prepare, apply, then execute"
        assert "runner" in script and "cdk.json" in script, f"{job}: the mode comes from cdk.json"
