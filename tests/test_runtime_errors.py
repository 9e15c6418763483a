"""runtime.errors on real failures: a real server produces each fault, for each driver.

No exception here is constructed by hand: every one comes out of psycopg 3, psycopg2, asyncpg
or SQLAlchemy talking to a throwaway PostgreSQL cluster from the pytest plugin.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from poolwarden.runtime.errors import ErrorKind, classify, is_transient, raise_if_transient
from poolwarden.testing.cluster import PostgresCluster, free_port


class Driver:
    """A tiny synchronous face over one driver: connect, run SQL, close."""

    name = ""

    def connect(self, dsn: str, *, autocommit: bool = False) -> Any:
        raise NotImplementedError

    def execute(self, conn: Any, sql: str) -> Any:
        raise NotImplementedError

    def close(self, conn: Any) -> None:
        raise NotImplementedError

    def concurrently(self, a: Any, sql_a: str, b: Any, sql_b: str) -> list[BaseException]:
        """Run two statements at once on two connections; the errors they raised."""
        errors: list[BaseException] = []

        def run(conn: Any, sql: str) -> None:
            try:
                self.execute(conn, sql)
            except Exception as exc:
                errors.append(exc)
                with _quiet():
                    self.execute(conn, "ROLLBACK")  # frees the other side's lock wait

        thread = threading.Thread(target=run, args=(a, sql_a))
        thread.start()
        run(b, sql_b)
        thread.join(timeout=30)
        return errors


class AsyncDriver(Driver):
    """An async driver driven from sync code on one private loop (the loop outlives each call)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def aexecute(self, conn: Any, sql: str) -> Any:
        raise NotImplementedError

    def execute(self, conn: Any, sql: str) -> Any:
        return self.run(self.aexecute(conn, sql))

    def concurrently(self, a: Any, sql_a: str, b: Any, sql_b: str) -> list[BaseException]:
        async def both() -> list[Any]:
            return await asyncio.gather(self.aexecute(a, sql_a), self.aexecute(b, sql_b), return_exceptions=True)

        return [r for r in self.run(both()) if isinstance(r, BaseException)]


class Psycopg3(Driver):
    name = "psycopg"

    def connect(self, dsn: str, *, autocommit: bool = False) -> Any:
        import psycopg

        return psycopg.connect(dsn, connect_timeout=5, application_name="pw-test", autocommit=autocommit)

    def execute(self, conn: Any, sql: str) -> Any:
        return conn.execute(sql)

    def close(self, conn: Any) -> None:
        conn.close()


class Psycopg2(Driver):
    name = "psycopg2"

    def connect(self, dsn: str, *, autocommit: bool = False) -> Any:
        import psycopg2

        conn = psycopg2.connect(dsn, connect_timeout=5, application_name="pw-test")
        conn.autocommit = autocommit
        return conn

    def execute(self, conn: Any, sql: str) -> Any:
        cur = conn.cursor()
        cur.execute(sql)
        return cur

    def close(self, conn: Any) -> None:
        conn.close()


class Asyncpg(AsyncDriver):
    name = "asyncpg"

    def connect(self, dsn: str, *, autocommit: bool = False) -> Any:  # asyncpg is always in autocommit
        import asyncpg

        settings = {"application_name": "pw-test"}
        return self.run(asyncpg.connect(dsn, timeout=5, server_settings=settings))

    async def aexecute(self, conn: Any, sql: str) -> Any:
        if sql.strip().upper().startswith(("SELECT", "SHOW")):
            return await conn.fetch(sql)
        return await conn.execute(sql)

    def close(self, conn: Any) -> None:
        self.run(conn.close())


def _sa_statement(conn: Any, sql: str) -> tuple[str, str | None]:
    """How SQLAlchemy runs our raw statements: it begins transactions itself."""
    upper = sql.strip().upper()
    if upper.startswith("BEGIN ISOLATION LEVEL"):
        return "sql", "SET TRANSACTION " + sql.strip()[len("BEGIN "):]
    if upper == "BEGIN":
        return "noop", None
    if upper in ("COMMIT", "ROLLBACK"):
        return upper.lower(), None
    return "sql", sql


