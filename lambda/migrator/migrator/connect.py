"""Open the one connection a run uses, with bounded waits, and never show its password."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import psycopg
from psycopg import conninfo as pg_conninfo

from migrator.errors import AuthenticationFailed, InvalidInput, MigratorError

APPLICATION_NAME = "migrator"

# The engine's own statements find functions, operators and relations in pg_catalog only. A migration runs as
# the database's owner: it may create public.set_config(...) or public.pg_roles and put public first in the
# database's or its role's search_path, and whoever connects next (the master at hand-over, a superuser running
# `status`) would run them. A plain SET calls no function that could be shadowed. It is set per session after
# connecting, never as a startup option: the per-file RESET ALL gives each file the database's and role's own
# search_path, as a new psql session would have it, and the engine sets this again after every file.
ENGINE_SEARCH_PATH = b"SET search_path = pg_catalog, pg_temp"


# The session limits' defaults, for the command line, the handler and the runner alike.
DEFAULT_LOCK_TIMEOUT = "1s"  # one attempt's wait: queries of that table queue behind it (see migrator.live)
DEFAULT_STATEMENT_TIMEOUT = "15min"
DEFAULT_CONNECT_TIMEOUT_S = 10
# A stopped client (SIGSTOP, a suspended laptop, a dead bastion session) inside a batch holds its locks until the
# server ends its session: at most this long, on every path (the application's own sessions are not touched).
DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT = "60s"


@dataclass(frozen=True)
class SessionLimits:
    """Per-session limits, set with SET after connecting (RDS Proxy rejects startup options).

    lock_timeout bounds how long a migration may queue behind (and so block) live
    traffic on a table; statement_timeout bounds any one statement.
    """

    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT_S
    # If the client dies (Lambda killed, laptop closed), the server aborts the running statement
    # within this interval instead of finishing it while holding the batch's locks.
    client_check_interval: str = "2s"
    idle_in_transaction_timeout: str = DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT


def redact(conninfo: str) -> str:
    """The connection target without its password, safe for messages and logs."""
    try:
        params = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "(unparseable connection string)"
    params.pop("password", None)
    host = params.get("host") or "local socket"
    port, dbname, user = params.get("port") or 5432, params.get("dbname") or "?", params.get("user") or "?"
    return f"host={host} port={port} dbname={dbname} user={user}"


_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(\bpostgres(?:ql)?://[^:/?#@\s]*:)[^@/?#\s]*@", re.IGNORECASE)
MASK = "********"


def _scrub(message: str, conninfo: str) -> str:
    """Mask the password where a message shows connection parameters: the connection string itself,
    `password=…`, or a URL's `user:…@`. Not every occurrence of the password's text: with password
    `postgres`, `user "postgres"` must stay readable, and password `p` must not garble `port`."""
    if conninfo and conninfo in message:
        message = message.replace(conninfo, redact(conninfo))
    message = _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + MASK, message)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + "@", message)


def connect(conninfo: str, limits: SessionLimits, attempts: int = 1, backoff: float = 1.0) -> psycopg.Connection:
    """Connect in autocommit mode (transactions are explicit), retrying a fresh instance's refusals."""
    try:
        pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        raise InvalidInput("the database URL cannot be parsed", hint="use postgresql://user@host:port/dbname") from None
    last = ""
    for attempt in range(attempts):
        try:
            conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=limits.connect_timeout)
        except psycopg.OperationalError as exc:
            last = _scrub(str(exc).strip(), conninfo)
            if exc.sqlstate == "28P01" or "password authentication failed" in last:
                raise AuthenticationFailed(
                    f"cannot connect to {redact(conninfo)}: {last}",
                    hint="the password was refused: check the secret (rotated?); the database was not changed",
                ) from None
            if attempt + 1 < attempts:
                time.sleep(backoff * 2**attempt)
            continue
        # No server-side prepared statements of psycopg's own: the session's state is the migrations' (a file's
        # PREPARE, and the DEALLOCATE ALL that ends it before the next file as psql's new session would).
        conn.prepare_threshold = None
        apply_limits(conn, limits)
        return conn
    raise MigratorError(
        f"cannot connect to {redact(conninfo)}: {last}",
        hint="check host, port, credentials and network path (security group, VPN); the database was not changed",
    )


def pin_search_path(conn: psycopg.Connection) -> None:
    """The engine's statements from here on resolve names in pg_catalog only (see ENGINE_SEARCH_PATH)."""
    conn.execute(ENGINE_SEARCH_PATH)


def apply_limits(conn: psycopg.Connection, limits: SessionLimits) -> None:
    pin_search_path(conn)  # first: nothing below may call a function a migration created
    conn.execute("SELECT pg_catalog.set_config('lock_timeout', %s, false)", (limits.lock_timeout,))
    conn.execute("SELECT pg_catalog.set_config('statement_timeout', %s, false)", (limits.statement_timeout,))
    conn.execute("SELECT pg_catalog.set_config('application_name', %s, false)", (APPLICATION_NAME,))
    conn.execute(
        "SELECT pg_catalog.set_config('client_connection_check_interval', %s, false)", (limits.client_check_interval,)
    )
    conn.execute(
        "SELECT pg_catalog.set_config('idle_in_transaction_session_timeout', %s, false)",
        (limits.idle_in_transaction_timeout,),
    )
