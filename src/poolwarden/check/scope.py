"""The records the walk keeps: scopes, held connections, acquisitions, try frames, calls."""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass, field

from poolwarden.check import knowledge as K
from poolwarden.check.summary import FunctionFacts


@dataclass(frozen=True, slots=True)
class IoCall:
    """External I/O a call does: its kind and how the callee is spelled (None: the constructor)."""

    io: K.Io
    callee: str | None = None

    def describe(self) -> str:
        """``HTTP (client.post())``, ``a sleep (asyncio.sleep())`` — as messages cite it."""
        return self.io.value if self.callee is None else f"{self.io.value} ({self.callee}())"


@dataclass(slots=True)
class CallInfo:
    """What one call does, as far as the file alone can tell."""

    text: str  # how the callee is spelled, e.g. "db.execute"
    target: str | None = None  # qualified library name, e.g. "sqlalchemy.create_engine"
    db: bool = False  # runs SQL or talks to the server
    io: IoCall | None = None  # the external I/O it does
    effect: K.Effect | None = None  # what it does to a connection or transaction
    result: K.Kind | None = None  # kind of the value returned
    ref: str | None = None  # dotted name of a possible project function
    receiver: str | None = None  # variable name the method is called on
    released: str | None = None  # variable a release call gives back
    pooled: bool = False  # an acquisition from a pool (a slot, not a socket)
    awaited: bool = False
    builds: bool = False  # builds a query that runs later (a Django QuerySet's filter(), all())
    cite: str | None = None  # how messages cite it when not as a call (``list(qs)``, ``for d in qs``)
    locks: bool = False  # takes row locks until the transaction ends (``select_for_update()``)

    @property
    def runs_now(self) -> bool:
        """A DB call that sends a statement now (not a query builder, a `begin()` or a checkout)."""
        return self.db and not self.builds and self.effect not in (K.Effect.TX, K.Effect.HOLD, K.Effect.LAZY,
                                                                  K.Effect.ACQUIRE)

    def describe(self, line: int) -> str:
        return f"{self.cite if self.cite is not None else self.text + '()'} at line {line}"


class Hold(enum.Enum):
    """What is held open: a transaction, a checked-out connection, or a session."""

    TRANSACTION = "transaction"
    CONNECTION = "connection"
    SESSION = "session"


class Origin(enum.Enum):
    """How it came to be held."""

    WITH = "with"  # ``with engine.begin():`` — a context manager call
    WITH_NAME = "with-name"  # ``with conn:`` — a connection used as a transaction context
    ASSIGNED = "assigned"  # ``conn = pool.getconn()`` / ``session = Session()``
    PARAMETER = "parameter"  # ``def f(session: Session)`` — handed in by the caller
    ATTRIBUTE = "attribute"  # ``self.session`` — a session the object keeps, used by the method
    DECORATOR = "decorator"  # ``@transaction.atomic`` — the whole function body runs in a transaction


@dataclass(slots=True)
class Held:
    """A transaction, checked-out connection or session open at this point of the walk."""

    hold: Hold
    origin: Origin
    callee: str  # how the call that opened it is spelled ("engine.begin"), or the variable
    line: int
    var: str | None = None
    active: bool = True  # a lazy session becomes active at its first statement
    depth: int = 0  # scope depth it belongs to: a nested function does not run inside it
    # The project function the session was last handed to, after its last statement here: if that
    # function ends by committing, nothing is held after it (decided with the project index).
    last_call: str | None = None
    # Seen from the caller, for a session it handed in (a parameter, the object's session): whether
    # its transaction may be open here (until this function ends it: commit, rollback, close), and
    # the project function last handed the session, whose ending decides (see held.caller_view).
    outer: bool = False
    outer_after: str | None = None
    # Django: the transaction's on-commit hook (``transaction.on_commit``), the fix PW104 advises;
    # and the first row lock taken in it (``select_for_update()``), held until the transaction ends.
    on_commit: str | None = None
    row_lock: str | None = None
    # A project context manager (its ref) that holds a transaction if the index finds its ``yield``
    # inside one (``traced_atomic_transaction()``): held, pending that decision.
    maybe: str | None = None


@dataclass(slots=True)
class Acquisition:
    """``var = <acquire>`` inside a function: a connection the function must give back."""

    var: str
    stmt: ast.stmt
    call: ast.Call
    desc: str
    pooled: bool
    ref: str | None = None  # set when the acquirer is a project function (decided later)
    # ``<method>()`` called on what the project function ``ref`` returned (``engine.connect()`` where
    # ``engine = get_engine()``): a checkout if the index finds ``ref`` returns a handle of that kind
    method: str | None = None
    many: bool = False  # ``[engine.connect() for _ in range(n)]``: one checkout per item of a comprehension
    lazy: bool = False  # ``Session()``: it holds no connection until its first statement


@dataclass(slots=True)
class TryFrame:
    """DB operations and project calls made inside one ``try`` body."""

    statement_sites: list[str] = field(default_factory=list)  # calls that run SQL now
    db_sites: list[str] = field(default_factory=list)  # other DB steps: begin(), checkouts, query builders

    def cited(self) -> str | None:
        """The DB call a message cites: the first statement that runs, else the first DB step."""
        sites = self.statement_sites or self.db_sites
        return sites[0] if sites else None
    refs: list[tuple[str, str]] = field(default_factory=list)  # (ref, "name() at line N")


@dataclass(slots=True)
class Scope:
    """One function being walked."""

    node: ast.FunctionDef | ast.AsyncFunctionDef | None
    qualname: str
    facts: FunctionFacts | None
    class_name: str | None = None
    self_name: str | None = None
    kinds: dict[str, K.Kind] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # var -> project class ref
    params: frozenset[str] = frozenset()
    globals: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    acquisitions: list[Acquisition] = field(default_factory=list)
    receivers: set[str] = field(default_factory=set)  # names used as DB handles here
    made_by: dict[str, str] = field(default_factory=dict)  # var -> project function whose result it holds
    returned_checkout: ast.Call | None = None  # `return <acquire>()`: the checkout it hands its caller
    # nested function name -> the checkout it returns (``async def open(): return await connect(...)``)
    local_checkouts: dict[str, ast.Call] = field(default_factory=dict)
    db_runs: bool = False  # facts.db cites a statement that runs (not a builder or a begin())
    raise_runs: bool = False  # ... and facts.raise_db
    containing: int = 0  # how many `try` bodies around the walk point keep every error in this function
    # What its caller's transaction is at each exit (held.caller_view), by whether the exit returns a
    # result (False: nothing, an empty or false literal, an answer that says it failed).
    exits: dict[bool, list[tuple[bool, str | None]]] = field(default_factory=lambda: {False: [], True: []})
    decorators: tuple[str, ...] = ()
    view: bool | None = None  # a Django / DRF view (FileContext.in_view), once asked
    strings: dict[str, str] = field(default_factory=dict)  # local -> the text last assigned to it (``sql = "..."``)

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


def nested_blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement blocks nested directly in ``stmt`` (bodies, ``else``, ``finally``, handlers,
    ``case`` arms); none for a nested function or class, whose bodies run elsewhere."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    out: list[list[ast.stmt]] = []
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            out.append(block)
    for handler in getattr(stmt, "handlers", ()):
        out.append(handler.body)
    for case in getattr(stmt, "cases", ()):
        out.append(case.body)
    return out
