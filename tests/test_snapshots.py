"""The exact findings — code, line, column *and message* — of examples/ and of every rule example.

The other example tests assert where findings are; these pin what they say, so that a message
that loses its call chain ("… through `charge()` → `get_subscription()` …") fails a test. After a
deliberate change of a message, review the diff of ``pytest tests/test_snapshots.py
--snapshot-update`` (syrupy) and commit the updated ``__snapshots__/test_snapshots.ambr``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from poolwarden.check import check_paths
from poolwarden.check.config import CheckConfig
from poolwarden.check.registry import ALL_RULES
from poolwarden.check.rule import Example

from .conftest import ROOT, run_check, write_tree

EXAMPLES = ROOT / "examples"


def _lines(base: Path, target: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Check ``target`` from ``base`` as the CLI would (opt-in PW108 too): every path, in messages too, relative."""
    monkeypatch.chdir(base)
    found = run_check([Path(target)], extend_select=["PW108"])
    return [f"{f.path}:{f.line}:{f.col}: {f.code} [{f.severity}] {f.message}" for f in found]


@pytest.mark.parametrize("seed", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_examples_findings(seed: str, snapshot: SnapshotAssertion, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _lines(EXAMPLES, seed, monkeypatch) == snapshot


CASES = [
    pytest.param(ex, id=f"{rule.CODE}-{kind}-{i}")
    for rule in ALL_RULES
    for kind, examples in (("valid", rule.VALID), ("invalid", rule.INVALID))
    for i, ex in enumerate(examples)
]


@pytest.mark.parametrize("ex", CASES)
def test_rule_example_findings(tmp_path: Path, ex: Example, snapshot: SnapshotAssertion,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"pkgx/example.py": ex.code.lstrip("\n"), **{f"pkgx/{p}": src for p, src in ex.files}}
    write_tree(tmp_path, files)
    assert _lines(tmp_path, "pkgx", monkeypatch) == snapshot


def test_a_warm_run_rebuilds_every_deferred_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cross-module findings travel through the cache as each rule's typed data, and come back whole."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    config = CheckConfig(cache_dir=str(tmp_path / "cache"))
    cold = check_paths(["examples"], config, jobs=1)
    warm = check_paths(["examples"], config, jobs=1)
    assert warm.cached == warm.files == cold.files and cold.cached == 0
    assert warm.findings == cold.findings
    assert [f.message for f in warm.findings] == [f.message for f in cold.findings]
    assert sum("reaches" in f.message or "hands over" in f.message or "does external I/O" in f.message
               for f in warm.findings) >= 8


def test_a_warm_run_of_an_unchanged_tree_follows_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-run memo answers only the exact same question: the same files and stat keys, rules
    and settings; a changed per-file-ignores or a touched file is answered afresh."""
    shutil.copytree(EXAMPLES / "seed1-voice-billing", tmp_path / "seed1")
    monkeypatch.chdir(tmp_path)
    config = CheckConfig(cache_dir=str(tmp_path / "cache"))
    cold = check_paths(["seed1"], config, jobs=1)
    warm = check_paths(["seed1"], config, jobs=1)
    assert warm.findings == cold.findings and warm.cached == warm.files
    quiet = CheckConfig(cache_dir=str(tmp_path / "cache"), per_file_ignores={"seed1/buggy/billing/*.py": ["PW101"]})
    assert {f.code for f in check_paths(["seed1"], quiet, jobs=1).findings} == {"PW102", "PW103", "PW107"}
    assert check_paths(["seed1"], config, jobs=1).findings == cold.findings
    selectors = tmp_path / "seed1" / "buggy" / "billing" / "selectors.py"
    selectors.write_text(selectors.read_text().replace("return None", "raise"))
    assert len(check_paths(["seed1"], config, jobs=1).findings) == len(cold.findings) - 1
