"""Large inputs shared by the scale test and bench/bench_scale.py: a long history and a big data migration."""

from __future__ import annotations

from pathlib import Path

import psycopg

from migrator import history
from migrator.files import load_migrations


def many_migrations(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (directory / f"{number:05d}_step_{number}.sql").write_text(f"SELECT {number};\n")


def record_all_as_applied(url: str, directory: Path) -> None:
    """A history of len(files) rows, as if every file had run (cheaper than running them)."""
    rows = [
        history.NewRow(
            version=m.version, name=m.name, checksum=m.checksum, execution_ms=1, applied_via=history.VIA_MIGRATION
        )
        for m in load_migrations(directory)
    ]
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        history.ensure_table(conn)
        history.record(conn, rows, "scale-fixture")


def big_data_migration(path: Path, megabytes: int) -> int:
    """A data migration of about `megabytes` MB: one table, then multi-row INSERTs of ~64 KB each."""
    row = "('" + "x" * 90 + "')"
    statement = "INSERT INTO big_data (payload) VALUES " + ", ".join([row] * 680) + ";\n"
    count = megabytes * 1024 * 1024 // len(statement)
    with path.open("w") as out:
        out.write("CREATE TABLE big_data (id bigserial PRIMARY KEY, payload text NOT NULL);\n")
        for _ in range(count):
            out.write(statement)
    return count * 680
