"""A total connect deadline across every host and IP address of a multi-host DSN.

libpq applies ``connect_timeout`` to each host *and each of its IP addresses* in turn, so a name
that resolves to 12 addresses that never answer costs 12 timeouts (seed 3: 24 minutes). Here
the DSN is expanded into attempts (each host, then each of its resolved addresses, as libpq orders them), each
attempt gets what is left of one total budget (optionally also capped by ``per_attempt``), and
the whole call fails with :class:`ConnectDeadlineExceeded` — a ``ConnectionError``, so
:func:`~poolwarden.runtime.errors.is_transient` says retry later — once the budget is spent.

A configuration error is not an outage: when no attempt connected and at least one failed for a
non-transient reason (:func:`~poolwarden.runtime.errors.classify` says ``NOT_TRANSIENT``: wrong
password, missing database or role, SSL required but refused, a host name that does not exist),
the call raises the *first* such error itself — the driver's own exception, exactly what the
call without a deadline raises — with a note listing every attempt, whether or not other
attempts timed out or were refused. Like libpq, every attempt is still tried first (a later host
may accept). Only when every attempt met an outage (refused, unreachable, no answer in time,
budget spent) is :class:`ConnectDeadlineExceeded` raised.

libpq cannot wait less than 2 s per attempt, so sync attempts run in a helper thread that the
caller stops waiting for at the deadline; a connection that still arrives later is closed at
once. Async attempts are cancelled with :func:`asyncio.wait_for`.

``connect_with_deadline(psycopg.connect, "host=a,b dbname=app", total=3)`` works with any
libpq driver function taking keywords; :meth:`CircuitBreaker.attach <poolwarden.runtime.breaker.
CircuitBreaker.attach>` applies the same to SQLAlchemy engines (sync and asyncio).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from poolwarden.runtime.errors import ErrorKind, classify

__all__ = ["ConnectDeadlineExceeded", "aconnect_with_deadline", "attempts", "connect_with_deadline"]


class ConnectDeadlineExceeded(ConnectionError):
    """Every attempt met an outage (refused, unreachable, no answer in time) or the total deadline
    passed; ``errors`` says what each attempt met. Never raised for a configuration error."""

    def __init__(self, message: str, errors: list[tuple[str, BaseException | None]]) -> None:
        super().__init__(message)
        self.errors = errors


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part for part in str(value).split(",")]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def attempts(params: Mapping[str, Any], *, resolve: Callable[[str, str], list[str]] | None = None,
             libpq: bool = True) -> list[dict[str, Any]]:
    """``params`` split into one keyword set per host (and, for libpq, per resolved address).

    ``host`` / ``port`` / ``hostaddr`` may be comma-separated strings (libpq) or lists (asyncpg
    through SQLAlchemy). Unix-socket hosts and literal addresses are not resolved; a name that
    does not resolve stays as one attempt (the driver reports the error).
    """
    hosts = _split(params.get("host")) or [""]
    ports = _split(params.get("port"))
    addrs = _split(params.get("hostaddr"))
    if len(ports) == 1:
        ports = ports * len(hosts)
    out: list[dict[str, Any]] = []
    for i, host in enumerate(hosts):
        one = dict(params)
        one["host"] = host or None
        if ports:
            one["port"] = int(ports[i]) if not libpq else ports[i]
        if addrs:
            one["hostaddr"] = addrs[i]
            out.append(one)
            continue
        if not libpq or not host or host.startswith("/") or _is_address(host) or resolve is None:
            out.append(one)
            continue
        ips = resolve(host, str(one.get("port") or 5432))
        out.extend([{**one, "hostaddr": ip} for ip in ips] or [one])
    for one in out:
        for key in [k for k, v in one.items() if v is None]:
            del one[key]
    return out


def _resolver(deadline: float) -> Callable[[str, str], list[str]]:
    def resolve(host: str, port: str) -> list[str]:
        def lookup() -> list[str]:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            return list(dict.fromkeys(str(info[4][0]) for info in infos))

        ips, _ = _within(lookup, max(0.0, deadline - time.monotonic()))
        return ips or []  # unresolved or too slow: the host stays one attempt, the driver reports it
    return resolve


def _describe(params: Mapping[str, Any]) -> str:
    host = params.get("host") or "(default socket)"
    addr = params.get("hostaddr")
    port = params.get("port")
    where = f"{host}[{addr}]" if addr and addr != host else str(host)
    return f"{where}:{port}" if port else where


def _budget(deadline: float, per_attempt: float | None) -> float:
    remaining = deadline - time.monotonic()
    return min(remaining, per_attempt) if per_attempt else remaining


def _check(total: float, per_attempt: float | None) -> None:
    for name, value in (("total", total), ("per_attempt", per_attempt)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _fail(total: float, errors: list[tuple[str, BaseException | None]]) -> BaseException:
    """What a call that connected nowhere raises: the first configuration error met, else
    :class:`ConnectDeadlineExceeded` (see the module docstring)."""
    tried = "; ".join(f"{where}: {type(e).__name__ if e else 'no answer in time'}" for where, e in errors)
    summary = f"{len(errors)} attempt(s): {tried or 'none started'}"
    for _, error in errors:
        if error is not None and classify(error) is ErrorKind.NOT_TRANSIENT:
            error.add_note(f"poolwarden: connect deadline of {total:g} s, {summary}")
            return error  # an answer, not an outage: the caller must see it as one
    return ConnectDeadlineExceeded(f"could not connect within the total deadline of {total:g} s ({summary})",
                                   errors)


def connect_with_deadline(connect: Callable[..., Any], dsn: str | None = None, *, total: float,
                          per_attempt: float | None = None, **params: Any) -> Any:
    """Connect with a libpq driver (``psycopg.connect``, ``psycopg2.connect``) within ``total`` seconds.

    ``dsn`` is parsed into keywords (psycopg's or psycopg2's parser); ``params`` add to it.
    Returns the first connection made; raises the first configuration error met (the driver's
    own exception) or :class:`ConnectDeadlineExceeded` otherwise.
    """
    _check(total, per_attempt)
    if dsn is not None:
        params = {**_parse(dsn), **params}
    deadline = time.monotonic() + total
    errors: list[tuple[str, BaseException | None]] = []
    for attempt in attempts(params, resolve=_resolver(deadline)):
        budget = _budget(deadline, per_attempt)
        if budget <= 0:
            break
        attempt["connect_timeout"] = max(2, math.ceil(budget))  # libpq's own floor; the thread enforces ours
        conn, error = _within(functools.partial(connect, **attempt), budget, discard=_close)
        if conn is not None:
            return conn
        errors.append((_describe(attempt), error))
    raise _fail(total, errors)


def _close(conn: Any) -> None:
    conn.close()  # a connection that arrived after its caller gave up: leave none behind


def _within(fn: Callable[[], Any], budget: float,
            discard: Callable[[Any], None] | None = None) -> tuple[Any, BaseException | None]:
    """``fn()`` in a helper thread, waited for ``budget`` seconds: (result, None), (None, error), or
    (None, None) when it is still running — a result arriving after that goes to ``discard``."""
    lock = threading.Lock()
    state: dict[str, Any] = {"abandoned": False}

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:
            state["error"] = exc
            return
        with lock:
            if not state["abandoned"]:
                state["result"] = result
                return
        if discard is not None:
            discard(result)  # the caller gave up on it

    t = threading.Thread(target=run, name="poolwarden-deadline", daemon=True)
    t.start()
    t.join(budget)
    with lock:
        if "result" in state:
            return state["result"], None
        if t.is_alive():
            state["abandoned"] = True
            return None, None
    return None, state.get("error")


async def aconnect_with_deadline(connect: Callable[..., Awaitable[Any]], *, total: float,
                                 per_attempt: float | None = None, libpq: bool = True, **params: Any) -> Any:
    """The async twin: ``psycopg.AsyncConnection.connect`` (``libpq=True``) or ``asyncpg.connect``."""
    _check(total, per_attempt)
    deadline = time.monotonic() + total
    errors: list[tuple[str, BaseException | None]] = []
    loop = asyncio.get_running_loop()

    plan = attempts(params, resolve=None, libpq=libpq)
    if libpq:  # resolve addresses here: awaited, not blocking the loop
        expanded: list[dict[str, Any]] = []
        for one in plan:
            host = one.get("host")
            if host and "hostaddr" not in one and not host.startswith("/") and not _is_address(host):
                try:
                    infos = await asyncio.wait_for(loop.getaddrinfo(host, one.get("port") or 5432,
                                                                    type=socket.SOCK_STREAM),
                                                   max(0.0, deadline - time.monotonic()))
                    ips = list(dict.fromkeys(str(i[4][0]) for i in infos))
                except (OSError, asyncio.TimeoutError):
                    ips = []
                expanded.extend([{**one, "hostaddr": ip} for ip in ips] or [one])
            else:
                expanded.append(one)
        plan = expanded
    for attempt in plan:
        budget = _budget(deadline, per_attempt)
        if budget <= 0:
            break
        if libpq:
            attempt["connect_timeout"] = max(2, math.ceil(budget))
        try:
            return await asyncio.wait_for(connect(**attempt), budget)
        except (asyncio.TimeoutError, TimeoutError):
            errors.append((_describe(attempt), None))
        except Exception as exc:
            errors.append((_describe(attempt), exc))
    raise _fail(total, errors)


def _parse(dsn: str) -> dict[str, Any]:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        from psycopg2.extensions import parse_dsn

        return dict(parse_dsn(dsn))
    return dict(conninfo_to_dict(dsn))
