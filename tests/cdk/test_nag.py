"""cdk-nag AwsSolutions: no unsuppressed error or warning in any environment; each suppression has a reason."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Annotations, Match, Template

from tests.cdk.test_database_stack import ENVIRONMENTS


@pytest.fixture(scope="module")
def nag_annotations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Annotations]:
    import aws_cdk as cdk

    from app import build
    from tests.cdk.synth import context

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("nag")), context=context())
    return {s.stack_name.removeprefix("AalapVma-"): Annotations.from_stack(s) for s in build(app)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_unsuppressed_nag_findings(nag_annotations: dict[str, Annotations], env: str) -> None:
    pattern = Match.string_like_regexp("AwsSolutions-.*")
    errors = nag_annotations[env].find_error("*", pattern)
    warnings = nag_annotations[env].find_warning("*", pattern)
    assert [e.entry.data for e in errors] == []
    assert [w.entry.data for w in warnings] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_suppression_carries_a_reason(templates: dict[str, Template], env: str) -> None:
    metadata = templates[env].to_json().get("Metadata", {})
    suppressions = metadata.get("cdk_nag", {}).get("rules_to_suppress", [])
    assert suppressions, "suppressions are recorded in the template"
    assert all(len(s["reason"]) >= 40 for s in suppressions)
