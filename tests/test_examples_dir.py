"""examples/: check (with the opt-in PW108) reports exactly the seed bugs marked `# expect: PWxxx` in buggy/,
nothing in fixed/."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import ROOT, run_check

EXAMPLES = ROOT / "examples"
_EXPECT = re.compile(r"#\s*expect:\s*(PW\d{3}(?:\s*,\s*PW\d{3})*)")


def _expected(variant: str) -> set[tuple[str, int, str]]:
    out = set()
    for path in EXAMPLES.glob(f"*/{variant}/**/*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = _EXPECT.search(line)
            if m:
                for code in m.group(1).split(","):
                    out.add((str(path.relative_to(ROOT)), number, code.strip()))
    return out


def _found(findings: list, variant: str) -> set[tuple[str, int, str]]:
    out = set()
    for f in findings:
        rel = str(Path(f.path).resolve().relative_to(ROOT))
        if f"/{variant}/" in rel:
            out.add((rel, f.line, f.code))
    return out


def test_buggy_findings_are_exactly_the_marked_ones() -> None:
    findings = run_check([EXAMPLES], extend_select=["PW108"])
    expected = _expected("buggy")
    assert len(expected) >= 20
    assert _found(findings, "buggy") == expected


def test_fixed_is_clean() -> None:
    findings = run_check([EXAMPLES], extend_select=["PW108"])
    assert _found(findings, "fixed") == set()
    assert not _expected("fixed"), "fixed/ must carry no expect markers"


def test_every_seed_has_both_variants_and_every_rule_is_exercised() -> None:
    seeds = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert len(seeds) == 5
    for seed in seeds:
        assert (EXAMPLES / seed / "buggy").is_dir() and (EXAMPLES / seed / "fixed").is_dir()
    codes = {code for _, _, code in _expected("buggy")}
    assert codes == {"PW101", "PW102", "PW103", "PW104", "PW105", "PW106", "PW107", "PW108", "PW109"}
