"""The pre-scan decides the same in a pool of workers as in one process (modules.prescan)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from poolwarden.check import modules as M

from .conftest import write_tree


def test_the_pre_scan_decides_the_same_in_workers(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "app/db.py": "import psycopg2\n\ndef get():\n    return psycopg2.connect('dbname=x')\n",
        "app/svc.py": "from app.db import get\n\ndef run():\n    return get()\n",
        "app/util.py": "def helper():\n    return 1\n",
        "app/uses_util.py": "from app.util import helper\n",
        "app/loop.py": "import asyncio\n\ndef bridge(coro):\n    return asyncio.run(coro)\n",
        "app/settings.py": "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql'}}\n",
        "app/bad.py": "def broken(:\n",
        "other/alone.py": "x = 1\n",
    })
    paths = sorted(tmp_path.rglob("*.py"))
    modules, roots = {}, {}
    for path in paths:
        modules[path], _, roots[path] = M.module_name(path)
    serial = M.prescan(paths, modules, roots, 0)
    with ProcessPoolExecutor(2) as pool:
        parallel = M.prescan(paths, modules, roots, 0, pool)
    assert serial == parallel
    walk, near = serial
    names = {p.relative_to(tmp_path).as_posix() for p in walk}
    assert {"app/db.py", "app/svc.py", "app/loop.py", "app/settings.py"} <= names
    assert "other/alone.py" not in names and "app/uses_util.py" not in names
    assert {p.relative_to(tmp_path).as_posix() for p in near} == {"app/svc.py"}
