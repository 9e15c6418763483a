"""The base class of every rule: one rule, one file, one class (see ``rules/``).

A rule carries its stable ``CODE``, its ``NAME``, its four-part documentation (What it does /
Why is this bad? / Example / Use instead) and ``VALID`` / ``INVALID`` examples that one generic
test runs. It wants certain node types (``NODES``); the walker calls :meth:`Rule.visit` before
and :meth:`Rule.leave` after a wanted node's children. A rule that needs facts from other modules
calls ``ctx.defer(node, data)`` with an instance of its ``DEFERRED`` dataclass and decides in
:meth:`Rule.resolve` once the project index is built. Rule objects are made afresh for every file
(per-file state dies with the file); ``resolve`` must not depend on the order of files.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from poolwarden.check.finding import Deferred, Pending, Severity

if TYPE_CHECKING:
    from poolwarden.check.context import FileContext
    from poolwarden.check.project import ProjectIndex


@dataclass(frozen=True)
class Example:
    """A code example of a rule.

    ``files`` maps module paths to sources for cross-module examples; the first file is the
    one checked. In INVALID examples, each line that must carry a finding ends in ``# error``.
    """

    code: str
    files: tuple[tuple[str, str], ...] = ()
    note: str = ""


def example(code: str, note: str = "", **modules: str) -> Example:
    """An example; extra keyword arguments are other modules (``billing__db="..."`` is billing/db.py)."""
    extra = tuple((name.replace("__", "/") + ".py", src) for name, src in modules.items())
    return Example(code=code, files=extra, note=note)


class Rule:
    """Base class of the PW1xx rules."""

    CODE: ClassVar[str]
    NAME: ClassVar[str]
    SEVERITY: ClassVar[Severity] = "error"
    DEFAULT: ClassVar[bool] = True  # False: opt-in, selected only by its full code (as ruff's preview rules)
    SUMMARY: ClassVar[str]  # one line, for `poolwarden rules`
    WHAT: ClassVar[str]
    WHY: ClassVar[str]
    EXAMPLE: ClassVar[str]
    USE_INSTEAD: ClassVar[str]
    NODES: ClassVar[tuple[type[ast.AST], ...]] = ()
    VALID: ClassVar[list[Example]] = []
    INVALID: ClassVar[list[Example]] = []
    DEFERRED: ClassVar[type[Deferred] | None] = None  # what ``ctx.defer`` is given, if the rule defers

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        """Called before the children of each node of a type in ``NODES``."""

    def leave(self, node: ast.AST, ctx: FileContext) -> None:
        """Called after the children of each node of a type in ``NODES``."""

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        """Decide a deferred finding with the project index: its message, or None to drop it."""
        return None

    @classmethod
    def doc(cls) -> str:
        """The rule's documentation as Markdown (what ``poolwarden explain`` prints)."""
        return (
            f"# {cls.CODE} {cls.NAME}\n\n{cls.SUMMARY}\n\n"
            f"## What it does\n\n{cls.WHAT.strip()}\n\n"
            f"## Why is this bad?\n\n{cls.WHY.strip()}\n\n"
            f"## Example\n\n```python\n{cls.EXAMPLE.strip()}\n```\n\n"
            f"## Use instead\n\n```python\n{cls.USE_INSTEAD.strip()}\n```\n"
        )
