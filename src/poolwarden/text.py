"""Text that reaches a terminal: one line, whatever it holds."""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` with control characters (newlines, tabs, escapes) shown as ``\\n``-style escapes:
    a file name, a driver's message or a DSN can never add or forge a line of output."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
