"""Applies the project's SQL migrations to one PostgreSQL database, all or nothing.

The engine talks only to PostgreSQL; the AWS layers (`migrator.aws`) and the command line
(`migrator.cli`) are thin shells over it, so the Lambda custom resource and a laptop run the same
code. Importing the package itself imports nothing: `python -m migrator` imports its modules inside
`__main__`, where a Ctrl-C while they load is answered with one line instead of a traceback.
"""
