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
from poolwarden.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    click.echo(f"poolwarden: error: {message}", err=True)
    sys.exit(2)


def _guarded(func: F) -> F:
    """Turn bad input into a one-line error and exit 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UsageError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            click.echo("poolwarden: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # poolwarden: ignore[PW101] -- the CLI boundary: report, exit 2
            _fail(f"internal error: {type(exc).__name__}: {exc}")

    return wrapper  # type: ignore[return-value]


def _codes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [c.strip() for c in value.split(",") if c.strip()]


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
            _fail(f"{message}{hint}")
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


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="Output format.")
@click.option("--select", help="Comma-separated rule codes or prefixes to enable (default: all).")
@click.option("--ignore", help="Comma-separated rule codes or prefixes to disable.")
@click.option("--diff", "diff_rev", metavar="REV", help="Report only findings on lines changed since REV.")
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
    from poolwarden.check.diff import changed_lines
    from poolwarden.check.files import target_error
    from poolwarden.check.registry import expand_codes
    from poolwarden.check.report import render

    stdin = "-" in paths or (stdin_filename is not None and not paths)
    if stdin and [p for p in paths if p != "-"]:
        raise UsageError("'-' (stdin) cannot be combined with other paths")
    if stdin_filename is not None and not stdin:
        raise UsageError("--stdin-filename needs the source on stdin: give '-' as the only PATH")
    targets = [stdin_filename or "-"] if stdin else list(paths) or ["."]
    for target in [] if stdin else targets:
        if (problem := target_error(target)) is not None:
            raise UsageError(problem)
    config = load_config(config_file if config_file is not None else find_config(Path(targets[0])))
    if select is not None:
        config.select = _codes(select) or []
        expand_codes(config.select)
    if ignore is not None:
        config.ignore = [*config.ignore, *(_codes(ignore) or [])]
        expand_codes(config.ignore)
    if stdin:
        limit = config.max_file_size
        source = sys.stdin.buffer.read(limit + 1) if limit else sys.stdin.buffer.read()
        result = check_source(source, targets[0], config)
    else:
        result = check_paths(targets, config, use_cache=not no_cache, jobs=jobs)
    for warning in result.warnings:
        click.echo(f"poolwarden: warning: {warning}", err=True)
    findings = result.findings
    if diff_rev is not None:
        changed = changed_lines(diff_rev)
        kept = []
        for f in findings:
            lines = changed.get(os.path.abspath(f.path), set())
            if lines is None or any(n in lines for n in range(f.line, f.end_line + 1)):
                kept.append(f)
        findings = kept
    click.echo(render(fmt, findings, result.files))
    sys.exit(1 if findings and not exit_zero else 0)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_guarded
def rules(fmt: str) -> None:
    """List the rules of `poolwarden check`."""
    import json

    from poolwarden.check.registry import ALL_RULES

    if fmt == "json":
        click.echo(json.dumps([{"code": r.CODE, "name": r.NAME, "summary": r.SUMMARY} for r in ALL_RULES], indent=2))
        return
    width = max(len(r.NAME) for r in ALL_RULES)
    for r in ALL_RULES:
        click.echo(f"{r.CODE}  {r.NAME:<{width}}  {r.SUMMARY}")


@main.command()
@click.argument("code")
@_guarded
def explain(code: str) -> None:
    """Print the documentation of one rule, e.g. `poolwarden explain PW104`."""
    from poolwarden.check.registry import BY_CODE

    cls = BY_CODE.get(code.strip().upper())
    if cls is None:
        raise UsageError(f"unknown rule code '{code}' (see `poolwarden rules`)")
    click.echo(cls.doc())


@main.command()
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="poolwarden.toml ([budget]) or pyproject.toml ([tool.poolwarden.budget]); default: the nearest.")
@click.option("--dsn", help="Read max_connections, the reserved slots and the live count from this server.")
@click.option("--code", "code_paths", multiple=True, type=click.Path(path_type=str),
              help="Read pool settings, Celery concurrency and beat schedules from this code (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
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


@main.command()
@click.option("--dsn", required=True, help="The PostgreSQL server to diagnose (read-only, one connection).")
@click.option("--pgbouncer", "pgbouncer_dsn", help="PgBouncer's admin console (…/pgbouncer) for SHOW POOLS.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "prometheus"]), default="text",
              show_default=True)
@click.option("--idle-age", default="10m", show_default=True, help="Idle this long counts toward a leak suspect.")
@click.option("--min-idle", default=5, show_default=True, type=click.IntRange(min=1),
              help="Aging idle connections from one application that make it a leak suspect.")
@_guarded
def doctor(dsn: str, pgbouncer_dsn: str | None, fmt: str, idle_age: str, min_idle: int) -> None:
    """Who holds the connections, and why: a verdict first, then the evidence. Exit 0 healthy, 1 otherwise."""
    import json

    from poolwarden.budget.model import parse_duration
    from poolwarden.doctor import diagnose, take
    from poolwarden.doctor.diagnosis import render_text

    snapshot = take(dsn, pgbouncer_dsn)
    diagnosis = diagnose(snapshot, idle_age=parse_duration(idle_age, "--idle-age"), min_idle=min_idle)
    if fmt == "prometheus":
        from poolwarden.doctor.metrics import render

        click.echo(render(snapshot, diagnosis), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(diagnosis.as_dict(), indent=2, default=str))
    else:
        click.echo(render_text(diagnosis))
    sys.exit(0 if diagnosis.healthy else 1)


@main.command()
@click.option("--dsn", required=True, help="The PostgreSQL server to watch (read-only, one connection per scrape).")
@click.option("--pgbouncer", "pgbouncer_dsn", help="PgBouncer's admin console for SHOW POOLS.")
@click.option("--port", default=9287, show_default=True, type=click.IntRange(1, 65535))
@click.option("--address", default="127.0.0.1", show_default=True)
@_guarded
def exporter(dsn: str, pgbouncer_dsn: str | None, port: int, address: str) -> None:
    """Serve doctor's numbers as Prometheus metrics on /metrics (one snapshot per scrape)."""
    import threading

    from poolwarden.doctor import diagnose, take
    from poolwarden.doctor.metrics import DoctorCollector

    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise UsageError("exporter needs prometheus-client: pip install 'poolwarden[exporter]'") from None
    take(dsn, pgbouncer_dsn)  # fail fast (exit 2) when the server cannot be read

    def observe() -> tuple[object, object]:
        snapshot = take(dsn, pgbouncer_dsn)
        return snapshot, diagnose(snapshot)

    registry = CollectorRegistry()
    registry.register(DoctorCollector(observe))  # type: ignore[arg-type]
    try:
        start_http_server(port, addr=address, registry=registry)
    except OSError as exc:
        raise UsageError(f"cannot listen on {address}:{port}: {exc.strerror}") from None
    click.echo(f"poolwarden exporter: http://{address}:{port}/metrics", err=True)
    threading.Event().wait()


