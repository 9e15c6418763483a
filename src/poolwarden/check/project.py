"""The project-wide index: per-file summaries joined across modules.

Answers, for a ref such as ``billing.services.get_plan``: which function it is (through
imports, re-exports, module aliases, class bases and ``self`` methods), whether it reaches a
database operation or external I/O through any chain of calls (an abstract method — a body that
does nothing and calls nothing — through what its project subclasses' overrides do), and whether
it hands back a connection its caller must release. Each answer carries the chain that proves it, for messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from poolwarden.check import knowledge as K
from poolwarden.check.pgbouncer_ini import PoolMode
from poolwarden.check.summary import FunctionFacts, ModuleSummary

_MAX_DEPTH = 12


@dataclass(frozen=True, slots=True)
class Reach:
    """How a function reaches a DB operation or I/O: ``via`` is the call chain, outermost first."""

    site: str  # e.g. "db.execute() at line 14"
    path: str  # file of the site
    via: tuple[str, ...]  # function names from the one asked about to the one holding the site
    pooled: bool = False  # for returned connections: checked out of a pool

    def describe(self) -> str:
        chain = " → ".join(f"{v}()" for v in self.via)
        return f"{chain} → {self.site} in {self.path}" if chain else f"{self.site} in {self.path}"


class ProjectIndex:
    """Joins the :class:`ModuleSummary` of every checked file.

    Modules are keyed ``root:module``: two trees holding a package of the same name (an app's
    ``buggy/`` and ``fixed/`` variants) never see each other's functions.
    """

    def __init__(self, summaries: Iterable[ModuleSummary], pooler: PoolMode | None = None) -> None:
        summaries = every = list(summaries)
        self._pooler_config = pooler
        self.modules: dict[str, ModuleSummary] = {}
        self.functions: dict[str, tuple[FunctionFacts, ModuleSummary]] = {}
        by_last: dict[str, list[ModuleSummary]] = {}
        for summary in summaries:
            self.modules[f"{summary.root}:{summary.module}"] = summary
            for qual, facts in summary.functions.items():
                self.functions[_join(summary, qual)] = (facts, summary)
            by_last.setdefault(summary.module.rpartition(".")[2], []).append(summary)
        self._by_last = by_last
        self._add_signals(every)
        self._resolved: dict[str, str | None] = {}
        self._db: dict[str, Reach | None] = {}
        self._io: dict[str, Reach | None] = {}
        self._io_held: dict[str, Reach | None] = {}
        self._ends: dict[str, bool] = {}
        self._raise: dict[str, Reach | None] = {}
        self._acq: dict[str, Reach | None] = {}
        self._kinds: dict[str, tuple[str, Reach] | None] = {}
        self._decorator_uses: dict[str, list[bool]] | None = None
        self._subs: dict[str, list[str]] | None = None
        self._calls_by_name: dict[str, list[tuple[str, str, bool]]] | None = None
        self._asgi: dict[str, str] = {}
        self._pooler: dict[str, PoolMode | None] = {}

    def _add_signals(self, summaries: list[ModuleSummary]) -> None:
        """A Django signal's ``send`` / ``send_robust`` as a function of the index that calls each of its
        receivers: the sender reaches what they do (their I/O inside its transaction, their DB calls)."""
        for summary in summaries:
            for signal, receiver in summary.receivers:
                for method in K.SIGNAL_SENDS:
                    key = f"{signal}.{method}"
                    entry = self.functions.get(key)
                    if entry is None:
                        entry = self.functions[key] = (FunctionFacts(line=1, is_async=False), summary)
                    entry[0].calls.append((receiver, 1))

    # -- names ---------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str | None:
        """The key of the project function ``ref`` (``root:dotted.name``) names, or None."""
        if ref in self._resolved:
            return self._resolved[ref]
        self._resolved[ref] = None  # cycle guard
        found = self._resolve(ref, 0)
        self._resolved[ref] = found
        return found

    def _resolve(self, ref: str, depth: int, want_class: bool = False) -> str | None:
        if depth > _MAX_DEPTH:
            return None
        if ref in self.functions and not want_class:
            return ref
        root, _, dotted = ref.rpartition(":")
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            mod = ".".join(parts[:cut])
            summary = self.modules.get(f"{root}:{mod}") or self._find_module(root, mod)
            if summary is None:
                continue
            rest = parts[cut:]
            head = rest[0]
            target = summary.imports.get(head) or summary.aliases.get(head)
            if target is not None:
                nxt = f"{summary.root}:{'.'.join([target, *rest[1:]])}"
                return None if nxt == ref else self._resolve(nxt, depth + 1, want_class)
            instance = summary.instances.get(head)
            if instance is not None and len(rest) > 1:  # a module-level object: through its class
                return self._resolve(f"{summary.root}:{'.'.join([instance, *rest[1:]])}", depth + 1)
            if head in summary.classes and len(rest) > 2:  # Class.attr.method: through the attribute's type
                typed = summary.attr_types.get(f"{head}.{rest[1]}")
                if typed is not None:
                    return self._resolve(f"{summary.root}:{'.'.join([typed, *rest[2:]])}", depth + 1)
                for base in summary.classes[head]:  # set by a base class's __init__
                    found = self._resolve(f"{summary.root}:{'.'.join([base, *rest[1:]])}", depth + 1)
                    if found is not None:
                        return found
                return None
            if head in summary.classes and len(rest) == 1 and want_class:
                return _join(summary, head)
            if head in summary.classes and len(rest) == 2:
                return self._method(summary, head, rest[1], depth)
            if head in summary.classes and len(rest) == 1:
                init = _join(summary, f"{head}.__init__")
                return init if init in self.functions else None
            key = _join(summary, ".".join(rest))
            if key in self.functions and not want_class:
                return key
            for star in summary.star_imports:  # `from .providers import *` re-exports its names
                found = self._resolve(f"{summary.root}:{'.'.join([star, *rest])}", depth + 1, want_class)
                if found is not None:
                    return found
            return None
        return None

    def _method(self, summary: ModuleSummary, cls: str, name: str, depth: int) -> str | None:
        key = _join(summary, f"{cls}.{name}")
        if key in self.functions:
            return key
        for base in summary.classes.get(cls, ()):
            found = self._resolve(f"{summary.root}:{base}.{name}", depth + 1)
            if found is not None:
                return found
        return None

    def _find_module(self, root: str, mod: str) -> ModuleSummary | None:
        """``mod`` under another name: in the same root by suffix, else in exactly one other root."""
        candidates = [
            s for s in self._by_last.get(mod.rpartition(".")[2], ())
            if s.module == mod or s.module.endswith("." + mod)
        ]
        same_root = [s for s in candidates if s.root == root]
        if len(same_root) == 1:
            return same_root[0]
        exact = [s for s in candidates if s.module == mod]
        return exact[0] if len(exact) == 1 else None

    def decorator_uses(self, ref: str) -> list[bool]:
        """For each place the decorator ``ref`` is applied: whether it decorates a CLI command."""
        if self._decorator_uses is None:
            uses: dict[str, list[bool]] = {}
            for summary in self.modules.values():
                for dec_ref, is_command in summary.decorated:
                    key = self.resolve(dec_ref)
                    if key is not None:
                        uses.setdefault(key, []).append(is_command)
            self._decorator_uses = uses
        key = self.resolve(ref)
        return self._decorator_uses.get(key, []) if key is not None else []

    @property
    def sets_connect_timeout(self) -> bool:
        """Whether any module of the project may set a connect timeout (see :mod:`check.mentions`)."""
        return any(summary.sets_connect_timeout for summary in self.modules.values())

    @property
    def atomic_requests(self) -> bool:
        """Whether the project turns on Django's ``ATOMIC_REQUESTS`` (see :mod:`check.mentions`)."""
        return any(summary.atomic_requests for summary in self.modules.values())

    def asgi(self, root: str) -> str | None:
        """Why the Django project under ``root`` serves ASGI (see :func:`check.mentions.serves_asgi`), or
        None. Making the ASGI application counts only when no module makes the WSGI one. Each root is its
        own project (an example's ``buggy/`` and ``fixed/`` trees)."""
        if root not in self._asgi:
            ordered = sorted((s for s in self.modules.values() if s.root == root), key=lambda s: (s.module, s.path))
            found = next((s.asgi for s in ordered if s.asgi), "")
            if not found and not any(s.wsgi_app for s in ordered):
                maker = next((s for s in ordered if s.asgi_app), None)
                if maker is not None:
                    found = f"`{maker.module}` makes the ASGI application and no module makes a WSGI one"
            self._asgi[root] = found
        return self._asgi[root] or None

    def pooler(self, root: str) -> PoolMode | None:
        """The transaction-mode pooler the code under ``root`` runs behind, and why (see PW111), or None.

        The check config decides when it names a mode (``pgbouncer`` / ``pgbouncer-ini``): a transaction
        or statement mode for every root, and session mode for none, whatever the code says. Otherwise
        the first module of the root (by name) whose code signals one (:mod:`check.pooler_signals`)."""
        config = self._pooler_config
        if config is not None:
            return config if config.mode in K.POOLER_MODES else None
        if root not in self._pooler:
            ordered = sorted((s for s in self.modules.values() if s.root == root and s.pooler),
                             key=lambda s: (s.module, s.path))
            self._pooler[root] = PoolMode("transaction", ordered[0].pooler) if ordered else None
        return self._pooler[root]

    def settings_timeout(self, root: str) -> bool:
        """Whether some module under ``root`` gives Django's connections a connect timeout outside the
        entries it writes (see :func:`check.mentions.sets_settings_timeout`)."""
        return any(summary.settings_timeout for summary in self.modules.values() if summary.root == root)

    def settings_written(self, path: str, besides: str) -> bool:
        """Whether a module other than ``besides`` (``root:dotted``) writes the ``DATABASES`` setting
        ``path`` (``default/CONN_MAX_AGE``) or what holds it (``default/OPTIONS``, the whole ``default``),
        in the same root."""
        parts = path.split("/")
        held = {"/".join(parts[:n]) for n in range(1, len(parts) + 1)}
        root = besides.rpartition(":")[0]
        return any(key != besides and summary.root == root and not held.isdisjoint(summary.settings_writes)
                   for key, summary in self.modules.items())

    # -- reachability -------------------------------------------------------------------------
    def reaches_db(self, ref: str) -> Reach | None:
        """The first DB operation ``ref`` performs, directly or through its callees."""
        return self._reach(ref, self._db, "db")

    def raises_db(self, ref: str) -> Reach | None:
        """The first DB operation whose error can reach the caller of ``ref``: like :meth:`reaches_db`,
        without the operations and calls a ``try`` on the way keeps every error of (``except Exception:``
        with no ``raise`` in it)."""
        return self._reach(ref, self._raise, "raise_db")

    def reaches_io(self, ref: str) -> Reach | None:
        """The first external I/O ``ref`` performs, directly or through its callees."""
        return self._reach(ref, self._io, "io")

    def reaches_io_held(self, ref: str) -> Reach | None:
        """Like :meth:`reaches_io`, for a call that hands ``ref`` the caller's session: the first I/O
        done while that session's transaction may still be open. I/O after ``ref`` (or a function it
        handed the session to) committed, rolled back or closed it is left out; a callee not handed
        the session cannot end it, so everything it reaches counts."""
        key = self.resolve(ref)
        if key is None:
            return None
        facts, summary = self.functions[key]
        if not facts.handed:
            return self.reaches_io(key)
        if key in self._io_held:
            return self._io_held[key]
        self._io_held[key] = None  # cycle guard
        found: Reach | None = None
        for site, after in facts.tx_io:
            if after is None or not self.ends_transaction(after):
                found = Reach(site, summary.path, (_short(key),))
                break
        else:
            for i, after, passes in facts.tx_calls:
                if after is not None and self.ends_transaction(after):
                    continue
                callee = facts.calls[i][0]
                inner = self.reaches_io_held(callee) if passes else self.reaches_io(callee)
                if inner is not None:
                    found = Reach(inner.site, inner.path, (_short(key), *inner.via))
                    break
        if found is None and facts.abstract:
            for override in self._overrides(key):  # an abstract method: what its implementations do
                inner = self.reaches_io_held(override)
                if inner is not None:
                    found = inner
                    break
        self._io_held[key] = found
        return found

    def tx_context(self, ref: str, depth: int = 0) -> bool:
        """Whether the project context manager ``ref`` names yields inside a transaction (its own
        ``with transaction.atomic():``, or another such context manager's), so that ``with ref():``
        and ``@ref()`` hold one."""
        key = self.resolve(ref)
        if key is None or depth > _MAX_DEPTH:
            return False
        facts = self.functions[key][0]
        return facts.yield_tx or any(self.tx_context(r, depth + 1) for r in facts.yield_refs)

    def returns_connection(self, ref: str) -> Reach | None:
        """Whether ``ref`` returns a connection it checked out (directly or from a callee)."""
        key = self.resolve(ref)
        if key is None:
            return None
        if key in self._acq:
            return self._acq[key]
        self._acq[key] = None
        facts, summary = self.functions[key]
        found: Reach | None = None
        if facts.returns_acquired:
            found = Reach(facts.returns_acquired, summary.path, (_short(key),), facts.returns_pooled)
        else:
            for callee in facts.return_refs:
                inner = self.returns_connection(callee)
                if inner is not None:
                    found = Reach(inner.site, inner.path, (_short(key), *inner.via), inner.pooled)
                    break
        self._acq[key] = found
        return found

    def returns_kind(self, ref: str) -> tuple[str, Reach] | None:
        """The kind of DB handle ``ref`` returns (a ``Kind`` value: ``"engine"``, ``"pool"``), by its
        annotation or its returned value, directly or through the callee whose result it returns."""
        key = self.resolve(ref)
        if key is None:
            return None
        if key in self._kinds:
            return self._kinds[key]
        self._kinds[key] = None  # cycle guard
        facts, summary = self.functions[key]
        found: tuple[str, Reach] | None = None
        if facts.returns_kind is not None:
            found = facts.returns_kind, Reach(f"line {facts.line}", summary.path, (_short(key),))
        else:
            for callee in facts.return_refs:
                inner = self.returns_kind(callee)
                if inner is not None:
                    kind, reach = inner
                    found = kind, Reach(reach.site, reach.path, (_short(key), *reach.via))
                    break
        self._kinds[key] = found
        return found

    def ends_transaction(self, ref: str, depth: int = 0) -> bool:
        """Whether ``ref`` ends the transaction of the session it is handed: for a function whose
        session parameter (or object's session) is known, at each way out (each ``return`` — of a
        value, if it returns one —, the end of its body) it has committed, rolled back or closed it,
        or handed it last to a function that ends it; for another, its last DB step commits, rolls
        back or closes (directly or in its tail call)."""
        key = self.resolve(ref)
        if key is None or depth > _MAX_DEPTH:
            return False
        facts = self.functions[key][0]
        if facts.handed:
            if key not in self._ends:
                self._ends[key] = False  # cycle guard
                self._ends[key] = not facts.tx_exit_open and all(
                    self.ends_transaction(r, depth + 1) for r in facts.tx_exit_after)
            return self._ends[key]
        if facts.ends_tx:
            return True
        return facts.tail_ref is not None and self.ends_transaction(facts.tail_ref, depth + 1)

    def _reach(self, ref: str, memo: dict[str, Reach | None], attr: str) -> Reach | None:
        key = self.resolve(ref)
        if key is None:
            return None
        if key in memo:
            return memo[key]
        memo[key] = None  # cycle guard: a recursion adds nothing new
        facts, summary = self.functions[key]
        site = getattr(facts, attr)
        found: Reach | None = None
        if site:
            found = Reach(site, summary.path, (_short(key),))
        else:
            skip = facts.contained if attr == "raise_db" else ()
            for callee, line in facts.calls:
                if line in skip:
                    continue
                inner = self._reach(callee, memo, attr)
                if inner is not None:
                    found = Reach(inner.site, inner.path, (_short(key), *inner.via))
                    break
        if found is None and facts.abstract:
            for override in self._overrides(key):  # an abstract method: what its implementations do
                inner = self._reach(override, memo, attr)
                if inner is not None:
                    found = inner
                    break
        memo[key] = found
        return found

    def callers(self, ref: str) -> list[tuple[str, bool]]:
        """The project functions that call the function ``ref`` names, each with whether it uses
        the result (False: the call is a statement, ``f()`` or ``await f()``, and drops it). Empty
        when no checked code calls it: an entry point (a route, a task), or reached dynamically."""
        key = self.resolve(ref)
        if key is None:
            return []
        if self._calls_by_name is None:
            by_name: dict[str, list[tuple[str, str, bool]]] = {}
            for caller, (facts, _) in self.functions.items():
                dropped = set(facts.dropped)
                for i, (callee, _line) in enumerate(facts.calls):
                    by_name.setdefault(callee.rpartition(".")[2], []).append((caller, callee, i not in dropped))
            self._calls_by_name = by_name
        return [(caller, used) for caller, callee, used in self._calls_by_name.get(key.rpartition(".")[2], ())
                if self.resolve(callee) == key]

    def only_commands_call(self, ref: str) -> bool:
        """Checked code calls the function ``ref`` names, and only from CLI commands (each runs once
        per process)."""
        callers = self.callers(ref)
        return bool(callers) and all(self.functions[caller][0].command for caller, _ in callers)

    def _overrides(self, key: str) -> list[str]:
        """The project methods that override the method ``key`` in subclasses, nearest first."""
        owner, _, name = key.rpartition(".")
        found: list[str] = []
        seen = {owner}
        todo = [owner]
        while todo:
            for sub in self._subclasses().get(todo.pop(0), ()):
                if sub in seen:
                    continue
                seen.add(sub)
                todo.append(sub)
                if f"{sub}.{name}" in self.functions:
                    found.append(f"{sub}.{name}")
        return found

    def _subclasses(self) -> dict[str, list[str]]:
        """Class key -> the keys of the project classes that name it as a base."""
        if self._subs is None:
            subs: dict[str, list[str]] = {}
            for summary in self.modules.values():
                for cls, bases in summary.classes.items():
                    for base in bases:
                        target = self._resolve(f"{summary.root}:{base}", 0, want_class=True)
                        if target is not None:
                            subs.setdefault(target, []).append(_join(summary, cls))
            self._subs = subs
        return self._subs


def _join(summary: ModuleSummary, qual: str) -> str:
    return f"{summary.root}:{summary.module}.{qual}" if summary.module else f"{summary.root}:{qual}"


def _short(key: str) -> str:
    parts = key.rpartition(":")[2].split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 and parts[-2][:1].isupper() else parts[-1]
