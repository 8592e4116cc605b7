"""The deploy workflow deploys the assembly that was reviewed, after CI, one at a time per environment,
with an AWS session that outlives the deploy."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.config import parse_app_config
from stacks.config.jobs import GITHUB_HOSTED_JOB_MINUTES, ROLE_SESSION_MAX_MINUTES, pipeline_job_minutes
from tests.cdk.synth import context
from tests.support.project import PROJECT

DEPLOY = PROJECT / ".github" / "workflows" / "deploy.yml"


def _workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(DEPLOY.read_text())
    return loaded


def _step(job: dict[str, Any], uses: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [step for step in job["steps"] if str(step.get("uses", "")).startswith(uses)]
    assert len(found) == 1, f"expected one {uses} step"
    return found[0]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_deployed_assembly_is_the_one_the_plan_job_synthesized_and_diffed(env: str) -> None:
    jobs = _workflow()["jobs"]
    deploy = jobs[env]
    needs = [deploy["needs"]] if isinstance(deploy["needs"], str) else deploy["needs"]
    (plan_name,) = [need for need in needs if need.startswith("plan-")]  # prod also needs its rehearsal
    plan = jobs[plan_name]
    plan_runs = [step.get("run", "") for step in plan["steps"]]
    assert any(f"cdk synth -c env={env}" in run and "-o cdk.out" in run for run in plan_runs)
    assert any("cdk diff --app cdk.out" in run for run in plan_runs)
    uploaded = _step(plan, "actions/upload-artifact@")["with"]
    downloaded = _step(deploy, "actions/download-artifact@")["with"]
    assert uploaded["path"] == downloaded["path"] == "cdk.out" and uploaded["name"] == downloaded["name"]
    runs = [step.get("run", "") for step in deploy["steps"]]
    deploys = [run for run in runs if "cdk deploy" in run]  # direct, or pipeline mode's prepare and execute
    assert deploys and all(f"cdk deploy --app cdk.out AalapVma-{env}" in run for run in deploys)
    assert not any("cdk synth" in run or "make setup" in run for run in runs), "nothing is synthesized again"


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_one_deploy_per_environment_and_a_session_outliving_it(env: str) -> None:
    workflow = _workflow()
    deploy = workflow["jobs"][env]
    assert deploy["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
    assert "concurrency" not in workflow or "github.ref" not in str(workflow["concurrency"])
    credentials = _step(deploy, "aws-actions/configure-aws-credentials@")["with"]
    assert credentials["role-duration-seconds"] >= deploy["timeout-minutes"] * 60


def test_staging_deploys_only_the_commit_ci_passed() -> None:
    workflow = _workflow()
    trigger = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert trigger["workflow_run"] == {"workflows": ["ci"], "types": ["completed"], "branches": ["main"]}
    assert "branches" not in trigger.get("push", {}), "a push to main alone deploys nothing"
    plan = workflow["jobs"][workflow["jobs"]["staging"]["needs"]]
    assert "github.event.workflow_run.conclusion == 'success'" in plan["if"]
    assert "github.event.workflow_run.event == 'push'" in plan["if"]
    for job in (plan, workflow["jobs"]["staging"]):
        assert _step(job, "actions/checkout@")["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"


def test_deploy_workflow_applies_the_reviewed_stack_policy_before_deploying() -> None:
    workflow = _workflow()
    for job, env in (("staging", "staging"), ("prod", "prod")):
        runs = [step.get("run", "") for step in workflow["jobs"][job]["steps"]]
        policy = next(i for i, run in enumerate(runs) if "set-stack-policy" in run)
        deploy = next(i for i, run in enumerate(runs) if "cdk deploy" in run)
        assert policy < deploy
        assert f"file://cdk.out/AalapVma-{env}.stack-policy.json" in runs[policy]


def test_every_job_running_pipeline_mode_outlasts_its_build_with_a_session_as_long() -> None:
    """Against cdk.json: the job's timeout and its AWS session cover pipelineTimeoutMinutes and the rest of the
    job, within GitHub-hosted runners' 360 minutes (unless selfHostedRunner) and IAM's 12-hour session."""
    pipeline_jobs = {}
    for name, job in _workflow()["jobs"].items():
        runs = "\n".join(str(step.get("run", "")) for step in job["steps"])
        for env in re.findall(r"python -m migrator --env (\w+) apply --change-set", runs):
            pipeline_jobs[name] = (job, env)
    assert {env for _, env in pipeline_jobs.values()} == {"staging", "prod"}
    for name, (job, env) in pipeline_jobs.items():
        (config,) = parse_app_config(context(), env, None).environments
        needed = pipeline_job_minutes(config.pipeline_timeout_minutes)
        assert job["timeout-minutes"] >= needed, f"{name}: pipelineTimeoutMinutes {config.pipeline_timeout_minutes}"
        session = _step(job, "aws-actions/configure-aws-credentials@")["with"]["role-duration-seconds"]
        assert needed * 60 <= session <= ROLE_SESSION_MAX_MINUTES * 60, f"{name}: the session ends before the job"
        if not config.self_hosted_runner:
            assert job["runs-on"] == "ubuntu-latest" and job["timeout-minutes"] <= GITHUB_HOSTED_JOB_MINUTES


def _run_step(script: str, tmp_path: Path, tool: str, behaviour: str) -> tuple[int, str]:
    """The step's script under GitHub's bash options, with `tool` a stand-in that logs its calls and acts as told."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / tool
    fake.write_text(f'#!/bin/bash\necho "$*" >> "{tmp_path}/calls"\n{behaviour}\n')
    fake.chmod(0o755)
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GITHUB_SHA": "abc123", "GITHUB_REPOSITORY": "aalap/vma-db"}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    calls = tmp_path / "calls"
    return done.returncode, calls.read_text() if calls.exists() else ""


