"""``poolwarden drill``: if PostgreSQL refused connections for 30 seconds, what would users see?

:func:`run_drill` drives targets (HTTP endpoints or Python callables) through a baseline, a fault
and a recovery, against a server named by ``dsn`` or a throwaway cluster it starts
(``start_postgres``, the pytest plugin's machinery; the app then connects through a local TCP
proxy, which is how ``outage`` and ``slow`` are made). It returns the run and its
:class:`~poolwarden.drill.verdict.Verdict`: lies, honest failures, fail-fast latency, recovery,
connections returned. Placeholders in the app command, its environment, the URLs and the setup
SQL: ``{dsn}`` (the app's URL to the database), ``{db_host}``, ``{db_port}``, ``{db_name}``,
``{db_user}``, ``{db_password}`` and ``{port}`` (a free port for the app). The app gets the
database as ``DATABASE_URL``; so do ``calls`` under ``start_postgres`` (set in this process for
the run).

Safety: a DSN whose host is not loopback (or a Unix socket) is refused unless
``allow_remote``; the run is bounded in time and requests; every connection the drill opened is
closed, and a cluster, proxy or app it started is stopped, on every way out.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolwarden.drill.faults import FAULTS, make_fault
from poolwarden.drill.model import Plan
from poolwarden.drill.runner import RunData, run
from poolwarden.drill.targets import CallTarget, HttpTarget, Target
from poolwarden.drill.verdict import Verdict, judge
from poolwarden.dsn import mask
from poolwarden.errors import UsageError

__all__ = ["FAULTS", "DrillResult", "Plan", "check_local", "run_drill"]


@dataclass
class DrillResult:
    data: RunData
    verdict: Verdict

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def lies(self) -> int:
        return self.verdict.lies


def check_local(dsn: str, allow_remote: bool) -> None:
    """Refuse a DSN whose hosts are not this machine, unless ``allow_remote``."""
    if allow_remote:
        return
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        raise UsageError(f"--dsn {mask(dsn)}: not a valid connection string") from None
    hosts = [h for h in str(params.get("host") or "").split(",") if h] or ["(default socket)"]
    for host in hosts:
        if host.startswith("/") or host in ("localhost", "(default socket)"):
            continue
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass
        raise UsageError(f"--dsn {mask(dsn)}: {host} is not this machine; a drill saturates and kills "
                         f"connections, so pass --allow-remote to drill a remote server on purpose")


@contextlib.contextmanager
def _database(dsn: str | None, start_postgres: bool, settings: Mapping[str, Any],
              setup_sql: str | None) -> Iterator[tuple[str, str, Any, dict[str, str]]]:
    """(admin DSN, the app's DSN, the proxy or None, placeholder values)."""
    from psycopg.conninfo import conninfo_to_dict

    if not start_postgres:
        assert dsn is not None
        p = conninfo_to_dict(dsn)
        values = {"dsn": dsn, "db_host": str(p.get("host", "")), "db_port": str(p.get("port", "5432")),
                  "db_name": str(p.get("dbname", "")), "db_user": str(p.get("user", "")),
                  "db_password": str(p.get("password", ""))}
        if setup_sql:
            _run_sql(dsn, setup_sql.format_map(values))
        yield dsn, dsn, None, values
        return
    from poolwarden.testing.cluster import PostgresCluster, find_pg_bin
    from poolwarden.testing.proxy import TcpProxy

    with PostgresCluster(find_pg_bin(), {"max_connections": 20, **settings}) as cluster:
        with cluster.admin() as conn:
            conn.execute('CREATE DATABASE "app"')  # type: ignore[attr-defined]
        admin = cluster.dsn("app")
        with TcpProxy(cluster.host, cluster.port) as proxy:
            app_dsn = proxy.dsn(admin)
            p = conninfo_to_dict(app_dsn)
            values = {"dsn": app_dsn, "db_host": str(p.get("host")), "db_port": str(p.get("port")),
                      "db_name": "app", "db_user": str(p.get("user")), "db_password": str(p.get("password"))}
            if setup_sql:
                _run_sql(admin, setup_sql.format_map(values))
            yield admin, app_dsn, proxy, values


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _run_sql(dsn: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5, application_name="poolwarden-drill-setup") as conn:
        conn.execute(sql.encode())


def run_drill(*, urls: Sequence[str] = (), calls: Sequence[str | Callable[..., Any]] = (), method: str = "GET",
              headers: Mapping[str, str] | None = None, body: bytes | None = None, dsn: str | None = None,
              start_postgres: bool = False, postgres_settings: Mapping[str, Any] | None = None,
              setup_sql: str | Path | None = None, app: str | None = None, app_cwd: str | None = None,
              app_env: Mapping[str, str] | None = None, app_timeout: float = 30.0, app_log: str | None = None,
              faults: Sequence[str] = ("saturation",), plan: Plan | None = None, allow_remote: bool = False,
              compare: str = "body", delay: float = 0.5, terminate_existing: bool = True,
              call_path: str | None = None, progress: Callable[[str], None] | None = None) -> DrillResult:
    """Run one drill (see the module docstring). Raises :class:`UsageError` for bad input."""
    if not urls and not calls:
        raise UsageError("nothing to drill: give --url or --call")
    if (dsn is None) == (not start_postgres):
        raise UsageError("give exactly one of --dsn or --start-postgres")
    if compare not in ("body", "status"):
        raise UsageError(f"--compare must be 'body' or 'status', not {compare!r}")
    for name in faults:
        if name not in FAULTS:
            raise UsageError(f"unknown fault {name!r} (expected one of: {', '.join(FAULTS)})")
    if dsn is not None:
        check_local(dsn, allow_remote)
    plan = plan or Plan()
    sql = Path(setup_sql).read_text() if isinstance(setup_sql, Path) else setup_sql
    from poolwarden.testing.cluster import free_port

    with _database(dsn, start_postgres, postgres_settings or {}, sql) as (admin, _app_dsn, proxy, values):
        values["port"] = str(free_port())
        targets: list[Target] = [HttpTarget(u.format_map(values), method,
                                            {k: v.format_map(values) for k, v in (headers or {}).items()}, body)
                                 for u in urls]
        env = {"DATABASE_URL": values["dsn"], **{k: v.format_map(values) for k, v in (app_env or {}).items()}}
        with contextlib.ExitStack() as stack:
            if app is not None:
                from poolwarden.drill.app import launched

                first = next((t for t in targets if isinstance(t, HttpTarget)), None)
                stack.enter_context(launched(app.format_map(values), cwd=app_cwd, env=env, ready=first,
                                             timeout=app_timeout, log_path=app_log))
            if calls and start_postgres:  # in-process callables reach the database the way an --app would
                stack.enter_context(_environ("DATABASE_URL", values["dsn"]))
            targets += [CallTarget(c, path=call_path) for c in calls]
            chosen = [make_fault(name, admin, proxy, delay=delay, terminate_existing=terminate_existing)
                      for name in faults]
            data = run(targets, plan, chosen, admin, progress=progress)
    return DrillResult(data, judge(data, compare=compare))
