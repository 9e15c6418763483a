"""``poolwarden budget``: the connection math of a deployment, as a CI gate."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from poolwarden.cli.base import guarded, main
from poolwarden.errors import UsageError

_BUDGET_EPILOG = """\b
Exit codes:
  0  the worst case fits and the steady state is under alert_at
  1  over budget: the worst case does not fit, or the steady state passes alert_at (or, with
     --prometheus, a service was seen with more connections open than its worst case)
  2  bad input (a malformed or impossible model, a model that counts nothing, an unreachable
     --dsn, a --prometheus that cannot be read or holds none of the series), with a one-line message"""


@main.command(epilog=_BUDGET_EPILOG, short_help="The connection math of a deployment, as a CI gate.")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="poolwarden.toml ([budget]) or pyproject.toml ([tool.poolwarden.budget]); default: the nearest.")
@click.option("--dsn", envvar="POOLWARDEN_DSN", show_envvar=True,
              help="Read max_connections, the reserved slots and the live count from this server "
                   "(password: prefer PGPASSWORD or PGPASSFILE to one on the command line).")
@click.option("--code", "code_paths", multiple=True, type=click.Path(path_type=str),
              help="Read pool settings, Celery concurrency and beat schedules from this code (repeatable).")
@click.option("--cpus", type=click.IntRange(min=1), default=None,
              help="With --code or --manifests: the CPU count of the machines that run the code, for what "
                   "depends on it (Celery's default concurrency, gunicorn workers = cpu_count() * 2 + 1).")
@click.option("--manifests", "manifest_paths", multiple=True, type=click.Path(path_type=str),
              help="Read workloads from Kubernetes YAML / helm output, compose files and pgbouncer.ini "
                   "(files or directories; repeatable).")
@click.option("--prometheus", "prometheus_url", metavar="URL",
              help="Put the fleet's observed peaks (poolwarden_pool_*, db_client_connection_*, "
                   "pg_stat_activity_count) from this Prometheus server beside the worst case.")
@click.option("--prometheus-label", default="job", show_default=True,
              help="With --prometheus: the series label naming a workload (matched to services by name).")
@click.option("--prometheus-window", default="7d", show_default=True,
              help="With --prometheus: how far back to look for the peak.")
@click.option("--prometheus-step", default="1m", show_default=True,
              help="With --prometheus: how often within the window usage is sampled.")
@click.option("--prometheus-timeout", type=click.FloatRange(min=0.1, max=300), default=10.0, show_default=True,
              help="With --prometheus: seconds each query may take in all.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report format on stdout.")
@guarded
def budget(config_file: Path | None, dsn: str | None, code_paths: tuple[str, ...], cpus: int | None,
           manifest_paths: tuple[str, ...], prometheus_url: str | None, prometheus_label: str,
           prometheus_window: str, prometheus_step: str, prometheus_timeout: float, fmt: str) -> None:
    """The connection math of a deployment: exit 1 when the worst case does not fit or the
    steady state passes alert_at."""
    import json

    from poolwarden.budget.report import render_text
    from poolwarden.budget.run import BudgetOptions, run

    if prometheus_url is None and (prometheus_label, prometheus_window, prometheus_step,
                                   prometheus_timeout) != ("job", "7d", "1m", 10.0):
        raise UsageError("--prometheus-label, --prometheus-window, --prometheus-step and --prometheus-timeout go "
                         "with --prometheus URL")
    prometheus = None
    if prometheus_url is not None:
        from poolwarden.budget.prometheus import PrometheusSettings

        prometheus = PrometheusSettings(prometheus_url, prometheus_label, prometheus_window, prometheus_step,
                                        prometheus_timeout)
    result = run(BudgetOptions(config_file, dsn, code_paths, manifest_paths, cpus, prometheus))
    report, notes, live, observed = result.report, result.notes, result.live, result.observed
    if fmt == "json":
        data = report.as_dict()
        data["live_connections"] = live
        data["from_code"] = notes
        if observed is not None:
            data["observed"] = observed.as_dict()
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_text(report))
        if observed is not None:
            from poolwarden.budget.prometheus import render_observed

            click.echo("\n" + render_observed(report, observed))
        if notes:
            click.echo("\nfrom code:\n" + "\n".join(f"  {line}" for line in notes))
        if live is not None:
            click.echo(f"live: {live} client connections now ({live / report.usable:.0%} of usable)"
                       if report.usable > 0 else f"live: {live} client connections now")
    sys.exit(0 if report.ok else 1)
