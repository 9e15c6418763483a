"""``budget --code`` on generated Django + Celery trees: random ``DATABASES`` entries (any value in
any key, written whole or piece by piece, from env calls or not), random gunicorn config modules and
random command files (Procfile, Dockerfile, shell script: any option, any value, broken quoting).

The contract (tests/adversarial/contract.py): never a traceback or an internal error; exit 0 or 1
with a report, or 2 with one ``poolwarden: error:`` line. Passwords written in the code (DSNs,
``password=``) never reach the report. The oracle: the tree always holds one sound PostgreSQL
entry, so the verdict is never exit 2 and never an empty count — every service counts at least one
process and one connection, and no figure is negative.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .contract import SECRETS, assert_no_secret, invoke, scaled, thrown

GENERATED = thrown("budget-django")  # inputs thrown, per family
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                    database=None)

_ENV = st.from_regex(r"[A-Z][A-Z_]{0,8}", fullmatch=True)
_INT = st.one_of(st.integers(-3, 50), st.sampled_from([0, -1, 10**30, 2**63]))
_VALUE = st.one_of(
    _INT.map(str),
    st.sampled_from(["None", "True", "False", "'x'", "''", "[]", "{}", "1.5", "float('inf')", "f()", "a.b",
                     "os.cpu_count()", "-(-3)", "2 * 3 + 1", "10 // 0", "N", "'7'"]),
    st.builds("os.environ.get({!r}, {!r})".format, _ENV, _INT.map(str)),
    st.builds("env.int({!r}, default={})".format, _ENV, _INT),
    st.builds("config({!r}, cast=int, default={})".format, _ENV, _INT),
    st.builds("int(os.getenv({!r}, {!r}))".format, _ENV, st.sampled_from(["4", "x", "", "-2"])),
    st.builds("os.environ[{!r}]".format, _ENV),
    st.sampled_from([f"get('postgresql://app:{s}@db/app')" for s in SECRETS]
                    + [f"'postgres://app:{s}@db/app'" for s in SECRETS] + [f"f(password={s!r})" for s in SECRETS]),
)
_ENGINE = st.sampled_from(["'django.db.backends.postgresql'", "'django.db.backends.sqlite3'", "ENGINE",
                           "'django.contrib.gis.db.backends.postgis'", "5", "None"])
_POOL = st.one_of(_VALUE, st.builds("{{'min_size': {}, 'max_size': {}}}".format, _VALUE, _VALUE),
                  st.builds("{{'max_size': {}}}".format, _VALUE))
_OPTIONS = st.one_of(_VALUE, st.builds("{{'pool': {}}}".format, _POOL), st.just("{'connect_timeout': 5}"))
_ALIAS = st.sampled_from(["default", "replica", "x" * 200, ""])
_ENTRY = st.builds("{{'ENGINE': {}, 'CONN_MAX_AGE': {}, 'OPTIONS': {}}}".format, _ENGINE, _VALUE, _OPTIONS)
_SETTING_LINE = st.one_of(
    st.builds("DATABASES[{!r}] = {}".format, _ALIAS, st.one_of(_ENTRY, _VALUE)),
    st.builds("DATABASES[{!r}]['OPTIONS'] = {}".format, _ALIAS, _OPTIONS),
    st.builds("DATABASES[{!r}]['CONN_MAX_AGE'] = {}".format, _ALIAS, _VALUE),
    st.builds("DATABASES[{!r}] = dj_database_url.config(conn_max_age={})".format, _ALIAS, _VALUE),
    st.builds("CELERY_WORKER_CONCURRENCY = {}".format, _VALUE),
    st.builds("DATABASES[{!r}] = {}".format, _ALIAS, st.sampled_from([f"'postgresql://u:{s}@h/d'" for s in SECRETS])),
    st.sampled_from(["DATABASES = 5", "DATABASES = {}", "DATABASES['default']['OPTIONS']['pool'] = True",
                     "DATABASES[0] = {}", "DATABASES.update(x=1)", "if x:\n    DATABASES = {'default': f()}"]),
)
_SOUND = ("import os\nimport environ\nenv = environ.Env()\nN = 3\n"
          "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'app'}}\n")

_TOKEN = st.one_of(
    st.sampled_from(["gunicorn", "uvicorn", "celery", "worker", "beat", "-m", "python", "-w", "--workers",
                     "--threads", "-k", "--worker-class", "--worker-connections", "-c", "--concurrency", "-P",
                     "--pool", "--autoscale", "--limit-concurrency", "&&", ";", "|", "\\", "'", '"', "#",
                     "gthread", "gevent", "uvicorn.workers.UvicornWorker", "threads", "solo", "prefork",
                     "--workers=", "-w0", "-c=", "CMD", "[", "]", "web:"]),
    _INT.map(str),
    st.builds("${}".format, _ENV), st.builds("${{{}:-{}}}".format, _ENV, st.text(max_size=4)),
    st.sampled_from([f"postgresql://u:{s}@h/d" for s in SECRETS]),
    st.text(max_size=6),
)
_COMMAND_LINE = st.one_of(st.lists(_TOKEN, max_size=12).map(" ".join),
                          st.lists(_TOKEN, max_size=8).map(lambda ws: "CMD " + json.dumps(ws)))
_GUNICORN_LINE = st.builds("{} = {}".format, st.sampled_from(["workers", "threads", "worker_class",
                                                              "worker_connections"]), _VALUE)


def _no_crash_and_counted(proc: Any) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert_no_secret(out)
    assert proc.returncode in (0, 1), out  # one sound PostgreSQL entry: always something to count
    report = json.loads(proc.stdout)
    assert report["services"], out
    for service in report["services"]:
        assert service["processes"] >= 1 and service["worst"] >= 1 and service["steady"] >= 0, service
    assert report["worst_total"] >= len(report["services"]), report


@settings(SETTINGS, max_examples=scaled(120))
@given(st.lists(_SETTING_LINE, max_size=8), st.lists(_GUNICORN_LINE, max_size=4),
       st.lists(_COMMAND_LINE, max_size=6), st.sampled_from(["Procfile", "Dockerfile", "start.sh", "compose.yml"]),
       st.one_of(st.none(), st.integers(1, 4096)))
def test_random_django_trees_count_something_and_never_crash(
        tmp_path_factory: pytest.TempPathFactory, lines: list[str], gunicorn: list[str], commands: list[str],
        command_file: str, cpus: int | None) -> None:
    GENERATED["django trees"] += 1
    root = tmp_path_factory.mktemp("django")
    (root / "settings.py").write_text(_SOUND + "\n".join(lines) + "\n", encoding="utf-8")
    (root / "gunicorn.conf.py").write_text("import os\n" + "\n".join(gunicorn) + "\n", encoding="utf-8")
    (root / command_file).write_text("\n".join(commands) + "\n", encoding="utf-8")
    (root / "celery_app.py").write_text("from celery import Celery\napp = Celery('x')\n", encoding="utf-8")
    args = ["budget", "--code", str(root), "--format", "json", "--config", str(root / "poolwarden.toml")]
    (root / "poolwarden.toml").write_text("[budget]\nmax_connections = 100\n", encoding="utf-8")
    if cpus is not None:
        args += ["--cpus", str(cpus)]
    _no_crash_and_counted(invoke(*args))


@settings(SETTINGS, max_examples=scaled(30))
@given(st.binary(max_size=300), st.sampled_from(["Procfile", "Dockerfile", "run.sh", "docker-compose.yml",
                                                 "gunicorn.conf.py"]))
def test_binary_command_files_are_read_or_passed_over(tmp_path_factory: pytest.TempPathFactory, junk: bytes,
                                                      name: str) -> None:
    GENERATED["binary files"] += 1
    root = tmp_path_factory.mktemp("junk")
    (root / "settings.py").write_text(_SOUND, encoding="utf-8")
    (root / name).write_bytes(junk)
    (root / "poolwarden.toml").write_text("[budget]\n", encoding="utf-8")
    _no_crash_and_counted(invoke("budget", "--code", str(root), "--format", "json",
                                 "--config", str(root / "poolwarden.toml")))


@pytest.mark.parametrize("value", ["0", "-1", "x", "", "1.5", "99999999999999999999999"])
def test_bad_cpus_is_one_line_exit_2(tmp_path: Path, value: str) -> None:
    from .contract import assert_clean_failure

    GENERATED["cpus"] += 1
    (tmp_path / "settings.py").write_text(_SOUND, encoding="utf-8")
    proc = invoke("budget", "--code", str(tmp_path), "--cpus", value)
    if value == "99999999999999999999999":  # a count, absurd but an integer: counted, never a crash
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    else:
        assert_clean_failure(proc, contains="--cpus")


def test_cpus_without_code_is_one_line_exit_2(tmp_path: Path) -> None:
    from .contract import assert_clean_failure

    GENERATED["cpus"] += 1
    (tmp_path / "poolwarden.toml").write_text("[budget]\n[[budget.service]]\nname = 'a'\n[[budget.service.pool]]\n")
    assert_clean_failure(invoke("budget", "--config", str(tmp_path / "poolwarden.toml"), "--cpus", "4"),
                         contains="--code")