class SQLAlchemySync(Driver):
    """SQLAlchemy's Engine over a sync driver (psycopg2 or psycopg 3)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.name = f"sqlalchemy+{dialect}"
        self.engines: dict[int, Any] = {}

    def engine(self, dsn: str, **kw: Any) -> Any:
        import sqlalchemy

        return sqlalchemy.create_engine(dsn.replace("postgresql://", f"postgresql+{self.dialect}://"),
                                        connect_args={"connect_timeout": 5, "application_name": "pw-test"}, **kw)

    def connect(self, dsn: str, *, autocommit: bool = False) -> Any:
        from sqlalchemy.pool import NullPool

        engine = self.engine(dsn, poolclass=NullPool)
        conn = engine.connect()
        if autocommit:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        self.engines[id(conn)] = engine
        return conn

    def execute(self, conn: Any, sql: str) -> Any:
        what, statement = _sa_statement(conn, sql)
        if what == "sql":
            return conn.exec_driver_sql(statement)
        if what != "noop":
            getattr(conn, what)()
        return None

    def close(self, conn: Any) -> None:
        conn.close()
        self.engines.pop(id(conn)).dispose()


class SQLAlchemyAsync(AsyncDriver):
    """SQLAlchemy's AsyncEngine over an async driver (asyncpg or psycopg 3)."""

    def __init__(self, dialect: str) -> None:
        super().__init__()
        self.dialect = dialect
        self.name = f"sqlalchemy-async+{dialect}"
        self.engines: dict[int, Any] = {}

    def engine(self, dsn: str, **kw: Any) -> Any:
        from sqlalchemy.ext.asyncio import create_async_engine

        args: dict[str, Any] = ({"timeout": 5, "server_settings": {"application_name": "pw-test"}}
                                if self.dialect == "asyncpg" else {"connect_timeout": 5, "application_name": "pw-test"})
        return create_async_engine(dsn.replace("postgresql://", f"postgresql+{self.dialect}://"), connect_args=args,
                                   **kw)

    def connect(self, dsn: str, *, autocommit: bool = False) -> Any:
        from sqlalchemy.pool import NullPool

        engine = self.engine(dsn, poolclass=NullPool)
        conn = self.run(engine.connect())
        if autocommit:
            self.run(conn.execution_options(isolation_level="AUTOCOMMIT"))
        self.engines[id(conn)] = engine
        return conn

    async def aexecute(self, conn: Any, sql: str) -> Any:
        what, statement = _sa_statement(conn, sql)
        if what == "sql":
            return await conn.exec_driver_sql(statement)
        if what != "noop":
            await getattr(conn, what)()
        return None

    def close(self, conn: Any) -> None:
        self.run(conn.close())
        self.run(self.engines.pop(id(conn)).dispose())


DRIVERS: dict[str, Callable[[], Driver]] = {
    "psycopg": Psycopg3,
    "psycopg2": Psycopg2,
    "asyncpg": Asyncpg,
    "sqlalchemy+psycopg2": lambda: SQLAlchemySync("psycopg2"),
    "sqlalchemy+psycopg": lambda: SQLAlchemySync("psycopg"),
    "sqlalchemy-async+asyncpg": lambda: SQLAlchemyAsync("asyncpg"),
    "sqlalchemy-async+psycopg": lambda: SQLAlchemyAsync("psycopg"),
}


@pytest.fixture(params=list(DRIVERS))
def driver(request: pytest.FixtureRequest) -> Driver:
    return DRIVERS[request.param]()


