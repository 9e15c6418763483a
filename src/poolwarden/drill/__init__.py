"""``poolwarden drill``: if PostgreSQL refused connections for 30 seconds, what would users see?

:func:`run_drill` drives targets (HTTP endpoints or Python callables) through a baseline, a fault
and a recovery, against a server named by ``dsn`` or a throwaway cluster it starts
(``start_postgres``, the pytest plugin's machinery; the app then connects through a local TCP
proxy, which is how ``outage`` and ``slow`` are made). It returns the run and its
:class:`~poolwarden.drill.verdict.Verdict`: lies, honest failures, fail-fast latency, recovery,
connections returned, and findings of an app already failing without the fault (baseline answers
that disagree, the server at its connection limit, the app's connections climbing:
:mod:`poolwarden.drill.health`). Placeholders in the app command, its environment, the URLs and the setup
SQL: ``{dsn}`` (the app's URL to the database), ``{db_host}``, ``{db_port}``, ``{db_name}``,
``{db_user}``, ``{db_password}`` and ``{port}`` (a free port for the app); other braces are left
as written. The app gets the database as ``DATABASE_URL``; so do ``calls`` under
``start_postgres`` (set in this process for the run, before they are imported).

Safety: a DSN that can reach any address that is not loopback or a Unix socket, by any libpq
route (:mod:`poolwarden.drill.route`), is refused before connecting unless ``allow_remote``, and
the drill's own connections use the route it checked, pinned; every input is checked before
anything starts; the run is bounded in time and requests; every connection the drill opened is
closed, and a cluster, proxy or app it started is stopped, on every way out.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolwarden.drill.faults import FAULTS, make_fault
from poolwarden.drill.health import Finding
from poolwarden.drill.inputs import check_app, check_output, check_settings, fill, read_sql
from poolwarden.drill.model import Plan
from poolwarden.drill.route import check_local
from poolwarden.drill.runner import RunData, run
from poolwarden.drill.targets import CallTarget, HttpTarget, Target
from poolwarden.drill.verdict import Verdict, judge
from poolwarden.dsn import mask
from poolwarden.errors import UsageError

__all__ = ["FAULTS", "DrillResult", "Finding", "Plan", "check_local", "run_drill"]


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

    @property
    def findings(self) -> list[Finding]:
        """The app failing without the fault (:mod:`poolwarden.drill.health`); any fails the drill."""
        return self.verdict.findings


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


def _values(dsn: str, conninfo: str) -> dict[str, str]:
    """Placeholder values: ``{dsn}`` as given, the rest from the effective parameters."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    return {"dsn": dsn, "db_host": str(p.get("host") or "").split(",")[0],
            "db_port": str(p.get("port") or "5432").split(",")[0], "db_name": str(p.get("dbname", "")),
            "db_user": str(p.get("user", "")), "db_password": str(p.get("password", ""))}


def _run_sql(dsn: str, sql: str) -> None:
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5,
                             application_name="poolwarden-drill-setup") as conn:
            conn.execute(sql.encode())
    except psycopg.OperationalError:
        raise  # the server is not reachable: reported as a --dsn error
    except psycopg.Error as exc:
        text = str(exc).strip()
        raise UsageError(f"--setup-sql: {mask(text.splitlines()[0] if text else type(exc).__name__)}") from None


