"""bench/corpus and bench/bench_corpus.py's mapping into the engine's numbering (no database: the benchmark
itself is `make bench-corpus`). A stored file the manifest forgets would silently drop out of the comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_corpus import CORPUS, engine_name, manifest
from migrator.files import MIGRATION_NAME

PROJECTS = sorted(path for path in CORPUS.iterdir() if path.is_dir())


def test_the_corpus_has_at_least_five_projects_each_with_its_licence_and_source() -> None:
    assert len(PROJECTS) >= 5
    for project in PROJECTS:
        assert list(project.glob("LICENSE*")), project
        assert "- commit: " in (project / "SOURCE.md").read_text(), project


@pytest.mark.parametrize("project", PROJECTS, ids=lambda path: path.name)
def test_the_manifest_lists_every_stored_file_once(project: Path) -> None:
    listed = [entry.path for entry in manifest(project)]
    stored = sorted(path for path in (project / "files").rglob("*.sql") if path.is_file())
    assert sorted(listed) == stored
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda path: path.name)
def test_the_engine_copies_are_valid_names_in_the_manifests_order(project: Path) -> None:
    names = [engine_name(index, entry) for index, entry in enumerate(manifest(project), start=1)]
    assert all(MIGRATION_NAME.match(name) for name in names), [n for n in names if not MIGRATION_NAME.match(n)]
    versions = [int(MIGRATION_NAME.match(name)["version"]) for name in names]  # type: ignore[index]
    assert versions == sorted(set(versions))
