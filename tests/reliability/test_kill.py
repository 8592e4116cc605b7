"""SIGKILL the migrator at random moments while it applies 200 pending migrations."""

from __future__ import annotations

import os

import pytest

from tests.reliability.campaign import Batch, kill_campaign

pytestmark = pytest.mark.slow  # SIGKILL trials of a 200-migration batch

TRIALS = int(os.environ.get("KILL_TRIALS", "6"))  # `make reliability` runs 40
SEED = int(os.environ.get("KILL_SEED", "20261127"))


def test_killed_runs_leave_before_or_after_never_a_mix(pg_admin: str, batch: Batch) -> None:
    outcome = kill_campaign(
        pg_admin, batch.before_db, batch.migrations, batch.before, batch.after, TRIALS, SEED, batch.full_run_seconds
    )
    print(f"seed {SEED}: {outcome.trials} kills, {outcome.saw_before} left before, {outcome.saw_after} left after")
    assert outcome.mixed == []
    assert outcome.rerun_failures == []
    assert outcome.trials == TRIALS
