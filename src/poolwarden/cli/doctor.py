"""``poolwarden doctor``, ``top`` and ``exporter``: live, read-only diagnosis of a running server."""

from __future__ import annotations

import sys

import click

from poolwarden.cli.base import F, guarded, main
from poolwarden.errors import UsageError

_DSN_HELP = " Password: prefer PGPASSWORD or PGPASSFILE to the command line (ps shows it)."


def _doctor_options(func: F) -> F:
    """--idle-age and --min-idle, shared by doctor, top and exporter."""
    func = click.option("--min-idle", default=5, show_default=True, type=click.IntRange(min=1),
                        help="Aging idle connections from one application that make it a leak suspect.")(func)
    return click.option("--idle-age", default="10m", show_default=True,
                        help="Idle this long counts toward a leak suspect (e.g. 30s, 10m, 1h30m).")(func)


def _idle_age(value: str) -> float:
    from poolwarden.durations import parse_duration

    return parse_duration(value, "--idle-age")


_DOCTOR_EPILOG = """\b
Exit codes:
  0  healthy
  1  warning or critical, or incomplete: the role cannot see other roles' sessions
     (GRANT pg_monitor fixes it), so no healthy verdict is given
  2  bad input or a server that cannot be read, with a one-line message"""


@main.command(epilog=_DOCTOR_EPILOG, short_help="Who holds the connections, and why (read-only).")
@click.option("--dsn", required=True, envvar="POOLWARDEN_DSN", show_envvar=True,
              help="The PostgreSQL server to diagnose (read-only, one connection)." + _DSN_HELP)
@click.option("--pgbouncer", "pgbouncer_dsn", help="PgBouncer's admin console (…/pgbouncer) for SHOW POOLS.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "prometheus"]), default="text",
              show_default=True, help="Output format (prometheus: the exporter's metrics, once).")
@_doctor_options
@guarded
def doctor(dsn: str, pgbouncer_dsn: str | None, fmt: str, idle_age: str, min_idle: int) -> None:
    """Who holds the connections, and why: a verdict first, then the evidence. Exit 0 healthy, 1 otherwise
    (warning, critical, or incomplete: the role cannot see other roles' sessions), 2 bad input."""
    import json

    from poolwarden.doctor import diagnose, take
    from poolwarden.doctor.diagnosis import render_text

    age = _idle_age(idle_age)  # before connecting
    if fmt == "prometheus":
        from poolwarden.extras import require

        require("prometheus_client", "doctor --format prometheus", "prometheus-client", "exporter")
    snapshot = take(dsn, pgbouncer_dsn)
    diagnosis = diagnose(snapshot, idle_age=age, min_idle=min_idle)
    if fmt == "prometheus":
        from poolwarden.doctor.metrics import render

        click.echo(render(snapshot, diagnosis), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(diagnosis.as_dict(), indent=2, default=str))
    else:
        click.echo(render_text(diagnosis))
    sys.exit(0 if diagnosis.healthy else 1)


_EXPORTER_EPILOG = """\b
Exit codes:
  2    it cannot start (bad input, the server cannot be read, the port is taken)
  130  stopped with Ctrl-C
  Otherwise it serves until stopped; a scrape that cannot read the server says poolwarden_up 0."""


@main.command(epilog=_EXPORTER_EPILOG, short_help="Serve doctor's numbers as Prometheus metrics.")
@click.option("--dsn", required=True, envvar="POOLWARDEN_DSN", show_envvar=True,
              help="The PostgreSQL server to watch (read-only, one connection per scrape)." + _DSN_HELP)
@click.option("--pgbouncer", "pgbouncer_dsn", help="PgBouncer's admin console for SHOW POOLS.")
@click.option("--port", default=9287, show_default=True, type=click.IntRange(1, 65535), help="Port of /metrics.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@_doctor_options
@guarded
def exporter(dsn: str, pgbouncer_dsn: str | None, port: int, address: str, idle_age: str, min_idle: int) -> None:
    """Serve doctor's numbers as Prometheus metrics on /metrics (one snapshot per scrape; poolwarden_up 0
    when a scrape cannot read the server). Runs until stopped; exit 2 when it cannot start."""
    import threading

    from poolwarden.doctor import diagnose, take
    from poolwarden.doctor.metrics import DoctorCollector
    from poolwarden.extras import require

    age = _idle_age(idle_age)
    require("prometheus_client", "exporter", "prometheus-client", "exporter")
    from prometheus_client import CollectorRegistry, start_http_server

    take(dsn, pgbouncer_dsn, command="exporter")  # fail fast (exit 2) when the server cannot be read

    def observe() -> tuple[object, object]:
        snapshot = take(dsn, pgbouncer_dsn, command="exporter")
        return snapshot, diagnose(snapshot, idle_age=age, min_idle=min_idle)

    registry = CollectorRegistry()
    registry.register(DoctorCollector(observe))  # type: ignore[arg-type]
    try:
        start_http_server(port, addr=address, registry=registry)
    except OSError as exc:
        raise UsageError(f"cannot listen on {address}:{port}: {exc.strerror}") from None
    click.echo(f"poolwarden exporter: http://{address}:{port}/metrics", err=True)
    threading.Event().wait()


_TOP_EPILOG = """\b
Exit codes:
  0    quit with q, or after --iterations
  2    bad input or a server that cannot be read, with a one-line message
  130  interrupted (Ctrl-C)"""


@main.command(epilog=_TOP_EPILOG)
@click.option("--dsn", required=True, envvar="POOLWARDEN_DSN", show_envvar=True,
              help="The PostgreSQL server to watch (read-only)." + _DSN_HELP)
@click.option("--pgbouncer", "pgbouncer_dsn", help="PgBouncer's admin console for SHOW POOLS.")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between refreshes.")
@click.option("--iterations", type=click.IntRange(min=1),
              help="Stop after this many refreshes (default: until q or Ctrl-C).")
@_doctor_options
@guarded
def top(dsn: str, pgbouncer_dsn: str | None, interval: float, iterations: int | None, idle_age: str,
        min_idle: int) -> None:
    """doctor, refreshing live in the terminal; q quits. Exit 0 on q or after --iterations, 130 on Ctrl-C,
    2 bad input or a server that cannot be read."""
    from poolwarden.doctor import diagnose, take
    from poolwarden.extras import require

    age = _idle_age(idle_age)
    require("rich", "top", "rich", "top")
    from poolwarden.doctor.top import run

    run(lambda: diagnose(take(dsn, pgbouncer_dsn, command="top"), idle_age=age, min_idle=min_idle),
        interval, iterations)
