"""Fixtures of the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.helpers import cli


@pytest.fixture
def at_newest(db: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The scratch database with every migration of the private folder applied (through the command line)."""
    assert cli(capsys, db, migrations_dir, schema_file, "apply")[0] == 0
    return db
