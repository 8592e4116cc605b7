"""`cdk synth` of every environment through the pinned npm CLI on the project-local Node 22:
no AWS credentials, no Docker."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import PROJECT

BIN = PROJECT / "node_modules" / ".bin"


def test_cdk_cli_synthesizes_every_environment_without_credentials_or_docker(tmp_path: Path) -> None:
    assert (BIN / "cdk").exists(), "node_modules is missing: `make setup` installs the pinned CDK CLI"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env |= {
        "PATH": f"{BIN}:{PROJECT / '.venv' / 'bin'}:{env.get('PATH', '')}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }
    done = subprocess.run(
        [str(BIN / "cdk"), "synth", "--all", "--quiet", "--no-notices", "-o", str(tmp_path)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stacks = {
        name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"
    }
    assert stacks == {"AalapVma-dev", "AalapVma-staging", "AalapVma-prod"}
    assert "end-of-life" not in done.stderr, "jsii ran on the machine's Node 20, not the project's Node 22"
