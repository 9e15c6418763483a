"""``poolwarden budget`` under generated bad input: configs with wrong types, impossible counts and
absurd durations, random TOML, random ``--code`` trees.

Every input runs ``python -m poolwarden budget`` in a subprocess bounded in time (a timeout) and in
memory (``RLIMIT_AS``, 1 GiB), so a blow-up fails fast instead of eating the machine. The contract
(tests/adversarial/contract.py): a bad config exits 2 with one ``poolwarden: error:`` line naming
the file and the key; anything else exits 0 or 1 with a report; never a traceback, never an
internal error.
"""

from __future__ import annotations

import copy
import json
import math
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .contract import assert_clean_failure, run, scaled, thrown

MEMORY = 1 << 30  # bytes of address space for each run
TIMEOUT = 60.0  # seconds; a run takes well under one, but the machine is shared
GENERATED = thrown("budget")  # inputs thrown, per family
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                    database=None)


# -- a TOML writer for generated values (inline tables and arrays: any nesting in one line) ------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes, with characters beyond the BMP and DEL as TOML wants them."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_document(budget: Any) -> str:
    return f"budget = {toml_value(budget)}\n"


def _budget(tmp_path: Path, budget: Any) -> tuple[Path, Any]:
    cfg = tmp_path / "poolwarden.toml"
    cfg.write_text(toml_document(budget), encoding="utf-8")
    return cfg, run("budget", "--config", str(cfg), cwd=tmp_path, timeout=TIMEOUT, memory=MEMORY)


def _no_crash(proc: Any) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert proc.returncode in (0, 1, 2), out
    if proc.returncode == 2:
        assert_clean_failure(proc)
    else:
        assert proc.stdout.startswith(("OK: ", "OVER BUDGET: ")) and not proc.stderr, out


# -- family 1: one key of a sound config set to a generated value, with an oracle for the verdict -------------

BASE: dict[str, Any] = {
    "max_connections": 100, "superuser_reserved_connections": 3, "reserved_connections": 0, "alert_at": 0.7,
    "service": [{"name": "api", "replicas": 2, "processes": 2,
                 "pool": [{"name": "main", "pool_size": 5, "max_overflow": 5, "engines": 1}]}],
    "periodic": [{"name": "tick", "every": "10m", "duration": "1m", "connections": 1, "offset": "0s"}],
    "pgbouncer": {"default_pool_size": 20, "pools": 1, "reserve_pool_size": 0, "max_client_conn": 1000},
}
YEAR = 365 * 86_400
#: duration strings whose meaning is certain (absurd or sound) under any reading of the duration syntax
DURATIONS = {"1ms": 0.001, "0.01s": 0.01, "250ms": 0.25, "1e9h": None, "-5s": None, "nan": None, "inf": None,
             "": None, "soon": None, "10 parsecs": None, "0": 0.0, "0s": 0.0, "1s": 1.0, "10m": 600.0, "1h": 3600.0,
             "400d": 400 * 86_400.0, "365d": float(YEAR), "99999999999999999999d": 99999999999999999999 * 86_400.0}
#: (table path, key) -> ("int", lowest valid) / ("ratio",) / ("duration", low, low_open) / ("str",) / ("list",)
KEYS: dict[tuple[str, str], tuple[Any, ...]] = {
    ("", "max_connections"): ("int", 1), ("", "superuser_reserved_connections"): ("int", 0),
    ("", "reserved_connections"): ("int", 0), ("", "alert_at"): ("ratio",),
    ("service", "name"): ("str",), ("service", "replicas"): ("int", 1), ("service", "processes"): ("int", 1),
    ("pool", "name"): ("str",), ("pool", "pool_size"): ("int", 0), ("pool", "max_overflow"): ("int", 0),
    ("pool", "engines"): ("int", 1),
    ("periodic", "name"): ("str",), ("periodic", "every"): ("duration", 1.0, False),
    ("periodic", "duration"): ("duration", 0.0, True), ("periodic", "offset"): ("duration", 0.0, False),
    ("periodic", "connections"): ("int", 1),
    ("pgbouncer", "default_pool_size"): ("int", 1), ("pgbouncer", "pools"): ("int", 1),
    ("pgbouncer", "reserve_pool_size"): ("int", 0), ("pgbouncer", "max_client_conn"): ("int", 1),
    ("", "service"): ("list",), ("service", "pool"): ("list",), ("", "periodic"): ("list",),
    ("", "pgbouncer"): ("table",),
}