@main.command()
@click.option("--dsn", required=True, help="The PostgreSQL server to watch (read-only).")
@click.option("--pgbouncer", "pgbouncer_dsn", help="PgBouncer's admin console for SHOW POOLS.")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between refreshes.")
@click.option("--iterations", type=click.IntRange(min=1),
              help="Stop after this many refreshes (default: until Ctrl-C).")
@_guarded
def top(dsn: str, pgbouncer_dsn: str | None, interval: float, iterations: int | None) -> None:
    """doctor, refreshing live in the terminal."""
    from poolwarden.doctor import diagnose, take

    try:
        import rich  # noqa: F401

        from poolwarden.doctor.top import run
    except ImportError:
        raise UsageError("top needs rich: pip install 'poolwarden[top]'") from None
    run(lambda: diagnose(take(dsn, pgbouncer_dsn)), interval, iterations)


@main.command()
@click.option("--url", "urls", multiple=True, help="An HTTP endpoint to drive (repeatable).")
@click.option("--call", "calls", multiple=True, metavar="MODULE:FUNCTION",
              help="A Python callable to drive, sync or async (repeatable).")
@click.option("--method", default="GET", show_default=True, help="HTTP method for --url.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="HTTP header (repeatable).")
@click.option("--data", help="HTTP request body.")
@click.option("--dsn", help="The PostgreSQL database the app uses (a role that may open connections up to the limit).")
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
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256))
@click.option("--interval", default=0.05, show_default=True, type=click.FloatRange(min=0),
              help="Seconds between requests of one worker.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds per request.")
@click.option("--max-requests", default=20_000, show_default=True, type=click.IntRange(min=1))
@click.option("--compare", type=click.Choice(["body", "status"]), default="body", show_default=True,
              help="What must match the baseline for an answer not to be a lie.")
@click.option("--delay", default=0.5, show_default=True, type=click.FloatRange(min=0),
              help="Seconds added per packet by --fault slow.")
@click.option("--keep-existing", is_flag=True, help="Saturation: do not terminate the app's open connections first.")
@click.option("--allow-remote", is_flag=True, help="Allow a --dsn that is not on this machine.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report here.")
@_guarded
def drill(urls: tuple[str, ...], calls: tuple[str, ...], method: str, headers: tuple[str, ...], data: str | None,
          dsn: str | None, start_postgres: bool, pg_settings: tuple[str, ...], setup_sql: Path | None,
          app: str | None, app_cwd: str | None, app_env: tuple[str, ...], app_timeout: float, app_log: str | None,
          faults: tuple[str, ...], baseline: float, duration: float, recovery: float, concurrency: int,
          interval: float, timeout: float, max_requests: int, compare: str, delay: float, keep_existing: bool,
          allow_remote: bool, fmt: str, html_path: Path | None) -> None:
    """Inject a database fault and check what the app answers. Exit 0 honest, 1 a lie or no recovery."""
    from poolwarden.drill import Plan, run_drill
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
    sys.exit(0 if result.passed else 1)