def _raised(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("the fault did not raise")


def _check(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc) is kind, f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert is_transient(exc) is (kind is not ErrorKind.NOT_TRANSIENT)


# -- faults --------------------------------------------------------------------------------------

def test_too_many_clients(driver: Driver, postgres_cluster: PostgresCluster, pg_saturate: Any) -> None:
    with pg_saturate(postgres_cluster):
        exc = _raised(lambda: driver.connect(postgres_cluster.dsn()))
    assert "too many clients" in str(exc)
    _check(exc, ErrorKind.CONNECTION)


def test_server_not_running(driver: Driver) -> None:
    exc = _raised(lambda: driver.connect(f"postgresql://postgres:postgres@127.0.0.1:{free_port()}/postgres"))
    _check(exc, ErrorKind.CONNECTION)


def test_bad_password(driver: Driver, postgres: str) -> None:
    exc = _raised(lambda: driver.connect(postgres.replace("postgres:postgres@", "postgres:wrong@")))
    _check(exc, ErrorKind.NOT_TRANSIENT)


def test_terminated_by_admin(driver: Driver, postgres: str, postgres_cluster: PostgresCluster) -> None:
    conn = driver.connect(postgres)
    try:
        with postgres_cluster.admin() as admin:
            admin.execute(  # type: ignore[attr-defined]
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pw-test'"
            )
        exc = _raised(lambda: driver.execute(conn, "SELECT 1"))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.CONNECTION)


def test_statement_timeout(driver: Driver, postgres: str) -> None:
    conn = driver.connect(postgres)
    try:
        driver.execute(conn, "SET statement_timeout = '50ms'")
        exc = _raised(lambda: driver.execute(conn, "SELECT pg_sleep(5)"))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.AMBIGUOUS)


def test_idle_in_transaction_timeout(driver: Driver, postgres: str, postgres_cluster: PostgresCluster) -> None:
    conn = driver.connect(postgres)
    try:
        driver.execute(conn, "SET idle_in_transaction_session_timeout = '100ms'")
        driver.execute(conn, "BEGIN")
        driver.execute(conn, "SELECT 1")
        _wait_until_gone(postgres_cluster, "pw-test")  # the server's timeout ends the session
        exc = _raised(lambda: driver.execute(conn, "SELECT 1"))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.CONNECTION)


def test_serialization_failure(driver: Driver, postgres: str) -> None:
    setup = driver.connect(postgres)
    a = driver.connect(postgres)
    b = driver.connect(postgres)
    try:
        _autocommit(driver, setup, "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)")
        driver.execute(a, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        driver.execute(a, "SELECT v FROM t WHERE id = 1")
        _autocommit(driver, b, "UPDATE t SET v = 1 WHERE id = 1")
        exc = _raised(lambda: driver.execute(a, "UPDATE t SET v = 2 WHERE id = 1"))
    finally:
        for conn in (setup, a, b):
            _close_quietly(driver, conn)
    _check(exc, ErrorKind.RETRY_TRANSACTION)


def test_deadlock(driver: Driver, postgres: str) -> None:
    setup = driver.connect(postgres)
    a, b = driver.connect(postgres), driver.connect(postgres)
    try:
        _autocommit(driver, setup, "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0)")
        for conn in (a, b):
            driver.execute(conn, "BEGIN")
            driver.execute(conn, "SET LOCAL deadlock_timeout = '50ms'")
        driver.execute(a, "UPDATE t SET v = 1 WHERE id = 1")
        driver.execute(b, "UPDATE t SET v = 1 WHERE id = 2")
        errors = driver.concurrently(a, "UPDATE t SET v = 2 WHERE id = 2", b, "UPDATE t SET v = 2 WHERE id = 1")
    finally:
        for conn in (setup, a, b):
            _close_quietly(driver, conn)
    assert len(errors) == 1
    _check(errors[0], ErrorKind.RETRY_TRANSACTION)


def test_unique_violation_and_syntax_error(driver: Driver, postgres: str) -> None:
    conn = driver.connect(postgres)
    try:
        _autocommit(driver, conn, "CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1)")
        dup = _raised(lambda: _autocommit(driver, conn, "INSERT INTO u VALUES (1)"))
        syntax = _raised(lambda: _autocommit(driver, conn, "SELEC 1"))
    finally:
        _close_quietly(driver, conn)
    _check(dup, ErrorKind.NOT_TRANSIENT)
    _check(syntax, ErrorKind.NOT_TRANSIENT)


@pytest.fixture(scope="module")
def outage_cluster(postgres_factory: Any) -> PostgresCluster:
    return postgres_factory()  # its own server: stopping it must not disturb other tests


def test_server_shut_down(driver: Driver, outage_cluster: PostgresCluster, pg_outage: Any) -> None:
    conn = driver.connect(outage_cluster.dsn())
    try:
        with pg_outage(outage_cluster):
            exc = _raised(lambda: driver.execute(conn, "SELECT 1"))
            refused = _raised(lambda: driver.connect(outage_cluster.dsn()))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.CONNECTION)
    _check(refused, ErrorKind.CONNECTION)