REQUIRED = {("service", "name"), ("periodic", "name"), ("periodic", "every"), ("periodic", "duration")}
_text = st.text(st.characters(blacklist_categories=("Cs", "Nd")), max_size=20)  # no digit: never a duration
VALUES = st.one_of(
    st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1), st.sampled_from([262_143, 262_144, 2**31, -(2**31)]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 0.5, 1.0, 1.5, 1e-300, 1e300]),
    st.booleans(), _text, st.sampled_from(sorted(DURATIONS)),
    st.lists(st.integers(), max_size=2), st.dictionaries(_text, st.integers(), max_size=2),
)


def _table(doc: dict[str, Any], where: str) -> dict[str, Any]:
    return {"": doc, "service": doc["service"][0], "pool": doc["service"][0]["pool"][0],
            "periodic": doc["periodic"][0], "pgbouncer": doc["pgbouncer"]}[where]


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return DURATIONS.get(value)
    return None


def oracle(where: str, key: str, value: Any, doc: dict[str, Any]) -> str | None:
    """None when ``doc`` (``value`` already in place) is sound; else a text the error line must hold."""
    kind = KEYS[(where, key)]
    named = f"'{key}'"
    if kind[0] == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value < kind[1]:
            return named
        if key == "max_connections" and value > 262_143:
            return named
        if key in ("max_connections", "superuser_reserved_connections", "reserved_connections"):
            reserved = doc["superuser_reserved_connections"] + doc["reserved_connections"]
            return "'reserved_connections'" if reserved >= doc["max_connections"] else None
        return None
    if kind[0] == "ratio":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1
        return None if ok else named
    if kind[0] == "str":
        return None if isinstance(value, str) else named
    if kind[0] == "list":
        if not isinstance(value, list):
            return named
        if not value:
            return "declares no pool" if key == "pool" else None
        return "must be a table"  # generated lists hold integers
    if kind[0] == "table":
        if not isinstance(value, dict):
            return named
        return "unknown key" if value else None
    seconds = _seconds(value)
    low, low_open = kind[1], kind[2]
    if seconds is None or not math.isfinite(seconds) or seconds < low or (low_open and seconds == low) \
            or seconds > YEAR:
        return named
    if key == "offset" and seconds >= 600:
        return named
    return None


@settings(SETTINGS, max_examples=scaled(50))
@given(st.sampled_from(sorted(KEYS)), VALUES, st.booleans())
def test_one_bad_key_exits_2_naming_file_and_key(tmp_path_factory: pytest.TempPathFactory,
                                                 slot: tuple[str, str], value: Any, remove: bool) -> None:
    GENERATED["one key"] += 1
    tmp_path = tmp_path_factory.mktemp("budget")
    doc = copy.deepcopy(BASE)
    where, key = slot
    table = _table(doc, where)
    if remove and slot in REQUIRED:
        del table[key]
        expected: str | None = f"'{key}' is required"
    else:
        table[key] = value
        expected = oracle(where, key, value, doc)
    cfg, proc = _budget(tmp_path, doc)
    if expected is None:
        _no_crash(proc)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    else:
        line = assert_clean_failure(proc, contains=[str(cfg)])
        assert expected in line, (value, line)


# -- family 2: unknown keys anywhere ------------------------------------------------------------------------

@settings(SETTINGS, max_examples=scaled(15))
@given(st.sampled_from(["", "service", "pool", "periodic", "pgbouncer"]),
       st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=15), VALUES)
