"""The records the walk keeps: scopes, held connections, acquisitions, try frames, calls."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from poolwarden.check import knowledge as K
from poolwarden.check.summary import FunctionFacts


@dataclass(slots=True)
class CallInfo:
    """What one call does, as far as the file alone can tell."""

    text: str  # how the callee is spelled, e.g. "db.execute"
    target: str | None = None  # qualified library name, e.g. "sqlalchemy.create_engine"
    db: bool = False  # runs SQL or talks to the server
    io: str | None = None  # kind of external I/O ("HTTP", "a sleep", …)
    effect: str | None = None  # "tx" / "hold" / "acquire" / "lazy" / "release" / "end"
    result: str | None = None  # kind of the value returned
    ref: str | None = None  # dotted name of a possible project function
    receiver: str | None = None  # variable name the method is called on
    released: str | None = None  # variable a release call gives back
    pooled: bool = False  # an acquisition from a pool (a slot, not a socket)
    awaited: bool = False

    def describe(self, line: int) -> str:
        return f"{self.text}() at line {line}"


@dataclass(slots=True)
class Held:
    """A transaction or checked-out connection open at this point of the walk."""

    what: str  # e.g. "the transaction of engine.begin()"
    line: int
    var: str | None = None
    active: bool = True  # a lazy session becomes active at its first statement
    depth: int = 0  # scope depth it belongs to: a nested function does not run inside it


@dataclass(slots=True)
class Acquisition:
    """``var = <acquire>`` inside a function: a connection the function must give back."""

    var: str
    stmt: ast.stmt
    call: ast.Call
    desc: str
    pooled: bool
    ref: str | None = None  # set when the acquirer is a project function (decided later)


@dataclass(slots=True)
class TryFrame:
    """DB operations and project calls made inside one ``try`` body."""

    db_sites: list[str] = field(default_factory=list)
    refs: list[tuple[str, str]] = field(default_factory=list)  # (ref, "name() at line N")


@dataclass(slots=True)
class Scope:
    """One function being walked."""

    node: ast.FunctionDef | ast.AsyncFunctionDef | None
    qualname: str
    facts: FunctionFacts | None
    class_name: str | None = None
    self_name: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # var -> project class ref
    params: frozenset[str] = frozenset()
    globals: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    acquisitions: list[Acquisition] = field(default_factory=list)
    receivers: set[str] = field(default_factory=set)  # names used as DB handles here
    decorators: tuple[str, ...] = ()

    @property
    def is_cli_command(self) -> bool:
        """Decorated as a click / typer command (``@cli.command()``, ``@app.callback()``)."""
        return any(d.endswith(("command", "callback")) for d in self.decorators)

    @property
    def runs_once(self) -> bool:
        """An entry point that runs once per process: ``main``, Alembic's hooks, CLI commands."""
        return self.node is not None and (
            self.node.name in K.ENTRY_POINTS or self.is_cli_command
        )

    @property
    def is_celery_task(self) -> bool:
        return any(
            d.endswith((".task", ".periodic_task")) or d in {"task", "shared_task", "periodic_task"}
            or d.endswith(".shared_task")
            for d in self.decorators
        )


def dotted_text(expr: ast.expr) -> str:
    """``a.b.c`` for a Name/Attribute chain; calls and subscripts collapse to ``(...)``/``[...]``."""
    parts: list[str] = []
    while True:
        if isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        elif isinstance(expr, ast.Name):
            parts.append(expr.id)
            break
        elif isinstance(expr, ast.Call):
            parts.append(dotted_text(expr.func) + "(...)")
            break
        elif isinstance(expr, ast.Subscript):
            parts.append(dotted_text(expr.value) + "[...]")
            break
        else:
            parts.append("<expr>")
            break
    return ".".join(reversed(parts))


