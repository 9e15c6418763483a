"""Taking every free connection slot of a server with real connections (``pg_saturate``, the drill).

:class:`Saturator` opens connections eight at a time until the server refuses one with its own
"too many clients" (or "reserved for …" for roles without the reserved slots); optionally each
connection is left idle inside a transaction. :meth:`Saturator.keep` starts a thread that takes
every slot that frees up until :meth:`Saturator.release`, which closes everything it opened.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

__all__ = ["SaturationLimit", "Saturator", "is_refusal"]

_REFUSALS = ("too many clients", "reserved for", "remaining connection slots")


class SaturationLimit(RuntimeError):
    """The server accepted ``limit`` connections without refusing one."""


def is_refusal(exc: BaseException) -> bool:
    """Whether a connect failed because the server has no free slot."""
    text = str(exc)
    return any(marker in text for marker in _REFUSALS)


class Saturator:
    """Connections held on ``dsn`` (named ``application_name``) until :meth:`release`."""

    def __init__(self, dsn: str, application_name: str, *, in_transaction: bool = False,
                 limit: int = 10_000) -> None:
        self.dsn = dsn
        self.application_name = application_name
        self.in_transaction = in_transaction
        self.limit = limit
        self.held: list[Any] = []
        self._stopping = threading.Event()
        self._keeper: threading.Thread | None = None

    def fill(self) -> None:
        """Open connections, eight at a time, until the server refuses one."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="poolwarden-fill") as pool:
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
        raise SaturationLimit(f"the server accepted {self.limit} connections without refusing one")

    def keep(self) -> None:
        """From now on, take every slot that frees up (clients racing for slots win one now and then)."""
        self._stopping.clear()
        self._keeper = threading.Thread(target=self._keep, name="poolwarden-keeper", daemon=True)
        self._keeper.start()

    def release(self) -> None:
        """Stop the keeper and close every connection; idempotent."""
        self._stopping.set()
        if self._keeper is not None:
            self._keeper.join(timeout=10)
            self._keeper = None
        held, self.held = self.held, []
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()

    def _keep(self) -> None:
        while not self._stopping.is_set() and len(self.held) < self.limit:
            try:
                conn = self._one()
            except Exception:
                conn = None  # a failed attempt is retried; release() closes what was taken
            if conn is None:
                self._stopping.wait(0.02)
            else:
                self.held.append(conn)

    def _one(self) -> Any:
        """One more held connection, or None when the server refused it for lack of slots."""
        import psycopg

        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                   application_name=self.application_name)
        except psycopg.OperationalError as exc:
            if is_refusal(exc):
                return None
            raise
        if self.in_transaction:
            conn.execute("BEGIN")
            conn.execute("SELECT txid_current()")  # a real transaction, idle from now on
        return conn
