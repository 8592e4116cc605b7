"""A TCP proxy to the test server that a test can cut, to make the server unreachable mid-run."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path


class CuttableProxy:
    def __init__(self, target: str | tuple[str, int], forward: bool = True) -> None:
        """`target`: a Unix socket path, or (host, port) of a TCP server (TLS passes through untouched)."""
        self._target, self._forward = target, forward
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            if not self._forward:
                continue  # accept, then say nothing: a host that does not answer
            server = socket.socket(socket.AF_UNIX if isinstance(self._target, str) else socket.AF_INET)
            server.connect(self._target)
            with self._lock:
                self._sockets.append(server)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close the listener and every connection, in both directions, at once."""
        with self._lock:
            for sock in [self._listener, *self._sockets]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def server_address(conninfo_host: str, port: str) -> str | tuple[str, int]:
    """Where the server of a conninfo listens: its Unix socket, or its TCP address."""
    if conninfo_host.startswith("/"):
        return str(Path(conninfo_host) / f".s.PGSQL.{port}")
    return (conninfo_host, int(port))
