"""Tests sit at their layer: no module under tests/ imports a conftest.py or a test module.

Shared fakes, constants and helpers live in tests/support/ (or a folder's plain helper module);
a conftest.py holds fixtures (and hooks), and fixtures shared across folders are a plugin module
(tests/conftest.py's `pytest_plugins`)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Files that are not this suite's to change yet, each with the one import it still makes.
PENDING: set[tuple[str, str]] = set()


def _forbidden(module: str) -> bool:
    return any(part == "conftest" or part.startswith("test_") for part in module.split("."))


def imported_test_modules(source: str, package: str) -> set[str]:
    """The conftest and test modules a module of `package` imports (absolute or relative, at any depth)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if _forbidden(alias.name)}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            base = base if node.level else (node.module or "")
            found |= {base} if _forbidden(base) else set()
            found |= {f"{base}.{alias.name}" for alias in node.names if _forbidden(alias.name)}
    return found


def test_every_form_of_import_is_seen() -> None:
    source = (
        "import tests.handler.conftest\n"
        "from tests.cdk.conftest import OPTIONS\n"
        "from tests.handler import conftest as fixtures\n"
        "def f():\n    from .test_apply import x\n"
        "from . import test_cli\n"
        "from tests.support.migrations import NEWEST\n"
        "import pytest\n"
    )
    assert imported_test_modules(source, "tests.engine") == {
        "tests.handler.conftest",
        "tests.cdk.conftest",
        "tests.engine.test_apply",
        "tests.engine.test_cli",
    }


def test_no_module_under_tests_imports_a_conftest_or_a_test_module() -> None:
    offenders = {
        (path.relative_to(TESTS).as_posix(), module)
        for path in sorted(TESTS.rglob("*.py"))
        for module in imported_test_modules(path.read_text(), ".".join(path.relative_to(TESTS.parent).parent.parts))
    }
    assert offenders - PENDING == set(), "move what is shared into tests/support/ and import it from there"