@pytest.mark.parametrize("name", [n for n in DRIVERS if n.startswith("sqlalchemy")])
def test_pool_timeout(name: str, postgres: str) -> None:
    driver = DRIVERS[name]()
    assert isinstance(driver, (SQLAlchemySync, SQLAlchemyAsync))
    engine = driver.engine(postgres, pool_size=1, max_overflow=0, pool_timeout=0.2)
    if isinstance(driver, SQLAlchemySync):
        first = engine.connect()
        exc = _raised(engine.connect)
        first.close()
        engine.dispose()
    else:
        first = driver.run(engine.connect())
        exc = _raised(lambda: driver.run(engine.connect()))
        driver.run(first.close())
        driver.run(engine.dispose())
    assert "QueuePool limit of size 1 overflow 0 reached" in str(exc)
    _check(exc, ErrorKind.CONNECTION)


def test_raise_if_transient_reraises_only_outages(postgres: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        syntax = _raised(lambda: conn.execute("SELEC 1"))
    raise_if_transient(syntax)  # an answer: returns
    refused = _raised(lambda: psycopg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout=2))
    with pytest.raises(psycopg.OperationalError):
        raise_if_transient(refused)


# -- configuration errors are answers, not outages (issue 11, item 4) ------------------------------

def test_missing_database(driver: Driver, postgres_cluster: PostgresCluster) -> None:
    exc = _raised(lambda: driver.connect(postgres_cluster.dsn("no_such_db")))
    assert "no_such_db" in str(exc)
    _check(exc, ErrorKind.NOT_TRANSIENT)


def test_ssl_required_by_the_client_but_not_offered(driver: Driver, postgres_cluster: PostgresCluster) -> None:
    """The plugin's clusters run without SSL; a client that requires it is misconfigured."""
    with postgres_cluster.admin() as admin:
        assert admin.execute("SHOW ssl").fetchone() == ("off",)  # type: ignore[attr-defined]
    key = "ssl" if driver.name == "sqlalchemy-async+asyncpg" else "sslmode"  # SQLAlchemy passes asyncpg's own
    exc = _raised(lambda: driver.connect(postgres_cluster.dsn(**{key: "require"})))
    assert "SSL" in str(exc), exc
    _check(exc, ErrorKind.NOT_TRANSIENT)


#: Connect to ``argv[1]`` (a host name) through every driver and the connect deadline, in a
#: process whose resolver the test controls; prints {way: [kind, "Type: message"]} as JSON.
_RESOLVER_PROBE = """
import asyncio, json, sys
import psycopg, psycopg2, asyncpg
from poolwarden.runtime.deadline import aconnect_with_deadline, connect_with_deadline
from poolwarden.runtime.errors import classify
from tests.test_runtime_errors import DRIVERS

dsn = f"postgresql://postgres:postgres@{sys.argv[1]}:5432/postgres"
ways = {name: (lambda make=make: make().connect(dsn)) for name, make in DRIVERS.items()}
ways["deadline+psycopg"] = lambda: connect_with_deadline(psycopg.connect, dsn, total=5)
ways["deadline+psycopg2"] = lambda: connect_with_deadline(psycopg2.connect, dsn, total=5)
ways["deadline+asyncpg"] = lambda: asyncio.run(aconnect_with_deadline(asyncpg.connect, total=5, libpq=False, dsn=dsn))
ways["deadline+psycopg-async"] = lambda: asyncio.run(
    aconnect_with_deadline(psycopg.AsyncConnection.connect, total=5, conninfo=dsn))
out = {}
for name, way in ways.items():
    try:
        way()
        out[name] = ["connected", ""]
    except Exception as exc:
        met = "; ".join(str(e) for _, e in getattr(exc, "errors", []))  # ConnectDeadlineExceeded's attempts
        out[name] = [classify(exc).name, f"{type(exc).__name__}: {exc} {met}"]
print(json.dumps(out))
"""


