"""``budget --code`` following settings across modules, under generated trees: values of every type in
every settings form, chains of re-exports, import cycles, classes that derive from each other, and
DSNs with passwords in the settings. The contract (tests/adversarial/contract.py): exit 0 or 1 with
a report, never a traceback, never a password; a literal count is followed to its value, anything
else is counted at the library's default and said so.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import write_tree

from .contract import SECRETS, assert_no_secret, invoke, scaled, thrown

GENERATED = thrown("budget-code")  # inputs thrown, per family
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                    database=None)

VALUES = st.one_of(st.integers(-3, 10**6), st.booleans(), st.none(), st.floats(allow_nan=True),
                   st.text(max_size=8), st.just("postgresql://app:hunter2@db/app"))
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True).filter(
    lambda n: n not in {"None", "True", "False", "class", "def", "import", "from", "if", "in", "is", "or", "and",
                        "not", "for", "as", "with", "pass", "return", "del", "try", "else", "elif", "while", "global",
                        "lambda", "yield", "raise", "break", "async", "await", "assert", "finally", "except",
                        "continue", "nonlocal"})


def _form(kind: str, value: object, env: str, prefix: str) -> tuple[str, str]:
    """(settings module source, the expression that reads the value) for one settings form."""
    if kind == "decouple":
        return (f"from decouple import config\nPOOL = config({env!r}, cast=int, default={value!r})\n", "conf.POOL")
    if kind == "getenv":
        return f"import os\nPOOL = int(os.getenv({env!r}, {str(value)!r}))\n", "conf.POOL"
    if kind == "pydantic":
        return ("from pydantic_settings import BaseSettings, SettingsConfigDict\n\nclass S(BaseSettings):\n"
                f"    model_config = SettingsConfigDict(env_prefix={prefix!r})\n    pool: int = {value!r}\n\n"
                "settings = S()\n", "conf.settings.pool")
    return f"POOL = {value!r}\n", "conf.POOL"


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError, OverflowError):
        return None


def _expected(kind: str, value: object) -> int | None:
    """What the setting holds at run time with the environment unset, as far as a count goes:
    decouple casts its default with ``cast``; ``int(os.getenv(X, str(v)))`` parses ``str(v)``; a
    constant or a field holds ``v`` (a string of digits is read as the count it spells)."""
    if isinstance(value, bool):
        return None  # a flag is no count (decouple's int(True) aside: counted at the default, said so)
    if kind == "decouple":
        return _as_int(value) if value is not None else None
    if kind == "getenv":
        return _as_int(str(value))
    return value if isinstance(value, int) else _as_int(value) if isinstance(value, str) else None


@given(kind=st.sampled_from(["decouple", "getenv", "pydantic", "constant"]), value=VALUES, env=NAMES,
       prefix=st.sampled_from(["", "APP_", "x_"]), hops=st.integers(0, 3))
@settings(SETTINGS, max_examples=scaled(60))
def test_settings_followed_whatever_they_hold(kind: str, value: object, env: str, prefix: str, hops: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    GENERATED["settings forms"] += 1
    source, expr = _form(kind, value, env, prefix)
    files = {"app/conf0.py": source}
    for hop in range(1, hops + 1):  # re-exports: conf3 -> conf2 -> ... -> conf0
        files[f"app/conf{hop}.py"] = f"from app.conf{hop - 1} import *  # noqa\nfrom app.conf{hop - 1} import " \
                                     f"{expr.split('.')[1]}\n"
    files["app/db.py"] = (f"from sqlalchemy import create_engine\nfrom app import conf{hops} as conf\n\n"
                          f"engine = create_engine('postgresql://h/d', pool_size={expr})\n")
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp), files)
        monkeypatch.chdir(tmp)
        proc = invoke("budget", "--code", ".", "--format", "json")
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert_no_secret(proc.stdout + proc.stderr, SECRETS)
    pool = next(line for line in json.loads(proc.stdout)["from_code"] if line.startswith("pool 1:"))
    count = _expected(kind, value)
    if count is not None and count >= 1:
        assert f"pool_size {count} (app/conf0.py:" in pool, pool
    else:
        assert "pool_size 5 (SQLAlchemy's default" in pool, pool


@given(cycle=st.integers(2, 5), classes=st.booleans())
@settings(SETTINGS, max_examples=scaled(15))
def test_import_and_class_cycles_end(cycle: int, classes: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules that import the name from each other in a ring, or classes that derive from each other:
    the follow gives up (not literal) instead of looping."""
    GENERATED["cycles"] += 1
    files = {}
    for i in range(cycle):
        nxt = (i + 1) % cycle
        if classes:
            files[f"app/m{i}.py"] = (f"from app.m{nxt} import C{nxt}\n\nclass C{i}(C{nxt}):\n    other = 1\n\n"
                                     f"S = C{i}()\n")
        else:
            files[f"app/m{i}.py"] = f"from app.m{nxt} import POOL\n"
    expr = "S.pool" if classes else "POOL"
    files["app/db.py"] = ("from sqlalchemy import create_engine\nfrom app.m0 import " + expr.split(".")[0]
                          + f"\n\nengine = create_engine('postgresql://h/d', pool_size={expr})\n")
    tmp = tempfile.mkdtemp()
    try:
        write_tree(Path(tmp), files)
        monkeypatch.chdir(tmp)
        proc = invoke("budget", "--code", ".")
    finally:
        shutil.rmtree(tmp)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "pool_size 5 (SQLAlchemy's default" in proc.stdout and "is not literal" in proc.stdout, proc.stdout


@given(words=st.lists(st.sampled_from(["gunicorn", "uvicorn", "celery", "worker", "-w", "-c", "--workers", "-A",
                                       "--app", "app.main:app", "app.tasks", "${W:-3}", "$W", "4", "0", "-1",
                                       "'", '"', "&&", "command=", "[", "]", "-w4x", "--autoscale=", "x:y:z", "uwsgi",
                                       "-p", "--processes", "processes =", "[uwsgi]", "\n"]),
                      max_size=12))
@settings(SETTINGS, max_examples=scaled(40))
def test_command_lines_never_break_the_report(words: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    GENERATED["command lines"] += 1
    line = " ".join(words)
    files = {"app/db.py": "from sqlalchemy import create_engine\nengine = create_engine('postgresql://h/d')\n",
             "app/main.py": "from app import db\n", "app/tasks.py": "from app import db\n",
             "Procfile": f"web: {line}\n", "supervisord.conf": f"command={line}\n",
             "Dockerfile": f"CMD {json.dumps(words)}\n", "uwsgi.ini": f"[uwsgi]\n{line}\n"}
    tmp = tempfile.mkdtemp()
    try:
        write_tree(Path(tmp), files)
        monkeypatch.chdir(tmp)
        proc = invoke("budget", "--code", ".")
    finally:
        shutil.rmtree(tmp)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stdout + proc.stderr


