"""``poolwarden check``, ``rules`` and ``explain``: static analysis, needs no database."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from poolwarden.cli.base import guarded, main
from poolwarden.errors import UsageError

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
              help="Comma-separated rule codes or prefixes to run, replacing the config's (default: every rule "
                   "but the opt-in ones; those run only when named by full code).")
@click.option("--extend-select", metavar="CODES",
              help="Comma-separated rule codes or prefixes to run in addition to the selection (opt-in rules "
                   "such as PW108 by their full code).")
@click.option("--ignore", metavar="CODES", help="Comma-separated rule codes or prefixes to turn off (PW000 too).")
@click.option("--diff", "diff_rev", metavar="REV",
              help="Report only findings on lines changed since REV in the paths' git repository.")
@click.option("--no-cache", is_flag=True, help="Read and analyse every file, ignoring the cache.")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="Config file (default: nearest poolwarden.toml or pyproject.toml with [tool.poolwarden]).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Worker processes (default: CPU count).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--statistics", is_flag=True,
              help="Print how many findings each rule made (count, code, name) instead of the findings; "
                   "text or json.")
@click.option("--stdin-filename", metavar="NAME",
              help="Read the source from stdin (also PATH '-') and report, configure and ignore it as NAME.")
@click.option("--pgbouncer-ini", metavar="PATH",
              help="The pgbouncer.ini the code runs behind: its pool_mode decides PW111 (over the config's).")
@guarded
def check(paths: Sequence[str], fmt: str, select: str | None, extend_select: str | None, ignore: str | None,
          diff_rev: str | None,
          no_cache: bool, config_file: Path | None, jobs: int | None, exit_zero: bool,
          statistics: bool, stdin_filename: str | None, pgbouncer_ini: str | None) -> None:
    """Static analysis for connection-pool bugs (rules PW1xx). Needs no database."""
    from poolwarden.check import check_paths, check_source, find_config, load_config
    from poolwarden.check.config import apply_options
    from poolwarden.check.diff import changed_lines_for, only_changed
    from poolwarden.check.display import canonical_targets
    from poolwarden.check.files import target_error
    from poolwarden.check.report import render
    from poolwarden.check.report import statistics as stats_report
    from poolwarden.check.warm import Recorder, warning_line

    stdin = "-" in paths or (stdin_filename is not None and not paths)
    if stdin and [p for p in paths if p != "-"]:
        raise UsageError("'-' (stdin) cannot be combined with other paths")
    if stdin_filename is not None and not stdin:
        raise UsageError("--stdin-filename needs the source on stdin: give '-' as the only PATH")
    if stdin and diff_rev is not None:
        raise UsageError("--diff reads changed lines from git: it cannot be combined with stdin")
    if statistics and fmt not in ("text", "json"):
        raise UsageError(f"--statistics prints text or json, not {fmt}")
    targets = [stdin_filename or "-"] if stdin else list(paths) or ["."]
    for target in [] if stdin else targets:
        if (problem := target_error(target)) is not None:
            raise UsageError(problem)
    if not stdin:
        targets = canonical_targets(targets)
    # made before anything is read
    memo = None if stdin or no_cache or pgbouncer_ini is not None else Recorder(targets, select, ignore, config_file,
                                                                               extend_select)
    config = load_config(config_file if config_file is not None else find_config(Path(targets[0])))
    apply_options(config, select, ignore, extend_select, pgbouncer_ini)
    changed = changed_lines_for(diff_rev, targets) if diff_rev is not None else None
    if stdin:
        limit = config.max_file_size
        source = sys.stdin.buffer.read(limit + 1) if limit else sys.stdin.buffer.read()
        result = check_source(source, targets[0], config)
    else:
        result = check_paths(targets, config, use_cache=not no_cache, jobs=jobs, recorder=memo)
    for warning in result.warnings:
        click.echo(warning_line(warning), err=True)
    findings = result.findings if changed is None else only_changed(result.findings, changed)
    click.echo(stats_report(fmt, findings, result.files) if statistics else render(fmt, findings, result.files))
    sys.exit(1 if findings and not exit_zero else 0)


@main.command(epilog="Exit codes: 0 listed, 2 bad input.", short_help="List the rules of `poolwarden check`.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@guarded
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
@guarded
def explain(code: str) -> None:
    """Print the documentation of one rule (or of PW000), e.g. `poolwarden explain PW104`."""
    from poolwarden.check.registry import DOCUMENTED, expand_codes

    cls = DOCUMENTED.get(code.strip().upper())
    if cls is None:
        expand_codes([code])  # an empty or unknown code: its message, with a "did you mean"
        raise UsageError(f"{code.strip()!r} is a prefix, not one code: "
                         f"explain one of {', '.join(sorted(expand_codes([code])))}")
    click.echo(cls.doc())
