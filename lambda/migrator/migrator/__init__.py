"""Applies the project's SQL migrations to one PostgreSQL database, all or nothing.

The engine (everything importable from here) talks only to PostgreSQL; the AWS
layers (`migrator.aws`) and the command line (`migrator.cli`) are thin shells
over it, so the Lambda custom resource and a laptop run the same code.
"""

from migrator.errors import InvalidInput, MigratorError
from migrator.files import Migration, load_migrations, load_schema_file

__all__ = ["InvalidInput", "Migration", "MigratorError", "load_migrations", "load_schema_file"]
