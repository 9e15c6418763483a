"""PW102 event-loop-per-call: a sync→async bridge or Celery task that builds a loop per call."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.context import FileContext
from poolwarden.check.finding import Deferred, Pending
from poolwarden.check.rule import Rule, example
from poolwarden.check.scope import dotted_text

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

_ADVICE = ("pooled async connections belong to the loop that opened them, so each call orphans "
           "them; keep one persistent loop per process (`poolwarden.runtime.bridge.run_async`)")


@dataclass(frozen=True, slots=True)
class DecoratorLoop(Deferred):
    """A loop per call inside a decorator applied in other modules, or in a bridge function: a finding
    unless only CLI commands use the decorator, or call the bridge."""

    decorator: str  # its ref (the bridge's own, when ``bridge``)
    message: str
    bridge: bool = False


@dataclass
class _Candidate:
    node: ast.Call
    func: ast.FunctionDef | ast.AsyncFunctionDef
    message: str
    outer: str | None = None  # the decorator a nested bridge belongs to
    ref: str = ""  # the function's project ref (its callers decide whether it runs once)
    task: bool = False  # a Celery task (runs per message whoever calls it)


class EventLoopPerCall(Rule):
    CODE = "PW102"
    NAME = "event-loop-per-call"
    SUMMARY = "A sync→async bridge or Celery task creates (and closes) an event loop on every call."
    WHAT = """
Flags `asyncio.new_event_loop()` kept in a local variable, and `asyncio.run(...)`, inside a
Celery task or inside a bridge function that runs a coroutine it was given
(`loop.run_until_complete(coro)`, `asyncio.run(fn(*args))`). Functions that make a loop for their
own use, and test modules (`test_*.py`, `*_test.py`, `conftest.py`), are not flagged. Not flagged: a loop kept in a module global or an
attribute (the persistent-loop pattern), a loop set as the thread's own
(`asyncio.set_event_loop(loop)`) and never closed by the function, `asyncio.run` in an entry point such as `main()`, and
a decorator that only wraps CLI commands (`@app.command()`), and
a function handed to a thread or executor (`executor.submit(fn, coro)`) to isolate a coroutine
when a loop is already running.
"""
    WHY = """