def test_unknown_keys_are_named(tmp_path_factory: pytest.TempPathFactory, where: str, key: str, value: Any) -> None:
    known = {k for (w, k) in KEYS if w == where} | ({"name"} if where else set())
    if key in known:
        return
    GENERATED["unknown key"] += 1
    doc = copy.deepcopy(BASE)
    _table(doc, where)[key] = value
    cfg, proc = _budget(tmp_path_factory.mktemp("budget"), doc)
    line = assert_clean_failure(proc, contains=[str(cfg), "unknown key"])
    assert "\n" not in line


# -- family 3: random TOML shapes under [budget] -------------------------------------------------------------

_leaf = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(), st.booleans(), _text,
                  st.sampled_from(sorted(DURATIONS)))
_key = st.one_of(st.sampled_from(sorted({k for _, k in KEYS} | {"name"})), _text.filter(bool))
_tree = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                    st.dictionaries(_key, inner, max_size=4)), max_leaves=12)


@settings(SETTINGS, max_examples=scaled(25))
@given(st.one_of(st.dictionaries(_key, _tree, max_size=6), _tree))
def test_random_budget_tables_never_crash(tmp_path_factory: pytest.TempPathFactory, budget: Any) -> None:
    GENERATED["random toml"] += 1
    cfg, proc = _budget(tmp_path_factory.mktemp("budget"), budget)
    _no_crash(proc)
    if proc.returncode == 2:
        assert str(cfg) in proc.stderr, proc.stderr


# -- family 4: absurd schedules, all keys at once -------------------------------------------------------------

@settings(SETTINGS, max_examples=scaled(15))
@given(st.lists(st.fixed_dictionaries({
    "name": st.text(string.ascii_letters, min_size=1, max_size=5),
    "every": st.one_of(st.sampled_from(sorted(DURATIONS)), st.floats(1, YEAR), st.integers(1, YEAR)),
    "duration": st.one_of(st.sampled_from(sorted(DURATIONS)), st.floats(0.001, YEAR), st.integers(1, YEAR)),
    "connections": st.integers(1, 2**62)}), min_size=1, max_size=30))
def test_any_schedule_is_answered_in_bounded_time_and_memory(tmp_path_factory: pytest.TempPathFactory,
                                                             jobs: list[dict[str, Any]]) -> None:
    """Thirty jobs every second, each running a year: an answer, not a simulation of every run."""
    GENERATED["schedules"] += 1
    doc = copy.deepcopy(BASE)
    doc["periodic"] = jobs
    _, proc = _budget(tmp_path_factory.mktemp("budget"), doc)
    _no_crash(proc)
    bad = [j for j in jobs if oracle("periodic", "every", j["every"], doc) or
           oracle("periodic", "duration", j["duration"], doc)]
    assert (proc.returncode == 2) == bool(bad), (bad, proc.stdout + proc.stderr)


# -- family 5: random --code trees ------------------------------------------------------------------------------

_num = st.one_of(st.integers(-(10**30), 10**30), st.sampled_from(["0", "-1", "1.5", "'x'", "None", "n", "10**400",
                                                                   "1e308", "-0.0", "True"]))
_schedule = st.one_of(st.integers(-5, 10**20).map(str), st.sampled_from([
    "0", "-1", "1e-9", "1e308", "0.001", "timedelta(days=1e308)", "timedelta(seconds=-5)", "timedelta(minutes=10)",
    "timedelta(microseconds=1)", "crontab(minute='*')", "timedelta(days=1, hours=2)", "float('inf')"]))