def _resolve_in_namespace(tmp_path: Any, host: str, hosts_line: str) -> dict[str, list[str]]:
    """Run :data:`_RESOLVER_PROBE` in a new network and mount namespace (no network but ``lo``
    down, so nothing leaves the machine) with ``/etc/nsswitch.conf`` set to ``hosts_line`` and a
    resolv.conf naming an unreachable nameserver."""
    import json

    from tests.adversarial.contract import netns_unavailable, run_in_netns

    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(f"the probe needs its own resolver: {reason}")
    (tmp_path / "nsswitch.conf").write_text(f"hosts: {hosts_line}\n")
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.1\noptions timeout:1 attempts:1\n")
    proc = run_in_netns(_RESOLVER_PROBE, "", host, timeout=120,
                        binds={"/etc/nsswitch.conf": tmp_path / "nsswitch.conf",
                               "/etc/resolv.conf": tmp_path / "resolv.conf"})
    assert proc.returncode == 0, proc.stderr
    result: dict[str, list[str]] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) >= set(DRIVERS)
    return result


def test_host_name_that_does_not_exist_is_not_transient(tmp_path: Any) -> None:
    """EAI_NONAME: the resolver answered that the name does not exist (``hosts: files``, the
    name is in no file: glibc's answer for a ``.invalid`` name, RFC 6761)."""
    result = _resolve_in_namespace(tmp_path, "db.does-not-exist.invalid", "files")
    for way, (kind, text) in result.items():
        assert "Name or service not known" in text, (way, text)
        assert kind == "NOT_TRANSIENT", (way, text)
        assert not text.startswith("ConnectDeadlineExceeded"), (way, text)  # the driver's own error


def test_temporary_resolver_failure_is_an_outage(tmp_path: Any) -> None:
    """EAI_AGAIN: the resolver could not be asked (its nameserver unreachable): retry later."""
    result = _resolve_in_namespace(tmp_path, "db.does-not-exist.invalid", "dns")
    for way, (kind, text) in result.items():
        assert "Temporary failure in name resolution" in text, (way, text)
        assert kind == "CONNECTION", (way, text)
        assert text.startswith("ConnectDeadlineExceeded") is way.startswith("deadline+"), (way, text)


# -- helpers --------------------------------------------------------------------------------------

class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def _close_quietly(driver: Driver, conn: Any) -> None:
    with _quiet():
        driver.close(conn)


def _autocommit(driver: Driver, conn: Any, sql: str) -> None:
    for statement in sql.split(";"):
        if statement.strip():
            driver.execute(conn, statement)
    if not isinstance(driver, Asyncpg):
        driver.execute(conn, "COMMIT")


def _wait_until_gone(cluster: PostgresCluster, application_name: str) -> None:
    """Poll pg_stat_activity until the server has ended the session (bounded, not a race fix)."""
    import time

    deadline = time.monotonic() + 10
    with cluster.admin() as admin:
        while time.monotonic() < deadline:
            row = admin.execute(  # type: ignore[attr-defined]
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
            ).fetchone()
            if row[0] == 0:
                return
            time.sleep(0.02)
    raise AssertionError("the server did not end the idle-in-transaction session")
