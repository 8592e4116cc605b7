"""The deploy's contract is written once: each MIGRATOR_* environment variable name appears as a string literal in
exactly one production module (migrator.aws.naming), which the CDK app and the runtime both import."""

from __future__ import annotations

import ast
import re
from collections import defaultdict

from migrator.aws import naming
from tests.support.project import PROJECT

PRODUCTION = [
    PROJECT / "app.py",
    *sorted((PROJECT / "stacks").rglob("*.py")),
    *sorted((PROJECT / "lambda").rglob("*.py")),
]
ENV_NAME = re.compile(r"MIGRATOR_[A-Z_]+")


def literal_places(pattern: re.Pattern[str]) -> dict[str, set[str]]:
    """Each string literal (whole, not inside a sentence) matching `pattern`, and the modules that write it."""
    places: dict[str, set[str]] = defaultdict(set)
    for module in PRODUCTION:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.fullmatch(node.value):
                places[node.value].add(module.relative_to(PROJECT).as_posix())
    return places


def test_each_environment_variable_name_is_written_in_one_module() -> None:
    places = literal_places(ENV_NAME)
    declared = {value for name, value in vars(naming).items() if name.startswith("ENV_")}
    assert set(places) == declared, "every MIGRATOR_* name the code uses is declared in migrator.aws.naming"
    assert {name: modules for name, modules in places.items() if len(modules) > 1} == {}
    assert {module for modules in places.values() for module in modules} == {"lambda/migrator/migrator/aws/naming.py"}
