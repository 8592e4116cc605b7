from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.pg import scratch_database
from tests.reliability.campaign import Batch, generate, migrator, snapshot
from tests.support.migrations import FOLDER


@pytest.fixture(scope="module")
def batch(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    migrations = tmp_path_factory.mktemp("batch") / "migrations"
    migrations.mkdir()
    for path in sorted(FOLDER.glob("*.sql")):
        (migrations / path.name).write_bytes(path.read_bytes())
    with scratch_database(pg_admin, "before") as before_url, scratch_database(pg_admin, "after") as after_url:
        assert migrator(before_url, migrations).wait() == 0  # at the newest migration
        before = snapshot(before_url)
        generate(migrations, 200)
        started = time.monotonic()
        done = migrator(after_url, migrations)
        assert done.wait() == 0, done.stderr.read() if done.stderr else ""
        full = time.monotonic() - started
        yield Batch(
            before_db=str(conninfo_to_dict(before_url)["dbname"]),
            migrations=migrations,
            before=before,
            after=snapshot(after_url),
            full_run_seconds=full,
        )
