"""poolwarden's Django system checks, run for real: ``manage.py check`` on a tiny Django project.

The project (tests/djsettings_site) takes its DATABASES knobs from the environment; each test runs
``manage.py check`` in a subprocess and reads what Django prints. No check touches the database
(Django runs database-tagged checks only with ``--database``), so no server is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("django")

SITE = Path(__file__).parent / "djsettings_site"
SRC = Path(__file__).resolve().parents[1] / "src"
GOOD = {"PWS_TIMEOUT": "5", "PWS_CONN_MAX_AGE": "0", "PWS_POOL": '{"min_size": 2, "max_size": 8, "timeout": 5}'}


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PWS_") and k != "PGCONNECT_TIMEOUT"}
    base["PYTHONPATH"] = os.pathsep.join([str(SRC), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    base.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "manage.py", "check", *args], cwd=SITE, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_bad_settings_are_reported_with_poolwarden_ids() -> None:
    proc = _check({"PWS_ASGI": "1", "PWS_CONN_MAX_AGE": "60", "PWS_POOL": "true"})
    assert proc.returncode == 1, proc.stderr
    errors, _, warnings = proc.stderr.partition("WARNINGS:")
    assert "(poolwarden.PW106)" in errors and "(poolwarden.PW109)" in errors
    assert "ASGI_APPLICATION" in errors and "CONN_MAX_AGE = 60" in errors
    assert "(poolwarden.PW110)" in warnings and "30 s" in warnings
    assert "DATABASES['default']" in proc.stderr and "DATABASES['local']" not in proc.stderr  # SQLite: not judged


def test_good_settings_are_silent_under_asgi() -> None:
    proc = _check({**GOOD, "PWS_ASGI": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "no issues" in proc.stdout and "poolwarden" not in proc.stderr


def test_persistent_connections_are_fine_without_asgi() -> None:
    proc = _check({**GOOD, "PWS_CONN_MAX_AGE": "60", "PWS_POOL": ""})
    assert proc.returncode == 0 and "no issues" in proc.stdout, proc.stderr


def test_forever_without_health_checks_is_a_warning() -> None:
    env = {**GOOD, "PWS_CONN_MAX_AGE": "none", "PWS_POOL": ""}
    proc = _check(env)
    assert proc.returncode == 0, proc.stderr  # a warning does not fail `check`...
    assert "WARNINGS:" in proc.stderr and "(poolwarden.PW109)" in proc.stderr and "CONN_HEALTH_CHECKS" in proc.stderr
    assert _check(env, "--fail-level", "WARNING").returncode == 1  # ... unless asked to
    assert _check({**env, "PWS_HEALTH": "1"}).stderr == ""


def test_libpq_timeout_from_the_environment_counts() -> None:
    proc = _check({"PWS_CONN_MAX_AGE": "0", "PGCONNECT_TIMEOUT": "5"})
    assert proc.returncode == 0 and "no issues" in proc.stdout, proc.stderr


def test_checks_run_by_their_tag() -> None:
    proc = _check({"PWS_ASGI": "1", "PWS_CONN_MAX_AGE": "60"}, "--tag", "poolwarden")
    assert proc.returncode == 1 and "(poolwarden.PW109)" in proc.stderr