DENIED = 'if [ "$2" = describe-stacks ]; then echo "An error occurred (AccessDenied) when calling the DescribeStacks'
DENIED += ' operation: User is not authorized to perform: cloudformation:DescribeStacks" >&2; exit 254; fi'
ABSENT = 'if [ "$2" = describe-stacks ]; then echo "An error occurred (ValidationError) when calling the DescribeStacks'
ABSENT += ' operation: Stack with id AalapVma-prod does not exist" >&2; exit 254; fi'


@pytest.mark.parametrize(
    ("behaviour", "status", "sets_policy"),
    [(DENIED, 1, False), (ABSENT, 0, False), ("exit 0", 0, True)],
    ids=["access denied fails", "no stack yet skips", "a stack gets its policy"],
)
def test_the_stack_policy_step_fails_unless_the_stack_is_really_absent(
    tmp_path: Path, behaviour: str, status: int, sets_policy: bool
) -> None:
    (step,) = [s for s in _workflow()["jobs"]["prod"]["steps"] if str(s.get("name", "")).startswith("stack policy (")]
    code, calls = _run_step(step["run"], tmp_path, "aws", behaviour)
    assert (code, "set-stack-policy" in calls) == (status, sets_policy), calls


@pytest.mark.parametrize(
    ("runs", "status"),
    [("completed:success", 0), ("completed:failure", 1), ("", 1), ("completed:failure\ncompleted:success", 0)],
)
def test_prod_plans_only_a_tagged_commit_ci_passed_on(tmp_path: Path, runs: str, status: int) -> None:
    plan = next(need for need in _workflow()["jobs"]["prod"]["needs"] if need.startswith("plan-"))
    job = _workflow()["jobs"][plan]
    gate = next(i for i, s in enumerate(job["steps"]) if "gh run list" in str(s.get("run", "")))
    synth = next(i for i, s in enumerate(job["steps"]) if "cdk synth" in str(s.get("run", "")))
    assert gate < synth and job["permissions"]["actions"] == "read"
    code, calls = _run_step(job["steps"][gate]["run"], tmp_path, "gh", f"printf '{runs}'")
    assert code == status and "--commit abc123" in calls and "--workflow ci.yml" in calls


def test_the_documented_deployer_permissions_cover_the_workflows_own_aws_calls() -> None:
    """Every `aws <service> <command>` the deploy jobs run is in the deployer's permissions (docs/operations.md)."""
    called = set(re.findall(r"\baws ([a-z0-9]+) ([a-z-]+)", DEPLOY.read_text()))
    actions = {f"{service}:{''.join(part.title() for part in command.split('-'))}" for service, command in called}
    operations = (PROJECT / "docs" / "operations.md").read_text()
    documented = operations[operations.index("**The deployer's permissions**") : operations.index("4. `npx cdk deploy")]
    assert actions >= {"cloudformation:DescribeStacks", "cloudformation:SetStackPolicy"}
    assert [a for a in sorted(actions) if f"`{a}`" not in documented] == []
