"""An AWS endpoint that accepts every connection and never answers: what the functions meet once CloudFormation
has removed the VPC endpoints or security-group rules beside the custom resource."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """Accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stopped = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stopped.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stopped.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()
