"""runtime.bridge: one persistent loop per process, pooled async connections reused, fork-safe."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import sqlalchemy

from poolwarden.runtime import bridge
from poolwarden.runtime.engine import create_async_engine


def test_pooled_connection_is_reused_across_calls(postgres: str) -> None:
    engine = create_async_engine(postgres.replace("postgresql://", "postgresql+asyncpg://"), pool_size=1)

    async def backend_pid() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(sqlalchemy.text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        pids = {bridge.run_async(backend_pid()) for _ in range(10)}
        assert len(pids) == 1  # one server connection served every call
    finally:
        bridge.run_async(engine.dispose())


def test_inside_a_running_loop_the_coroutine_is_isolated() -> None:
    async def inner() -> str:
        return "done"

    async def outer() -> str:
        return bridge.run_async(inner())  # would deadlock or nest without the thread fallback

    assert asyncio.run(outer()) == "done"


def test_a_forked_child_never_reuses_the_parents_loop() -> None:
    parent_loop = bridge.get_loop()
    assert bridge.run_async(asyncio.sleep(0, "parent")) == "parent"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_check_child, args=(queue,))
    proc.start()
    result = queue.get(timeout=30)
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert result == (True, "child")
    assert bridge.get_loop() is parent_loop  # the parent keeps its own


def _check_child(queue: Any) -> None:
    inherited = bridge._loop  # the parent's loop object, copied by fork
    loop = bridge.get_loop()
    queue.put((loop is not inherited and not loop.is_closed(), bridge.run_async(asyncio.sleep(0, "child"))))
