"""``poolwarden drill``: inject a database fault and judge what the app answers."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from poolwarden.cli.base import guarded, main
from poolwarden.errors import UsageError

_DRILL_EPILOG = """\b
Exit codes:
  0    honest: no lie, and the app recovered after the fault
  1    a lie (an answer the baseline never gave), no recovery, or a baseline already failing:
       answers that disagree, the server at its connection limit, the app's connections climbing
  2    bad input, a refused remote server (see --allow-remote), or a baseline that never
       succeeded (nothing to compare against; exit 1 when the server was at its connection
       limit), with a one-line message
  130  interrupted (Ctrl-C): partial results printed, every connection closed"""


@main.command(epilog=_DRILL_EPILOG)
@click.option("--url", "urls", multiple=True, help="An HTTP endpoint to drive (repeatable).")
@click.option("--call", "calls", multiple=True, metavar="MODULE:FUNCTION",
              help="A Python callable to drive, sync or async (repeatable).")
@click.option("--method", default="GET", show_default=True, help="HTTP method for --url.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="HTTP header (repeatable).")
@click.option("--data", help="HTTP request body.")
@click.option("--dsn", envvar="POOLWARDEN_DSN", show_envvar=True,
              help="The PostgreSQL database the app uses (a role that may open connections up to the limit).")
@click.option("--start-postgres", is_flag=True, help="Run the app against a throwaway local cluster instead.")
@click.option("--pg-setting", "pg_settings", multiple=True, metavar="NAME=VALUE",
              help="A setting of the throwaway cluster (default max_connections=20).")
@click.option("--setup-sql", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SQL run in the database before the drill (placeholders like {dsn} are filled in).")
@click.option("--app", help="Command that starts the app ({port}, {dsn} … are filled in); stopped at the end.")
@click.option("--app-cwd", help="Working directory of --app (and import path of --call).")
@click.option("--app-env", "app_env", multiple=True, metavar="NAME=VALUE", help="Environment of --app (repeatable).")
@click.option("--app-timeout", default=30.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds to wait for --app to answer.")
@click.option("--app-log", type=click.Path(dir_okay=False), help="Keep --app's output in this file.")
@click.option("--fault", "faults", multiple=True, type=click.Choice(["saturation", "pool-exhaustion", "terminate",
                                                                     "outage", "partition", "slow"]),
              help="The fault to inject (repeatable; default saturation).")
@click.option("--baseline", default=5.0, show_default=True, type=click.FloatRange(min=0.5), help="Seconds.")
@click.option("--duration", default=10.0, show_default=True, type=click.FloatRange(min=0.5),
              help="Seconds the fault lasts.")
@click.option("--recovery", default=10.0, show_default=True, type=click.FloatRange(min=0.5), help="Seconds.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256),
              help="Workers driving the targets at once.")
@click.option("--interval", default=0.05, show_default=True, type=click.FloatRange(min=0),
              help="Seconds between requests of one worker.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds per request.")
@click.option("--max-requests", default=20_000, show_default=True, type=click.IntRange(min=1),
              help="Stop sending after this many requests in all (a bound on the drill).")
@click.option("--compare", type=click.Choice(["body", "status"]), default="body", show_default=True,
              help="What must match the baseline for an answer not to be a lie.")
@click.option("--delay", default=0.5, show_default=True, type=click.FloatRange(min=0),
              help="Seconds added per packet by --fault slow.")
@click.option("--keep-existing", is_flag=True, help="Saturation: do not terminate the app's open connections first.")
@click.option("--allow-remote", is_flag=True, help="Allow a --dsn that is not on this machine.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report format on stdout.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report here.")
@guarded
def drill(urls: tuple[str, ...], calls: tuple[str, ...], method: str, headers: tuple[str, ...], data: str | None,
          dsn: str | None, start_postgres: bool, pg_settings: tuple[str, ...], setup_sql: Path | None,
          app: str | None, app_cwd: str | None, app_env: tuple[str, ...], app_timeout: float, app_log: str | None,
          faults: tuple[str, ...], baseline: float, duration: float, recovery: float, concurrency: int,
          interval: float, timeout: float, max_requests: int, compare: str, delay: float, keep_existing: bool,
          allow_remote: bool, fmt: str, html_path: Path | None) -> None:
    """Inject a database fault and check what the app answers. Exit 0 honest, 1 a lie, no recovery or a
    baseline already failing, 2 bad input or a baseline that never succeeded."""
    from poolwarden.extras import require

    require("psycopg", "drill", "psycopg", "drill")
    from poolwarden.drill import Plan, run_drill
    from poolwarden.drill.inputs import check_output
    from poolwarden.drill.report import render_html, render_json, render_text
    from poolwarden.dsn import connection_error

    def pairs(values: tuple[str, ...], sep: str, option: str) -> dict[str, str]:
        out = {}
        for value in values:
            name, ok, rest = value.partition(sep)
            if not ok or not name.strip():
                raise UsageError(f"{option} {value!r}: expected NAME{sep.strip()}VALUE")
            out[name.strip()] = rest.strip() if sep == ":" else rest
        return out

    plan = Plan(baseline=baseline, fault=duration, recovery=recovery, concurrency=concurrency, interval=interval,
                timeout=timeout, max_requests=max_requests)
    check_output(html_path, "--html")
    try:
        result = run_drill(
            urls=urls, calls=calls, method=method, headers=pairs(headers, ":", "--header"),
            body=data.encode() if data is not None else None, dsn=dsn, start_postgres=start_postgres,
            postgres_settings=pairs(pg_settings, "=", "--pg-setting"), setup_sql=setup_sql, app=app,
            app_cwd=app_cwd, app_env=pairs(app_env, "=", "--app-env"), app_timeout=app_timeout, app_log=app_log,
            faults=faults or ("saturation",), plan=plan, allow_remote=allow_remote, compare=compare, delay=delay,
            terminate_existing=not keep_existing, call_path=app_cwd,
            progress=lambda text: click.echo(f"drill: {text}", err=True))
    except UsageError:
        raise
    except Exception as exc:
        if type(exc).__module__.partition(".")[0] in ("psycopg", "psycopg_pool"):
            raise UsageError(connection_error("--dsn" if dsn else "--start-postgres", dsn or "", exc)) from None
        raise
    if html_path is not None:
        html_path.write_text(render_html(result.data, result.verdict), encoding="utf-8")
    click.echo(render_json(result.data, result.verdict) if fmt == "json" else render_text(result.data, result.verdict))
    if result.data.interrupted:
        click.echo("poolwarden: interrupted: partial results above; every connection the drill opened is closed",
                   err=True)
        sys.exit(130)
    if result.verdict.inconclusive:
        raise UsageError(f"baseline never succeeded ({result.verdict.baseline_summary}): the app fails without "
                         f"any fault, so the drill measured nothing; report above")
    sys.exit(0 if result.passed else 1)
