"""Synthesize the CDK app in-process, with cdk.json's context, as the CLI would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from app import build
from stacks.database_stack import DatabaseStack
from tests.conftest import PROJECT


def context(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = json.loads((PROJECT / "cdk.json").read_text())["context"]
    return values | overrides


def synth_stacks(outdir: Path, **overrides: Any) -> dict[str, DatabaseStack]:
    app = cdk.App(outdir=str(outdir), context=context(**overrides))
    return {stack.stack_name.removeprefix("AalapVma-"): stack for stack in build(app)}


def synth(outdir: Path, **overrides: Any) -> dict[str, Template]:
    return {name: Template.from_stack(stack) for name, stack in synth_stacks(outdir, **overrides).items()}


def with_environment(name: str, **changes: Any) -> dict[str, Any]:
    environments = context()["environments"]
    return {"environments": environments | {name: environments[name] | changes}, "env": name}


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: dict(resource) for name, resource in template.find_resources(kind).items()}


def only(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return next(iter(found.items()))
