"""The one AST pass over a file: keeps scopes and held connections, dispatches to rules.

:class:`Walker` is the walk's one entry point: it joins the generic traversal
(:mod:`.traversal`) with the handlers of scopes (:mod:`.scopes`), names (:mod:`.names`), control
flow (:mod:`.flow`) and calls (:mod:`.calls`), and knows a module's own names and imports before it
walks any function body. Every node is visited once; the walk also fills the module's
:class:`ModuleSummary`.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from poolwarden.check import knowledge as K
from poolwarden.check.context import FileContext
from poolwarden.check.rule import Rule
from poolwarden.check.walk.calls import Calls
from poolwarden.check.walk.flow import Flow
from poolwarden.check.walk.names import Names
from poolwarden.check.walk.scopes import Scopes


class Walker(Scopes, Names, Flow, Calls):
    """Walks one module tree once for a set of rules."""

    def __init__(self, ctx: FileContext, rules: Sequence[Rule]) -> None:
        super().__init__(ctx, rules)
        self.special = {
            ast.FunctionDef: self._function,
            ast.AsyncFunctionDef: self._function,
            ast.ClassDef: self._class,
            ast.With: self._with,
            ast.AsyncWith: self._with,
            ast.Try: self._try,
            ast.If: self._if,
            ast.Assign: self._assign,
            ast.AnnAssign: self._assign,
            ast.Call: self._call,
            ast.For: self._iteration,
            ast.AsyncFor: self._iteration,
            ast.comprehension: self._iteration,
            ast.Yield: self._yield,
            ast.Await: self._await,
            ast.Expr: self._expr,
            ast.Return: self._return,
            ast.Global: self._global,
            ast.Nonlocal: self._global,
            ast.Import: self._import,
            ast.Name: self._name,
            ast.ImportFrom: self._import,
        }
        try_star = getattr(ast, "TryStar", None)
        if try_star is not None:
            self.special[try_star] = self._try

    # -- entry ------------------------------------------------------------------------------------
    def run(self, tree: ast.Module) -> None:
        ctx = self.ctx
        self._prescan_module(tree)
        self.visit(tree)
        ctx.rule = None

    def _prescan_module(self, tree: ast.Module) -> None:
        """Module-level names and imports are known before any function body is walked."""
        ctx = self.ctx
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self._import(stmt)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ctx.module_defs.add(stmt.name)
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.returns is not None:
                kind = ctx.annotation_kind(stmt.returns)
                if kind is not None:
                    ctx.return_kinds[stmt.name] = kind
        ctx.db_aware = ctx.db_near or any(
            t.partition(".")[0] in K.DB_MODULES or K.DB_MODULE_HINT.search(t) is not None
            for t in ctx.imports.values()
            if ctx.is_project_ref(t) or t.partition(".")[0] in K.DB_MODULES
        )
        # Module-level handles (`engine = create_engine(...)`) are known to functions written above them.
        for stmt in tree.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id not in ctx.module_kinds:
                    kind = ctx.kind_of(stmt.value)
                    if kind is None and isinstance(stmt, ast.AnnAssign):
                        kind = ctx.annotation_kind(stmt.annotation)
                    if kind is not None:
                        ctx.module_kinds[targets[0].id] = kind