def _server_error(log: Path) -> str:
    """The line of a server log that says why it stopped: its last FATAL / ERROR, else its last line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no server log"
    fatal = [line for line in lines if "FATAL:" in line or "ERROR:" in line]
    line = (fatal or lines or ["empty server log"])[-1]
    return mask(line.split("  ", 1)[-1] if "FATAL:" in line or "ERROR:" in line else line)


def _cluster(stack: contextlib.ExitStack, settings: Mapping[str, Any], proxy_port: int) -> tuple[str, Any]:
    """Start the throwaway cluster, database ``app`` and the proxy on ``proxy_port``; (admin DSN, proxy).

    A cluster that does not start (a bad ``--pg-setting``) is one line naming the server's error,
    and its directory is removed."""
    from poolwarden.testing.cluster import PostgresCluster, find_pg_bin
    from poolwarden.testing.proxy import TcpProxy

    cluster = PostgresCluster(find_pg_bin(), {"max_connections": 20, **settings})
    stack.callback(cluster.destroy)
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError):
        given = mask(" ".join(f"{k}={v}" for k, v in settings.items()))
        raise UsageError(f"--start-postgres{' --pg-setting ' + given if given else ''}: the throwaway server did "
                         f"not start: {_server_error(cluster.log)}") from None
    with cluster.admin() as conn:
        conn.execute('CREATE DATABASE "app"')  # type: ignore[attr-defined]
    try:
        proxy = stack.enter_context(TcpProxy(cluster.host, cluster.port, listen_port=proxy_port))
    except OSError as exc:
        raise UsageError(f"--start-postgres: the drill's proxy cannot listen on port {proxy_port}: "
                         f"{exc.strerror or exc}") from None
    return cluster.dsn("app"), proxy


def run_drill(*, urls: Sequence[str] = (), calls: Sequence[str | Callable[..., Any]] = (), method: str = "GET",
              headers: Mapping[str, str] | None = None, body: bytes | None = None, dsn: str | None = None,
              start_postgres: bool = False, postgres_settings: Mapping[str, Any] | None = None,
              setup_sql: str | Path | None = None, app: str | None = None, app_cwd: str | None = None,
              app_env: Mapping[str, str] | None = None, app_timeout: float = 30.0, app_log: str | None = None,
              faults: Sequence[str] = ("saturation",), plan: Plan | None = None, allow_remote: bool = False,
              compare: str = "body", delay: float = 0.5, terminate_existing: bool = True,
              call_path: str | None = None, progress: Callable[[str], None] | None = None) -> DrillResult:
    """Run one drill (see the module docstring). Raises :class:`UsageError` for bad input.

    Every input is checked before anything starts (no server, no connection, no app): the DSN's
    route, the setup SQL, the URLs, the callables (imported from ``call_path``, default the current
    directory, with ``DATABASE_URL`` already set under ``start_postgres``), the app's command and
    the log path. A baseline that never succeeded is in the verdict
    (:attr:`Verdict.baseline_succeeded`, :attr:`Verdict.inconclusive`), not raised."""
    if not urls and not calls:
        raise UsageError("nothing to drill: give --url or --call")
    if (dsn is None) == (not start_postgres):
        raise UsageError("give exactly one of --dsn or --start-postgres")
    if compare not in ("body", "status"):
        raise UsageError(f"--compare must be 'body' or 'status', not {compare!r}")
    for name in faults:
        if name not in FAULTS:
            raise UsageError(f"unknown fault {name!r} (expected one of: {', '.join(FAULTS)})")
        if name in ("outage", "partition", "slow") and not start_postgres:
            make_fault(name, "", None)  # raises: needs the drill's proxy
    settings = {str(k): str(v) for k, v in (postgres_settings or {}).items()}
    check_settings(settings)
    check_output(app_log, "--app-log")
    plan = plan or Plan()
    sql = read_sql(Path(setup_sql)) if isinstance(setup_sql, Path) else setup_sql
    if sql is not None and "\0" in sql:
        raise UsageError("--setup-sql: contains a NUL byte; PostgreSQL takes text")
    from poolwarden.testing.cluster import PASSWORD, SUPERUSER, free_port

    if dsn is not None:
        admin = check_local(dsn, allow_remote)
        values = _values(dsn, admin)
    else:
        proxy_port = free_port()
        app_dsn = f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{proxy_port}/app"
        values = {"dsn": app_dsn, "db_host": "127.0.0.1", "db_port": str(proxy_port), "db_name": "app",
                  "db_user": SUPERUSER, "db_password": PASSWORD}
    values["port"] = str(free_port())
    targets: list[Target] = [HttpTarget(fill(u, values), method,
                                        {k: fill(v, values) for k, v in (headers or {}).items()}, body)
                             for u in urls]
    env = {"DATABASE_URL": values["dsn"], **{k: fill(v, values) for k, v in (app_env or {}).items()}}
    argv = check_app(fill(app, values), app_cwd) if app is not None else None
    with contextlib.ExitStack() as stack:
        if calls and start_postgres:  # in-process callables reach the database the way an --app would
            stack.enter_context(_environ("DATABASE_URL", values["dsn"]))
        targets += [CallTarget(c, path=call_path) for c in calls]
        proxy = None
        if start_postgres:
            admin, proxy = _cluster(stack, settings, proxy_port)
        if sql:
            _run_sql(admin, fill(sql, values))
        if argv is not None:
            from poolwarden.drill.app import launched

            first = next((t for t in targets if isinstance(t, HttpTarget)), None)
            stack.enter_context(launched(argv, cwd=app_cwd, env=env, ready=first, timeout=app_timeout,
                                         log_path=app_log, secrets=(values["db_password"],)))
        chosen = [make_fault(name, admin, proxy, delay=delay, terminate_existing=terminate_existing)
                  for name in faults]
        data = run(targets, plan, chosen, admin, progress=progress)
    return DrillResult(data, judge(data, compare=compare))
