"""Event loops (PW102): the calls that make, run and install a loop, or hand work to another thread.

Promises: the functions that create or run an event loop, the one that installs a loop as the thread's
own, the calls that run a coroutine to completion, and those that move a function to an executor. Data only.
"""

from __future__ import annotations

from typing import Final

# Calls that run a coroutine to completion and return its result: ``pg_conn = asyncio.run(open_conn())``.
RUN_COROUTINE_FUNCTIONS: Final = frozenset({"asyncio.run"})
RUN_COROUTINE_METHODS: Final = frozenset({"run_until_complete"})

# -- event loops (PW102) ---------------------------------------------------------------------------
NEW_LOOP_FUNCTIONS: Final = frozenset({"asyncio.new_event_loop", "uvloop.new_event_loop"})
RUN_LOOP_FUNCTIONS: Final = frozenset({"asyncio.run", "anyio.run", "asgiref.sync.async_to_sync"})
# Installing a loop as the thread's own: it outlives the call (the persistent-loop fix, per thread).
SET_LOOP_FUNCTIONS: Final = frozenset({"asyncio.set_event_loop"})
# Calls that hand a function to another thread or process (its loop is that thread's, once).
EXECUTOR_CALLS: Final = frozenset({"submit", "run_in_executor", "Thread", "Process", "start_new_thread", "map"})
