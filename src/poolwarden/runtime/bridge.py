"""``run_async(coro)``: run a coroutine from sync code on one persistent event loop per process.

Async database connections belong to the loop that opened them. A bridge that makes a loop per
call (``asyncio.run`` in every Celery task) strands its pool's connections on dead loops; this
one keeps a single loop alive in a daemon thread, so pooled connections are reused call after
call, from any thread.

Promises:

* one loop per process: after ``fork`` the child never touches the parent's loop (nor the
  connections on it) — it starts its own on first use;
* called from a thread whose own loop is running (inside async code), the coroutine runs in an
  isolated thread on a fresh loop, as the seed's fallback did, instead of deadlocking;
* :func:`shutdown` runs registered cleanups (``engine.dispose()``) on the loop, then stops it;
  it also runs at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["add_shutdown_hook", "get_loop", "run_async", "shutdown"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid: int | None = None
_hooks: list[Callable[[], Awaitable[object]]] = []


def get_loop() -> asyncio.AbstractEventLoop:
    """This process's persistent loop, started in a daemon thread on first use."""
    global _loop, _thread, _pid
    with _lock:
        if _loop is not None and _pid == os.getpid() and not _loop.is_closed():
            return _loop
        if _pid != os.getpid():
            _hooks.clear()  # the parent's cleanups belong to the parent's loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=serve, name="poolwarden-loop", daemon=True)
        thread.start()
        ready.wait()
        _loop, _thread, _pid = loop, thread, os.getpid()
        return loop


def run_async(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` to completion and return its result (or raise its exception)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # inside async code: isolate the coroutine rather than nest or block this loop's thread
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
            return executor.submit(asyncio.run, coro).result(timeout)
    loop = get_loop()
    if threading.current_thread() is _thread:
        raise RuntimeError("run_async() called from the bridge's own loop thread")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def add_shutdown_hook(hook: Callable[[], Awaitable[object]]) -> None:
    """Run ``await hook()`` on the loop at :func:`shutdown` (e.g. ``engine.dispose``)."""
    _hooks.append(hook)


def shutdown(timeout: float = 10.0) -> None:
    """Run the shutdown hooks on the loop, then stop and close it. Safe to call twice."""
    global _loop, _thread
    with _lock:
        loop, thread = _loop, _thread
        if loop is None or _pid != os.getpid() or loop.is_closed():
            return
        hooks = list(_hooks)
        _hooks.clear()
        _loop = _thread = None

    async def cleanup() -> None:
        for hook in hooks:
            await hook()

    try:
        asyncio.run_coroutine_threadsafe(cleanup(), loop).result(timeout)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)
        if not loop.is_running():
            loop.close()


atexit.register(shutdown)
