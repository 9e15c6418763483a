"""PW104 across a call: what a callee does to the session its caller hands it, checked against every path.

A generated callee body is made of steps on the session it is handed (a statement, a commit, a
rollback, a ``with session.begin():`` block), ``time.sleep()`` and ``if``/``else`` branches. The
caller has run a statement, so its transaction is open when it calls. By enumerating the callee's
paths, the test knows whether some path sleeps while that transaction (or one the callee opened
again) is open, and whether some path leaves it open at the end; the analyzer must agree:

* the call is flagged iff some path of the callee sleeps with the transaction open;
* a sleep in the caller after the call is flagged iff some path of the callee leaves it open.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import run_check, write_tree

Step: TypeAlias = "str | tuple[str, list[Step], list[Step]]"

_LINES = {"stmt": "session.execute(q)", "commit": "session.commit()", "rollback": "session.rollback()",
          "io": "time.sleep(1)"}

def _bodies(leaves: list[str]) -> st.SearchStrategy[list[Step]]:
    return st.recursive(
        st.lists(st.sampled_from(leaves), max_size=3),
        lambda inner: st.lists(
            st.one_of(st.sampled_from(leaves), st.tuples(st.just("if"), inner, inner),
                      st.tuples(st.just("begin"), inner, st.just([]))),
            max_size=4,
        ),
        max_leaves=10,
    )


def _render(body: list[Step], indent: int) -> list[str]:
    pad = "    " * indent
    out: list[str] = []
    for step in body:
        if isinstance(step, str):
            out.append(pad + _LINES[step])
        elif step[0] == "if":
            out.append(pad + "if flag:")
            out += _render(step[1], indent + 1) or [pad + "    pass"]
            if step[2]:
                out.append(pad + "else:")
                out += _render(step[2], indent + 1)
        else:
            out.append(pad + "with session.begin():")
            out += _render(step[1], indent + 1) or [pad + "    pass"]
    return out


def _paths(body: list[Step], is_open: bool) -> list[tuple[bool, bool]]:
    """For each path through ``body`` from ``is_open``: (slept while open, open at the end)."""
    results = [(False, is_open)]
    for step in body:
        nxt: list[tuple[bool, bool]] = []
        for slept, now in results:
            if isinstance(step, str):
                if step == "io":
                    nxt.append((slept or now, now))
                else:
                    nxt.append((slept, step == "stmt"))
            elif step[0] == "if":
                for branch in (step[1], step[2]):
                    nxt += [(slept or s, o) for s, o in _paths(branch, now)]
            else:  # `with session.begin()`: open inside, committed or rolled back when left
                nxt += [(slept or s, False) for s, _ in _paths(step[1], True)]
        results = sorted(set(nxt))
    return results


def _tree(tmp_path: Path, body: list[Step], after: str) -> Path:
    callee = "\n".join(["import time", "from sqlalchemy.orm import Session", "",
                        "def callee(session: Session, flag):", *(_render(body, 1) or ["    pass"]), ""])
    caller = "\n".join(["import time", "from sqlalchemy.orm import Session", "from .work import callee", "",
                        "def caller(session: Session, flag):", "    session.execute(q)",
                        "    callee(session, flag)", *([f"    {after}"] if after else []), ""])
    write_tree(tmp_path, {"pkgc/work.py": callee, "pkgc/caller.py": caller})
    return tmp_path / "pkgc"


def _flagged(pkg: Path) -> set[int]:
    return {f.line for f in run_check([pkg], select=["PW104"]) if f.path.endswith("caller.py")}


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(body=_bodies(sorted(_LINES)))
def test_a_call_is_flagged_iff_some_path_of_the_callee_sleeps_in_the_transaction(
        tmp_path_factory, body: list[Step]) -> None:
    pkg = _tree(tmp_path_factory.mktemp("io"), body, "")
    expected = any(slept for slept, _ in _paths(body, True))
    assert (7 in _flagged(pkg)) == expected, "\n".join(_render(body, 1))


@_SETTINGS
@given(body=_bodies(["stmt", "commit", "rollback"]))
def test_the_session_is_free_after_a_call_iff_every_path_of_the_callee_ended_it(
        tmp_path_factory, body: list[Step]) -> None:
    pkg = _tree(tmp_path_factory.mktemp("end"), body, "time.sleep(1)")
    expected = any(still_open for _, still_open in _paths(body, True))
    assert (8 in _flagged(pkg)) == expected, "\n".join(_render(body, 1))
