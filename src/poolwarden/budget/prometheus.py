"""``budget --prometheus URL``: the fleet's observed pool usage beside the modelled worst case.

What is read (instant queries on Prometheus's HTTP API, :mod:`poolwarden.budget.prometheus_http`),
each an observed peak over ``window`` sampled every ``step``:
``max_over_time((sum by (LABEL) (SERIES))[WINDOW:STEP])``:

- poolwarden's own series (:class:`poolwarden.runtime.monitor.PoolCollector`):
  ``poolwarden_pool_connections_open`` (open: what holds server slots) and
  ``poolwarden_pool_connections_checked_out`` (in use);
- OpenTelemetry's ``db.client.connection.count`` as the OTel Prometheus exporter renders it,
  ``db_client_connection_count`` (with or without a ``_connections`` unit suffix): all states for
  open, ``db_client_connection_state="used"`` for in use;
- postgres_exporter's ``pg_stat_activity_count`` (labels ``datname``, ``state``, ``usename`` where
  present), summed per ``instance``: the server's side, beside usable.

A workload is the value of one label on the client series (``--prometheus-label``, default ``job``,
which Prometheus puts on every scraped series; on Kubernetes use the label the scrape config
relabels the workload into, e.g. ``app`` or ``app_kubernetes_io_name``). A workload matches the
budget's service of the same name (exactly, else ignoring case and ``-``/``_``/``.``); a workload
that matches none is listed as unmatched, never dropped; a service no series matches is shown with
no observation. A pool exported both ways (the same ``instance``, poolwarden's ``pool`` label equal
to OTel's pool name) is counted once, from poolwarden's series. An observed peak above the service's
worst case is a problem (exit 1): the model undercounts what the fleet really opened.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from poolwarden.budget.model import Deployment
from poolwarden.budget.prometheus_http import PrometheusAPI
from poolwarden.budget.report import BudgetReport
from poolwarden.durations import parse_duration
from poolwarden.errors import UsageError
from poolwarden.text import one_line

__all__ = ["DEFAULT_LABEL", "DEFAULT_STEP", "DEFAULT_WINDOW", "Observed", "PrometheusSettings", "ServerPeak",
           "WorkloadPeak", "observe", "observed_problems", "render_observed"]

DEFAULT_WINDOW = "7d"
DEFAULT_STEP = "1m"
DEFAULT_LABEL = "job"
#: the most points a peak query may evaluate per series (window / step)
MAX_POINTS = 100_000

POOLWARDEN = "poolwarden_pool_*"
OTEL = "db_client_connection_*"
_OTEL_COUNT = '__name__=~"db_client_connection_count(_connections)?"'
#: family -> (series for open connections, series for connections in use)
SERIES: dict[str, tuple[str, str]] = {
    POOLWARDEN: ("poolwarden_pool_connections_open", "poolwarden_pool_connections_checked_out"),
    OTEL: ("{" + _OTEL_COUNT + "}", "{" + _OTEL_COUNT + ',db_client_connection_state="used"}'),
}
SERVER_SERIES = "pg_stat_activity_count"
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNITS = (("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


@dataclass(frozen=True)
class PrometheusSettings:
    """Where and how to look: the server, the workload label, the window and the sampling step."""

    url: str
    label: str = DEFAULT_LABEL
    window: str = DEFAULT_WINDOW
    step: str = DEFAULT_STEP
    timeout: float = 10.0

    def validated(self) -> tuple[str, str]:
        """(window, step) as Prometheus durations. Raises :class:`UsageError` when the label is not a
        Prometheus label name, a duration does not parse, the step is under 1 s or longer than the
        window, or the window holds more than :data:`MAX_POINTS` steps."""
        if not _LABEL.fullmatch(self.label) or self.label.startswith("__"):
            raise UsageError(f"--prometheus-label {one_line(repr(self.label))[:60]} is not a Prometheus label "
                             "name ([A-Za-z_][A-Za-z0-9_]*, not starting with __)")
        window = parse_duration(self.window, "--prometheus-window")
        step = parse_duration(self.step, "--prometheus-step")
        if step < 1:
            raise UsageError(f"--prometheus-step {self.step!r} is under 1 s")
        if window < step:
            raise UsageError(f"--prometheus-window {self.window!r} is shorter than --prometheus-step {self.step!r}")
        if window / step > MAX_POINTS:
            raise UsageError(f"--prometheus-window {self.window!r} / --prometheus-step {self.step!r} is "
                             f"{window / step:.0f} points per series, more than {MAX_POINTS}: use a larger step")
        return _promduration(window), _promduration(step)


def _promduration(seconds: float) -> str:
    """``604800.0`` -> ``"7d"``, ``90.0`` -> ``"1m30s"``: Prometheus's duration syntax."""
    ms = round(seconds * 1000)
    parts = []
    for unit, size in _UNITS:
        n, ms = divmod(ms, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class WorkloadPeak:
    """The observed peaks of one workload (one value of the label) over the window."""

    workload: str  # the label's value; "" when the series carry no such label
    service: str | None  # the budget's service it matched, None when unmatched
    peak_open: float | None  # connections open at the peak (None: no series)
    peak_used: float | None  # connections checked out at the peak
    series: tuple[str, ...] = ()  # the families it came from: "poolwarden_pool_*", "db_client_connection_*"


@dataclass(frozen=True)
class ServerPeak:
    """The peak of ``sum(pg_stat_activity_count)`` for one postgres_exporter ``instance``."""

    instance: str
    peak: float


@dataclass
class Observed:
    """Everything ``--prometheus`` adds to the report; ``queries`` says where each number came from."""

    url: str  # as shown: no credentials
    label: str
    window: str
    step: str
    services: list[WorkloadPeak]  # one per budget service, in the budget's order
    unmatched: list[WorkloadPeak]
    servers: list[ServerPeak]
    queries: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def server_peak(self) -> ServerPeak | None:
        return max(self.servers, key=lambda s: s.peak, default=None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["server_peak"] = asdict(self.server_peak) if self.server_peak else None
        return data


def _peak(expr: str, by: str, window: str, step: str) -> str:
    return f"max_over_time((sum by ({by}) ({expr}))[{window}:{step}])"


def _both(kind: int, label: str) -> str:
    """Connections open (``kind`` 0) or in use (1) per pool, from poolwarden's series, else OTel's:
    a pool exported both ways (same ``instance``, poolwarden's ``pool`` = OTel's pool name) counts once."""
    ours, otel = SERIES[POOLWARDEN][kind], SERIES[OTEL][kind]
    by = ", ".join(dict.fromkeys((label, "instance", "db_client_connection_pool_name")))
    return (f"{ours} or on (instance, pool) label_replace(sum by ({by}) ({otel}), "
            '"pool", "$1", "db_client_connection_pool_name", "(.*)")')


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip().lower())


def _match(workloads: list[str], services: list[str]) -> dict[str, str]:
    """workload -> service: exact names first, then names equal ignoring case and ``-_.``, then the
    name of a service read from manifests (``web`` of ``Deployment/web``, ``prod/Deployment/web``
    or ``compose/web``); one workload per service."""
    matched: dict[str, str] = {}
    taken: set[str] = set()
    for how in ("exact", "normal", "object"):
        for w in workloads:
            if w in matched or not w:
                continue
            for s in services:
                same = (w == s if how == "exact" else _normal(w) == _normal(s) if how == "normal"
                        else "/" in s and _normal(w) == _normal(s.rpartition("/")[2]))
                if s not in taken and same:
                    matched[w] = s
                    taken.add(s)
                    break
    return matched


def observe(dep: Deployment, settings: PrometheusSettings, api: PrometheusAPI | None = None) -> Observed:
    """Query the server for the peaks of every workload and of the server's connections. Raises
    :class:`UsageError` (one line, credentials masked) when the server cannot be read or holds none
    of the series in the window: a verdict on data it could not see would be an empty "OK"."""
    window, step = settings.validated()
    api = api or PrometheusAPI(settings.url, timeout=settings.timeout)
    label = settings.label
    queries: dict[str, str] = {}
    groups: dict[str, dict[str, float]] = {}  # workload -> {"open": v, "used": v}
    for kind, name in enumerate(("open", "used")):
        promql = _peak(_both(kind, label), label, window, step)
        queries[name] = promql
        for sample in api.query(promql):
            if math.isfinite(sample.value):
                groups.setdefault(sample.labels.get(label, ""), {})[name] = sample.value
    families: dict[str, set[str]] = {}  # workload -> the families its series came from
    for family, (open_expr, _) in SERIES.items():
        promql = f"group by ({label}) (last_over_time({open_expr}[{window}]))"
        queries[f"{family} present"] = promql
        for sample in api.query(promql):
            families.setdefault(sample.labels.get(label, ""), set()).add(family)
    server_q = _peak(SERVER_SERIES, "instance", window, step)
    queries["server"] = server_q
    servers = sorted((ServerPeak(s.labels.get("instance", ""), s.value) for s in api.query(server_q)
                      if math.isfinite(s.value)), key=lambda s: s.instance)
    if not groups and not servers:
        raise UsageError(f"--prometheus {api.shown}: none of the series in the last {window} "
                         f"(poolwarden_pool_connections_open, db_client_connection_count, {SERVER_SERIES}): "
                         "are the apps and postgres_exporter scraped by this server?")
    names = [s.name for s in dep.services]
    matched = _match(sorted(groups), names)
    by_service = {svc: w for w, svc in matched.items()}

    def line(workload: str, service: str | None) -> WorkloadPeak:
        g = groups.get(workload, {})
        return WorkloadPeak(workload, service, g.get("open"), g.get("used"), tuple(sorted(families.get(workload, ()))))

    services = [line(by_service[n], n) if n in by_service else WorkloadPeak("", n, None, None) for n in names]
    unmatched = [line(w, None) for w in sorted(groups) if w not in matched]
    notes = []
    if "" in groups:
        notes.append(f"some pool series carry no {label!r} label: choose the label that names the workload "
                     "with --prometheus-label")
    if not groups:
        notes.append("no pool series (poolwarden_pool_*, db_client_connection_*) in the window")
    if not servers:
        notes.append(f"no {SERVER_SERIES} series (postgres_exporter) in the window")
    return Observed(url=api.shown, label=label, window=window, step=step, services=services, unmatched=unmatched,
                    servers=servers, queries=queries, notes=notes)


def observed_problems(report: BudgetReport, observed: Observed) -> list[str]:
    """What the observation proves wrong with the model: a service that opened more connections
    than its worst case, a server that held more than its usable connections."""
    worst = {s.name: s.worst for s in report.services}
    problems = []
    for w in observed.services:
        if w.service is not None and w.peak_open is not None and w.peak_open > worst.get(w.service, math.inf):
            problems.append(f"{w.service}: observed peak {w.peak_open:.0f} open connections > worst case "
                            f"{worst[w.service]} (the model undercounts; {observed.label}={w.workload!r})")
    peak = observed.server_peak
    if peak is not None and peak.peak > report.usable:
        problems.append(f"the server held {peak.peak:.0f} connections at its peak > {report.usable} usable")
    return problems


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def render_observed(report: BudgetReport, observed: Observed) -> str:
    """The observed section of the text report: per service, worst / steady / observed peaks."""
    worst = {s.name: (s.worst, s.steady) for s in report.services}
    out = [f"observed at {observed.url} over {observed.window} (peaks sampled every {observed.step}; "
           f"workload = label {observed.label!r}):",
           f"{'service':<20} {'worst':>7} {'steady':>7} {'peak open':>10} {'peak used':>10}   from"]
    for w in observed.services:
        assert w.service is not None
        ws, st = worst.get(w.service, (0, 0))
        source = (f"{observed.label}={w.workload!r}: {', '.join(w.series)}" if w.series else "no series")
        out.append(f"{w.service:<20} {ws:>7} {st:>7} {_n(w.peak_open):>10} {_n(w.peak_used):>10}   {source}")
    for w in observed.unmatched:
        name = one_line(w.workload) if w.workload else f"(no {observed.label} label)"
        out.append(f"unmatched: {observed.label}={name!r}: peak open {_n(w.peak_open)}, peak used "
                   f"{_n(w.peak_used)} ({', '.join(w.series)}; no budget service of that name)")
    peak = observed.server_peak
    if peak is not None:
        share = f" ({peak.peak / report.usable:.0%})" if report.usable > 0 else ""
        more = f"; {len(observed.servers)} instances, the highest shown" if len(observed.servers) > 1 else ""
        out.append(f"server: observed peak {peak.peak:.0f} connections of {report.usable} usable{share} "
                   f"({SERVER_SERIES}, instance {peak.instance!r}{more})")
    out.extend(f"note: {n}" for n in observed.notes)
    return "\n".join(out)
