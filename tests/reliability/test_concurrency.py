"""Eight runs at once on one database with 50 pending migrations: each applied exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.helpers import cli, history
from tests.reliability.campaign import generate, migrator
from tests.support.migrations import NEWEST, later

RUNS = 8


def test_concurrent_runs_apply_every_migration_exactly_once(
    db: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, db, migrations_dir, schema_file, "apply")[0] == 0
    generate(migrations_dir, 50)  # CREATE TABLE without IF NOT EXISTS: a second application would fail
    processes = [migrator(db, migrations_dir, "--lock-wait", "60") for _ in range(RUNS)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in processes]
    for status, err in results:
        assert status == 0 or (status == 1 and "another migration run holds the lock" in err), err
    applied = [v for v, _, via in history(db) if via == "migration" and v > NEWEST]
    assert applied == [later(step) for step in range(1, 51)]
    assert sum(1 for status, _ in results if status == 0) >= 1
