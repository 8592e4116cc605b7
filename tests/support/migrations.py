"""The project's real migrations, as facts derived from the folder: no test pins today's newest version.

A test that adds files after the real ones names them with `later(n)`, so that adding migration N+1 to
the project breaks no unrelated test. Tests that build a tiny folder of their own keep their own literals.
"""

from __future__ import annotations

from migrator.files import load_migrations, load_schema_file
from tests.support.project import PROJECT

FOLDER = PROJECT / "migrations"

_MIGRATIONS = load_migrations(FOLDER)
VERSIONS: tuple[str, ...] = tuple(m.version for m in _MIGRATIONS)
NAMES: tuple[tuple[str, str], ...] = tuple((m.version, m.name) for m in _MIGRATIONS)
FILES: tuple[str, ...] = tuple(m.path.name for m in _MIGRATIONS)
NEWEST: str = VERSIONS[-1]
NEWEST_FILE: str = FILES[-1]
COUNT: int = len(VERSIONS)
SCHEMA_VERSION: str = load_schema_file(PROJECT / "schema.sql").version  # the newest version schema.sql includes
# What a fresh database applies on top of schema.sql: nothing while schema.sql is fresh (`make schema`).
AFTER_SCHEMA: tuple[str, ...] = tuple(v for v in VERSIONS if v > SCHEMA_VERSION)


def later(step: int = 1) -> str:
    """The version `step` places after the newest real one, in the folder's width ("008" when 007 is newest)."""
    return f"{int(NEWEST) + step:0{len(NEWEST)}d}"


NEXT: str = later(1)
