"""Every installed distribution comes from a committed lock with hashes, and the lint step sees a stale lock.

The checks of tools.locks run on copies of the project's requirement files and locks, each changed
the way a person forgets to relock: a pin bumped, a requirement removed, a hash lost, two locks apart.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tools.locks import LOCKS, ROOT, read_lock, stale

PROJECT_DISTRIBUTION = "aalap-vma-migrator"  # the editable install of this checkout: nothing to lock


def _copy_project(target: Path) -> Path:
    for name in {name for lock in LOCKS for name in (*lock.inputs, lock.output)} | {"requirements.txt"}:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


def _pin(path: Path, name: str) -> str:
    """The `name==version` line of a requirements file or lock, as it stands today."""
    return next(line.split(" ")[0] for line in path.read_text().splitlines() if line.startswith(f"{name}=="))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_every_distribution_of_this_venv_is_pinned_by_the_dev_lock() -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("not running in a virtualenv: nothing `make` installed to compare")
    pins = {(pin.name, str(pin.version)) for pin in read_lock(ROOT / "locks" / "dev.txt")}
    installed = {
        (canonicalize_name(dist.metadata["Name"]), dist.version) for dist in importlib.metadata.distributions()
    }
    assert len(installed) > 50
    assert installed - pins == {(PROJECT_DISTRIBUTION, importlib.metadata.version(PROJECT_DISTRIBUTION))}


def test_the_committed_locks_are_current() -> None:
    assert stale() == []


def test_every_lock_line_has_hashes_and_the_lambda_ships_the_tested_psycopg() -> None:
    for lock in LOCKS:
        pins = read_lock(ROOT / lock.output)
        assert pins, lock.output
        assert all(pin.hashed for pin in pins), lock.output
    dev = {pin.name: pin.version for pin in read_lock(ROOT / "locks" / "dev.txt")}
    lambda_ = {pin.name: pin.version for pin in read_lock(ROOT / "locks" / "lambda.txt")}
    assert lambda_["psycopg"] == dev["psycopg"]
    assert lambda_["psycopg-binary"] == dev["psycopg-binary"]


def test_a_bumped_requirement_without_a_new_lock_is_stale(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    pinned = _pin(root / "requirements-dev.txt", "pytest")
    _edit(root / "requirements-dev.txt", pinned, f"{pinned}.post99")
    locked = _pin(root / "locks" / "dev.txt", "pytest").split("==")[1]
    assert stale(root) == [f"locks/dev.txt pins pytest at {locked}, but requirements-dev.txt asks for {pinned}.post99"]


def test_a_new_requirement_without_a_new_lock_is_stale(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    (root / "requirements-lambda.txt").write_text((root / "requirements-lambda.txt").read_text() + "boto3>=1\n")
    assert stale(root) == ["locks/lambda.txt pins boto3 at nothing, but requirements-lambda.txt asks for boto3>=1"]


def test_a_removed_requirement_still_in_the_lock_is_stale(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    _edit(root / "requirements-dev.txt", _pin(root / "requirements-dev.txt", "hypothesis") + "\n", "")
    assert "locks/dev.txt still pins hypothesis for requirements-dev.txt, which no longer asks for it" in stale(root)


def test_a_lock_line_without_hash_or_another_command_is_stale(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    lock = root / "locks" / "bootstrap.txt"
    text = lock.read_text()
    uv = _pin(lock, "uv")
    lock.write_text(text[: text.index("uv==")] + f"{uv}\n    # via -r requirements-bootstrap.txt\n")
    _edit(lock, "--python-version 3.11", "--python-version 3.12")
    found = stale(root)
    assert f"locks/bootstrap.txt: {uv} has no hash" in found
    assert any(problem.startswith("locks/bootstrap.txt was not compiled by `uv pip compile") for problem in found)


def test_two_locks_that_pin_a_shared_package_differently_are_stale(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    pinned = _pin(root / "locks" / "lambda.txt", "psycopg")
    _edit(root / "locks" / "lambda.txt", pinned, "psycopg==0.0.1")
    assert f"locks/lambda.txt pins psycopg 0.0.1 but locks/dev.txt pins {pinned.split('==')[1]}" in stale(root)
