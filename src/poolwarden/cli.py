"""The ``poolwarden`` command line: thin over the library (parse arguments, call, print).

Exit codes everywhere: 0 clean, 1 findings, 2 usage or internal error — always with a
one-line message on stderr, never a bare traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from poolwarden import __version__
from poolwarden.dsn import mask
from poolwarden.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    click.echo(f"poolwarden: error: {message}", err=True)
    sys.exit(2)


def _scrubbed(message: str, kwargs: dict[str, Any]) -> str:
    """``message`` with nothing left of the passwords of the command's DSNs (whatever raised it)."""
    from poolwarden.dsn import one_line, scrub

    for key in ("dsn", "pgbouncer_dsn"):
        value = kwargs.get(key)
        if isinstance(value, str) and value:
            message = one_line(scrub(message, value))
    return message


def _guarded(func: F) -> F:
    """Turn bad input into a one-line error and exit 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UsageError as exc:
            _fail(_scrubbed(str(exc), kwargs))
        except KeyboardInterrupt:
            click.echo("poolwarden: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # poolwarden: ignore[PW101] -- the CLI boundary: report, exit 2
            _fail(_scrubbed(f"internal error: {type(exc).__name__}: {exc}", kwargs))

    return wrapper  # type: ignore[return-value]


class _OneLineErrors(click.Group):
    """Click's own usage errors (unknown option, bad value) as one line and exit 2, like ours."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            message = " ".join(exc.format_message().split())
            _fail(mask(f"{message}{hint}"))  # an unquoted DSN's words end up in click's message
        except click.ClickException as exc:
            _fail(" ".join(exc.format_message().split()))
        except click.exceptions.Abort:
            click.echo("poolwarden: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="poolwarden")
def main() -> None:
    """Keep PostgreSQL connection pools honest."""


_CHECK_EPILOG = """\b
Exit codes:
  0  no findings (or --exit-zero)
  1  findings
  2  bad input (a missing path, an unknown rule code, a malformed config, an unknown --diff
     revision) or an internal error, with a one-line message"""


@main.command(epilog=_CHECK_EPILOG)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="Output format.")
@click.option("--select", metavar="CODES",
              help="Comma-separated rule codes or prefixes to run, replacing the config's (default: all).")
@click.option("--ignore", metavar="CODES", help="Comma-separated rule codes or prefixes to turn off (PW000 too).")
@click.option("--diff", "diff_rev", metavar="REV",
              help="Report only findings on lines changed since REV in the paths' git repository.")
@click.option("--no-cache", is_flag=True, help="Read and analyse every file, ignoring the cache.")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="Config file (default: nearest poolwarden.toml or pyproject.toml with [tool.poolwarden]).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Worker processes (default: CPU count).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--stdin-filename", metavar="NAME",
              help="Read the source from stdin (also PATH '-') and report, configure and ignore it as NAME.")
@_guarded
def check(paths: Sequence[str], fmt: str, select: str | None, ignore: str | None, diff_rev: str | None,
          no_cache: bool, config_file: Path | None, jobs: int | None, exit_zero: bool,
          stdin_filename: str | None) -> None:
    """Static analysis for connection-pool bugs (rules PW1xx). Needs no database."""
    from poolwarden.check import check_paths, check_source, find_config, load_config
    from poolwarden.check.config import apply_options
    from poolwarden.check.diff import changed_lines_for, only_changed
    from poolwarden.check.display import canonical_targets
    from poolwarden.check.files import target_error
    from poolwarden.check.report import render

    stdin = "-" in paths or (stdin_filename is not None and not paths)
    if stdin and [p for p in paths if p != "-"]:
        raise UsageError("'-' (stdin) cannot be combined with other paths")
    if stdin_filename is not None and not stdin:
        raise UsageError("--stdin-filename needs the source on stdin: give '-' as the only PATH")
    if stdin and diff_rev is not None:
        raise UsageError("--diff reads changed lines from git: it cannot be combined with stdin")
    targets = [stdin_filename or "-"] if stdin else list(paths) or ["."]
    for target in [] if stdin else targets:
        if (problem := target_error(target)) is not None:
            raise UsageError(problem)
    if not stdin:
        targets = canonical_targets(targets)
    config = load_config(config_file if config_file is not None else find_config(Path(targets[0])))
    apply_options(config, select, ignore)
    changed = changed_lines_for(diff_rev, targets) if diff_rev is not None else None
    if stdin:
        limit = config.max_file_size
        source = sys.stdin.buffer.read(limit + 1) if limit else sys.stdin.buffer.read()
        result = check_source(source, targets[0], config)
    else:
        result = check_paths(targets, config, use_cache=not no_cache, jobs=jobs)
    for warning in result.warnings:
        click.echo(f"poolwarden: warning: {warning}", err=True)
    findings = result.findings if changed is None else only_changed(result.findings, changed)
    click.echo(render(fmt, findings, result.files))
    sys.exit(1 if findings and not exit_zero else 0)


