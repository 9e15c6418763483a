"""Bounds on an *established* TCP connection: keepalive probes and ``TCP_USER_TIMEOUT``.

A connect timeout bounds only the connect. Once a connection is up, a network that drops
packets without resetting them (a partition, a failed-over address, a NAT that forgot the flow)
leaves the client waiting on a read that never returns — on Linux until the retransmissions give
up (``tcp_retries2``: ~15 minutes) when data is unacknowledged, and for ever when nothing is (a
query the server acknowledged and is still running: the client only reads). Two kernel settings
bound both cases:

* keepalive probes (``SO_KEEPALIVE``, ``TCP_KEEPIDLE``, ``TCP_KEEPINTVL``, ``TCP_KEEPCNT``): after
  ``idle`` seconds without traffic the kernel probes the peer; with no answer the connection fails;
* ``TCP_USER_TIMEOUT`` (milliseconds): the connection fails once sent data — a query, or a probe —
  has stayed unacknowledged that long.

The read then fails with ``ETIMEDOUT``, which the driver reports as a lost connection
(:func:`poolwarden.runtime.errors.classify`: CONNECTION).

libpq drivers (psycopg 3, psycopg2) take these as connection parameters. asyncpg has none
(MagicStack/asyncpg#606, open since 2020; its maintainers point at the transport's socket), but
it lets the caller choose the connection class: :func:`asyncpg_connection_class` returns an
``asyncpg.Connection`` subclass that sets the same options on its socket as it is made.
"""

from __future__ import annotations

import functools
import socket
from dataclasses import dataclass
from typing import Any

__all__ = ["TcpBounds", "asyncpg_connection_class"]


@dataclass(frozen=True)
class TcpBounds:
    """Keepalive probes and the unacknowledged-data timeout of one connection (libpq's meaning)."""

    keepalives: bool = True
    idle: int = 10  # seconds without traffic before the first probe
    interval: int = 5  # seconds between probes
    count: int = 3  # unanswered probes before the connection fails (TCP_USER_TIMEOUT may end it first)
    user_timeout_ms: int = 30_000  # 0: the kernel's default (~15 min of retransmissions)

    def libpq(self) -> dict[str, int]:
        """The libpq connection parameters (a value of 0 means libpq's/the system's default)."""
        params = {"keepalives": int(self.keepalives), "tcp_user_timeout": self.user_timeout_ms}
        if self.keepalives:
            params.update(keepalives_idle=self.idle, keepalives_interval=self.interval,
                          keepalives_count=self.count)
        return params

    def apply(self, sock: Any) -> None:
        """Set the options on a TCP socket, as libpq does on its own (other families: nothing).

        An option this platform lacks is skipped, like libpq skips it; 0 leaves the system default.
        """
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(self.keepalives))
        options = [("TCP_USER_TIMEOUT", self.user_timeout_ms)]
        if self.keepalives:
            options += [("TCP_KEEPIDLE", self.idle), ("TCP_KEEPINTVL", self.interval), ("TCP_KEEPCNT", self.count)]
        for name, value in options:
            option = getattr(socket, name, None)
            if option is not None and value > 0:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


@functools.lru_cache(maxsize=64)
def asyncpg_connection_class(bounds: TcpBounds) -> type[Any]:
    """An ``asyncpg.Connection`` subclass whose socket gets ``bounds`` when the connection is made.

    Pass it as asyncpg's ``connection_class`` (documented since asyncpg 0.10); one class per
    distinct ``bounds``, made once.
    """
    import asyncpg

    class BoundedConnection(asyncpg.Connection):  # type: ignore[misc]
        __slots__ = ()

        def __init__(self, protocol: Any, transport: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(protocol, transport, *args, **kwargs)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                bounds.apply(sock)

    BoundedConnection.__qualname__ = BoundedConnection.__name__ = "BoundedConnection"
    return BoundedConnection
