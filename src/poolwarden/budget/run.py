"""One ``budget`` run, every source together: the library behind ``poolwarden budget``.

:func:`run` reads the config (or starts from nothing when ``--code`` / ``--manifests`` give the
model), completes it from manifests, code and a live server, computes the verdict and puts the
fleet's observed peaks beside it. The CLI only renders what it returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from poolwarden.budget.model import Deployment, find_budget_config, load_deployment
from poolwarden.budget.report import BudgetReport, compute
from poolwarden.errors import UsageError

if TYPE_CHECKING:
    from poolwarden.budget.prometheus import Observed, PrometheusSettings


@dataclass(frozen=True)
class BudgetOptions:
    """What ``poolwarden budget`` was asked (paths as given, relative to the current directory)."""

    config_file: Path | None = None
    dsn: str | None = None
    code_paths: tuple[str, ...] = ()
    manifest_paths: tuple[str, ...] = ()
    cpus: int | None = None
    prometheus: PrometheusSettings | None = None


@dataclass
class BudgetRun:
    """The verdict and what stands beside it."""

    report: BudgetReport
    notes: list[str] = field(default_factory=list)  # where numbers read from code came from
    live: int | None = None  # client connections on the server now (--dsn)
    observed: Observed | None = None  # peaks read from Prometheus


def run(options: BudgetOptions) -> BudgetRun:
    """Raises :class:`UsageError` for a model that is malformed, impossible or counts nothing, and
    for a source that cannot be read (a server, a file, a Prometheus)."""
    if options.cpus is not None and not options.code_paths and not options.manifest_paths:
        raise UsageError("--cpus counts what code leaves to the CPU count: give it with --code PATH")
    if options.config_file is None and (options.code_paths or options.manifest_paths):
        from poolwarden.config import find

        found = find(Path.cwd(), "budget")
        deployment = load_deployment(found) if found is not None else Deployment()
    else:
        deployment = load_deployment(options.config_file or find_budget_config(Path.cwd()))
    notes: list[str] = []
    fleet = facts = None
    if options.manifest_paths:
        from poolwarden.budget.fleet import with_manifests

        deployment, fleet, facts = with_manifests(deployment, options.manifest_paths, options.code_paths,
                                                  options.config_file, options.cpus)
    if options.code_paths:
        from poolwarden.budget.code import scan
        from poolwarden.budget.from_code import apply

        for target in options.code_paths:
            if not os.path.exists(target):
                raise UsageError(f"--code {target}: no such file or directory")
        facts = facts if facts is not None else scan(list(options.code_paths), cpus=options.cpus)
        deployment, notes = apply(deployment, facts, cpus=options.cpus)
        notes.extend(f"skipped {line}" for line in facts.skipped)
    live = None
    if options.dsn is not None:
        from poolwarden.budget.live import with_server_limits

        deployment, live = with_server_limits(deployment, options.dsn)
    report = compute(deployment)
    if fleet is not None:
        from poolwarden.budget.fleet import attach

        attach(fleet, report)
    observed = None
    if options.prometheus is not None:
        from poolwarden.budget.prometheus import observe, observed_problems

        observed = observe(deployment, options.prometheus)
        report.problems.extend(observed_problems(report, observed))
    return BudgetRun(report, notes, live, observed)
