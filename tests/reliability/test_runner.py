"""The CodeBuild runner as a real process against the RDS-like server: it applies, and when it is torn
down without closing its connection (killed, frozen, or its network gone silent) the server ends the
session itself: nothing of the batch is applied and the migration lock is free."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.aws import Environment, secret_for
from tests.engine.helpers import history, lock_is_free, state
from tests.reliability.proxy import CuttableProxy, server_address
from tests.support.migrations import COUNT, NEWEST, NEXT, later
from tests.support.runner import last_line, runner_environment, start_runner, wait_for_query, wait_until_gone

pytestmark = pytest.mark.slow  # real runner processes, killed, frozen or cut off, with waits of seconds

SLOW = "SELECT pg_sleep(3)"


def _run(aws: Environment, seconds: float = 600, **extra: str) -> tuple[int, str]:
    process = start_runner(runner_environment(aws.secret_arn, aws.bundle, time.time() + seconds, **extra))
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


def _at_newest_with_slow_batch(aws: Environment) -> None:
    status, output = _run(aws)
    assert status == 0, output
    aws.add_migration(f"{NEXT}_first.sql", "CREATE TABLE first_step (id int);\n")
    aws.add_migration(f"{later(2)}_slow.sql", f"{SLOW};\nCREATE TABLE after_sleep (id int);\n")


def test_runner_applies_everything_and_says_so_on_its_last_line(aws: Environment) -> None:
    status, output = _run(aws)
    assert status == 0, output
    assert last_line(output).startswith(f"migrator-runner: OK schema version {NEWEST}; applied 000,")
    assert len(history(aws.conninfo)) == COUNT
    password = conninfo_to_dict(aws.conninfo).get("password")
    assert not password or str(password) not in output


def test_runner_refuses_to_start_too_close_to_its_deadline(aws: Environment) -> None:
    status, output = _run(aws, seconds=20)
    assert status == 1
    assert "too little to migrate safely; nothing was applied" in last_line(output)
    assert history(aws.conninfo) == []


def test_runner_without_a_deadline_is_invalid_input(aws: Environment) -> None:
    status, output = _run(aws, MIGRATOR_DEADLINE="")
    assert status == 2
    assert last_line(output) == (
        "migrator-runner: INVALID: MIGRATOR_DEADLINE is not set"
        " (hint: the CodeBuild project and the migration step set it)"
    )


def test_a_failing_batch_exits_1_with_the_file_and_commits_nothing(aws: Environment) -> None:
    _at_newest_with_slow_batch(aws)
    before = state(aws.conninfo)
    aws.add_migration(f"{later(3)}_broken.sql", "SELECT 1/0;\n")
    status, output = _run(aws)
    assert status == 1
    assert f"{later(3)}_broken.sql:1: SQLSTATE 22012" in last_line(output)
    assert state(aws.conninfo) == before
    assert lock_is_free(aws.conninfo)


def test_runner_killed_mid_statement_the_server_cancels_and_frees_the_lock(aws: Environment) -> None:
    _at_newest_with_slow_batch(aws)
    (aws.bundle / "migrations" / f"{later(2)}_slow.sql").write_text("SELECT pg_sleep(60);\n")
    before = state(aws.conninfo)
    process = start_runner(runner_environment(aws.secret_arn, aws.bundle, time.time() + 600))
    pid = wait_for_query(aws.conninfo, "SELECT pg_sleep(60)")
    process.send_signal(signal.SIGKILL)
    process.communicate()
    # client_connection_check_interval (2 s): the server notices the closed socket mid-statement
    assert wait_until_gone(aws.conninfo, pid, timeout=15) < 15
    assert state(aws.conninfo) == before
    assert lock_is_free(aws.conninfo)


def test_a_frozen_runner_loses_its_session_within_the_idle_bound(aws: Environment) -> None:
    """SIGSTOP: the process is alive at the TCP level (its kernel still acknowledges), but silent."""
    _at_newest_with_slow_batch(aws)
    before = state(aws.conninfo)
    process = start_runner(runner_environment(aws.secret_arn, aws.bundle, time.time() + 600, MIGRATOR_IDLE_TIMEOUT="2"))
    pid = wait_for_query(aws.conninfo, SLOW)
    process.send_signal(signal.SIGSTOP)
    try:
        # the statement ends, the server waits for the next one inside the open transaction: ended after 2 s
        assert wait_until_gone(aws.conninfo, pid, timeout=20) < 20
        assert state(aws.conninfo) == before
        assert lock_is_free(aws.conninfo)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()


class FreezableProxy(CuttableProxy):
    """Forwards TCP until frozen; then holds every byte without closing anything (a network gone silent)."""

    def __init__(self, target: str | tuple[str, int]) -> None:
        self.frozen = threading.Event()
        super().__init__(target)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:  # type: ignore[override]
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.05)  # keep the bytes: nothing reaches the other side, nothing is closed
                sink.sendall(data)


def test_a_network_gone_silent_ends_the_session_and_the_runner_fails(aws: Environment) -> None:
    _at_newest_with_slow_batch(aws)
    before = state(aws.conninfo)
    params = conninfo_to_dict(aws.conninfo)
    proxy = FreezableProxy(server_address(str(params["host"]), str(params.get("port") or 5432)))
    secret = aws.secrets().create_secret(
        Name=f"{aws.instance}-via-proxy",
        SecretString=secret_for(aws.conninfo, aws.instance).replace(
            f'"port": {params.get("port") or 5432}', f'"port": {proxy.port}'
        ),
    )
    environ = runner_environment(secret["ARN"], aws.bundle, time.time() + 600, MIGRATOR_IDLE_TIMEOUT="2")
    process = start_runner(environ)
    pid = wait_for_query(aws.conninfo, SLOW)
    proxy.frozen.set()
    try:
        assert wait_until_gone(aws.conninfo, pid, timeout=20) < 20
        assert state(aws.conninfo) == before
        assert lock_is_free(aws.conninfo)
    finally:
        proxy.cut()  # the runner's side now sees its connection close: it fails instead of waiting on
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert last_line(output).startswith("migrator-runner: FAILED:")


@pytest.mark.parametrize("idle", ["0", "x"])
def test_a_bad_idle_timeout_is_invalid_input(aws: Environment, idle: str, tmp_path: Path) -> None:
    status, output = _run(aws, MIGRATOR_IDLE_TIMEOUT=idle)
    assert status == 2
    assert "MIGRATOR_IDLE_TIMEOUT must be whole seconds" in last_line(output)
