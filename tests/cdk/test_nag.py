"""cdk-nag AwsSolutions: no unsuppressed error or warning in any environment; each suppression has a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from tests.cdk.synth import nag_findings
from tests.support.cdk_envs import ENVIRONMENTS


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_unsuppressed_nag_findings(cdk_assembly: Path, env: str) -> None:
    assert nag_findings(cdk_assembly)[env] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_suppression_carries_a_reason(templates: dict[str, Template], env: str) -> None:
    metadata = templates[env].to_json().get("Metadata", {})
    suppressions = metadata.get("cdk_nag", {}).get("rules_to_suppress", [])
    assert suppressions, "suppressions are recorded in the template"
    assert all(len(s["reason"]) >= 40 for s in suppressions)
