"""The README tells the truth: the figures it quotes are what the commands print today."""

from __future__ import annotations

from .conftest import ROOT, cli


def test_check_summary_quoted_in_readme_is_current() -> None:
    proc = cli("check", "examples/", "--no-cache")
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("Found "), proc.stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert summary in readme, f"README quotes another summary than today's: {summary!r}"
