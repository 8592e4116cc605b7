"""A failing test's report in CI's log names no password: pytest's long style prints every argument of the
failing test, and the test databases' conninfos carry theirs (the project's pytest settings, run for real)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Throwaway-Pass-0x51"

FAILING = f"""
import pytest


@pytest.fixture
def url() -> str:
    return "host=127.0.0.1 user=aalap_admin password={SECRET}"


def test_fails(url: str) -> None:
    status = 1  # what a command under test returned
    assert status == 0, "the reason is still shown"
"""


def test_a_failing_tests_report_prints_its_assertion_but_not_its_arguments(tmp_path: Path) -> None:
    (tmp_path / "test_failing.py").write_text(FAILING)
    settings = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-p", "no:cacheprovider"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *settings, str(tmp_path / "test_failing.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the reason is still shown" in run.stdout and "test_fails" in run.stdout
    assert SECRET not in run.stdout + run.stderr
