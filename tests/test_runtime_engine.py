"""runtime.engine: bounded engines by default, PgBouncer mode through a real PgBouncer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import NullPool, QueuePool

from poolwarden.errors import UsageError
from poolwarden.runtime import engine as rt
from poolwarden.runtime.errors import ErrorKind, classify
from poolwarden.runtime.keepalive import TcpBounds, asyncpg_connection_class
from tests.adversarial.contract import thrown


def _url(dsn: str, driver: str) -> str:
    return dsn.replace("postgresql://", f"postgresql+{driver}://")


def test_defaults_are_explicit_bounds(postgres: str) -> None:
    engine = rt.create_engine(_url(postgres, "psycopg"), application_name="pw-engine")
    try:
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow, pool._timeout) == (5, 0, 5.0)  # type: ignore[attr-defined]
        assert engine.pool._pre_ping is True  # type: ignore[attr-defined]
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SHOW application_name")).scalar() == "pw-engine"
    finally:
        engine.dispose()
    record = rt.registered_engines()[-1]
    assert record.worst_case == 5 and "***" in record.url and "postgres:postgres@" not in record.url


def test_exhaustion_fails_fast_as_a_connection_error(postgres: str) -> None:
    engine = rt.create_engine(_url(postgres, "psycopg2"), pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        with engine.connect(), pytest.raises(sqlalchemy.exc.TimeoutError) as info:
            engine.connect()
        assert classify(info.value) is ErrorKind.CONNECTION
    finally:
        engine.dispose()


def test_env_and_config_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.poolwarden.engine]\npool_size = 2\nmax-overflow = 1\n")
    monkeypatch.setenv("POOLWARDEN_MAX_OVERFLOW", "3")
    settings = rt.PoolSettings.load(config=cfg, pool_timeout=1)
    assert (settings.pool_size, settings.max_overflow, settings.pool_timeout) == (2, 3, 1.0)
    monkeypatch.setenv("POOLWARDEN_PGBOUNCER", "yes")
    assert rt.PoolSettings.load().pgbouncer is True
    monkeypatch.setenv("POOLWARDEN_POOL_SIZE", "many")
    with pytest.raises(UsageError, match="POOLWARDEN_POOL_SIZE"):
        rt.PoolSettings.load()
    cfg.write_text("[tool.poolwarden.engine]\npoolsize = 2\n")
    with pytest.raises(UsageError, match="unknown key 'poolsize'"):
        rt.PoolSettings.load(config=cfg)


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_pgbouncer_mode_sync(driver: str, pgbouncer: Any, postgres: str) -> None:
    dbname = postgres.rsplit("/", 1)[1]
    engine = rt.create_engine(_url(pgbouncer.dsn(dbname), driver), pgbouncer=True)
    try:
        assert isinstance(engine.pool, NullPool)
        for i in range(20):  # the same statement again and again: no server-side prepared statement
            with engine.begin() as conn:
                assert conn.execute(sqlalchemy.text("SELECT :i + 1"), {"i": i}).scalar() == i + 1
    finally:
        engine.dispose()
        pgbouncer.release(dbname)
    assert rt.registered_engines()[-1].worst_case is None


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_pgbouncer_mode_async(driver: str, pgbouncer: Any, postgres: str) -> None:
    dbname = postgres.rsplit("/", 1)[1]

    async def run() -> list[int]:
        engine = rt.create_async_engine(_url(pgbouncer.dsn(dbname), driver), pgbouncer=True)
        try:
            out = []
            for i in range(20):
                async with engine.begin() as conn:
                    out.append((await conn.execute(sqlalchemy.text("SELECT :i + 1"), {"i": i})).scalar())
            return out
        finally:
            await engine.dispose()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(run()) == [i + 1 for i in range(20)]
    finally:
        loop.close()
        pgbouncer.release(dbname)


# -- an established connection is bounded too (issue 11 item 5) ------------------------------------
LIBPQ_BOUNDS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                "tcp_user_timeout": 30_000}


@pytest.mark.parametrize("pgbouncer", [False, True])
@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_libpq_drivers_get_keepalives_and_a_user_timeout(driver: str, pgbouncer: bool) -> None:
    args = rt.PoolSettings(pgbouncer=pgbouncer).engine_kwargs(f"postgresql+{driver}://u:p@db/app")["connect_args"]
    assert {k: args[k] for k in LIBPQ_BOUNDS} == LIBPQ_BOUNDS
    assert "options" not in args  # no statement_timeout unless asked for


@pytest.mark.parametrize("pgbouncer", [False, True])
def test_asyncpg_gets_the_same_bounds_through_its_connection_class(pgbouncer: bool) -> None:
    import asyncpg

    args = rt.PoolSettings(pgbouncer=pgbouncer).engine_kwargs("postgresql+asyncpg://u:p@db/app")["connect_args"]
    cls = args["connection_class"]
    assert issubclass(cls, asyncpg.Connection)
    assert cls is rt.PoolSettings().engine_kwargs("postgresql+asyncpg://db/x")["connect_args"]["connection_class"]
    assert rt.PoolSettings().tcp_bounds == TcpBounds(True, 10, 5, 3, 30_000)
    assert "server_settings" not in args and "command_timeout" not in args


def test_keepalives_off_and_system_defaults() -> None:
    settings = rt.PoolSettings(keepalives=False, tcp_user_timeout=0)
    args = settings.engine_kwargs("postgresql+psycopg://u:p@db/app")["connect_args"]
    assert args["keepalives"] == 0 and args["tcp_user_timeout"] == 0 and "keepalives_idle" not in args


@pytest.mark.parametrize(("driver", "key", "expected"), [
    ("psycopg", "options", "-c statement_timeout=2500"),
    ("psycopg2", "options", "-c statement_timeout=2500"),
    ("asyncpg", "server_settings", {"statement_timeout": "2500", "application_name": "app"}),
])
def test_statement_timeout_when_set(driver: str, key: str, expected: object) -> None:
    settings = rt.PoolSettings(statement_timeout=2.5, application_name="app")
    assert settings.engine_kwargs(f"postgresql+{driver}://u:p@db/app")["connect_args"][key] == expected


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2", "asyncpg"])
def test_statement_timeout_is_refused_in_pgbouncer_mode(driver: str) -> None:
    """PgBouncer refuses startup options; ignoring them there would be a silent lie."""
    with pytest.raises(UsageError, match="ALTER ROLE"):
        rt.PoolSettings(statement_timeout=1, pgbouncer=True).engine_kwargs(f"postgresql+{driver}://u:p@db/app")


def test_new_settings_load_from_config_env_and_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.poolwarden.engine]\nkeepalives-idle = 20\ntcp_user_timeout = 45000\n"
                   "statement_timeout = 60\n")
    monkeypatch.setenv("POOLWARDEN_KEEPALIVES_COUNT", "4")
    monkeypatch.setenv("POOLWARDEN_KEEPALIVES", "off")
    s = rt.PoolSettings.load(config=cfg, keepalives_interval=2)
    assert (s.keepalives, s.keepalives_idle, s.keepalives_interval, s.keepalives_count) == (False, 20, 2, 4)
    assert (s.tcp_user_timeout, s.statement_timeout) == (45_000, 60.0)
    monkeypatch.setenv("POOLWARDEN_STATEMENT_TIMEOUT", "none")  # set in the file, switched off here
    assert rt.PoolSettings.load(config=cfg).statement_timeout is None
    assert rt.PoolSettings.load(config=cfg, statement_timeout=None).statement_timeout is None
    monkeypatch.setenv("POOLWARDEN_STATEMENT_TIMEOUT", "soon")
    with pytest.raises(UsageError, match=r"POOLWARDEN_STATEMENT_TIMEOUT.*not a valid float"):
        rt.PoolSettings.load()
    monkeypatch.delenv("POOLWARDEN_STATEMENT_TIMEOUT")
    for bad in ({"tcp_user_timeout": -1}, {"keepalives_idle": "-5"}, {"statement_timeout": 0}):
        with pytest.raises(UsageError, match="must be"):
            rt.PoolSettings.load(**bad)


def _tcp_options(sock: Any) -> tuple[int, int, int, int, int]:
    import socket

    return (sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))


def _socket_of(driver_connection: Any) -> Any:
    """The TCP socket under a driver's connection (a dup of libpq's descriptor, or asyncpg's own)."""
    import os
    import socket

    if hasattr(driver_connection, "_transport"):  # asyncpg
        return driver_connection._transport.get_extra_info("socket")
    fd = driver_connection.pgconn.socket if hasattr(driver_connection, "pgconn") else driver_connection.fileno()
    return socket.socket(fileno=os.dup(fd))


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_sync_sockets_carry_the_bounds_and_the_statement_timeout(postgres: str, driver: str) -> None:
    engine = rt.create_engine(_url(postgres, driver), statement_timeout=1.5)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SHOW statement_timeout")).scalar() == "1500ms"
            sock = _socket_of(conn.connection.driver_connection)
            try:
                assert _tcp_options(sock) == (1, 10, 5, 3, 30_000)
            finally:
                sock.close()
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_async_sockets_carry_the_bounds_and_the_statement_timeout(postgres: str, driver: str) -> None:
    async def run() -> tuple[Any, tuple[int, ...]]:
        engine = rt.create_async_engine(_url(postgres, driver), statement_timeout=1.5)
        try:
            async with engine.connect() as conn:
                shown = (await conn.execute(sqlalchemy.text("SHOW statement_timeout"))).scalar()
                raw = await conn.get_raw_connection()
                sock = _socket_of(raw.driver_connection)
                try:
                    return shown, _tcp_options(sock)
                finally:
                    if driver != "asyncpg":
                        sock.close()
        finally:
            await engine.dispose()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(run()) == ("1500ms", (1, 10, 5, 3, 30_000))
    finally:
        loop.close()


