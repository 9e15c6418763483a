"""Engines with explicit bounds, made in one place: ``create_engine`` / ``create_async_engine``.

Every engine made here has a bounded pool (``pool_size``, ``max_overflow``), fails fast when
the pool is exhausted (``pool_timeout``), recycles old connections, pre-pings, and connects
with a timeout — whatever the URL's driver (psycopg 3, psycopg2, asyncpg). An established
connection is bounded too (:mod:`poolwarden.runtime.keepalive`): TCP keepalive probes and
``TCP_USER_TIMEOUT`` make a request in flight on a connection whose network silently drops packets
fail within ~30 s (a lost connection, CONNECTION to :func:`~poolwarden.runtime.errors.classify`,
which a circuit breaker counts) instead of hanging until the kernel gives up (~15 min).
``statement_timeout`` (server-side, so no help against a partition) is off unless set. One setting,
``pgbouncer=True``, switches to PgBouncer transaction-pooling mode: no pool in the process
(``NullPool``: PgBouncer is the pool) and no server-side prepared statements (asyncpg's
statement caches off, psycopg's ``prepare_threshold=None``).

Settings come from, later winning: :class:`PoolSettings` defaults, ``[tool.poolwarden.engine]``
in pyproject.toml (or ``[engine]`` in poolwarden.toml), ``POOLWARDEN_*`` environment variables,
and keyword arguments. Each engine registers its worst case (:func:`registered_engines`), so
``poolwarden budget`` can add up what a process may open.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poolwarden.config import section
from poolwarden.errors import UsageError
from poolwarden.runtime.keepalive import TcpBounds, asyncpg_connection_class

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["EngineRecord", "PoolSettings", "create_async_engine", "create_engine", "merge_engine_kwargs",
           "register_record", "registered_engines", "split_overrides"]

_ENV_PREFIX = "POOLWARDEN_"


@dataclass(frozen=True)
class PoolSettings:
    """The pool and connect settings of an engine; every field has a safe, explicit default."""

    pool_size: int = 5
    max_overflow: int = 0
    pool_timeout: float = 5.0  # seconds to wait for a pooled connection before failing (503)
    pool_recycle: int = 1800  # seconds
    pool_pre_ping: bool = True
    connect_timeout: int = 5  # seconds, per host; libpq's default is to wait forever
    pgbouncer: bool = False  # PgBouncer transaction mode: NullPool, no prepared statements
    application_name: str | None = None
    # an established connection: a dead peer is detected within ~30 s, idle or with data in flight
    keepalives: bool = True
    keepalives_idle: int = 10  # seconds without traffic before the first probe (system default: 7200)
    keepalives_interval: int = 5  # seconds between probes
    keepalives_count: int = 3  # unanswered probes before giving up (tcp_user_timeout may end it first)
    tcp_user_timeout: int = 30_000  # milliseconds data may stay unacknowledged; 0: system (~15 min)
    statement_timeout: float | None = None  # seconds, server-side (SET statement_timeout); None: off

    def __post_init__(self) -> None:
        for name in ("keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} = {getattr(self, name)!r} must be 0 (the system default) or more")
        if self.statement_timeout is not None and self.statement_timeout <= 0:
            raise UsageError(f"statement_timeout = {self.statement_timeout!r} must be a positive number "
                             "of seconds (or None: off)")

    @property
    def tcp_bounds(self) -> TcpBounds:
        """The keepalive and user-timeout settings, as :mod:`poolwarden.runtime.keepalive` applies them."""
        return TcpBounds(self.keepalives, self.keepalives_idle, self.keepalives_interval,
                         self.keepalives_count, self.tcp_user_timeout)

    @property
    def worst_case(self) -> int | None:
        """Connections one engine may hold at once; None in PgBouncer mode (bounded by PgBouncer)."""
        return None if self.pgbouncer else self.pool_size + self.max_overflow

    @classmethod
    def load(cls, *, config: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
             **overrides: Any) -> PoolSettings:
        """Defaults, then the config file, then ``POOLWARDEN_*`` variables, then ``overrides``.

        Raises :class:`UsageError` for an unknown key or a value of the wrong type.
        """
        values: dict[str, Any] = {}
        if config is not None:
            values.update(_from_config(Path(config)))
        values.update(_from_env(os.environ if env is None else env))
        for key, value in overrides.items():
            if key not in _FIELDS:
                raise UsageError(f"unknown pool setting {key!r} (expected one of: {', '.join(_FIELDS)})")
            values[key] = value
        return cls(**{k: _coerce(k, v, "argument") for k, v in values.items()})

    def engine_kwargs(self, url: str) -> dict[str, Any]:
        """The keyword arguments for SQLAlchemy's ``create_engine`` / ``create_async_engine``."""
        from sqlalchemy.engine import make_url

        driver = make_url(url).get_driver_name()
        if self.statement_timeout is not None and self.pgbouncer:
            raise UsageError("statement_timeout cannot be sent through PgBouncer (it refuses startup options): "
                             "set it on the role or database (ALTER ROLE ... SET statement_timeout), "
                             "or use PgBouncer's query_timeout")
        timeout_ms = None if self.statement_timeout is None else max(1, round(self.statement_timeout * 1000))
        connect_args: dict[str, Any] = {}
        if driver == "asyncpg":
            connect_args["timeout"] = self.connect_timeout
            connect_args["connection_class"] = asyncpg_connection_class(self.tcp_bounds)
            server_settings = {"application_name": self.application_name} if self.application_name else {}
            if timeout_ms is not None:
                server_settings["statement_timeout"] = str(timeout_ms)
            if server_settings:
                connect_args["server_settings"] = server_settings
            if self.pgbouncer:
                connect_args["statement_cache_size"] = 0
                connect_args["prepared_statement_cache_size"] = 0
        else:  # libpq drivers: psycopg 3 (sync and async), psycopg2
            connect_args["connect_timeout"] = self.connect_timeout
            connect_args.update(self.tcp_bounds.libpq())
            if self.application_name:
                connect_args["application_name"] = self.application_name
            if timeout_ms is not None:
                connect_args["options"] = f"-c statement_timeout={timeout_ms}"
            if self.pgbouncer and driver.startswith("psycopg") and driver != "psycopg2":
                connect_args["prepare_threshold"] = None
        kwargs: dict[str, Any] = {"connect_args": connect_args, "pool_pre_ping": self.pool_pre_ping}
        if self.pgbouncer:
            from sqlalchemy.pool import NullPool

            kwargs["poolclass"] = NullPool
        else:
            kwargs.update(pool_size=self.pool_size, max_overflow=self.max_overflow,
                          pool_timeout=self.pool_timeout, pool_recycle=self.pool_recycle)
        return kwargs