_line = st.one_of(
    st.builds("engine = create_engine(URL, pool_size={}, max_overflow={})".format, _num, _num),
    st.builds("engine = create_engine(URL, poolclass=NullPool, pool_size={})".format, _num),
    st.builds("pool = ConnectionPool(URL, max_size={})".format, _num),
    st.builds("pool = SimpleConnectionPool(1, {}, URL)".format, _num),
    st.builds("tenants = EngineRegistry(URL, max_connections={})".format, _num),
    st.builds("app.conf.worker_concurrency = {}".format, _num),
    st.builds("app.conf.update(worker_concurrency={})".format, _num),
    st.builds("app.conf.update(beat_schedule={{'j{}': {{'task': 't', 'schedule': {}}}}})".format,
              st.integers(0, 9), _schedule),
    st.sampled_from(["def f(:", "\x00", "x = (" * 40 + "1" + ")" * 40, "import nothing.at.all", "async def g(): pass"]),
)
_PRELUDE = ("from datetime import timedelta\nfrom sqlalchemy import create_engine\n"
            "from sqlalchemy.pool import NullPool\n"
            "from psycopg_pool import ConnectionPool\nfrom psycopg2.pool import SimpleConnectionPool\n"
            "from celery import Celery\nfrom celery.schedules import crontab\n"
            "from poolwarden.runtime.tenants import EngineRegistry\nURL = 'postgresql://db/app'\napp = Celery()\n")
_configs = st.sampled_from([None, "", "[budget]\nmax_connections = 50\n",
                            "[budget]\n[[budget.service]]\nname = 'api'\n",
                            "[budget]\n[[budget.service]]\nname = 'api'\n[[budget.service.pool]]\npool_size = 2\n",
                            "[budget]\n[[budget.periodic]]\nname = 'p'\nevery = '1m'\nduration = '5s'\n"])


@settings(SETTINGS, max_examples=scaled(25))
@given(st.lists(st.lists(_line, max_size=6), min_size=1, max_size=3), _configs,
       st.one_of(st.none(), st.binary(max_size=40)))
def test_random_code_trees_never_crash(tmp_path_factory: pytest.TempPathFactory, files: list[list[str]],
                                       config: str | None, junk: bytes | None) -> None:
    GENERATED["code trees"] += 1
    tmp_path = tmp_path_factory.mktemp("code")
    for i, lines in enumerate(files):
        (tmp_path / f"mod{i}.py").write_text(_PRELUDE + "\n".join(lines) + "\n", encoding="utf-8")
    if junk is not None:
        (tmp_path / "junk.py").write_bytes(junk)
    args = ["budget", "--code", "."]
    if config is not None:
        (tmp_path / "poolwarden.toml").write_text(config, encoding="utf-8")
        args += ["--config", "poolwarden.toml"]
    proc = run(*args, cwd=tmp_path, timeout=TIMEOUT, memory=MEMORY)
    _no_crash(proc)
    if proc.returncode != 2:
        assert "worst case 0 " not in proc.stdout.splitlines()[0], proc.stdout  # never an empty "OK"


# -- family 6: pyproject.toml shapes around [tool.poolwarden.budget] ------------------------------------------

@pytest.mark.parametrize("body", ["tool = 5\n", "[tool]\npoolwarden = 5\n", "[tool.poolwarden]\nbudget = 5\n",
                                  "[tool.poolwarden]\nbudget = [1, 2]\n", "tool = [{poolwarden = {budget = {}}}]\n",
                                  "[tool.poolwarden.budget]\n", "[tool.poolwarden.budget]\nservice = 'api'\n"])
@pytest.mark.parametrize("explicit", [True, False])
def test_pyproject_shapes_are_one_line_errors(tmp_path: Path, body: str, explicit: bool) -> None:
    GENERATED["pyproject shapes"] += 1
    (tmp_path / "pyproject.toml").write_text(body, encoding="utf-8")
    args = ["budget", "--config", "pyproject.toml"] if explicit else ["budget"]
    proc = run(*args, cwd=tmp_path, timeout=TIMEOUT, memory=MEMORY)
    line = assert_clean_failure(proc)
    assert "internal error" not in line, line
    assert "pyproject.toml" in line or "no budget configuration found" in line, line
