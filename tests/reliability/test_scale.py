"""Large history and large files work (correctness only: their speed and memory are measured in bench/)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.engine.helpers import cli, status_json
from tests.reliability.scale import big_data_migration, many_migrations, record_all_as_applied
from tests.support.migrations import NEXT

pytestmark = pytest.mark.slow  # ten thousand versions, megabytes of data


def test_ten_thousand_applied_versions(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    migrations = tmp_path / "many"
    many_migrations(migrations, 10_000)
    record_all_as_applied(db, migrations)
    status = status_json(capsys, db, migrations, None)
    assert len(status["applied"]) == 10_000 and status["pending"] == []
    code, out, _ = cli(capsys, db, migrations, None, "apply")
    assert (code, "nothing to do" in out) == (0, True)


def test_a_big_data_migration_applies_in_one_piece(
    db: str, migrations_dir: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = big_data_migration(migrations_dir / f"{NEXT}_big_data.sql", megabytes=5)
    code, _, err = cli(capsys, db, migrations_dir, schema_file, "apply")
    assert code == 0, err
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM big_data").fetchone() == (rows,)
    assert cli(capsys, db, migrations_dir, schema_file, "apply")[0] == 0
