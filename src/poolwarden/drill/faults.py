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

from typing import Any, Protocol

from poolwarden.errors import UsageError
from poolwarden.testing.proxy import TcpProxy
from poolwarden.testing.saturate import SaturationLimit, Saturator

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
        self.terminate_existing = terminate_existing
        self._slots = Saturator(dsn, f"{DRILL_APP}-{self.name}", in_transaction=in_transaction, limit=limit)

    @property
    def held(self) -> list[Any]:
        return self._slots.held

    def start(self) -> None:
        try:
            self._slots.fill()
            if self.terminate_existing and self.held:
                self.held[0].execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {_OTHERS}")
                self._slots.fill()
        except SaturationLimit as exc:
            raise UsageError(f"{self.name}: {exc}") from None
        self._slots.keep()

    def stop(self) -> None:
        self._slots.release()


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
