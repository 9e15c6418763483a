"""PW101 severity: `error` only when the caller receives a made-up value."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_check, write_tree

HEAD = "from sqlalchemy import select\n\n\n"
CASES = {
    "explicit_default": ("async def f(db):\n    try:\n        return await db.execute(select(A))\n"
                         "    except Exception:\n        return []\n", "error"),
    "default_for_what_try_computed": ("async def f(db):\n    try:\n        rows = await db.execute(select(A))\n"
                                      "    except Exception:\n        rows = []\n    return rows\n", "error"),
    "falls_off_the_end_of_a_value_function": ("async def f(db, x):\n    if x:\n        return 1\n    try:\n"
                                              "        await db.execute(select(A))\n    except Exception:\n"
                                              "        log.warning('x')\n", "error"),
    "falls_through_to_the_real_return": ("async def f(db, p):\n    try:\n        await db.execute(select(A))\n"
                                         "    except Exception:\n        log.warning('x')\n    return p\n", "warning"),
    "unrelated_local_in_handler": ("async def f(db, p):\n    try:\n        await db.execute(select(A))\n"
                                   "    except Exception:\n        msg = 'failed'\n        log.warning(msg)\n"
                                   "    return p\n", "warning"),
    "returns_nothing_anywhere": ("async def f(db):\n    try:\n        await db.execute(select(A))\n"
                                 "    except Exception:\n        pass\n", "warning"),
}


@pytest.mark.parametrize(("name"), list(CASES))
def test_severity(tmp_path: Path, name: str) -> None:
    source, severity = CASES[name]
    write_tree(tmp_path, {"app/m.py": HEAD + source})
    findings = [f for f in run_check([tmp_path]) if f.code == "PW101"]
    assert [f.severity for f in findings] == [severity]
