"""How a runner session is bounded when its client may vanish without closing the connection.

A runner torn down without closing its connection must not leave the batch's locks held. Killed, its
kernel closes the socket and the server aborts the statement (client_connection_check_interval). Gone
silent (container frozen, network cut), the server ends the session itself: an idle session or
transaction is ended after the idle timeout, and TCP keepalives on both ends detect a peer that no
longer answers.
"""

from __future__ import annotations

# Client side (libpq): a server that stops answering is noticed within idle + interval x count seconds.
KEEPALIVES = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3"}


def session_options(idle_timeout_s: int) -> str:
    """Server-side bounds, as startup options so that the engine's per-file RESET ALL keeps them.

    tcp_keepalives_* and tcp_user_timeout make the server drop a client whose host vanished;
    idle_session_timeout and idle_in_transaction_session_timeout end a client that is alive at the TCP
    level but silent (a frozen process): the runner never idles longer than a lock poll between steps.
    """
    idle = f"{idle_timeout_s * 1000}"
    settings = {
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "60000",
        "idle_in_transaction_session_timeout": idle,
        "idle_session_timeout": idle,
    }
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def runner_connection(idle_timeout_s: int) -> tuple[tuple[str, str], ...]:
    return (*KEEPALIVES.items(), ("options", session_options(idle_timeout_s)))
