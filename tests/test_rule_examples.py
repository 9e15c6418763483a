"""Every VALID / INVALID example of every rule, run through the real analyzer.

INVALID examples mark each line that must carry a finding with ``# error``; the test asserts
the exact set of lines (the place, not the wording). VALID examples must yield nothing of the rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from poolwarden.check.registry import ALL_RULES
from poolwarden.check.rule import Example, Rule

from .conftest import run_check, write_tree

CASES = [
    pytest.param(rule, kind, i, ex, id=f"{rule.CODE}-{kind}-{i}")
    for rule in ALL_RULES
    for kind, examples in (("valid", rule.VALID), ("invalid", rule.INVALID))
    for i, ex in enumerate(examples)
]


def _lines(findings: list, code: str, path: Path) -> set[int]:
    return {f.line for f in findings if f.code == code and Path(f.path).resolve() == path.resolve()}


@pytest.mark.parametrize(("rule", "kind", "index", "ex"), CASES)
def test_example(tmp_path: Path, rule: type[Rule], kind: str, index: int, ex: Example) -> None:
    files = {"pkgx/example.py": ex.code.lstrip("\n"), **{f"pkgx/{p}": src for p, src in ex.files}}
    write_tree(tmp_path, files)
    target = tmp_path / "pkgx" / "example.py"
    findings = run_check([tmp_path / "pkgx"], extend_select=[rule.CODE])  # opt-in rules too
    assert not [f for f in findings if f.code == "PW000"], "examples must parse"
    got = _lines(findings, rule.CODE, target)
    expected = {n for n, line in enumerate(ex.code.lstrip("\n").splitlines(), 1) if line.rstrip().endswith("# error")}
    if kind == "valid":
        assert got == set(), f"{rule.CODE} flagged a VALID example at lines {sorted(got)}"
    else:
        assert expected, "an INVALID example must mark at least one line with '# error'"
        assert got == expected


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.CODE)
def test_rule_contract(rule: type[Rule]) -> None:
    assert rule.CODE.startswith("PW1") and len(rule.CODE) == 5
    assert len(rule.VALID) >= 4 and len(rule.INVALID) >= 4
    for part in (rule.SUMMARY, rule.WHAT, rule.WHY, rule.EXAMPLE, rule.USE_INSTEAD):
        assert part.strip()
    assert rule.NODES, "a rule must want some node type"


def test_codes_unique() -> None:
    codes = [r.CODE for r in ALL_RULES]
    assert len(codes) == len(set(codes))
    assert {"PW101", "PW102", "PW103", "PW104", "PW105", "PW106", "PW107", "PW108"} <= set(codes)