_FIELDS = {f.name: f for f in fields(PoolSettings)}


def _coerce(key: str, value: Any, source: str) -> Any:
    kind = str(_FIELDS[key].type)
    if kind.endswith(" | None") and kind != "str | None":  # an optional number: None, "" or "none" is off
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        kind = kind.removesuffix(" | None")
    try:
        if kind == "bool":
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return lowered in ("1", "true", "yes", "on")
            return bool(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return None if value is None else str(value)
    except (TypeError, ValueError):
        raise UsageError(f"{source}: {key} = {value!r} is not a valid {kind}") from None


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _FIELDS:
        name = _ENV_PREFIX + key.upper()
        if name in env:
            out[key] = _coerce(key, env[name], f"environment {name}")
    return out


def _from_config(path: Path) -> dict[str, Any]:
    raw, where = section(path, "engine")
    table = {} if raw is None else raw
    if not isinstance(table, dict):
        raise UsageError(f"{path}: {where} must be a table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise UsageError(f"{path}: {where}: unknown key {key!r} (expected one of: {', '.join(_FIELDS)})")
        out[name] = _coerce(name, value, f"{path} {where}")
    return out


# -- the registry budget reads ---------------------------------------------------------------------
@dataclass(frozen=True)
class EngineRecord:
    """One engine this process made: where it points (password masked) and its worst case."""

    url: str
    settings: PoolSettings
    asynchronous: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    cap: int | None = None  # a bound set above the pool (an EngineRegistry's max_connections)

    @property
    def worst_case(self) -> int | None:
        return self.cap if self.cap is not None else self.settings.worst_case


_REGISTRY: list[EngineRecord] = []
_LOCK = threading.Lock()


def registered_engines() -> list[EngineRecord]:
    """Every engine made through this module in this process, oldest first."""
    with _LOCK:
        return list(_REGISTRY)


def _register(url: str, settings: PoolSettings, asynchronous: bool) -> None:
    from sqlalchemy.engine import make_url

    register_record(EngineRecord(make_url(url).render_as_string(hide_password=True), settings, asynchronous))


def register_record(record: EngineRecord) -> None:
    """Add an engine (or a bound over several, like an EngineRegistry) to what :func:`registered_engines` lists."""
    with _LOCK:
        _REGISTRY.append(record)


def split_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the :class:`PoolSettings` keywords, the rest): the pool keys are popped from ``overrides``."""
    pool = {k: overrides.pop(k) for k in list(overrides) if k in _FIELDS}
    return pool, overrides


def create_engine(url: str, *, config: str | os.PathLike[str] | None = None, **overrides: Any) -> Engine:
    """``sqlalchemy.create_engine`` with explicit bounds (see the module docstring).

    Pool keywords (``pool_size``, ``pgbouncer``, …) override the loaded :class:`PoolSettings`;
    any other keyword goes to SQLAlchemy unchanged.
    """
    import sqlalchemy

    pool, rest = split_overrides(dict(overrides))
    settings = PoolSettings.load(config=config, **pool)
    kwargs = merge_engine_kwargs(settings.engine_kwargs(url), rest)
    engine = sqlalchemy.create_engine(url, **kwargs)
    _register(url, settings, asynchronous=False)
    return engine


def create_async_engine(url: str, *, config: str | os.PathLike[str] | None = None, **overrides: Any) -> AsyncEngine:
    """``sqlalchemy.ext.asyncio.create_async_engine`` with explicit bounds (see the module docstring)."""
    from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine

    pool, rest = split_overrides(dict(overrides))
    settings = PoolSettings.load(config=config, **pool)
    kwargs = merge_engine_kwargs(settings.engine_kwargs(url), rest)
    engine = sa_create_async_engine(url, **kwargs)
    _register(url, settings, asynchronous=True)
    return engine


def merge_engine_kwargs(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` (from :meth:`PoolSettings.engine_kwargs`) updated by ``extra``; ``connect_args`` are
    merged, not replaced."""
    merged = dict(base)
    if "connect_args" in extra:
        merged["connect_args"] = {**base.get("connect_args", {}), **extra.pop("connect_args")}
    merged.update(extra)
    return merged
