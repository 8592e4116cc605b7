"""The CI and deploy workflows: valid against GitHub's schema, and shaped as the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.project import PROJECT

WORKFLOWS = PROJECT / ".github" / "workflows"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_workflows_match_githubs_schema_and_a_broken_one_does_not(tmp_path: Path) -> None:
    assert _validate(*WORKFLOWS.glob("*.yml")).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: not-a-list\n")
    assert _validate(broken).returncode == 1


def test_ci_runs_the_readme_test_command_synth_and_localstack() -> None:
    ci = _load("ci.yml")
    runs = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    assert "make test" in runs and "make synth" in runs
    localstack = ci["jobs"]["localstack"]
    assert (
        localstack["services"]["localstack"]["env"]["LOCALSTACK_AUTH_TOKEN"] == "${{ secrets.LOCALSTACK_AUTH_TOKEN }}"
    )
    assert any(step.get("env", {}).get("LOCALSTACK_ENDPOINT") for step in localstack["steps"])
    assert "make test" in (PROJECT / ".ci" / "run").read_text()


def test_deploy_uses_oidc_diffs_first_and_gates_prod() -> None:
    deploy = _load("deploy.yml")
    assert deploy["permissions"]["id-token"] == "write"
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for job, env in (("staging", "staging"), ("prod", "prod")):
        steps = [step.get("run", "") for step in deploy["jobs"][job]["steps"]]
        diff = next(i for i, run in enumerate(steps) if "cdk diff" in run)
        apply = next(i for i, run in enumerate(steps) if "cdk deploy" in run)
        assert diff < apply and f"-c env={env}" in steps[apply]
        assert deploy["jobs"][job]["environment"] == env
    assert deploy["jobs"]["prod"]["if"].startswith("startsWith(github.ref, 'refs/tags/v')")
    assert deploy["jobs"]["staging"]["if"] == "github.ref == 'refs/heads/main'"


def test_prod_is_rehearsed_on_a_restored_copy_before_its_approval_with_the_report_in_the_summary() -> None:
    deploy = _load("deploy.yml")
    rehearse = deploy["jobs"]["rehearse-prod"]
    assert "rehearse-prod" in deploy["jobs"]["prod"]["needs"], "the prod approval waits for the rehearsal"
    assert "environment" not in rehearse, "it runs before the prod environment's reviewers approve"
    (run,) = [step["run"] for step in rehearse["steps"] if "migrator --env prod rehearse" in step.get("run", "")]
    assert "--method=prepare-change-set" in run and "--app cdk.out" in run, "the reviewed assembly's asset"
    assert "GITHUB_STEP_SUMMARY" in run and "delete-change-set" in run
    assert run.index("tee rehearsal.txt") < run.rindex("GITHUB_STEP_SUMMARY") < run.rindex('exit "$status"')
