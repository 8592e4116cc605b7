"""The deploy workflow deploys the assembly that was reviewed, after CI, one at a time per environment,
with an AWS session that outlives the deploy."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

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
