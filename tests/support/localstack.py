"""LocalStack community on the host: no Docker, no auth token, started and stopped by the tests themselves.

LocalStack runs from its own virtualenv, `.local/localstack-venv`, built with Python 3.13 (this
release imports `warnings.deprecated`) from locks/localstack.txt: requirements-localstack.txt's
versions that work together, every file's hash checked. The venv is built once into a scratch
folder and renamed into place under a file lock, so concurrent pytest-xdist workers never see a
half-built one, and it is rebuilt only when the lock or the interpreter change.
`python -m tests.support.localstack` builds it ahead.

The runtime module is started directly (`localstack start --host` of the split-out CLI is broken)
on a free loopback port, with DNS off and its state in a folder of ours, and stopped with its whole
process group. One instance serves all the xdist workers of a test run (`shared`: a file lock and a
list of users; the last one out stops it). While it runs, the RSS of its process tree is sampled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from migrator.embedded import file_lock

PROJECT = Path(__file__).resolve().parents[2]
REQUIREMENTS = PROJECT / "locks" / "localstack.txt"  # compiled from requirements-localstack.txt: `make lock`
TIER = "LocalStack community + moto RDS"  # the e2e tier's label: LocalStack for the rest, moto server for RDS
VENV = PROJECT / ".local" / "localstack-venv"
STAMP = "localstack-requirements.sha256"
SERVICES = "secretsmanager,cloudformation"  # what the tier uses; RDS is a paid feature (501), so moto serves it
START_TIMEOUT_S = 120.0
PYTHON_WANTED = (3, 13)


class PythonNotFound(Exception):
    """No usable Python 3.13 here: the one thing that makes the LocalStack tier skip."""


def _version_of(python: str) -> tuple[int, int] | None:
    """The interpreter's (major, minor), or None if it does not run (a pyenv shim without that version does not)."""
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = done.stdout.split()
    if done.returncode != 0 or len(parts) != 2:
        return None
    return int(parts[0]), int(parts[1])


def python_candidates() -> list[str]:
    """LOCALSTACK_PYTHON if set; python3.13 on PATH; pyenv's 3.13 builds, newest first."""
    found = [os.environ.get("LOCALSTACK_PYTHON", ""), shutil.which("python3.13") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found += sorted((str(p) for p in pyenv.glob("3.13*/bin/python3.13")), reverse=True)
    return list(dict.fromkeys(p for p in found if p))


def find_python() -> str:
    for candidate in python_candidates():
        if _version_of(candidate) == PYTHON_WANTED:
            return candidate
    raise PythonNotFound(
        "Python 3.13 not found (looked in LOCALSTACK_PYTHON, PATH and ~/.pyenv/versions);"
        " LocalStack's host mode needs it (CI installs it with actions/setup-python)"
    )


def _fingerprint(python: str) -> str:
    real = os.path.realpath(python)
    return hashlib.sha256(REQUIREMENTS.read_bytes() + real.encode()).hexdigest()


@dataclass(frozen=True)
class Venv:
    python: Path
    seconds: float  # spent building it in this call (0 when the cached one was used)
    built: bool


def ensure_venv(python: str, target: Path = VENV) -> Venv:
    """The LocalStack venv, built if missing or stale; safe to call from several processes at once."""
    wanted = _fingerprint(python)
    stamp = target / STAMP
    interpreter = target / "bin" / "python"
    if stamp.is_file() and stamp.read_text() == wanted:
        return Venv(interpreter, 0.0, built=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f"{target.name}.lock"):  # a second worker waits here, then finds the venv built
        if stamp.is_file() and stamp.read_text() == wanted:
            return Venv(interpreter, 0.0, built=False)
        started = time.perf_counter()
        scratch = target.parent / f"{target.name}.building-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            subprocess.run([python, "-m", "venv", str(scratch)], check=True)
            pip = [str(scratch / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(REQUIREMENTS)], check=True)
            subprocess.run(
                [str(scratch / "bin" / "python"), "-m", "pip", "check"], check=True, stdout=subprocess.DEVNULL
            )
            (scratch / STAMP).write_text(wanted)
            old = target.parent / f"{target.name}.old-{os.getpid()}"
            if target.exists():
                target.rename(old)
            scratch.rename(target)  # the venv's bin/python finds pyvenv.cfg next to it: a venv survives the move
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return Venv(interpreter, time.perf_counter() - started, built=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tree_rss_bytes(group: int) -> int:
    """Resident memory of every process in the process group (LocalStack and anything it started)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != group:  # fields after the command: state, ppid, pgrp, ...
                continue
            status = (entry / "status").read_text()
        except (OSError, ValueError, IndexError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


@dataclass
class LocalStack:
    """A running LocalStack as one test process sees it: endpoint, process group, start-up time, peak RSS seen."""

    endpoint: str
    group: int  # its process group (= its pid): stopping it ends the whole tree
    state: Path  # FILESYSTEM_ROOT's parent: the log and LocalStack's files
    venv: Venv
    start_s: float = 0.0
    peak_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, tree_rss_bytes(self.group))

    def _sampler(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def stats(self) -> dict[str, float | bool]:
        self.sample()
        return {
            "venv_built": self.venv.built,
            "venv_s": round(self.venv.seconds, 1),
            "start_s": round(self.start_s, 2),
            "peak_rss_mb": round(self.peak_rss / 2**20),
        }


def _group_alive(group: int) -> bool:
    return tree_rss_bytes(group) > 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_group(group: int) -> None:
    """SIGTERM the process group, SIGKILL what is left after 20 s. Any test process may do it, not only the starter."""
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    with suppress(ChildProcessError):  # reap it if this process started it
        os.waitpid(group, os.WNOHANG)


def _healthy(endpoint: str, services: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2) as answer:  # noqa: S310 (loopback)
            health = json.load(answer)
    except (OSError, ValueError):
        return False
    states = health.get("services", {})
    return all(states.get(name) in ("available", "running") for name in services.split(","))


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"


CATALOG_CACHE = "var/lib/localstack/cache"  # under FILESYSTEM_ROOT: the service catalog index LocalStack builds


def _reuse_catalog(venv: Venv, state: Path) -> None:
    """Seed this run's state with the service catalog index an earlier run built (10+ s to build on 2 cores)."""
    target = state / CATALOG_CACHE
    target.mkdir(parents=True, exist_ok=True)
    for built in (venv.python.parent.parent / "catalog-cache").glob("service-catalog-*.dill"):
        shutil.copy2(built, target / built.name)


def _keep_catalog(venv: Venv, state: Path) -> None:
    """Keep the index this run built, next to the venv it belongs to (renamed into place: never half-written)."""
    kept = venv.python.parent.parent / "catalog-cache"
    kept.mkdir(exist_ok=True)
    for built in (state / CATALOG_CACHE).glob("service-catalog-*.dill"):
        if not (kept / built.name).exists():
            scratch = kept / f".{built.name}.{os.getpid()}"
            shutil.copy2(built, scratch)
            scratch.rename(kept / built.name)


def start(state: Path, services: str = SERVICES) -> LocalStack:
    """Build the venv if needed, start LocalStack on a free loopback port and wait until its services are up."""
    venv = ensure_venv(find_python())
    state.mkdir(parents=True, exist_ok=True)
    _reuse_catalog(venv, state / "filesystem")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(state)),
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(state / "filesystem"),
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "DISABLE_EVENTS": "1",  # no analytics
        "DNS_ADDRESS": "0",  # no DNS server (it would want port 53 and an upstream resolver)
        "SERVICES": services,
        "EAGER_SERVICE_LOADING": "1",  # load the providers before health says ready: the first call is not slow
    }
    log = state / "localstack.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(venv.python), "-m", "localstack.runtime.main"],
            env=environment,
            cwd=state,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it ends the whole tree
        )
    stack = LocalStack(endpoint, process.pid, state, venv)
    try:
        while not _healthy(endpoint, services):
            if process.poll() is not None:
                raise RuntimeError(f"LocalStack exited ({process.returncode}) while starting:\n{_log_tail(log)}")
            if time.perf_counter() - started > START_TIMEOUT_S:
                raise RuntimeError(f"LocalStack not healthy after {START_TIMEOUT_S:.0f} s:\n{_log_tail(log)}")
            stack.sample()
            time.sleep(0.1)
    except BaseException:
        _stop_group(process.pid)
        raise
    stack.start_s = time.perf_counter() - started
    return stack


