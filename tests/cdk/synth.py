"""Synthesize the CDK app in-process, with cdk.json's context, as the CLI would."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from app import build
from migrator.embedded import file_lock
from stacks.database_stack import DatabaseStack
from tests.support.project import PROJECT


def context(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = json.loads((PROJECT / "cdk.json").read_text())["context"]
    return values | overrides


def synth_stacks(outdir: Path, **overrides: Any) -> dict[str, DatabaseStack]:
    app = cdk.App(outdir=str(outdir), context=context(**overrides))
    return {stack.stack_name.removeprefix("AalapVma-"): stack for stack in build(app)}


def synth_assembly(outdir: Path, **overrides: Any) -> None:
    """The cloud assembly (templates, assets, manifest, stack policies) written into `outdir`, as `cdk synth` would."""
    cdk_app.main(cdk.App(outdir=str(outdir), context=context(**overrides)))


def shared_assembly(tmp_path_factory: pytest.TempPathFactory, name: str, **overrides: Any) -> Path:
    """The assembly synthesized once per test session: the xdist workers share their session's temp root,
    the first one synthesizes under a file lock, the others read the same directory."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"assembly-{name}"
    root.mkdir(parents=True, exist_ok=True)
    outdir = root / "cdk.out"
    with file_lock(root / "synth.lock"):
        if not (root / "complete").exists():
            shutil.rmtree(outdir, ignore_errors=True)  # a worker that died mid-synth leaves a partial one
            synth_assembly(outdir, **overrides)
            (root / "complete").touch()
    return outdir


def stack_artifacts(outdir: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads((outdir / "manifest.json").read_text())
    return {
        name.removeprefix("AalapVma-"): artifact
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }


def templates_in(outdir: Path) -> dict[str, Template]:
    """Each stack's template of an assembly, by environment name."""
    return {
        name: Template.from_json(json.loads((outdir / artifact["properties"]["templateFile"]).read_text()))
        for name, artifact in stack_artifacts(outdir).items()
    }


def nag_findings(outdir: Path) -> dict[str, list[str]]:
    """Each stack's cdk-nag AwsSolutions findings neither compliant nor suppressed, from the report cdk-nag
    writes into the assembly (one row per rule and resource it checked)."""
    found: dict[str, list[str]] = {}
    for name in stack_artifacts(outdir):
        with (outdir / f"AwsSolutions--AalapVma-{name}-NagReport.csv").open(newline="") as report:
            rows = list(csv.DictReader(report))
        assert any(row["Compliance"] == "Compliant" for row in rows), f"{name}: an empty or unreadable nag report"
        found[name] = [
            f"{row['Rule ID']} {row['Resource ID']}: {row['Rule Info']}"
            for row in rows
            if row["Compliance"] not in ("Compliant", "Suppressed")
        ]
    return found


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


def provider_total_seconds(template: Template) -> int:
    """The Provider's total timeout as its waiter state machine carries it: attempts × interval."""
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    attempts = re.search(r'MaxAttempts\\":(\d+)', definition)
    interval = re.search(r'IntervalSeconds\\":(\d+)', definition)
    assert attempts and interval, definition
    return int(attempts.group(1)) * int(interval.group(1))
