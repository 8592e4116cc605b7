"""cfn-lint over the synthesized template of every environment: no finding beyond the one justified ignore.

cfn-lint runs once (about 8 s), outside the project so that `.cfnlintrc.yaml` hides nothing; the
tests then judge its findings against the project's ignore list.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.project import PROJECT

pytestmark = pytest.mark.slow

CFN_LINT = Path(sys.executable).with_name("cfn-lint")
JUSTIFIED = {"W3005"}  # the reason is written beside it in .cfnlintrc.yaml


@pytest.fixture(scope="module")
def findings(cdk_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    files = sorted(cdk_assembly.glob("AalapVma-*.template.json"))
    assert len(files) == 3
    done = subprocess.run(
        [str(CFN_LINT), "--format", "json", *map(str, files)],
        cwd=tmp_path_factory.mktemp("cfn-lint"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 2, 4, 6, 8, 10, 12, 14), done.stderr  # bit flags: error, warning, info
    found: list[dict[str, object]] = json.loads(done.stdout or "[]")
    return found


def _rule(finding: dict[str, object]) -> str:
    rule = finding["Rule"]
    assert isinstance(rule, dict)
    return str(rule["Id"])


def test_cfn_lint_passes_with_the_project_config(findings: list[dict[str, object]]) -> None:
    config = yaml.safe_load((PROJECT / ".cfnlintrc.yaml").read_text())
    ignored = set(config.get("ignore_checks", []))
    left = [f"{_rule(f)} {f['Filename']}: {f['Message']}" for f in findings if _rule(f) not in ignored]
    assert not left, "\n".join(left)


def test_the_ignored_check_hides_nothing_else(findings: list[dict[str, object]]) -> None:
    config = yaml.safe_load((PROJECT / ".cfnlintrc.yaml").read_text())
    assert set(config.get("ignore_checks", [])) <= JUSTIFIED
    assert {_rule(f) for f in findings} <= JUSTIFIED
