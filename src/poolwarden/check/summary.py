"""Per-file facts that travel from a worker process to the project-wide index.

Everything here is plain data (strings, integers, booleans, lists, dicts), because it crosses process
boundaries and lives in the cache, which stores it as JSON (``poolwarden.check.cache``).
A *ref* is ``root:dotted.name`` after import resolution (``/app/src:billing.selectors.get_sub``);
the index decides later which refs are functions of the project.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from poolwarden.check.finding import Finding, Pending


@dataclass(slots=True)
class FunctionFacts:
    """What one function does by itself: its own DB and I/O sites and whom it calls."""

    line: int
    is_async: bool
    db: str | None = None  # first direct DB operation, e.g. "db.execute() at line 12"
    io: str | None = None  # first direct external I/O, e.g. "HTTP (httpx.AsyncClient.post) at line 9"
    returns_acquired: str | None = None  # it returns a connection it checked out
    returns_pooled: bool = False  # ... from a pool (a slot lost for good if never given back)
    calls: list[tuple[str, int]] = field(default_factory=list)  # (ref, line)
    return_refs: list[str] = field(default_factory=list)  # refs whose result it returns
    ends_tx: bool = False  # its last DB step ends the transaction (commit, rollback, close)
    tail_ref: str | None = None  # ... or is a project call handed a DB handle, which decides
    returns_kind: str | None = None  # the DB handle it returns (a Kind's value), by annotation or value
    # What can escape to its caller: the first DB operation outside a `try` whose handler takes every
    # exception and never raises, and the lines of the calls inside such a `try` (their errors stay here).
    raise_db: str | None = None
    contained: list[int] = field(default_factory=list)
    # Indexes into ``calls`` of the calls whose result it drops (a bare ``f()`` / ``await f()`` statement).
    dropped: list[int] = field(default_factory=list)
    command: bool = False  # a click / typer command: it runs once per process
    # Handed a session by its caller (a session parameter, or the object's session): then ``tx_io``
    # holds its I/O sites and ``tx_calls`` its calls (index into ``calls``, whether the call passes that
    # session on) made while the caller's transaction may be open, each with the project function
    # whose ending decides (None: open); sites after this function ended it are left out.
    handed: bool = False
    tx_io: list[tuple[str, str | None]] = field(default_factory=list)
    tx_calls: list[tuple[int, str | None, bool]] = field(default_factory=list)
    # ... and at its ways out (each ``return``, the end of its body): whether one leaves that
    # transaction open, and the project functions whose ending decides at the others. A function that
    # returns a result counts only the exits returning one: its ``return None`` (``[]``,
    # ``success=False``) means "nothing done", which its callers test for.
    tx_exit_open: bool = False
    tx_exit_after: list[str] = field(default_factory=list)
    # Its body only declares it (``pass``, ``...``, ``raise NotImplementedError``, ``@abstractmethod``):
    # what it does is what its overrides do.
    abstract: bool = False
    # A generator context manager whose ``yield`` runs inside a transaction it opened (``with
    # transaction.atomic(): yield``), or inside the project context managers ``yield_refs`` (the index
    # decides whether one of them holds a transaction): ``with <it>():`` then holds one too.
    yield_tx: bool = False
    yield_refs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ModuleSummary:
    """The exported facts of one module."""

    module: str
    path: str
    root: str = ""  # the directory its top-level package lives in: modules are unique per root
    imports: dict[str, str] = field(default_factory=dict)  # alias -> qualified target
    functions: dict[str, FunctionFacts] = field(default_factory=dict)  # "f" / "Class.m"
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> base refs
    aliases: dict[str, str] = field(default_factory=dict)  # module-level name -> ref
    attr_types: dict[str, str] = field(default_factory=dict)  # "Class.attr" -> project class ref
    instances: dict[str, str] = field(default_factory=dict)  # module-level name -> its project class ref
    star_imports: list[str] = field(default_factory=list)  # modules it re-exports with `from m import *`
    # (decorator ref, whether the decorated function is a CLI command) for every project decorator use
    decorated: list[tuple[str, bool]] = field(default_factory=list)
    sets_connect_timeout: bool = False  # its code may set a connect timeout (see check.mentions)
    atomic_requests: bool = False  # its code turns on Django's ATOMIC_REQUESTS (see check.mentions)
    # Django signals: (signal ref, receiver function ref) for each ``@receiver(sig)`` / ``sig.connect(f)``;
    # ``sig.send(...)`` runs the receivers in the sender's thread, inside its transaction.
    receivers: list[tuple[str, str]] = field(default_factory=list)
    asgi: str = ""  # why it says the Django project serves ASGI, "" if it does not (see check.mentions)
    asgi_app: bool = False  # it makes Django's ASGI application (get_asgi_application())
    wsgi_app: bool = False  # ... its WSGI application (get_wsgi_application())
    settings_timeout: bool = False  # it gives Django's connections a connect timeout (see check.mentions)
    settings_writes: list[str] = field(default_factory=list)  # DATABASES settings it writes (default/CONN_MAX_AGE)
    pooler: str = ""  # why it says the project runs behind a transaction pooler (see check.pooler_signals)


@dataclass(slots=True)
class FileResult:
    """The outcome of analysing one file in isolation."""

    path: str
    lines: int
    walked: bool = False  # the rules ran on it (the pre-scan found it can take part in a DB story)
    db_near: bool = False  # walked knowing it imports project DB code (see engine.analyze_parsed)
    findings: list[Finding] = field(default_factory=list)
    pendings: list[Pending] = field(default_factory=list)
    summary: ModuleSummary | None = None
    # line -> codes suppressed there (None: every code); only lines carrying a marker
    suppressions: dict[int, frozenset[str] | None] = field(default_factory=dict)
