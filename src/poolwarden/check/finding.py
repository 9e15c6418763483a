"""What a check run produces: :class:`Finding` (reported) and :class:`Pending` (deferred).

Positions are 1-based lines and 1-based columns, as ruff prints them; ``end_*`` mark the
end of the anchor node (the column just past its last character).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Pending:
    """A possible finding that needs the project-wide index to decide.

    ``data`` is rule-specific: a tuple of strings, integers, booleans, None and nested tuples only
    (it travels between processes and into the data-only cache, which accepts nothing else).
    """

    code: str
    span: Span
    data: tuple[Any, ...]
    severity: Severity | None = None  # None: the rule's SEVERITY
