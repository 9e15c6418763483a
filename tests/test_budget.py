"""poolwarden budget: seed 1's multiplication, seed 4's scheduler overlap, the CI gate, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from poolwarden.budget import compute
from poolwarden.budget.model import Periodic, parse_deployment
from poolwarden.budget.report import periodic_peak
from poolwarden.errors import UsageError

from .conftest import cli

SEED1 = """
[budget]
max_connections = 100
superuser_reserved_connections = 3
alert_at = 0.7

[[budget.service]]
name = "api"
replicas = 2
processes = 4
[[budget.service.pool]]
name = "platform"
pool_size = 5
max_overflow = 10

[[budget.service]]
name = "celery"
replicas = 1
processes = 8
[[budget.service.pool]]
name = "tenant"
pool_size = 5
max_overflow = 10
engines = 40
"""


def test_seed1_arithmetic_workers_times_tenants_times_pool(tmp_path: Path) -> None:
    report = compute(parse_deployment(_budget(SEED1)))
    api, celery = report.services
    assert api.worst == 2 * 4 * (5 + 10) == 120
    assert celery.worst == 1 * 8 * 40 * (5 + 10) == 4800
    assert report.usable == 97 and report.worst_total == 4920
    assert not report.fits and not report.ok
    # what would fit: with the api unchanged, celery has 97 - 120 < 0 connections of room
    assert celery.max_processes == 0 and celery.max_engines["tenant"] == 0
    assert api.max_replicas == 0


def test_a_deployment_that_fits_and_the_largest_sizes(tmp_path: Path) -> None:
    raw = _budget(SEED1.replace("engines = 40", "engines = 2").replace("max_overflow = 10", "max_overflow = 0")
                  .replace("processes = 8", "processes = 2"))
    report = compute(parse_deployment(raw))
    api, celery = report.services
    assert (api.worst, celery.worst) == (40, 20) and report.worst_total == 60 and report.fits
    assert api.max_replicas == (97 - 20) // (4 * 5) == 3
    assert celery.max_engines["tenant"] == (97 - 40) // (1 * 2 * 5) == 5
    assert report.utilisation == pytest.approx(60 / 97)  # steady: the pools' base size, 62% < 70%
    assert report.ok and report.problems == []


def test_seed4_fourteen_periodic_jobs_overlap() -> None:
    every = [60, 60, 120, 120, 180, 300, 300, 300, 600, 600, 600, 600, 600, 600]
    jobs = tuple(Periodic(f"job{i}", e, 50, 1) for i, e in enumerate(every))
    peak = periodic_peak(jobs)
    assert peak.connections == 14  # all fire together at the top of every 10 minutes
    assert peak.at_seconds == 0.0 and len(peak.jobs) == 14
    relaxed = tuple(Periodic(j.name, j.every * (5 if j.every == 60 else 3), j.duration, 1) for j in jobs)
    assert periodic_peak(relaxed).average < peak.average  # the fix: fewer connection-minutes a day


def test_overlapping_runs_of_one_job_add_up() -> None:
    peak = periodic_peak((Periodic("refresh", every=600, duration=1500, connections=2),))
    assert peak.connections == 6  # a 25-minute job every 10 minutes: 3 runs at once, 2 connections each
    assert peak.average == pytest.approx(5.0)


def test_alert_threshold_gates_ci(tmp_path: Path) -> None:
    cfg = tmp_path / "poolwarden.toml"
    cfg.write_text("[budget]\nmax_connections = 20\nsuperuser_reserved_connections = 0\nalert_at = 0.5\n"
                   "[[budget.service]]\nname = 'api'\nprocesses = 3\n[[budget.service.pool]]\npool_size = 4\n"
                   "max_overflow = 1\n")
    proc = cli("budget", "--config", str(cfg))
    assert proc.returncode == 1
    assert proc.stdout.startswith("OVER BUDGET: steady state 12 connections is 60% of usable, past alert_at 50%")
    data = json.loads(cli("budget", "--config", str(cfg), "--format", "json").stdout)
    assert data["ok"] is False and data["worst_total"] == 15 and data["fits"] is True


def test_clean_budget_exits_0_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.poolwarden.budget]\nmax_connections = 100\n[[tool.poolwarden.budget.service]]\nname = 'api'\n"
        "[[tool.poolwarden.budget.service.pool]]\npool_size = 5\nmax_overflow = 5\n")
    proc = cli("budget", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK: worst case 10 of 97 usable connections (10%)")


def test_pgbouncer_layer(tmp_path: Path) -> None:
    raw = _budget(SEED1 + "\n[budget.pgbouncer]\ndefault_pool_size = 20\npools = 4\nmax_client_conn = 1000\n")
    report = compute(parse_deployment(raw))
    assert report.pgbouncer is not None and report.pgbouncer["server_side"] == 80
    assert report.fits  # the server sees PgBouncer's 80, not the clients' 4,920
    assert any("max_client_conn 1000" in p for p in report.problems)


@pytest.mark.parametrize(("text", "message"), [
    ("[budget]\nmax_conections = 10\n", "unknown key 'max_conections'"),
    ("[budget]\n[[budget.service]]\nreplicas = 2\n", "'name' is required"),
    ("[budget]\n[[budget.periodic]]\nname = 'x'\nevery = 'often'\nduration = '1m'\n", "is not a duration"),
    ("[budget]\nmax_connections = 'many'\n", "has the wrong type"),
    ("[budget\n", "invalid TOML"),
])
def test_bad_config_is_one_line_exit_2(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "poolwarden.toml"
    cfg.write_text(text)
    proc = cli("budget", "--config", str(cfg))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_no_config_is_a_clear_error(tmp_path: Path) -> None:
    proc = cli("budget", cwd=tmp_path)
    assert proc.returncode == 2 and "no budget configuration found" in proc.stderr


def test_dsn_reads_the_server_and_masks_passwords(tmp_path: Path, postgres_cluster: Any) -> None:
    cfg = tmp_path / "poolwarden.toml"
    cfg.write_text("[budget]\nmax_connections = 1000\n[[budget.service]]\nname = 'api'\n"
                   "[[budget.service.pool]]\npool_size = 5\nmax_overflow = 5\n")
    data = json.loads(cli("budget", "--config", str(cfg), "--dsn", postgres_cluster.dsn(), "--format", "json").stdout)
    assert data["max_connections"] == 40 and data["sources"]["max_connections"] == "server"
    bad = cli("budget", "--config", str(cfg), "--dsn", postgres_cluster.dsn(password="s3cret-pw"))
    assert bad.returncode == 2 and "s3cret-pw" not in bad.stderr and "***" in bad.stderr


def test_parse_errors_raise_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_deployment({"alert_at": 2})


def _budget(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)["budget"]  # type: ignore[no-any-return]


def test_code_mode_reads_the_examples_pool_settings_and_schedules() -> None:
    relay = json.loads(cli("budget", "--code", "examples/seed3-relay-api/fixed", "--format", "json").stdout)
    pools = relay["from_code"]
    assert any("create_engine() at examples/seed3-relay-api/fixed/relay/db.py:14: pool_size 10, max_overflow 5 (code)"
               in line for line in pools)
    assert relay["worst_total"] == (10 + 5) + 4 and relay["ok"] is True
    seed4 = json.loads(cli("budget", "--code", "examples/seed4-coderden-scheduler/buggy", "--format", "json").stdout)
    assert seed4["services"][0]["processes"] == 14  # worker_concurrency=14, literal
    assert seed4["periodic"]["connections"] == 6  # six beat jobs fire together at 00:00
    assert any("not literal" in line and "settings.db_pool_max" in line for line in seed4["from_code"])


def test_code_mode_counts_poolwarden_engines_and_tenant_registries(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "from poolwarden.runtime.engine import create_engine\n"
        "from poolwarden.runtime.tenants import EngineRegistry\n"
        "main = create_engine('postgresql+psycopg://app@db/app')\n"
        "tenants = EngineRegistry('postgresql+psycopg://app@db/{tenant}', max_engines=40, max_connections=12)\n")
    report = json.loads(cli("budget", "--code", str(tmp_path), "--format", "json").stdout)
    assert report["worst_total"] == 5 + 12  # not 40 engines x (5 + 10)
    assert any("EngineRegistry() at" in line and "pool_size 12, max_overflow 0 (code)" in line
               for line in report["from_code"])


def test_code_mode_missing_path_is_exit_2(tmp_path: Path) -> None:
    proc = cli("budget", "--code", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 2 and "--code" in proc.stderr


# -- issue 10 item 5: the periodic overlap is computed, not simulated run by run ------------------------------


def _reference_peak(jobs: tuple[Periodic, ...]) -> tuple[int, float, tuple[str, ...], float]:
    """The run-by-run simulation budget used before (brute force, for small inputs only): the reference."""
    import math

    day = 86_400.0
    events: list[tuple[float, int, int]] = []
    for index, job in enumerate(jobs):
        start = job.offset - math.ceil(job.duration / job.every) * job.every
        while start < day:
            end = start + job.duration
            if end > 0:
                events.append((max(start, 0.0), 1, index))
                events.append((min(end, day), -1, index))
            start += job.every
    events.sort(key=lambda e: (e[0], e[1]))
    running: dict[int, int] = {}
    current = peak = 0
    peak_at, peak_jobs, area, last = 0.0, (), 0.0, 0.0
    for time, kind, index in events:
        area += current * (time - last)
        last = time
        if kind == 1:
            running[index] = running.get(index, 0) + 1
            current += jobs[index].connections
            if current > peak:
                peak, peak_at = current, time
                peak_jobs = tuple(jobs[i].name for i, n in sorted(running.items()) if n > 0)
        else:
            running[index] -= 1
            current -= jobs[index].connections
    area += current * (day - last)
    return peak, peak_at, peak_jobs, area / day


def _jobs() -> Any:
    from hypothesis import strategies as st

    @st.composite
    def job(draw: Any, index: int) -> Periodic:
        every = draw(st.one_of(st.integers(30, 7200), st.sampled_from([13, 60, 600, 3600, 86_400, 7 * 86_400])))
        duration = draw(st.one_of(st.integers(1, 3 * every), st.integers(1, 200)))
        offset = draw(st.integers(0, every - 1))
        return Periodic(f"job{index}", every, duration, draw(st.integers(1, 4)), offset)

    return st.integers(1, 4).flatmap(lambda n: st.tuples(*(job(i) for i in range(n))))


def test_the_computed_peak_equals_the_simulation_on_sane_inputs() -> None:
    from hypothesis import given, settings

    @settings(max_examples=200, deadline=None)
    @given(_jobs())
    def check(jobs: tuple[Periodic, ...]) -> None:
        peak = periodic_peak(jobs)
        connections, at, names, average = _reference_peak(jobs)
        assert peak.exact
        assert (peak.connections, peak.at_seconds, peak.jobs) == (connections, at, names)
        assert peak.average == pytest.approx(average, rel=1e-9, abs=1e-9)

    check()


def test_beyond_the_work_bound_the_peak_is_an_upper_bound_never_less() -> None:
    from hypothesis import given, settings

    @settings(max_examples=100, deadline=None)
    @given(_jobs())
    def check(jobs: tuple[Periodic, ...]) -> None:
        bound = periodic_peak(jobs, max_runs=0)
        connections, _, _, average = _reference_peak(jobs)
        assert bound.connections >= connections
        if all(j.offset == 0 for j in jobs):  # every job starts at 00:00: the bound is reached then
            assert bound.exact and bound.connections == connections and bound.at_seconds == 0.0
        assert bound.average == pytest.approx(average, rel=1e-9, abs=1e-9)

    check()


def test_any_finite_schedule_is_computed_at_once() -> None:
    """Sub-second schedules, year-long runs: arithmetic per job, bounded work however many runs a day holds."""
    many = tuple(Periodic(f"j{i}", 1e-6 * (i + 1), 3.6e12, 3, offset=1e-7) for i in range(50))
    peak = periodic_peak(many)
    assert not peak.exact  # a bound: every job at its most at once
    assert peak.connections == pytest.approx(sum(3 * math.ceil(3.6e12 / (1e-6 * (i + 1))) for i in range(50)))
    with pytest.raises(ValueError, match="every"):
        periodic_peak((Periodic("x", 0.0, 1.0),))
    with pytest.raises(ValueError, match="duration"):
        periodic_peak((Periodic("x", 1.0, float("nan")),))


@pytest.mark.parametrize("every", ["1ms", "0.01s", 0.001])
def test_sub_second_every_is_refused_fast(tmp_path: Path, every: object) -> None:
    cfg = tmp_path / "poolwarden.toml"
    value = f'"{every}"' if isinstance(every, str) else str(every)
    cfg.write_text("[budget]\n[[budget.service]]\nname = 'api'\n[[budget.service.pool]]\npool_size = 1\n"
                   f"[[budget.periodic]]\nname = 'tick'\nevery = {value}\nduration = '1s'\n")
    # a generous bound: the run-by-run simulation took minutes and gigabytes here; the answer takes well under a second
    proc = subprocess.run([sys.executable, "-m", "poolwarden", "budget", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=20, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "'every'" in proc.stderr and "periodic 'tick'" in proc.stderr
    assert str(cfg) in proc.stderr and "1 s" in proc.stderr


@pytest.mark.parametrize(("body", "message"), [
    ("every = '1e9h'\nduration = '1m'", "'every'"),
    ("every = '10m'\nduration = '1e9h'", "'duration'"),
    ("every = '10m'\nduration = 0", "'duration'"),
    ("every = '10m'\nduration = nan", "'duration'"),
    ("every = inf\nduration = '1m'", "'every'"),
    ("every = '10m'\nduration = '1m'\noffset = '10m'", "'offset'"),
    ("every = '10m'\nduration = '1m'\noffset = -1", "'offset'"),
])
def test_absurd_schedules_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    cfg = tmp_path / "poolwarden.toml"
    cfg.write_text(f"[budget]\n[[budget.periodic]]\nname = 'tick'\n{body}\n")
    proc = cli("budget", "--config", str(cfg))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


# -- issue 10 item 9: counts that cannot be, and models that count nothing -------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("max_connections = 0", "'max_connections'"),
    ("max_connections = -5", "'max_connections'"),
    ("max_connections = 300000", "'max_connections'"),
    ("superuser_reserved_connections = -1", "'superuser_reserved_connections'"),
    ("reserved_connections = -3", "'reserved_connections'"),
    ("max_connections = 10\nsuperuser_reserved_connections = 6\nreserved_connections = 4", "'reserved_connections'"),
    ("alert_at = true", "'alert_at'"),
    ("[[budget.service]]\nname = 'api'\nprocesses = 0", "'processes'"),
    ("[[budget.service]]\nname = 'api'\nreplicas = -2", "'replicas'"),
    ("[[budget.service]]\nname = 'api'\n[[budget.service.pool]]\npool_size = -1", "'pool_size'"),
    ("[[budget.service]]\nname = 'api'\n[[budget.service.pool]]\nmax_overflow = -1", "'max_overflow'"),
    ("[[budget.service]]\nname = 'api'\n[[budget.service.pool]]\nengines = 0", "'engines'"),
    ("[[budget.periodic]]\nname = 'x'\nevery = '1m'\nduration = '1s'\nconnections = 0", "'connections'"),
    ("[budget.pgbouncer]\ndefault_pool_size = 0", "'default_pool_size'"),
    ("[budget.pgbouncer]\npools = -1", "'pools'"),
    ("[budget.pgbouncer]\nreserve_pool_size = -1", "'reserve_pool_size'"),
    ("[budget.pgbouncer]\nmax_client_conn = 0", "'max_client_conn'"),
    ("[[budget.service]]\nname = \"a\\nb\"\nreplicas = 0", "'replicas'"),
    ("\"bad\\nkey\" = 1", "unknown key"),
])
def test_impossible_counts_exit_2_naming_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "poolwarden.toml"
    pools = "[[budget.service]]\nname = 'base'\n[[budget.service.pool]]\npool_size = 1\n"
    cfg.write_text(f"[budget]\n{text}\n" if text.startswith("[") else f"[budget]\n{text}\n{pools}")
    proc = cli("budget", "--config", str(cfg))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("poolwarden: error: ")
    assert str(cfg) in proc.stderr and key in proc.stderr and "Traceback" not in proc.stderr


def test_a_service_with_no_pool_is_not_ok_and_code_engines_are_named(tmp_path: Path) -> None:
    cfg = tmp_path / "poolwarden.toml"
    cfg.write_text("[budget]\n[[budget.service]]\nname = 'api'\nreplicas = 2\n")
    (tmp_path / "app.py").write_text("from sqlalchemy import create_engine\n"
                                     "engine = create_engine('postgresql://db/app', pool_size=5, max_overflow=5)\n")
    alone = cli("budget", "--config", str(cfg), cwd=tmp_path)
    assert alone.returncode == 2 and "OK" not in alone.stdout, alone.stdout + alone.stderr
    assert "service 'api' declares no pool" in alone.stderr and alone.stderr.count("\n") == 1
    with_code = cli("budget", "--config", str(cfg), "--code", ".", cwd=tmp_path)
    assert with_code.returncode == 2 and "OK" not in with_code.stdout, with_code.stdout + with_code.stderr
    line = with_code.stderr
    assert line.count("\n") == 1 and "service 'api' declares no pool" in line
    assert "create_engine() at app.py:2" in line and "not attributed to any service" in line


def test_nothing_to_count_is_not_ok(tmp_path: Path) -> None:
    cfg = tmp_path / "poolwarden.toml"
    cfg.write_text("[budget]\nmax_connections = 50\n")
    proc = cli("budget", "--config", str(cfg))
    assert proc.returncode == 2 and "nothing to count" in proc.stderr and proc.stderr.count("\n") == 1
    (tmp_path / "empty.py").write_text("x = 1\n")
    proc = cli("budget", "--code", str(tmp_path / "empty.py"), cwd=tmp_path)
    assert proc.returncode == 2 and "nothing to count" in proc.stderr and "--code" in proc.stderr


def test_config_less_code_counts_one_service_with_one_process_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("from sqlalchemy import create_engine\n"
                                     "engine = create_engine('postgresql://db/app', pool_size=5, max_overflow=2)\n"
                                     "class C:\n    pass\nconf = C()\nconf.worker_concurrency = 0\n")
    proc = cli("budget", "--code", ".", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK: worst case 7 of 97")
    assert "one service 'code' with 1 process" in proc.stdout
    assert "worker_concurrency = 0 at app.py:6 is not a process count" in proc.stdout