def test_a_statement_past_statement_timeout_is_not_an_outage(postgres: str) -> None:
    """The server cancels it (57014): an answer, so classify() does not call it a lost connection."""
    engine = rt.create_engine(_url(postgres, "psycopg"), statement_timeout=0.2)
    try:
        with engine.connect() as conn, pytest.raises(sqlalchemy.exc.OperationalError) as info:
            conn.execute(sqlalchemy.text("SELECT pg_sleep(5)"))
        assert "statement timeout" in str(info.value)
        assert classify(info.value) is not ErrorKind.CONNECTION
    finally:
        engine.dispose()


_BOUND_VALUES = st.fixed_dictionaries({
    "keepalives": st.booleans(), "keepalives_idle": st.integers(0, 7200), "keepalives_interval": st.integers(0, 600),
    "keepalives_count": st.integers(0, 50), "tcp_user_timeout": st.integers(0, 3_600_000),
    "statement_timeout": st.none() | st.floats(0.001, 86_400, allow_nan=False)})


@settings(max_examples=60, deadline=None)
@given(values=_BOUND_VALUES, layer=st.sampled_from(["config", "env", "argument"]),
       driver=st.sampled_from(["psycopg", "psycopg2", "asyncpg"]))
def test_bounds_flow_from_every_layer_to_the_driver(tmp_path_factory: pytest.TempPathFactory, values: dict[str, Any],
                                                    layer: str, driver: str) -> None:
    """Generated settings, given through one layer, reach the driver's connect arguments unchanged."""
    thrown("engine-settings")[layer] += 1
    if layer == "config":
        cfg = tmp_path_factory.mktemp("cfg") / "poolwarden.toml"
        lines = [f"{k} = {str(v).lower() if isinstance(v, bool) else v!r}" for k, v in values.items() if v is not None]
        cfg.write_text("[engine]\n" + "\n".join(lines) + "\n")
        settings_ = rt.PoolSettings.load(config=cfg, env={})
    elif layer == "env":
        env = {f"POOLWARDEN_{k.upper()}": "none" if v is None else str(v) for k, v in values.items()}
        settings_ = rt.PoolSettings.load(env=env)
    else:
        settings_ = rt.PoolSettings.load(env={}, **values)
    for key, value in values.items():
        assert getattr(settings_, key) == value, key
    args = settings_.engine_kwargs(f"postgresql+{driver}://u:p@db/app")["connect_args"]
    ms = None if values["statement_timeout"] is None else max(1, round(values["statement_timeout"] * 1000))
    if driver == "asyncpg":
        assert args["connection_class"] is asyncpg_connection_class(settings_.tcp_bounds)
        assert args.get("server_settings", {}).get("statement_timeout") == (None if ms is None else str(ms))
    else:
        assert args["keepalives"] == int(values["keepalives"])
        assert args["tcp_user_timeout"] == values["tcp_user_timeout"]
        assert args.get("keepalives_idle") == (values["keepalives_idle"] if values["keepalives"] else None)
        assert args.get("options") == (None if ms is None else f"-c statement_timeout={ms}")
