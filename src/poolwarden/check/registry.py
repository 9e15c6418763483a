"""All rules, and code selection (``--select`` / ``--ignore``) by code or prefix, like ruff.

``PW000`` is a known code without a rule class that analyses anything: the engine reports it
for a file it cannot read, decode or parse (:class:`Unparsable` documents it). It is reported
whatever ``select`` says — selecting rules never hides that a file could not be analysed — and
only an explicit ``ignore`` (``PW000`` or a prefix of it such as ``PW0``, ``PW`` or ``ALL``) or a
``per-file-ignores`` entry turns it off. A ``# noqa`` comment cannot: the file did not parse.
"""

from __future__ import annotations

from collections.abc import Iterable

from poolwarden.check.finding import Deferred
from poolwarden.check.rule import Rule
from poolwarden.check.rules import RULES
from poolwarden.config import did_you_mean
from poolwarden.errors import UsageError

ALL_RULES: tuple[type[Rule], ...] = tuple(sorted(RULES, key=lambda r: r.CODE))
BY_CODE: dict[str, type[Rule]] = {r.CODE: r for r in ALL_RULES}


class Unparsable(Rule):
    """PW000: not an analysing rule (it is in no rule list the walker runs); its documentation."""

    CODE = "PW000"
    NAME = "syntax-error"
    SUMMARY = "A file that cannot be read, decoded or parsed, so no rule could look at it."
    WHAT = """
Reported, instead of any other finding, for a Python file that poolwarden cannot analyse: a
syntax error under the running Python's grammar (the message names the version), a file that
is not valid UTF-8 (or its declared encoding), a file with null bytes, nesting too deep to walk,
a file that cannot be read (permissions, a symlink loop), or a file over `max-file-size` (default
1 MiB: generated code), which is skipped without being read. The run goes on with the other
files. A FIFO, socket or device named `*.py` is never opened (it could block): it is skipped with
a warning on stderr, not a finding.
"""
    WHY = """
None of the PW1xx rules has looked at that file, so a clean report would be a false promise.
`--select` does not hide PW000; to accept a file that is not Python on purpose (a template with
a `.py` suffix) or a generated file too big to analyse, exclude it (`exclude`), or turn PW000
off for it with `per-file-ignores`, or everywhere with `ignore = ["PW000"]` / `--ignore PW000`.
`# noqa` comments cannot suppress it: the file did not parse.
"""
    EXAMPLE = """
def charge(user_id:
    ...
"""
    USE_INSTEAD = """
def charge(user_id: int) -> None:
    ...
"""


#: Every code a finding can carry, documented: PW000 and the rules.
DOCUMENTED: dict[str, type[Rule]] = {Unparsable.CODE: Unparsable, **BY_CODE}


class UnknownCodeError(UsageError):
    """A code or prefix that selects no rule."""


def _prefixes() -> list[str]:
    return sorted({code[:n] for code in DOCUMENTED for n in range(3, len(code) + 1)} | {"ALL"})


def expand_codes(codes: Iterable[str], selecting: bool = False) -> set[str]:
    """The codes that codes or prefixes (``PW``, ``PW10``, ``PW104``, ``PW000``, ``ALL``) name.

    ``selecting``: for a selection, a prefix or ``ALL`` leaves out the opt-in rules (``DEFAULT =
    False``); only their full code selects them, as ruff's preview rules. (Ignoring by prefix takes
    them too.)

    Raises :class:`UnknownCodeError` for an empty code or one that matches nothing (with a
    "did you mean" when a known code or prefix is close).
    """
    out: set[str] = set()
    for raw in codes:
        code = raw.strip().upper()
        if not code:
            raise UnknownCodeError("empty rule code")
        matched = set(DOCUMENTED) if code == "ALL" else {c for c in DOCUMENTED if c.startswith(code)}
        if not matched:
            raise UnknownCodeError(
                f"unknown rule code {raw.strip()!r}{did_you_mean(code, _prefixes())} (see `poolwarden rules`)"
            )
        if selecting:
            matched = {c for c in matched if c == code or DOCUMENTED[c].DEFAULT}
        out.update(matched)
    return out


def select_rules(select: Iterable[str], ignore: Iterable[str]) -> list[type[Rule]]:
    """The rule classes selected and not ignored, in code order."""
    chosen = expand_codes(select, selecting=True) - expand_codes(ignore)
    return [r for r in ALL_RULES if r.CODE in chosen]


def reported_codes(select: Iterable[str], ignore: Iterable[str]) -> frozenset[str]:
    """The codes a run reports: the selected ones plus PW000, minus the ignored ones."""
    return frozenset((expand_codes(select, selecting=True) | {Unparsable.CODE}) - expand_codes(ignore))


def deferred_class(code: str) -> type[Deferred] | None:
    """The :class:`Deferred` type rule ``code`` leaves for its ``resolve``, or None."""
    rule = BY_CODE.get(code)
    return None if rule is None else rule.DEFERRED
