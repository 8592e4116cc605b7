"""CloudFormation that cancels, end to end through the real Provider framework: another resource of the update
fails while the migration step is still polling (its snapshot not yet available), CloudFormation cancels the
custom resource and sends the rollback Update, and the forward request's waiter polls once more after it. That
stale poll applies nothing (the rollback claimed the database first, migrator.claim), and the rollback answers
SUCCESS in time. The handler tier has the same scenario without the framework (tests/handler/test_cancellation.py)."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.aws import handler
from migrator.files import RUNNER_MARKER
from tests.e2e.harness import Deployer
from tests.engine.helpers import state
from tests.support.fake_codebuild import FakeCodeBuild
from tests.support.fake_rds import SlowSnapshots
from tests.support.migrations import NEWEST, NEXT


class HeldSnapshots(SlowSnapshots):
    """Snapshots stay 'creating' until `release`: the forward request polls until the rollback has arrived."""

    def __init__(self, real: Any) -> None:
        super().__init__(real, polls=10**9)

    def release(self) -> None:
        self._left = 0


MOTO_ONLY = pytest.mark.parametrize("emulated", ["moto"], indirect=True)  # the stand-ins are the same on both tiers


@MOTO_ONLY
@pytest.mark.parametrize("runs_in", ["lambda", "codebuild"])
def test_a_poll_after_cloudformation_cancelled_the_update_applies_nothing(
    deployer: Deployer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, runs_in: str
) -> None:
    """`codebuild`: the migration is marked for the runner, whose build the forward request would start once
    its snapshot is available, which is after the rollback arrived: no build may start."""
    env = deployer.environment
    runner: FakeCodeBuild | None = request.getfixturevalue("builds") if runs_in == "codebuild" else None
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    before = state(env.conninfo)
    marker = f"{RUNNER_MARKER}\n" if runner is not None else ""
    deployer.add_migration(f"{NEXT}_cancelled.sql", marker + "CREATE TABLE cancelled_forward (id int);\n")
    held, secrets = HeldSnapshots(env.rds()), env.secrets()
    monkeypatch.setattr(handler, "_clients", lambda: (held, secrets))

    step = "update cancelled between two polls (its snapshot creating), then the rollback"
    operation = deployer.update_cancelled_between_polls(step, 1, then=held.release)

    assert operation.status == "UPDATE_ROLLBACK_COMPLETE", operation.reason
    forward, rollback = operation.requests
    assert forward.cancelled and rollback.request_type == "Update"
    assert rollback.ok and rollback.seconds < deployer.model.service_timeout_s, rollback.reason
    assert operation.outputs["SchemaVersion"] == NEWEST
    ids = [c.event.get("RequestId") for c in deployer.user_calls]
    arrived = max(i for i, r in enumerate(ids) if r == rollback.event["RequestId"])
    stale = [c for c in deployer.user_calls[arrived:] if c.event.get("RequestId") == forward.event["RequestId"]]
    assert stale, "the forward request's waiter polled after the rollback arrived"
    assert state(env.conninfo) == before, "nothing applied after the rollback arrived: history and schema as before"
    assert runner is None or runner.started == [], "no build started after the rollback arrived"
    assert "a newer deploy request" in stale[-1].answer.payload, stale[-1].answer.payload
    assert forward.response.get("Status") == "FAILED", "its late answer says it stopped (CloudFormation ignores it)"
