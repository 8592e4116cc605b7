"""The Lambda dependency cache under .local/: safe when several synths build it at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stacks.bundling import COMPLETE, cached_dependencies, dependencies_key


def slow_install(target: Path) -> None:
    """Stands in for pip: writes a package file by file, slowly enough for builds to overlap."""
    package = target / "psycopg_binary"
    package.mkdir()
    for index in range(5):
        (package / f"part{index}.so").write_text(threading.current_thread().name)
        time.sleep(0.01)


def test_concurrent_builds_all_get_one_complete_cache(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: cached_dependencies(tmp_path, install=slow_install), range(6)))

    target = tmp_path / dependencies_key()
    assert set(results) == {target}
    assert (target / COMPLETE).is_file()
    writers = {path.read_text() for path in (target / "psycopg_binary").iterdir()}
    assert len(writers) == 1, "the cache mixes the files of several builds"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name], "a scratch folder was left behind"


def test_a_complete_cache_is_reused_without_installing(tmp_path: Path) -> None:
    cached_dependencies(tmp_path, install=slow_install)

    def must_not_run(target: Path) -> None:
        raise AssertionError("installed again although the cache is complete")

    assert cached_dependencies(tmp_path, install=must_not_run) == tmp_path / dependencies_key()


def test_a_half_built_folder_from_an_interrupted_build_is_replaced(tmp_path: Path) -> None:
    stale = tmp_path / dependencies_key()
    (stale / "psycopg_binary").mkdir(parents=True)
    (stale / "psycopg_binary" / "truncated.so").write_text("half")

    target = cached_dependencies(tmp_path, install=slow_install)

    assert (target / COMPLETE).is_file()
    assert not (target / "psycopg_binary" / "truncated.so").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_failed_install_leaves_no_cache_behind(tmp_path: Path) -> None:
    def broken(target: Path) -> None:
        (target / "partial").write_text("x")
        raise OSError("no route to PyPI")

    with pytest.raises(OSError, match="no route to PyPI"):
        cached_dependencies(tmp_path, install=broken)
    assert list(tmp_path.iterdir()) == []
