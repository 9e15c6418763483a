"""PW101 / PW108: the lie (a made-up value some caller acts on) against the skip (work dropped).

Each case is checked with PW108 selected, so a handler lands in exactly one of the two rules;
without ``--extend-select PW108`` only the lies are reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from poolwarden.check import check_paths
from poolwarden.check.config import load_config

from .conftest import run_check, write_tree

HEAD = "import logging\nfrom sqlalchemy import select\nlog = logging.getLogger(__name__)\n\n\n"
CASES = {
    "explicit_default": ("async def f(db):\n    try:\n        return await db.execute(select(A))\n"
                         "    except Exception:\n        return []\n", "PW101"),
    "default_for_what_try_computed": ("async def f(db):\n    try:\n        rows = await db.execute(select(A))\n"
                                      "    except Exception:\n        rows = []\n    return rows\n", "PW101"),
    "falls_off_the_end_of_a_value_function": ("async def f(db, x):\n    if x:\n        return 1\n    try:\n"
                                              "        await db.execute(select(A))\n    except Exception:\n"
                                              "        log.warning('x')\n", "PW101"),
    "falls_through_to_the_real_return": ("async def f(db, p):\n    try:\n        await db.execute(select(A))\n"
                                         "    except Exception:\n        log.warning('x')\n    return p\n", "PW108"),
    "unrelated_local_in_handler": ("async def f(db, p):\n    try:\n        await db.execute(select(A))\n"
                                   "    except Exception:\n        msg = 'failed'\n        log.warning(msg)\n"
                                   "    return p\n", "PW108"),
    "returns_nothing_anywhere": ("async def f(db):\n    try:\n        await db.execute(select(A))\n"
                                 "    except Exception:\n        pass\n", "PW108"),
    # Callers decide: the same made-up value, read or dropped by the module's own callers.
    "a_caller_branches_on_it": ("def f(db):\n    try:\n        return db.execute(select(A)).first()\n"
                                "    except Exception:\n        return None\n\n\n"
                                "def g(db):\n    if f(db) is None:\n        return 'none'\n", "PW101"),
    "every_caller_drops_it": ("def f(db):\n    try:\n        db.execute(select(A))\n        return True\n"
                              "    except Exception:\n        return False\n\n\n"
                              "def g(db):\n    f(db)\n\n\ndef h(db):\n    f(db)\n    return 1\n", "PW108"),
    "one_caller_of_two_reads_it": ("def f(db):\n    try:\n        db.execute(select(A))\n        return True\n"
                                   "    except Exception:\n        return False\n\n\n"
                                   "def g(db):\n    f(db)\n\n\ndef h(db):\n    return f(db)\n", "PW101"),
    "awaited_and_dropped": ("async def f(db):\n    try:\n        await db.execute(select(A))\n        return True\n"
                            "    except Exception:\n        return False\n\n\n"
                            "async def g(db):\n    await f(db)\n", "PW108"),
    "a_default_the_function_goes_on_with": ("def f(db, out):\n    try:\n        rows = db.execute(select(A)).all()\n"
                                            "    except Exception:\n        rows = []\n    out.write(len(rows))\n\n\n"
                                            "def g(db, out):\n    f(db, out)\n", "PW101"),
    "a_celery_task": ("from celery import shared_task\n\n\n@shared_task\ndef f(db):\n    try:\n"
                      "        return db.execute(select(A)).first()\n    except Exception:\n"
                      "        return None\n", "PW108"),
    # An answer that says it failed is neither.
    "status_first_tuple": ("def f(db):\n    try:\n        return True, db.execute(select(A)).first()\n"
                           "    except Exception as e:\n        return False, str(e)\n", None),
    "error_field": ("def f(db):\n    try:\n        return {'rows': db.execute(select(A)).all()}\n"
                    "    except Exception:\n        return {'error': 'Unable to list the rows'}\n", None),
    "success_flag": ("def f(db, respond):\n    try:\n        db.execute(select(A))\n"
                     "    except Exception:\n        return respond(status=410, success=0)\n"
                     "    return respond(success=1)\n", None),
    "a_default_that_says_failed": ("def f(db, Result):\n    try:\n"
                                   "        result = Result(rows=db.execute(select(A)).all())\n"
                                   "    except Exception as e:\n        result = Result(failures=[str(e)])\n"
                                   "    return result\n", None),
}


@pytest.mark.parametrize(("name"), list(CASES))
def test_lie_or_skip(tmp_path: Path, name: str) -> None:
    source, code = CASES[name]
    write_tree(tmp_path, {"app/m.py": HEAD + source})
    got = [(f.code, f.severity) for f in run_check([tmp_path], extend_select=["PW108"]) if f.code in ("PW101", "PW108")]
    assert got == ([] if code is None else [(code, "error" if code == "PW101" else "warning")])


def test_skips_stay_off_by_default(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/m.py": HEAD + CASES["returns_nothing_anywhere"][0] + "\n\n"
                          + CASES["explicit_default"][0].replace("def f", "def k")})
    assert [f.code for f in run_check([tmp_path]) if f.code.startswith("PW1")] == ["PW101"]
    assert [f.code for f in run_check([tmp_path], select=["PW"]) if f.code.startswith("PW1")] == ["PW101"]
    assert [f.code for f in run_check([tmp_path], select=["ALL"]) if f.code.startswith("PW1")] == ["PW101"]
    assert sorted(f.code for f in run_check([tmp_path], select=["PW108"])) == ["PW108"]


def test_extend_select_in_the_configuration_turns_the_skip_on(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/m.py": HEAD + CASES["returns_nothing_anywhere"][0],
                          "pyproject.toml": '[tool.poolwarden.check]\nextend-select = ["PW108"]\n'})
    config = load_config(tmp_path / "pyproject.toml")
    assert config.extend_select == ["PW108"] and config.selected == ["PW", "PW108"]
    found = check_paths([str(tmp_path / "app")], config, use_cache=False, jobs=1).findings
    assert [f.code for f in found] == ["PW108"]
