"""Real psql as the oracle for statement splitting: what exactly does `psql -f` send?

A tiny fake PostgreSQL server speaks just enough of the wire protocol (startup, then simple
Query messages) to let psql connect and run a file, and records every query string psql sends,
verbatim, without executing anything. So the tests OBSERVE psql's own lexer (psqlscan.l) instead
of re-implementing it: nothing here knows where a statement ends.

One psql process can run many files (`-c MARK -f file -c MARK -f file ...`): the marks, sent as
single queries, tell which queries came from which file, so a batch of examples costs one process.

The server announces `standard_conforming_strings=on`, UTF8 and server_version 17, as a real
PostgreSQL 17 does. For `COPY ... FROM STDIN` (recognised by a rough regex: the fake has no parser)
it answers CopyInResponse, so psql streams the inline data as it would to a real server; the data
is recorded as one entry starting with COPY_DATA.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from migrator.embedded import _tool

_SSL_REQUEST, _GSSENC_REQUEST, _PROTOCOL_3 = 80877103, 80877104, 196608
_PARAMETERS = {
    "server_version": "17.0",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "standard_conforming_strings": "on",
    "DateStyle": "ISO, MDY",
    "integer_datetimes": "on",
    "is_superuser": "off",
    "session_authorization": "oracle",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
}
_COPY_FROM_STDIN = re.compile(r"^\s*copy\b.*\bfrom\s+stdin\b", re.IGNORECASE | re.DOTALL)
COPY_DATA = "\x00copy-data\x00"  # prefix of a recorded COPY data stream (never a query: NUL can't be sent)
_MARK = "-- psql-oracle file "


def _message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def _cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _read_message(conn: socket.socket) -> tuple[bytes, bytes]:
    kind = _read_exact(conn, 1)
    (length,) = struct.unpack("!I", _read_exact(conn, 4))
    return kind, _read_exact(conn, length - 4)


class FakePostgres:
    """Records the simple-protocol queries of each connection, keyed by the startup `dbname`."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._queries: dict[str, list[str]] = {}
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.close()

    def queries(self, dbname: str) -> list[str]:
        with self._lock:
            return self._queries.pop(dbname, [])

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _startup(self, conn: socket.socket) -> str:
        """Refuse SSL/GSS encryption, accept the startup packet, and say the server is ready."""
        while True:
            (length,) = struct.unpack("!I", _read_exact(conn, 4))
            body = _read_exact(conn, length - 4)
            (code,) = struct.unpack("!I", body[:4])
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                conn.sendall(b"N")
                continue
            if code != _PROTOCOL_3:
                raise ConnectionError(f"unexpected startup code {code}")
            fields = body[4:].split(b"\x00")
            params = dict(zip(fields[0::2], fields[1::2], strict=False))
            reply = _message(b"R", struct.pack("!I", 0))
            for name, value in _PARAMETERS.items():
                reply += _message(b"S", _cstring(name) + _cstring(value))
            reply += _message(b"K", struct.pack("!II", 4242, 1)) + _message(b"Z", b"I")
            conn.sendall(reply)
            return params.get(b"database", b"").decode()

    def _copy_in(self, conn: socket.socket) -> str:
        """Take a COPY FROM STDIN data stream (CopyData messages up to CopyDone or CopyFail)."""
        conn.sendall(_message(b"G", b"\x00" + struct.pack("!H", 0)))
        data = b""
        while True:
            kind, payload = _read_message(conn)
            if kind == b"d":
                data += payload
            elif kind in (b"c", b"f"):
                return COPY_DATA + data.decode()

    def _session(self, conn: socket.socket) -> None:
        with conn:
            try:
                key = self._startup(conn)
                while True:
                    kind, payload = _read_message(conn)
                    if kind == b"X":
                        return
                    if kind != b"Q":
                        raise ConnectionError(f"unexpected message {kind!r}")
                    query = payload[:-1].decode()
                    recorded = [query]
                    if _COPY_FROM_STDIN.match(query):
                        recorded.append(self._copy_in(conn))
                        reply = _message(b"C", _cstring("COPY 0"))
                    elif query.strip():
                        reply = _message(b"C", _cstring("SELECT 0"))
                    else:
                        reply = _message(b"I")
                    with self._lock:
                        self._queries.setdefault(key, []).extend(recorded)
                    conn.sendall(reply + _message(b"Z", b"I"))
            except ConnectionError:
                return


class PsqlOracle:
    """Run files through real `psql -X -f` against the fake server; return what psql sent, per file."""

    def __init__(self) -> None:
        self.server = FakePostgres()
        self.psql = _tool("psql")
        self._scratch = Path(tempfile.mkdtemp(prefix="psql-oracle-"))

    def close(self) -> None:
        self.server.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def run(self, texts: Sequence[bytes]) -> list[list[str]]:
        """The queries psql sends for each file of `texts` (raw bytes, as on disk), in one psql process."""
        key = uuid.uuid4().hex
        argv = [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=0"]
        for index, text in enumerate(texts):
            path = self._scratch / f"{key}_{index}.sql"
            path.write_bytes(text)
            argv += ["-c", f"{_MARK}{index}", "-f", str(path)]
        argv += [
            "-c",
            f"{_MARK}end",
            f"host=127.0.0.1 port={self.server.port} sslmode=disable gssencmode=disable user=oracle dbname={key}",
        ]
        env = {**os.environ, "PGCLIENTENCODING": "UTF8", "PGOPTIONS": "", "PSQLRC": os.devnull}
        done = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)
        for index in range(len(texts)):
            (self._scratch / f"{key}_{index}.sql").unlink()
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
        return _per_file(self.server.queries(key), len(texts))


def _per_file(queries: list[str], count: int) -> list[list[str]]:
    """Cut the recorded stream at the marks: the queries between mark i and mark i+1 are file i's."""
    files: list[list[str]] = []
    for query in queries:
        if query.startswith(_MARK):
            files.append([])
        elif files:
            files[-1].append(query)
        else:
            raise RuntimeError(f"psql oracle: a query before the first mark: {query!r}")
    if len(files) != count + 1 or files[-1]:
        raise RuntimeError(f"psql oracle: expected {count} files between marks, got {queries!r}")
    return files[:-1]
