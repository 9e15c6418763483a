"""What the semantic model sees across real code's shapes: each case pins code, line, column and message.

Each test is a small project written to a temporary directory and checked through the library
(the CLI's path: ``check_paths``), so cross-module resolution, the pre-scan and the cache all take part.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from poolwarden.check import check_paths
from poolwarden.check.config import CheckConfig

from .conftest import write_tree

_IDLE = ("the connection sits idle in transaction for the whole wait; finish the transaction first (read, "
         "commit, then call) and write back in a fresh, short transaction")
_RELEASE = "release it in a `finally` block, or acquire it with `with` / `async with`"


def findings(base: Path, monkeypatch: pytest.MonkeyPatch, *, cache: bool = False) -> list[str]:
    monkeypatch.chdir(base)
    result = check_paths(["."], CheckConfig(cache_dir=str(base / ".cache")), use_cache=cache, jobs=1)
    return [f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}" for f in result.findings]


POOL = """\
import asyncpg

pool = None

async def init():
    global pool
    pool = await asyncpg.create_pool("postgresql://db/app", min_size=1, max_size=5, timeout=5)
"""

HANDLER = """\
import httpx
from .pool import pool

async def enrich(uid):
    async with pool.acquire() as conn:
        await conn.execute("select 1")
        async with httpx.AsyncClient() as c:
            await c.get("https://example.com")

async def count():
    conn = await pool.acquire()
    n = await conn.fetchval("select 1")
    await pool.release(conn)
    return n
"""


def test_a_pool_imported_from_a_module_of_the_same_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``from .pool import pool`` in a module that imports no driver itself: its handles are seen."""
    write_tree(tmp_path, {"app/pool.py": POOL, "app/handler.py": HANDLER})
    assert findings(tmp_path, monkeypatch) == [
        f"app/handler.py:8:19: PW104 HTTP (c.get()) while the connection of `pool.acquire()` (line 5) is held: "
        f"{_IDLE}",
        f"app/handler.py:11:18: PW105 `pool.acquire()` acquires `conn`, but an exception at line 12 leaves it "
        f"unreleased: {_RELEASE}",
    ]


def test_the_cache_rewalks_a_module_whose_import_stops_being_db_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"app/pool.py": POOL, "app/handler.py": HANDLER})
    assert len(findings(tmp_path, monkeypatch, cache=True)) == 2
    (tmp_path / "app" / "pool.py").write_text("pool = object()\n")  # handler.py itself is unchanged
    assert findings(tmp_path, monkeypatch, cache=True) == []
    (tmp_path / "app" / "pool.py").write_text(POOL)
    assert len(findings(tmp_path, monkeypatch, cache=True)) == 2
