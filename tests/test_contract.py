"""The deploy's contract is written once (migrator.aws.contract): each MIGRATOR_* environment variable name and
each custom resource property key appears as a string literal in exactly one production module, the CDK side
renders the properties with the code the runtime parses them with, and stacks/ imports no psycopg at synth."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.aws import contract
from migrator.aws.contract import KEYS, RUNNERS, ContractError, StepProperties
from tests.support.project import PROJECT

PRODUCTION = [
    PROJECT / "app.py",
    *sorted((PROJECT / "stacks").rglob("*.py")),
    *sorted((PROJECT / "lambda").rglob("*.py")),
]
CONTRACT = "lambda/migrator/migrator/aws/contract.py"
ENV_NAME = re.compile(r"MIGRATOR_[A-Z_]+")
# Literals equal to a property key that are not one: construct ids and output names fix logical ids and
# exports of deployed stacks, so they keep their spelling.
NOT_PROPERTY_KEYS = {
    ("stacks/migration.py", "Runner"),  # the MigrationRunner construct's id
    ("stacks/database_stack.py", "AppSecretArn"),  # the stack output (and export) the application reads
}


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
    declared = {value for name, value in vars(contract).items() if name.startswith("ENV_")}
    assert set(places) == declared, "every MIGRATOR_* name the code uses is declared in migrator.aws.contract"
    assert {module for modules in places.values() for module in modules} == {CONTRACT}


def test_each_property_key_is_written_in_one_module() -> None:
    keys = re.compile("|".join(map(re.escape, KEYS.values())))
    places = literal_places(keys)
    elsewhere = {
        (module, key) for key, modules in places.items() for module in modules if module != CONTRACT
    } - NOT_PROPERTY_KEYS
    assert elsewhere == set(), "a property key is read or written by its StepProperties field, not by its name"
    assert set(places) == set(KEYS.values()), "every key is declared once, in the contract"


_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20)


@given(
    retention=st.integers(1, 100),
    take=st.booleans(),
    timeout=st.integers(60, 3600),
    runner=st.sampled_from(RUNNERS),
    migrations=st.none() | st.lists(_TEXT, max_size=4).map(tuple),
    token=st.just("") | _TEXT,
    optional=st.none() | _TEXT,
    duration=st.none() | st.builds("{}{}".format, st.integers(0, 10_000), st.sampled_from(["ms", "s", "min", "h"])),
    pipeline=st.none() | st.integers(5, 2160),
)
def test_what_the_cdk_side_renders_the_runtime_parses_back_unchanged(
    retention: int,
    take: bool,
    timeout: int,
    runner: str,
    migrations: tuple[str, ...] | None,
    token: str,
    optional: str | None,
    duration: str | None,
    pipeline: int | None,
) -> None:
    sent = StepProperties(
        secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:m",
        instance="aalap-prod-db",
        migrator_secret_arn=optional,
        snapshot_retention=retention,
        take_snapshots=take,
        timeout_seconds=timeout,
        runner=runner,
        migrations=migrations,
        deploy_token=token,
        lock_timeout=duration,
        lock_retry_window=duration,
        max_lock_hold=duration,
        pipeline_timeout_minutes=pipeline,
        rehearsal_required=take,
        rehearsal_max_age_hours=retention,
        rehearsal_bucket=optional,
    )
    rendered = json.loads(json.dumps(sent.render()))  # what CloudFormation stores and sends back
    assert all(isinstance(v, str | list) for v in rendered.values()), "CloudFormation passes strings and lists"
    assert StepProperties.parse(rendered) == sent


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("SnapshotRetention", "0", "SnapshotRetention must be a whole number of at least 1, got '0'"),
        ("TakeSnapshots", "yes", "TakeSnapshots must be true or false, got 'yes'"),
        ("Runner", "lambada", "Runner must be one of lambda, codebuild, pipeline, got 'lambada'"),
        ("Migrations", "001_a.sql", "Migrations must be a list of file names"),
        ("MigrationTimeoutSeconds", "7200", "MigrationTimeoutSeconds must be 60-3600, got '7200'"),
        ("MaxLockHold", "30", "MaxLockHold must be a duration with its unit (500ms, 5s, 15min, 1h), got '30'"),
    ],
)
def test_a_malformed_property_is_refused_naming_its_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ContractError) as refused:
        StepProperties.parse({"SecretArn": "arn", "InstanceIdentifier": "db", key: value})
    assert str(refused.value) == message


def test_every_field_has_its_own_key() -> None:
    assert len(set(KEYS.values())) == len(fields(StepProperties))


def test_synthesizing_imports_no_psycopg() -> None:
    """The CDK app reads the contract and the budget only: nothing of the engine's database code at synth."""
    probe = (
        "import sys, app, stacks.database_stack, stacks.migration, stacks.runner, stacks.config;"
        " print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
