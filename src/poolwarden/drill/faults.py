"""The faults a drill injects, each with ``start()`` and ``stop()`` (idempotent, always safe to call).

* ``saturation``: every free connection slot taken by real connections, so the app meets the
  server's own "sorry, too many clients already". The target database's other client backends
  are terminated once at the start (``terminate_existing``), so the app has to reconnect, as a
  cold process or a recycled pool would; for the rest of the fault a keeper takes every slot
  that frees up (a client that wins one in a race keeps it while it stays connected).
* ``pool-exhaustion``: the same slots held idle *in a transaction* (what seed 2's enricher did).
* ``terminate``: every client backend of the target database killed once, at the start.
* ``outage``: connections refused and open ones reset — through the drill's TCP proxy.
* ``partition``: open connections reset, new ones accepted and never answered (seed 3's
  failover: the address is there, nothing behind it) — through the proxy.
* ``slow``: latency added to every packet — through the drill's TCP proxy.

Connections the drill opens carry an application_name starting with ``poolwarden-drill``; every
one is closed by ``stop()``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Protocol

from poolwarden.errors import UsageError
from poolwarden.testing.proxy import TcpProxy

__all__ = ["DRILL_APP", "FAULTS", "Fault", "make_fault"]

DRILL_APP = "poolwarden-drill"
FAULTS = ("saturation", "pool-exhaustion", "terminate", "outage", "partition", "slow")
_OTHERS = (f"backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database() "
           f"AND application_name NOT LIKE '{DRILL_APP}%'")


class Fault(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _connect(dsn: str, suffix: str) -> Any:
    import psycopg

    return psycopg.connect(dsn, autocommit=True, connect_timeout=5, application_name=f"{DRILL_APP}-{suffix}")


def terminate_others(dsn: str) -> int:
    """Terminate the target database's client backends that are not the drill's; how many."""
    with _connect(dsn, "terminate") as conn:
        rows = conn.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {_OTHERS}").fetchall()
    return len(rows)


class Saturation:
    """Take every free slot (optionally inside open transactions: pool exhaustion)."""

    def __init__(self, dsn: str, *, in_transaction: bool = False, terminate_existing: bool = True,
                 limit: int = 10_000) -> None:
        self.name = "pool-exhaustion" if in_transaction else "saturation"
        self.dsn = dsn
        self.in_transaction = in_transaction
        self.terminate_existing = terminate_existing
        self.limit = limit
        self.held: list[Any] = []
        self._stopping = threading.Event()
        self._keeper: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._fill()
        if self.terminate_existing and self.held:
            self.held[0].execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {_OTHERS}")
            self._fill()
        # clients racing for slots win one now and then: a keeper takes every slot that frees up
        self._keeper = threading.Thread(target=self._keep, name="poolwarden-drill-keeper", daemon=True)
        self._keeper.start()

    def _keep(self) -> None:
        while not self._stopping.is_set() and len(self.held) < self.limit:
            try:
                conn = self._one()
            except Exception:
                conn = None  # a failed attempt is retried; stop() closes what was taken
            if conn is None:
                self._stopping.wait(0.02)
            else:
                self.held.append(conn)

    def _fill(self) -> None:
        """Open connections, eight at a time, until the server refuses one."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="poolwarden-drill-fill") as pool:
            while len(self.held) < self.limit:
                futures = [pool.submit(self._one) for _ in range(8)]
                refused, error = False, None
                for future in futures:  # keep every connection that opened, even if another failed
                    try:
                        conn = future.result()
                    except Exception as exc:
                        error = error or exc
                        continue
                    if conn is None:
                        refused = True
                    else:
                        self.held.append(conn)
                if error is not None:
                    raise error
                if refused:
                    return
        raise UsageError(f"{self.name}: the server accepted {self.limit} connections without refusing one")

    def _one(self) -> Any:
        """One more held connection, or None when the server refused it for lack of slots."""
        import psycopg

        try:
            conn = _connect(self.dsn, self.name)
        except psycopg.OperationalError as exc:
            text = str(exc)
            if "too many clients" in text or "reserved for" in text or "remaining connection slots" in text:
                return None
            raise
        if self.in_transaction:
            conn.execute("BEGIN")
            conn.execute("SELECT txid_current()")  # a real transaction, idle from now on
        return conn

    def stop(self) -> None:
        self._stopping.set()
        if self._keeper is not None:
            self._keeper.join(timeout=10)
            self._keeper = None
        held, self.held = self.held, []
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()


class Terminate:
    """Kill the target database's client backends once, when the fault starts."""

    name = "terminate"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.terminated = 0

    def start(self) -> None:
        self.terminated = terminate_others(self.dsn)

    def stop(self) -> None:
        pass


class Outage:
    """Refuse connections and reset open ones at the drill's proxy; heal at the end."""

    name = "outage"

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy

    def start(self) -> None:
        self.proxy.refuse()

    def stop(self) -> None:
        self.proxy.heal()


class Partition:
    """Reset open connections, then accept new ones and never answer; heal at the end."""

    name = "partition"

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy

    def start(self) -> None:
        self.proxy.reset()
        self.proxy.partition()

    def stop(self) -> None:
        self.proxy.heal()


class Slow:
    """Add ``delay`` seconds to every chunk through the drill's proxy."""

    name = "slow"

    def __init__(self, proxy: TcpProxy, delay: float) -> None:
        self.proxy = proxy
        self.delay = delay

    def start(self) -> None:
        self.proxy.delay = self.delay

    def stop(self) -> None:
        self.proxy.delay = 0.0


def make_fault(name: str, dsn: str, proxy: TcpProxy | None, *, delay: float = 0.5,
               terminate_existing: bool = True) -> Fault:
    """The fault called ``name``; outage and slow need the drill's proxy (``--start-postgres``)."""
    if name in ("outage", "partition", "slow") and proxy is None:
        raise UsageError(f"--fault {name} needs the app to connect through the drill's proxy: use --start-postgres")
    if name == "saturation":
        return Saturation(dsn, terminate_existing=terminate_existing)
    if name == "pool-exhaustion":
        return Saturation(dsn, in_transaction=True, terminate_existing=terminate_existing)
    if name == "terminate":
        return Terminate(dsn)
    if name == "outage":
        assert proxy is not None
        return Outage(proxy)
    if name == "partition":
        assert proxy is not None
        return Partition(proxy)
    if name == "slow":
        assert proxy is not None
        return Slow(proxy, delay)
    raise UsageError(f"unknown fault {name!r} (expected one of: {', '.join(FAULTS)})")
