from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.tls_server import TlsServer, start_tls_server


@pytest.fixture(scope="session")
def tls_server() -> Iterator[TlsServer]:
    # Not under pytest's tmp dir: that is private to root, and the server may run as `nobody`.
    root = Path(tempfile.mkdtemp(prefix="migrator-tls-"))
    root.chmod(0o755)
    started = start_tls_server(root)
    yield started
    started.server.stop()
    shutil.rmtree(root, ignore_errors=True)
