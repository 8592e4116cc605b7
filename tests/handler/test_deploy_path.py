"""The deploy path (the Lambda's apply under its deadline) sends a batch through the pipelined executor, as the
command line does: round trips do not grow with the number of statements."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from migrator import execute
from tests.aws import Environment
from tests.engine.helpers import history
from tests.handler.lifecycle import event, run
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import later

FILES, STATEMENTS = 20, 6


def test_a_deploy_applies_its_batch_in_one_pipeline(aws: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    run(event("Create", aws.properties()), LambdaContext())
    versions = [later(step) for step in range(1, FILES + 1)]
    for version in versions:
        body = "".join(f"CREATE TABLE t{version}_{n} (id int);\n" for n in range(STATEMENTS))
        aws.add_migration(f"{version}_pipelined.sql", body)
    executes, pipelines, one_at_a_time = [0], [], [0]
    real_execute, real_run_files, real_one = psycopg.Connection.execute, execute.run_files, execute._one

    def counting_execute(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        executes[0] += 1
        return real_execute(self, *args, **kwargs)

    def recording_run_files(*args: Any, **kwargs: Any) -> list[float]:
        pipelines.append((len(args[1]), kwargs.get("deadline", args[4] if len(args) > 4 else None)))
        return real_run_files(*args, **kwargs)

    def counting_one(*args: Any, **kwargs: Any) -> None:
        one_at_a_time[0] += 1
        real_one(*args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", counting_execute)
    monkeypatch.setattr("migrator.apply.run_files", recording_run_files)
    monkeypatch.setattr(execute, "_one", counting_one)
    run(event("Update", aws.properties(TakeSnapshots="false")), LambdaContext(remaining_ms=600_000))
    assert [v for v, *_ in history(aws.conninfo)][-FILES:] == versions
    assert one_at_a_time == [0], "no statement of a transactional batch went out on its own"
    ((files, deadline),) = pipelines
    assert files == FILES and deadline is not None, "one pipeline, under the Lambda's deadline"
    assert executes[0] < FILES * STATEMENTS / 2, f"{executes[0]} round trips for {FILES * STATEMENTS} statements"
