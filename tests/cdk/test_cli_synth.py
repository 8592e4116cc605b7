"""`cdk synth` through the pinned npm CLI on the project-local Node 22:
no AWS credentials, no Docker."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.cdk.synth import context
from tests.conftest import PROJECT

BIN = PROJECT / "node_modules" / ".bin"


def run_cdk(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    assert (BIN / "cdk").exists(), "node_modules is missing: `make setup` installs the pinned CDK CLI"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env |= {
        "PATH": f"{BIN}:{PROJECT / '.venv' / 'bin'}:{env.get('PATH', '')}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }
    return subprocess.run(
        [str(BIN / "cdk"), *args, "--no-notices"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def stacks_in(assembly: Path) -> set[str]:
    manifest = json.loads((assembly / "manifest.json").read_text())
    return {name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"}


def user_project(tmp_path: Path, environments: dict[str, Any]) -> Path:
    """A folder holding only a cdk.json as a user would edit it; the app and its code stay in the project."""
    project = tmp_path / "project"
    project.mkdir()
    cdk_json = json.loads((PROJECT / "cdk.json").read_text())
    cdk_json["app"] = f"{PROJECT / '.venv' / 'bin' / 'python'} {PROJECT / 'app.py'}"
    cdk_json["context"]["environments"] = environments
    (project / "cdk.json").write_text(json.dumps(cdk_json))
    return project


def test_cdk_cli_synthesizes_every_environment_without_credentials_or_docker(tmp_path: Path) -> None:
    done = run_cdk("synth", "--all", "--quiet", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert stacks_in(tmp_path) == {"AalapVma-dev", "AalapVma-staging", "AalapVma-prod"}
    assert "end-of-life" not in done.stderr, "jsii ran on the machine's Node 20, not the project's Node 22"


def test_cdk_cli_synthesizes_a_restore_from_snapshot(tmp_path: Path) -> None:
    environments = context()["environments"]
    environments["staging"] |= {"restoreSnapshotId": "premigrate-x-v007-to-v008-20261127t191500z"}
    out = tmp_path / "cdk.out"
    done = run_cdk("synth", "-c", "env=staging", "--quiet", "-o", str(out), cwd=user_project(tmp_path, environments))
    assert done.returncode == 0, done.stderr[-3000:]
    assert stacks_in(out) == {"AalapVma-staging"}
    template = json.loads((out / "AalapVma-staging.template.json").read_text())
    (instance,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::RDS::DBInstance"]
    assert instance["Properties"]["DBSnapshotIdentifier"] == "premigrate-x-v007-to-v008-20261127t191500z"
