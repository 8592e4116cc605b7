"""`cdk destroy` and a rollback after a failed neighbouring resource, end to end through the real Provider framework,
while the network has stopped answering (CloudFormation removes the VPC endpoints and security-group rules beside
the custom resource): both finish within their time limits, the functions' and CloudFormation's.

The staging stack's custom resource stands for dev's (the same resource, the same requests). Once deployed, the
migration functions' Timeout is cut to SHORT_S, as the reliability tier injects a short remaining time, instead of
waiting out on_event's three minutes against endpoints that never answer."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from tests.e2e.harness import Deployer
from tests.support.migrations import later
from tests.support.silent_network import silent_endpoint

SHORT_S = 20
MOTO_ONLY = pytest.mark.parametrize("emulated", ["moto"], indirect=True)  # the network is gone: no tier to compare


def _short_timeouts(deployer: Deployer) -> None:
    functions = {
        arn: replace(f, timeout_s=SHORT_S) if f.handler.startswith("migrator.") else f
        for arn, f in deployer.model.functions.items()
    }
    deployer.model = replace(deployer.model, functions=functions)


@pytest.fixture
def vanish(deployer: Deployer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to make every AWS endpoint silent from then on (the database stays: nothing may reach for it)."""
    with silent_endpoint() as url:

        def now() -> None:
            _short_timeouts(deployer)
            for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]:
                monkeypatch.delenv(key)
            monkeypatch.setenv("AWS_ENDPOINT_URL", url)

        yield now


def _within_limits(deployer: Deployer, answered_from: int) -> None:
    for call in deployer.user_calls[answered_from:]:
        assert call.answer.function_error is None, call.answer.payload
        assert call.answer.seconds < SHORT_S, f"{call.function.entry}: {call.answer.seconds:.1f} s of {SHORT_S} s"


@MOTO_ONLY
def test_destroy_answers_in_time_when_the_network_is_gone(
    deployer: Deployer,
    vanish: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    calls = len(deployer.user_calls)
    vanish()
    destroyed = deployer.delete("cdk destroy, the endpoints and rules already gone")
    assert destroyed.status == "DELETE_COMPLETE", destroyed.reason
    assert destroyed.simulated_s < deployer.model.service_timeout_s
    assert destroyed.first.data["Note"] == "delete keeps the database"
    assert "could not stop earlier runner builds" in caplog.text, "it met the silent network, and gave up in time"
    _within_limits(deployer, calls)


@MOTO_ONLY
def test_a_rollback_after_a_failed_neighbour_answers_in_time_when_the_network_is_gone(
    deployer: Deployer,
    vanish: Callable[[], None],
) -> None:
    assert deployer.deploy("create").status == "CREATE_COMPLETE"
    calls = len(deployer.user_calls)
    deployer.add_migration(f"{later(1)}_step.sql", "CREATE TABLE step_1 (id integer);\n")
    failed = deployer.update_with_failing_neighbour("update; a neighbour fails; the network goes", vanish)
    assert failed.status == "UPDATE_ROLLBACK_COMPLETE", failed.reason
    forward, rollback = failed.requests
    assert forward.ok and forward.data["SchemaVersion"] == later(1)
    assert rollback.ok and rollback.data["SchemaVersion"] == "unchecked", "it could not look, and said so"
    assert rollback.seconds < deployer.model.service_timeout_s
    _within_limits(deployer, calls)
