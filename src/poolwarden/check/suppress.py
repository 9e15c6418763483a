"""Suppression comments: ``# noqa: PW101`` and ``# poolwarden: ignore[PW101]`` on the line.

A bare ``# noqa`` or ``# poolwarden: ignore`` suppresses every code on its line, as in ruff.
A marker on the first or the last line of a finding's anchor suppresses it.
"""

from __future__ import annotations

import re

from poolwarden.check.finding import Finding

_MARKER = re.compile(
    rb"#\s*(?:noqa(?::[ \t]*(?P<noqa>[A-Z]+[0-9]+(?:[ \t]*,[ \t]*[A-Z]+[0-9]+)*))?"
    rb"|poolwarden:[ \t]*ignore(?:\[(?P<pw>[^\]]*)\])?)",
    re.I,
)


def suppressions(source: bytes) -> dict[int, frozenset[str] | None]:
    """Line number -> suppressed codes (None: all codes), for the lines that carry a marker."""
    out: dict[int, frozenset[str] | None] = {}
    if b"noqa" not in source.lower() and b"poolwarden:" not in source:
        return out
    for number, line in enumerate(source.splitlines(), start=1):
        if b"#" not in line:
            continue
        for m in _MARKER.finditer(line):
            raw = m.group("noqa") or m.group("pw")
            if raw is None or not raw.strip():
                out[number] = None
                break
            codes = frozenset(c.strip().decode("ascii").upper() for c in raw.split(b",") if c.strip())
            previous = out.get(number, frozenset())
            if previous is not None:
                out[number] = previous | codes
    return out


def is_suppressed(marks: dict[int, frozenset[str] | None], finding: Finding) -> bool:
    """Whether a marker on the finding's first or last line covers its code."""
    for line in {finding.line, finding.end_line}:
        if line in marks:
            codes = marks[line]
            if codes is None or finding.code in codes:
                return True
    return False
