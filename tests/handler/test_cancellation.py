"""CloudFormation that cancels: a neighbouring resource of the same update fails, CloudFormation cancels the
running migration step and sends the rollback, and the forward request's waiter polls once more after it.
That stale poll must apply nothing: the rollback claimed the database (migrator.claim) before its own work."""

from __future__ import annotations

import pytest

from migrator.aws import handler
from migrator.errors import DeployFailed
from tests.aws import Environment, deploy_token
from tests.engine.helpers import history, state
from tests.handler.lifecycle import event, run
from tests.support.lambda_context import LambdaContext
from tests.support.migrations import NEWEST, NEXT

BODY = "CREATE TABLE cancelled_forward (id int);\n"


def test_a_poll_of_the_forward_request_after_the_rollback_arrived_applies_nothing(aws: Environment) -> None:
    context = LambdaContext()
    run(event("Create", aws.properties(DeployToken=deploy_token())), context)
    deployed = aws.properties(TakeSnapshots="false", DeployToken=deploy_token())
    aws.add_migration(f"{NEXT}_forward.sql", BODY)
    forward_props = aws.properties(TakeSnapshots="false", DeployToken=deploy_token())
    forward = event("Update", forward_props, old=deployed) | {"RequestId": "forward-1"}
    started = handler.on_event(forward, context)  # the forward request claims; its waiter will poll
    before = state(aws.conninfo)
    (aws.bundle / "migrations" / f"{NEXT}_forward.sql").unlink()  # the rollback runs the code it had before
    rollback = event("Update", deployed, old=forward_props, physical=started["PhysicalResourceId"])
    rolled = run(rollback | {"RequestId": "rollback-1"}, context)[0]
    assert rolled["SchemaVersion"] == NEWEST
    aws.add_migration(f"{NEXT}_forward.sql", BODY)  # worst case: the stale poll still runs the forward's code
    with pytest.raises(DeployFailed, match=r"a newer deploy request \(rollback-1\) claimed this database"):
        handler.is_complete(forward | started, context)
    assert state(aws.conninfo) == before, "nothing applied after the rollback arrived"
    assert [v for v, *_ in history(aws.conninfo)][-1] == NEWEST