@contextmanager
def shared(run: Path, services: str = SERVICES) -> Iterator[LocalStack]:
    """One LocalStack for every process of a test run (the xdist workers): the first starts it, the last stops it.

    `run` is a folder all of them share. Under its lock, `localstack.json` names the instance and the
    pids using it; a user that died is dropped from the list, and an instance nobody alive uses is
    stopped and replaced.
    """
    run.mkdir(parents=True, exist_ok=True)
    record = run / "localstack.json"
    with file_lock(run / "localstack.lock"):
        known = json.loads(record.read_text()) if record.exists() else None
        users = [pid for pid in (known or {}).get("users", []) if _pid_alive(pid)]
        if known and users and _group_alive(known["group"]) and _healthy(known["endpoint"], services):
            venv = Venv(Path(known["python"]), float(known["venv_s"]), bool(known["venv_built"]))
            stack = LocalStack(known["endpoint"], int(known["group"]), Path(known["state"]), venv, known["start_s"])
        else:
            if known:
                _stop_group(int(known["group"]))
            stack, users = start(Path(tempfile.mkdtemp(prefix="localstack-", dir=run)), services), []
        users.append(os.getpid())
        record.write_text(
            json.dumps(
                {
                    "endpoint": stack.endpoint,
                    "group": stack.group,
                    "state": str(stack.state),
                    "python": str(stack.venv.python),
                    "venv_s": stack.venv.seconds,
                    "venv_built": stack.venv.built,
                    "start_s": stack.start_s,
                    "users": users,
                }
            )
        )
    threading.Thread(target=stack._sampler, daemon=True).start()
    try:
        yield stack
    finally:
        stack._stop.set()
        with file_lock(run / "localstack.lock"):
            known = json.loads(record.read_text())
            users = [pid for pid in known["users"] if pid != os.getpid() and _pid_alive(pid)]
            if users:
                record.write_text(json.dumps(known | {"users": users}))
            else:
                _stop_group(stack.group)
                record.unlink()
                _keep_catalog(stack.venv, stack.state / "filesystem")


def main() -> int:
    """Build (or confirm) the LocalStack venv; exit 0 with a note when Python 3.13 is missing (the tests skip)."""
    try:
        python = find_python()
    except PythonNotFound as missing:
        print(f"LocalStack tier will skip: {missing}")
        return 0
    venv = ensure_venv(python)
    state = f"built in {venv.seconds:.0f} s" if venv.built else "up to date"
    print(f"{VENV}: {state} ({python})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
