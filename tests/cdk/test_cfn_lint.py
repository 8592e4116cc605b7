"""cfn-lint over the synthesized template of every environment: no finding beyond the one justified ignore."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import PROJECT

pytestmark = pytest.mark.slow  # cfn-lint over three templates (about 5 s a run)

CFN_LINT = Path(sys.executable).with_name("cfn-lint")


@pytest.fixture(scope="module")
def template_files(cdk_assembly: Path) -> list[Path]:
    files = sorted(cdk_assembly.glob("AalapVma-*.template.json"))
    assert len(files) == 3
    return files


def test_cfn_lint_passes_with_the_project_config(template_files: list[Path]) -> None:
    done = subprocess.run(
        [str(CFN_LINT), *map(str, template_files)], cwd=PROJECT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_ignored_check_hides_nothing_else(template_files: list[Path], tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CFN_LINT), *map(str, template_files)], cwd=tmp_path, capture_output=True, text=True, check=False
    )  # outside the project: no .cfnlintrc.yaml
    findings = {line.split()[0] for line in done.stdout.splitlines() if line[:1] in "EWI" and line[1:5].isdigit()}
    assert findings <= {"W3005"}
