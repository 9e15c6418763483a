"""The pytest plugin (entry point ``pytest11: poolwarden``): real PostgreSQL for tests.

Fixtures:

``postgres_cluster`` (session)
    one throwaway server for the session, started on first use and torn down at the end,
    also when tests fail. Each pytest-xdist worker has its own (port, socket directory, leak
    guard). When the process dies before teardown (a test calls ``os._exit``, the worker is
    killed) a reaper stops the server, and any PgBouncer in front of it, and removes its directory.
``postgres_factory`` (session)
    ``postgres_factory(max_connections=10, idle_in_transaction_session_timeout="1s")`` starts
    another cluster with those settings; every one is torn down at the end of the session.
``postgres``
    the DSN (``postgresql://…``) of a fresh database for this test, dropped afterwards.

Every test that uses ``postgres_cluster`` (directly or through ``postgres``) fails if it leaves
more backends in ``pg_stat_activity`` than it found. While such a test runs, ``PGAPPNAME`` is
``pw-test:<n> <file>:<line>`` (unless the environment already sets it), so every libpq connection
the test opens without an ``application_name`` of its own (psycopg, psycopg2, subprocesses) is
named after it, and a leak report says which test opened the leaked connection and where that
test is (``tests/test_x.py::test_y (tests/test_x.py:12)``). asyncpg does not read ``PGAPPNAME``.
``pg_saturate``
    ``pg_saturate(cluster, application_name="poolwarden-saturate")`` is a context manager:
    ``with pg_saturate(cluster) as held: ...`` opens real connections (eight at a time) until the
    server refuses with its own "too many clients already"; ``held`` is the list of open psycopg
    connections; all are closed on exit.
``pgbouncer`` (session) / ``pgbouncer_factory``
    a real PgBouncer in transaction mode in front of ``postgres_cluster``; the factory takes
    other settings (``default_pool_size=1, query_wait_timeout=1``) and another cluster.
``pg_outage``
    ``with pg_outage(cluster): ...`` shuts the server down (clients are disconnected, new
    connections refused) and starts it again, on the same port, on exit; with
    ``mode="terminate"`` the server stays up: every client backend is ended
    (``pg_terminate_backend``) and every database but ``postgres`` refuses new connections
    (``ALLOW_CONNECTIONS false``) until the block ends.
``assert_no_connection_leaks``
    ``with assert_no_connection_leaks(cluster): ...`` fails when backends are left behind,
    naming their application_name and state.
``drill``
    ``drill(calls=[fn] or urls=[...], faults=["saturation"])`` runs ``poolwarden drill`` against
    this test's database and returns its result: ``assert result.lies == 0``.
``prometheus_factory`` (session)
    ``prometheus_factory({"web": ["127.0.0.1:8001"]}, labels={"web": {"app": "web"}})`` starts a
    real Prometheus (Debian's ``prometheus``) scraping those targets every second and returns it
    once every target is up (:class:`~poolwarden.testing.prometheus.Prometheus`: ``.url``,
    ``.query()``, ``.wait_for()``, ``.stop()``); all are stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from poolwarden.testing.cluster import PostgresCluster, find_pg_bin
from poolwarden.testing.pgbouncer import PgBouncer

_COUNTER = itertools.count(1)
_SETTLE_SECONDS = 10.0
_DRIVER_MISSING = ("poolwarden's pytest plugin needs psycopg 3 to administer its PostgreSQL clusters: "
                   "pip install 'poolwarden[testing]'")
#: ``pw-test:<n>`` -> (nodeid, "file:line") of the tests that ran with that application_name
_TESTS: dict[str, tuple[str, str]] = {}
_TAG = re.compile(r"^(pw-test:\d+)(?: |$)")
_APP_NAME_BYTES = 63  # PostgreSQL keeps NAMEDATALEN - 1 bytes of an application_name


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("poolwarden_pg_bin", "directory holding PostgreSQL's initdb and pg_ctl", default="")
    parser.addini("poolwarden_leak_settle", "seconds a closed connection gets to leave the server before the "
                  "leak guard fails a test", default=str(_SETTLE_SECONDS))


def _require_driver() -> None:
    """Fail the test in one line, naming the extra to install, when psycopg 3 is missing."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail(_DRIVER_MISSING, pytrace=False)


def _settle(config: pytest.Config) -> float:
    try:
        return float(str(config.getini("poolwarden_leak_settle")))
    except ValueError:
        raise pytest.UsageError("poolwarden_leak_settle must be a number of seconds") from None


def _test_tag(item: pytest.Item) -> str:
    """``pw-test:<n> <file>:<line>``: an application_name (≤ 63 bytes) naming ``item``; the full
    nodeid is kept in :data:`_TESTS` under ``pw-test:<n>``."""
    path, line, _ = item.location
    where = f"{path}:{(line or 0) + 1}"
    key = f"pw-test:{len(_TESTS) + 1}"
    _TESTS[key] = (item.nodeid, where)
    tag = f"{key} {where}"
    while len(tag.encode()) > _APP_NAME_BYTES:  # keep the end: the file name and line matter most
        where = where[1:]
        tag = f"{key} …{where}"
    return tag


