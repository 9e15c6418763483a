"""What a check run produces: :class:`Finding` (reported) and :class:`Pending` (deferred).

Positions are 1-based lines and 1-based columns, as ruff prints them; ``end_*`` mark the
end of the anchor node (the column just past its last character).
"""

from __future__ import annotations

import ast
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One reported problem, anchored on one node of one file."""

    path: str
    line: int
    col: int
    code: str
    end_line: int
    end_col: int
    name: str = field(compare=False)
    message: str = field(compare=False)
    severity: Severity = field(default="error", compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the contract: code, name, path, line, col, end_*, message, severity."""
        return {
            "code": self.code,
            "name": self.name,
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "end_col": self.end_col,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class Span:
    """Where a finding would be anchored: 1-based lines and columns."""

    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def of(cls, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        end_line = getattr(node, "end_lineno", None) or line
        end_col = (getattr(node, "end_col_offset", None) or (col - 1)) + 1
        return cls(line, col, end_line, end_col)


class Deferred:
    """What a rule leaves for :meth:`~poolwarden.check.rule.Rule.resolve`.

    Each rule that defers subclasses it as a frozen dataclass (its ``DEFERRED``) whose fields are
    ``str``, ``int``, ``bool``, ``None`` or tuples of those: it travels between processes and into
    the data-only cache, which rebuilds it with :func:`rebuild` and accepts nothing else.
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Pending:
    """A possible finding that needs the project-wide index to decide; ``data`` is the rule's own."""

    code: str
    span: Span
    data: Deferred
    severity: Severity | None = None  # None: the rule's SEVERITY


def values(data: Deferred) -> tuple[Any, ...]:
    """The field values of ``data``, in declaration order."""
    return tuple(getattr(data, f.name) for f in fields(data))  # type: ignore[arg-type]


def rebuild(cls: type[Deferred], items: tuple[Any, ...]) -> Deferred | None:
    """``cls(*items)`` when every item has its field's declared type, else None."""
    hints = _hints(cls)
    if len(items) != len(hints) or not all(_fits(v, h) for v, h in zip(items, hints, strict=True)):
        return None
    return cls(*items)


_HINTS: dict[type[Deferred], tuple[Any, ...]] = {}


def _hints(cls: type[Deferred]) -> tuple[Any, ...]:
    hints = _HINTS.get(cls)
    if hints is None:
        resolved = typing.get_type_hints(cls)
        hints = _HINTS[cls] = tuple(resolved[f.name] for f in fields(cls))  # type: ignore[arg-type]
    return hints


def _fits(value: Any, hint: Any) -> bool:
    if hint is type(None):
        return value is None
    if hint in (str, bool):
        return type(value) is hint
    if hint is int:
        return type(value) is int
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if origin is tuple and type(value) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(args) == len(value) and all(_fits(v, h) for v, h in zip(value, args, strict=True))
    return False