@main.command(epilog="Exit codes: 0 listed, 2 bad input.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@_guarded
def rules(fmt: str) -> None:
    """List the rules of `poolwarden check` (and PW000, a file that cannot be analysed)."""
    import json

    from poolwarden.check.registry import DOCUMENTED

    documented = [DOCUMENTED[code] for code in sorted(DOCUMENTED)]
    if fmt == "json":
        click.echo(json.dumps([{"code": r.CODE, "name": r.NAME, "summary": r.SUMMARY} for r in documented],
                              indent=2))
        return
    width = max(len(r.NAME) for r in documented)
    for r in documented:
        click.echo(f"{r.CODE}  {r.NAME:<{width}}  {r.SUMMARY}")


@main.command(short_help="Print the documentation of one rule.",
              epilog="Exit codes: 0 printed, 2 unknown code.")
@click.argument("code")
@_guarded
def explain(code: str) -> None:
    """Print the documentation of one rule (or of PW000), e.g. `poolwarden explain PW104`."""
    from poolwarden.check.registry import DOCUMENTED, expand_codes

    cls = DOCUMENTED.get(code.strip().upper())
    if cls is None:
        expand_codes([code])  # an empty or unknown code: its message, with a "did you mean"
        raise UsageError(f"{code.strip()!r} is a prefix, not one code: "
                         f"explain one of {', '.join(sorted(expand_codes([code])))}")
    click.echo(cls.doc())


_BUDGET_EPILOG = """\b
Exit codes:
  0  the worst case fits and the steady state is under alert_at
  1  over budget: the worst case does not fit, or the steady state passes alert_at
  2  bad input (a malformed or impossible model, a model that counts nothing, an unreachable
     --dsn), with a one-line message"""


@main.command(epilog=_BUDGET_EPILOG)
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="poolwarden.toml ([budget]) or pyproject.toml ([tool.poolwarden.budget]); default: the nearest.")
@click.option("--dsn", envvar="POOLWARDEN_DSN", show_envvar=True,
              help="Read max_connections, the reserved slots and the live count from this server "
                   "(password: prefer PGPASSWORD or PGPASSFILE to one on the command line).")
@click.option("--code", "code_paths", multiple=True, type=click.Path(path_type=str),
              help="Read pool settings, Celery concurrency and beat schedules from this code (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report format on stdout.")
@_guarded
def budget(config_file: Path | None, dsn: str | None, code_paths: tuple[str, ...], fmt: str) -> None:
    """The connection math of a deployment: exit 1 when the worst case does not fit or the
    steady state passes alert_at."""
    import json

    from poolwarden.budget import compute, load_deployment
    from poolwarden.budget.model import Deployment, find_budget_config
    from poolwarden.budget.report import render_text

    if config_file is None and code_paths:
        from poolwarden.config import find

        found = find(Path.cwd(), "budget")
        deployment = load_deployment(found) if found is not None else Deployment()
    else:
        deployment = load_deployment(config_file or find_budget_config(Path.cwd()))
    notes: list[str] = []
    if code_paths:
        from poolwarden.budget.code import apply, scan

        for target in code_paths:
            if not os.path.exists(target):
                raise UsageError(f"--code {target}: no such file or directory")
        facts = scan(list(code_paths))
        deployment, notes = apply(deployment, facts)
        notes.extend(f"skipped {line}" for line in facts.skipped)
    live = None
    if dsn is not None:
        from poolwarden.budget.live import with_server_limits

        deployment, live = with_server_limits(deployment, dsn)
    report = compute(deployment)
    if fmt == "json":
        data = report.as_dict()
        data["live_connections"] = live
        data["from_code"] = notes
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_text(report))
        if notes:
            click.echo("\nfrom code:\n" + "\n".join(f"  {line}" for line in notes))
        if live is not None:
            click.echo(f"live: {live} client connections now ({live / report.usable:.0%} of usable)"
                       if report.usable > 0 else f"live: {live} client connections now")
    sys.exit(0 if report.ok else 1)


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


@main.command(epilog=_DOCTOR_EPILOG)
@click.option("--dsn", required=True, envvar="POOLWARDEN_DSN", show_envvar=True,
              help="The PostgreSQL server to diagnose (read-only, one connection)." + _DSN_HELP)
@click.option("--pgbouncer", "pgbouncer_dsn", help="PgBouncer's admin console (…/pgbouncer) for SHOW POOLS.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "prometheus"]), default="text",
              show_default=True, help="Output format (prometheus: the exporter's metrics, once).")
@_doctor_options
@_guarded
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


@main.command(epilog=_EXPORTER_EPILOG)
@click.option("--dsn", required=True, envvar="POOLWARDEN_DSN", show_envvar=True,
              help="The PostgreSQL server to watch (read-only, one connection per scrape)." + _DSN_HELP)
@click.option("--pgbouncer", "pgbouncer_dsn", help="PgBouncer's admin console for SHOW POOLS.")
@click.option("--port", default=9287, show_default=True, type=click.IntRange(1, 65535), help="Port of /metrics.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@_doctor_options
@_guarded
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
@_guarded
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


_DRILL_EPILOG = """\b
Exit codes:
  0    honest: no lie, and the app recovered after the fault
  1    a lie (an answer the baseline never gave) or no recovery
  2    bad input, a refused remote server (see --allow-remote), or a baseline that never
       succeeded (nothing to compare against), with a one-line message
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
@_guarded
def drill(urls: tuple[str, ...], calls: tuple[str, ...], method: str, headers: tuple[str, ...], data: str | None,
          dsn: str | None, start_postgres: bool, pg_settings: tuple[str, ...], setup_sql: Path | None,
          app: str | None, app_cwd: str | None, app_env: tuple[str, ...], app_timeout: float, app_log: str | None,
          faults: tuple[str, ...], baseline: float, duration: float, recovery: float, concurrency: int,
          interval: float, timeout: float, max_requests: int, compare: str, delay: float, keep_existing: bool,
          allow_remote: bool, fmt: str, html_path: Path | None) -> None:
    """Inject a database fault and check what the app answers. Exit 0 honest, 1 a lie or no recovery,
    2 bad input or a baseline that never succeeded."""
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
    if not result.verdict.baseline_succeeded:
        raise UsageError(f"baseline never succeeded ({result.verdict.baseline_summary}): the app fails without "
                         f"any fault, so the drill measured nothing; report above")
    sys.exit(0 if result.passed else 1)