Async database connections (asyncpg, psycopg async, SQLAlchemy's async engines) are bound to
the event loop that opened them. A bridge that creates a loop, runs a coroutine and closes the
loop on every Celery task leaves the pool's connections attached to a dead loop: PostgreSQL
still sees the sockets, the pool cannot reuse them, and the worker becomes a connection
factory. That was the leak behind "too many clients" in the seed incident.
"""
    EXAMPLE = """
def run_async_in_celery(coro):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
"""
    USE_INSTEAD = """
from poolwarden.runtime.bridge import run_async  # one persistent loop per process, fork-safe

@app.task
def process_call_usage(call_id):
    return run_async(process_usage(call_id))
"""
    DEFERRED = DecoratorLoop
    NODES = (ast.Call, ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)

    VALID = [
        example("""
import asyncio

_loop = None

def _get_loop():
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop

def run_async(coro):
    return _get_loop().run_until_complete(coro)
"""),
        example("""
import asyncio
import concurrent.futures

def _run_in_isolated_loop(coro):
    return asyncio.run(coro)

def run_async(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop().run_until_complete(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(_run_in_isolated_loop, coro).result()
""", note="the seed's thread fallback"),
        example("""
import asyncio

async def amain():
    pass

def main():
    asyncio.run(amain())

if __name__ == "__main__":
    main()
""", note="near miss: an entry point runs once"),
        example("""
import asyncio

class Worker:
    def __init__(self):
        self.loop = asyncio.new_event_loop()

    def run(self, coro):
        return self.loop.run_until_complete(coro)
"""),
        example("""
import asyncio
from functools import wraps

def typer_async(f):
    @wraps(f)
    def wrapper(*args, **kwargs):
        return asyncio.run(f(*args, **kwargs))
    return wrapper
""", note="a decorator applied only to CLI commands, in other modules",
            backfill="import typer\nfrom .example import typer_async\n\ncli = typer.Typer()\n\n@cli.command()\n@typer_async\nasync def backfill():\n    pass\n"),
        example("""
import asyncio

def run_sync(coro):
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(coro)
""", note="the thread's loop, made once and set, never closed: every later call reuses it (the fix)"),
        example("""
import asyncio

def run_tool(runner, *, json_output):
    result = asyncio.run(runner())
    print(result if json_output else "done")
""", note="a bridge that only CLI commands call (another module): each command runs once per process",
            commands="import click\nfrom .example import run_tool\n\n@click.command()\ndef sync():\n"
                     "    run_tool(do_sync, json_output=False)\n\n@click.command()\ndef export():\n"
                     "    run_tool(do_export, json_output=True)\n"),
    ]
    INVALID = [
        example("""
import asyncio

def run_async_in_celery(coro):
    loop = asyncio.new_event_loop()  # error
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
""", note="near miss of the kept loop: set as the thread's loop, then closed at the end of every call"),
        example("""
import asyncio
from celery import shared_task

@shared_task
def process_usage(call_id):
    asyncio.run(bill(call_id))  # error
"""),
        example("""
import asyncio

def sync(fn):
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))  # error
    return wrapper
"""),
        example("""
import asyncio
from .celery_app import app

@app.task(bind=True)
def refresh(self):
    loop = asyncio.new_event_loop()  # error
    loop.run_until_complete(do_refresh())
    loop.close()
""", celery_app="from celery import Celery\napp = Celery('x')\n"),
    ]

    def __init__(self) -> None:
        self.candidates: list[_Candidate] = []
        self.executor_targets: set[str] = set()
        self.on_commands: set[str] = set()  # decorators applied to CLI commands
        self.elsewhere: set[str] = set()  # decorators applied to anything else

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        if isinstance(node, ast.Module):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [dotted_text(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
            is_command = any(n.rpartition(".")[2] in ("command", "callback") for n in names)
            for n in names:
                (self.on_commands if is_command else self.elsewhere).add(n.rpartition(".")[2])
            return
        assert isinstance(node, ast.Call)
        callee = node.func
        name = callee.attr if isinstance(callee, ast.Attribute) else callee.id if isinstance(callee, ast.Name) else ""
        if name in K.EXECUTOR_CALLS:
            for arg in (*node.args, *(k.value for k in node.keywords)):
                if isinstance(arg, (ast.Name, ast.Attribute)):
                    self.executor_targets.add(dotted_text(arg).rpartition(".")[2])
        if not ctx.in_function or ctx.is_test:
            return
        target = ctx.call(node).target
        if target not in K.NEW_LOOP_FUNCTIONS and target not in K.RUN_LOOP_FUNCTIONS:
            return
        scope = ctx.function
        func = scope.node
        assert func is not None
        params = frozenset().union(*(s.params for s in ctx.scopes))
        if target in K.NEW_LOOP_FUNCTIONS:
            var = _assigned_local(func, node)
            if var is not None and _kept_for_the_thread(func, var, ctx):
                return  # set as the thread's loop and never closed here: it outlives the call
            if var is not None and var not in scope.globals and (scope.is_celery_task or _is_bridge(func, params)):
                self.candidates.append(_Candidate(node, func,
                    f"`{dotted_text(node.func)}()` creates an event loop per call of `{func.name}()` "
                    f"(kept in the local `{var}`): {_ADVICE}", None, ctx.function_ref(), scope.is_celery_task))
        elif target in K.RUN_LOOP_FUNCTIONS:
            if scope.is_celery_task:
                why = f"the Celery task `{func.name}()`"
            elif _runs_parameter(node, params):
                why = f"the bridge `{func.name}()`"
            else:
                return
            outer = ctx.scopes[-2].node if len(ctx.scopes) > 2 else None
            self.candidates.append(_Candidate(node, func,
                f"`{dotted_text(node.func)}()` starts and closes an event loop on every call of {why}: {_ADVICE}",
                outer.name if outer is not None else None, ctx.function_ref(), scope.is_celery_task))

    def leave(self, node: ast.AST, ctx: FileContext) -> None:
        if not isinstance(node, ast.Module):
            return
        for cand in self.candidates:
            if cand.func.name in self.executor_targets:
                continue
            if cand.outer is not None and cand.outer in self.on_commands and cand.outer not in self.elsewhere:
                continue  # a decorator that turns async CLI commands into sync ones: runs once
            if cand.outer is not None and cand.outer not in self.on_commands | self.elsewhere:
                # A decorator used in other modules: decide with the project index.
                ctx.defer(cand.node, DecoratorLoop(f"{ctx.root}:{ctx.module}.{cand.outer}", cand.message))
                continue
            if cand.outer is None and not cand.task and cand.ref:
                # A bridge: a finding unless only CLI commands call it (decided with the index).
                ctx.defer(cand.node, DecoratorLoop(cand.ref, cand.message, bridge=True))
                continue
            ctx.report(cand.node, cand.message)
        self.candidates = []


    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        data = pending.data
        assert isinstance(data, DecoratorLoop)
        if data.bridge:
            return None if index.only_commands_call(data.decorator) else data.message
        uses = index.decorator_uses(data.decorator)
        if uses and all(uses):
            return None  # only ever applied to CLI commands
        return data.message


def _kept_for_the_thread(func: ast.AST, var: str, ctx: FileContext) -> bool:
    """``asyncio.set_event_loop(var)`` in ``func`` and no ``var.close()``: the thread keeps the loop (the
    ``get_event_loop()``-else-create-and-set bridge reuses it on every later call)."""
    installed = closed = False
    for node in ast.walk(func):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "close" \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == var:
            closed = True
        elif (ctx.qualname(node.func) or "") in K.SET_LOOP_FUNCTIONS and any(
                isinstance(a, ast.Name) and a.id == var for a in node.args):
            installed = True
    return installed and not closed


def _assigned_local(func: ast.AST, call: ast.Call) -> str | None:
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and node.value is call:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                return target.id
            return None
        if isinstance(node, ast.withitem) and node.context_expr is call:
            return "<with>"
    return None


def _is_bridge(func: ast.AST, params: frozenset[str]) -> bool:
    """Whether ``func`` runs a coroutine it was given: ``loop.run_until_complete(coro)``."""
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "run_until_complete"
        and _runs_parameter(n, params)
        for n in ast.walk(func)
    )


def _runs_parameter(call: ast.Call, params: frozenset[str]) -> bool:
    if not call.args:
        return False
    arg = call.args[0]
    if isinstance(arg, ast.Name):
        return arg.id in params
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name):
        return arg.func.id in params
    return False