def _origin(application_name: str) -> str:
    """How a leak report names a backend: the test it came from when its name is one of our tags."""
    match = _TAG.match(application_name)
    if match and match.group(1) in _TESTS:
        nodeid, where = _TESTS[match.group(1)]
        return f"opened during {nodeid} ({where})"
    return application_name or "(no application_name)"


def _backends(cluster: PostgresCluster, dbname: str | None = None) -> list[tuple[str, str, str]]:
    """Client backends other than our admin connection: (datname, application_name, state)."""
    with cluster.admin() as conn:
        rows = conn.execute(  # type: ignore[attr-defined]
            "SELECT coalesce(datname, ''), coalesce(application_name, ''), coalesce(state, '') "
            "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND application_name <> 'poolwarden-admin'" + (" AND datname = %s" if dbname else ""),
            (dbname,) if dbname else (),
        ).fetchall()
    return [tuple(r) for r in rows]


@contextlib.contextmanager
def assert_no_connection_leaks(cluster: PostgresCluster, dbname: str | None = None,
                               settle: float = _SETTLE_SECONDS) -> Iterator[None]:
    """Fail if the block leaves more client backends than it found.

    A close travels to the server asynchronously, so extra backends get up to ``settle``
    seconds to disappear before the test fails. The failure names every backend by its
    application_name, or by the test that opened it (nodeid, file:line) when it carries the
    name the plugin gives each test's connections."""
    before = len(_backends(cluster, dbname))
    yield
    deadline = time.monotonic() + settle
    while True:
        after = _backends(cluster, dbname)
        if len(after) <= before:
            return
        if time.monotonic() > deadline:
            detail = ", ".join(f"{_origin(app)} [{state or 'no state'}] on {db}" for db, app, state in after)
            pytest.fail(f"connection leak: {len(after) - before} backend(s) left behind: {detail}", pytrace=False)
        time.sleep(0.1)  # closes travel to the server asynchronously; this is a bounded wait, not a race fix


@pytest.fixture(scope="session")
def postgres_factory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[Callable[..., PostgresCluster]]:
    """Start more throwaway clusters: ``postgres_factory(max_connections=10, idle_in_transaction_session_timeout="1s")``
    returns a started :class:`~poolwarden.testing.PostgresCluster` with those server settings;
    every one is torn down at the end of the session, also when tests fail."""
    _require_driver()
    bin_dir = find_pg_bin(str(request.config.getini("poolwarden_pg_bin")) or None)
    clusters: list[PostgresCluster] = []

    def make(**settings: Any) -> PostgresCluster:
        cluster = PostgresCluster(bin_dir, settings)
        clusters.append(cluster)
        return cluster.start()

    try:
        yield make
    finally:
        for cluster in clusters:
            cluster.destroy()


@pytest.fixture(scope="session")
def postgres_cluster(postgres_factory: Callable[..., PostgresCluster]) -> PostgresCluster:
    """One throwaway PostgreSQL server for the session (``cluster.dsn(dbname)``, ``cluster.admin()``),
    started on first use; every test using it fails if it leaves backends behind."""
    return postgres_factory()


