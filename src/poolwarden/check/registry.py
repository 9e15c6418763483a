"""All rules, and code selection (``--select`` / ``--ignore``) by code or prefix, like ruff."""

from __future__ import annotations

from collections.abc import Iterable

from poolwarden.check.rule import Rule
from poolwarden.check.rules import RULES
from poolwarden.errors import UsageError

ALL_RULES: tuple[type[Rule], ...] = tuple(sorted(RULES, key=lambda r: r.CODE))
BY_CODE: dict[str, type[Rule]] = {r.CODE: r for r in ALL_RULES}


class UnknownCodeError(UsageError):
    """A code or prefix that selects no rule."""


def expand_codes(codes: Iterable[str]) -> set[str]:
    """The rule codes that codes or prefixes (``PW``, ``PW10``, ``PW104``, ``ALL``) name."""
    out: set[str] = set()
    for raw in codes:
        code = raw.strip().upper()
        if not code:
            continue
        if code == "ALL":
            out.update(BY_CODE)
            continue
        matched = {c for c in BY_CODE if c.startswith(code)}
        if code == "PW000":
            matched.add("PW000")
        if not matched:
            raise UnknownCodeError(f"unknown rule code '{raw.strip()}' (see `poolwarden rules`)")
        out.update(matched)
    return out


def select_rules(select: Iterable[str], ignore: Iterable[str]) -> list[type[Rule]]:
    """The rule classes selected and not ignored, in code order."""
    chosen = expand_codes(select) - expand_codes(ignore)
    return [r for r in ALL_RULES if r.CODE in chosen]
