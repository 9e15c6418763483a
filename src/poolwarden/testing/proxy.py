"""A local TCP proxy in front of a server, with the network faults pools meet in production.

::

    with TcpProxy(cluster.host, cluster.port) as proxy:
        dsn = cluster.dsn().replace(f":{cluster.port}/", f":{proxy.port}/")  # or proxy.dsn(...)
        proxy.delay = 0.2          # every chunk waits 200 ms each way ("slow")
        proxy.partition()          # existing connections freeze, new ones connect but never get an answer
        proxy.refuse()             # nothing listens: "connection refused"
        proxy.reset()              # every open connection is reset (RST), the listener stays
        proxy.heal()               # back to forwarding (frozen/held sockets are closed)

Loopback only by default. The target may be a Unix socket directory (``target_host`` a path, as
libpq takes one: ``{dir}/.s.PGSQL.{port}``): a path reaches the server from another network
namespace too. Threads, one pair per connection: a test tool, not a load balancer.

:meth:`TcpProxy.partition` freezes forwarding in the proxy: the kernel still acknowledges what the
client sends and answers its keepalive probes. For a network that really drops packets (what TCP
keepalives and ``tcp_user_timeout`` detect), drop them in the kernel (tests/adversarial/partition_probe.py).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from types import TracebackType

__all__ = ["TcpProxy"]


def _hard_close(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a crashed peer or a middlebox does.

    ``shutdown(SHUT_RD)`` first wakes a pump blocked in ``recv`` on this socket (a bare close
    from another thread would not: the kernel keeps the socket until that ``recv`` returns)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


def _close(sock: socket.socket) -> None:
    """Close with FIN, waking a pump blocked in ``recv`` on it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forward ``listen_host:port`` to ``target_host:target_port``; switch faults at run time."""

    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1",
                 listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host = listen_host
        self.port = listen_port
        self.delay = 0.0  # seconds added to every forwarded chunk, each direction
        self.accepted = 0  # connections accepted since start
        self._flowing = threading.Event()
        self._flowing.set()
        self._partitioned = False
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._held: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._listen()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; idempotent."""
        self._stopped = True
        self._flowing.set()
        self._close_listener()
        self._drop_all(hard=False)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def dsn(self, dsn: str) -> str:
        """``dsn`` (a URL pointing at the target) rewritten to go through the proxy."""
        host, port = self.target
        return dsn.replace(f"@{host}:{port}/", f"@{self.host}:{self.port}/").replace(
            f"host={host} port={port}", f"host={self.host} port={self.port}")

    # -- faults ------------------------------------------------------------------------------------
    def partition(self) -> None:
        """Existing connections stop moving; new ones are accepted and never answered."""
        with self._lock:
            self._partitioned = True
            self._flowing.clear()

    def refuse(self) -> None:
        """Stop listening (new connections are refused) and reset the open ones."""
        self._close_listener()
        self.reset()

    def reset(self) -> None:
        """Reset every open connection (RST to the client); the listener stays."""
        self._drop_all(hard=True)

    def heal(self) -> None:
        """Forward again: listen if refusing, unfreeze, close what the partition held."""
        with self._lock:
            self._partitioned = False
            held, self._held = self._held, []
        for sock in held:
            _hard_close(sock)
        self._flowing.set()
        if self._listener is None and not self._stopped:
            self._listen()

    # -- machinery ---------------------------------------------------------------------------------
    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), name="poolwarden-proxy", daemon=True).start()

    def _close_listener(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _drop_all(self, *, hard: bool) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, set()
            held, self._held = self._held, []
        for client, server in pairs:
            if hard:
                _hard_close(client)
            else:
                _close(client)
            _close(server)
        for sock in held:
            _hard_close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed
            self.accepted += 1
            with self._lock:
                if self._partitioned:
                    self._held.append(client)
                    continue
            try:
                server = self._connect_target()
                server.settimeout(None)
            except OSError:
                _hard_close(client)
                continue
            with self._lock:
                self._pairs.add((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst, (client, server)), daemon=True).start()

    def _connect_target(self) -> socket.socket:
        host, port = self.target
        if not host.startswith("/"):
            return socket.create_connection(self.target, timeout=5)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(5)
            sock.connect(f"{host}/.s.PGSQL.{port}")
        except OSError:
            sock.close()
            raise
        return sock

    def _pump(self, src: socket.socket, dst: socket.socket, pair: tuple[socket.socket, socket.socket]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                if self.delay:
                    time.sleep(self.delay)  # the injected latency itself
                with self._lock:
                    if pair not in self._pairs:
                        return
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
        for sock in pair:
            _close(sock)
