"""PW105 on generated functions: a checkout is flagged exactly when a statement that can raise runs
between it and the release that protects it, and its cross-module facts survive the cache.

The generated functions vary the acquisition (a direct connect, a comprehension of pool checkouts),
the work done before the protecting ``try`` and inside it, whether the work hands the connection to
a function, and whether the release sits in a ``finally`` or after the work. The oracle: a finding
if and only if some statement with a call runs outside the ``finally``'s protection.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.check.config import CheckConfig
from poolwarden.check.engine import check_paths, check_source

from .adversarial.contract import thrown
from .conftest import write_tree

_HEADER = """\
import psycopg
from sqlalchemy import create_engine, text

engine = create_engine("postgresql+psycopg://db/app", pool_size=5, max_overflow=0, pool_timeout=5,
                       connect_args={"connect_timeout": 5})

"""
# (acquisition, the variable, its release, a statement that hands it to a function)
_FORMS = {
    "direct": ('conn = psycopg.connect("dbname=app connect_timeout=5")', "conn.close()", "wait_ready(conn)"),
    "many": ("conns = [engine.connect() for _ in range(n)]", "for c in conns:\n    c.close()", "warm(conns)"),
}
# work statements: (source, whether it can raise)
_WORK = st.sampled_from([("x = 1", False), ("log('step')", True), ("HANDS", True), ("y = compute(n)", True)])


def _indent(block: str, by: int) -> str:
    return "\n".join(" " * by + line for line in block.splitlines())


def _program(form: str, pre: list[tuple[str, bool]], body: list[tuple[str, bool]], in_finally: bool) -> str:
    acquire, release, hands = _FORMS[form]
    lines = [acquire, *(hands if s == "HANDS" else s for s, _ in pre)]
    work = [hands if s == "HANDS" else s for s, _ in body]
    if in_finally:
        func = "\n".join(lines) + "\ntry:\n" + _indent("\n".join(work) or "pass", 4) + "\nfinally:\n" + _indent(
            release, 4)
    else:
        func = "\n".join([*lines, *work, release])
    return _HEADER + "def job(n):\n" + _indent(func, 4) + "\n"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form=st.sampled_from(sorted(_FORMS)), pre=st.lists(_WORK, max_size=3), body=st.lists(_WORK, max_size=3),
       in_finally=st.booleans())
def test_flagged_exactly_when_a_raising_statement_runs_unprotected(
    form: str, pre: list[tuple[str, bool]], body: list[tuple[str, bool]], in_finally: bool
) -> None:
    thrown("check (PW105 paths)")["generated functions"] += 1
    source = _program(form, pre, body, in_finally)
    result = check_source(source.encode(), "app/jobs.py", CheckConfig(select=("PW105",)))
    unprotected = pre if in_finally else pre + body
    expected = any(raises for _, raises in unprotected)
    got = [f for f in result.findings if f.code == "PW105"]
    assert bool(got) == expected, source
    if got:  # anchored on the acquisition, the only one in the function
        assert [f.line for f in got] == [source.splitlines().index("def job(n):") + 2]


def test_a_warm_run_keeps_the_kind_a_helper_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``engine = get_engine(); [engine.connect() ...]`` is decided by the kind ``get_engine`` returns in
    another module: that fact travels through the cache, and the warm run reports the same finding."""
    write_tree(tmp_path, {
        "svc/engines.py": "from sqlalchemy import create_engine\nfrom sqlalchemy.engine import Engine\n\n"
                          "_engine = create_engine('postgresql+psycopg://db/app', pool_size=5, max_overflow=0,\n"
                          "                        pool_timeout=5, connect_args={'connect_timeout': 5})\n\n"
                          "def get_engine() -> Engine:\n    return _engine\n",
        "svc/warm.py": "from .engines import get_engine\n\n"
                       "def warm_up(n):\n    primary = get_engine()\n"
                       "    conns = [primary.connect() for _ in range(n)]\n"
                       "    for conn in conns:\n        conn.exec_driver_sql('SELECT 1')\n"
                       "    for conn in conns:\n        conn.close()\n",
    })
    monkeypatch.chdir(tmp_path)
    config = CheckConfig(cache_dir=str(tmp_path / "cache"), select=("PW105",))
    cold = check_paths(["svc"], config, jobs=1)
    (tmp_path / "svc" / "other.py").write_text("X = 1\n")  # a new file: no whole-run memo, per-file entries
    warm = check_paths(["svc"], config, jobs=1)
    assert cold.cached == 0 and warm.cached == cold.files
    assert [(f.path, f.line) for f in cold.findings] == [("svc/warm.py", 5)]
    assert [f.message for f in warm.findings] == [f.message for f in cold.findings]
    assert "get_engine() returns" in cold.findings[0].message