@pytest.fixture(autouse=True)
def _poolwarden_leak_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Wrap every test that uses the session cluster in :func:`assert_no_connection_leaks`, with
    ``PGAPPNAME`` naming the test (``pw-test:<n> <file>:<line>``) while it runs, unless set already."""
    if "postgres_cluster" not in request.fixturenames:
        yield
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    tagged = "PGAPPNAME" not in os.environ
    if tagged:
        os.environ["PGAPPNAME"] = _test_tag(request.node)
    try:
        with assert_no_connection_leaks(cluster, settle=_settle(request.config)):
            yield
    finally:
        if tagged:
            os.environ.pop("PGAPPNAME", None)


@pytest.fixture(scope="session")
def pgbouncer_factory(postgres_cluster: PostgresCluster) -> Iterator[Callable[..., PgBouncer]]:
    """Start PgBouncers: ``pgbouncer_factory(cluster=None, default_pool_size=1, query_wait_timeout=1)``
    returns a started :class:`~poolwarden.testing.pgbouncer.PgBouncer` (transaction mode) in front
    of ``cluster`` (default: ``postgres_cluster``) with those settings; all stop at session end."""
    bouncers: list[PgBouncer] = []

    def make(cluster: PostgresCluster | None = None, **settings: Any) -> PgBouncer:
        bouncer = PgBouncer(cluster or postgres_cluster, settings)
        bouncers.append(bouncer)
        return bouncer.start()

    try:
        yield make
    finally:
        for bouncer in bouncers:
            bouncer.stop()


@pytest.fixture(scope="session")
def pgbouncer(pgbouncer_factory: Callable[..., PgBouncer]) -> PgBouncer:
    """A real PgBouncer in transaction mode in front of ``postgres_cluster``, for the session."""
    return pgbouncer_factory()


@pytest.fixture
def postgres(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """The DSN (``postgresql://…``) of a fresh database for this test, dropped afterwards (with
    its connections); the test fails if it leaves a connection to it open."""
    name = f"test_{next(_COUNTER)}"
    with postgres_cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    try:
        with assert_no_connection_leaks(postgres_cluster, name, settle=_settle(request.config)):
            yield postgres_cluster.dsn(name)
    finally:
        with postgres_cluster.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]


@contextlib.contextmanager
def _saturate(cluster: PostgresCluster, application_name: str = "poolwarden-saturate") -> Iterator[list[Any]]:
    from poolwarden.testing.saturate import Saturator

    slots = Saturator(cluster.dsn(), application_name)
    try:
        slots.fill()
        yield slots.held
    finally:
        slots.release()


@pytest.fixture
def pg_saturate() -> Callable[..., contextlib.AbstractContextManager[list[Any]]]:
    """``pg_saturate(cluster, application_name="poolwarden-saturate")``, a context manager::

        with pg_saturate(postgres_cluster) as held:
            ...  # connecting now fails with the server's "too many clients already"

    opens real connections to ``cluster`` (eight at a time, named ``application_name``) until
    the server refuses one; ``held`` is the list of open psycopg connections. All are closed
    when the block ends, also when it raises."""
    _require_driver()
    return _saturate


@contextlib.contextmanager
def _outage(cluster: PostgresCluster, mode: str = "stop") -> Iterator[PostgresCluster]:
    if mode == "terminate":
        with cluster.admin() as conn:
            names = [r[0] for r in conn.execute(  # type: ignore[attr-defined]
                "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'").fetchall()]
            for name in names:  # refuse new connections while the outage lasts
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')  # type: ignore[attr-defined]
            conn.execute(  # type: ignore[attr-defined]
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        try:
            yield cluster
        finally:
            with cluster.admin() as conn:
                for name in names:
                    conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')  # type: ignore[attr-defined]
        return
    if mode != "stop":
        raise ValueError(f"pg_outage mode must be 'stop' or 'terminate', not {mode!r}")
    cluster.stop("fast")
    try:
        yield cluster
    finally:
        cluster.start()


@pytest.fixture
def pg_outage() -> Callable[..., contextlib.AbstractContextManager[PostgresCluster]]:
    """``with pg_outage(cluster, mode="stop"): ...`` stops the server (clients disconnected, new
    connections refused) and starts it again on the same port when the block ends; with
    ``mode="terminate"`` the server stays up, every client backend is ended and every database
    but ``postgres`` refuses connections until the block ends."""
    return _outage


@pytest.fixture(name="assert_no_connection_leaks")
def assert_no_connection_leaks_fixture() -> Callable[..., contextlib.AbstractContextManager[None]]:
    """``with assert_no_connection_leaks(cluster, dbname=None, settle=10.0): ...`` fails the test
    when the block leaves more client backends than it found, naming them (application_name,
    or the test that opened them, and state)."""
    return assert_no_connection_leaks


@pytest.fixture
def drill(postgres: str) -> Callable[..., Any]:
    """Run ``poolwarden drill`` from a test, against this test's database (``postgres``)::

        def test_no_lies_under_saturation(drill):
            result = drill(calls=[my_app.check_subscription], faults=["saturation"])
            assert result.lies == 0, result.verdict.lie_examples

    Keywords are :func:`poolwarden.drill.run_drill`'s (``urls``, ``calls``, ``faults`` …) plus
    ``baseline`` / ``duration`` / ``recovery`` seconds (1 / 2 / 2 by default) and ``concurrency``.
    Saturation fills the session cluster's slots and terminates this database's other backends.
    """
    from poolwarden.drill import Plan, run_drill

    def run(*, baseline: float = 1.0, duration: float = 2.0, recovery: float = 2.0, concurrency: int = 2,
            interval: float = 0.02, **kwargs: Any) -> Any:
        kwargs.setdefault("dsn", postgres)
        plan = Plan(baseline=baseline, fault=duration, recovery=recovery, concurrency=concurrency, interval=interval)
        return run_drill(plan=plan, **kwargs)

    return run


@pytest.fixture(scope="session")
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """Start real Prometheus servers: ``prometheus_factory(jobs, labels=None, scrape_interval="1s")``
    returns a started :class:`~poolwarden.testing.prometheus.Prometheus` whose targets are all up;
    every one is stopped, and its data removed, at the end of the session (or by its ``stop()``)."""
    from poolwarden.testing.prometheus import Prometheus

    servers: list[Prometheus] = []

    def make(jobs: Any, **kwargs: Any) -> Prometheus:
        kwargs.setdefault("base_dir", tmp_path_factory.mktemp("prometheus"))
        server = Prometheus(jobs, **kwargs)
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in servers:
            server.stop()
