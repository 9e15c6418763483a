"""The warm path of ``poolwarden check`` under generated invocations, crafted memos and edits to the tree.

The contract asserted on every generated input: the warm path either leaves the run to the
analyzer (printing nothing) or prints exactly what the analyzer prints for that invocation now —
same stdout, stderr and exit status. It never raises, never hangs on a FIFO, never runs anything
from a memo. (It trusts a memo whose every probe still matches: forging one needs the inodes and
ctimes of the checked files and of poolwarden's own, so a memo that came with a cloned or restored
tree never answers; that case is generated below.)

Everything runs in this process (``warm.answer`` and click's command through ``contract.invoke``):
hundreds of inputs in seconds. ``THROWN`` counts what was thrown, ``ANSWERED`` how many of those the
memo answered (the others fell through to the analyzer).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.check import warm

from ..conftest import SWALLOW, write_tree
from ..test_check_warm import TREE, age, answered, full
from .contract import CRAFTED_JSON, crafted_json, scaled, thrown

THROWN = thrown("check warm path")
ANSWERED = thrown("check warm path, of them answered from the memo")

EXAMPLES = {
    "invocations": scaled(80),
    "crafted memos": scaled(120),
    "edits to the tree": scaled(40),
}
_SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _examples(family: str) -> settings:
    return settings(_SETTINGS, max_examples=EXAMPLES[family])

CANARY = "PWNED_BY_POOLWARDEN_WARM"
_CONFIG = "[tool.poolwarden.check]\nexclude = ['*_generated.py']\n"


def _base(path: Path) -> Path:
    """A service with findings, a config, excluded and ignored directories (where edits change nothing)."""
    base = write_tree(path, {**TREE, "node_modules/x.py": "x = 1\n", "build/y.py": "y = 1\n",
                             "ignored/z.py": "z = 1\n", "env/w.py": "w = 1\n"})
    (base / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (base / ".gitignore").write_text("ignored/\n")
    (base / "pyproject.toml").write_text(_CONFIG)
    return age(base)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _base(tmp_path_factory.mktemp("warm") / "repo")


def _agrees(argv: list[str], cwd: Path, family: str) -> None:
    """The analyzer answers ``argv`` (leaving its memo), then the warm path answers it the same or not at all."""
    expected = full(*argv, cwd=cwd)
    got = answered(*argv, cwd=cwd)
    THROWN[family] += 1
    if got is not None:
        ANSWERED[family] += 1
        assert got == expected, argv


# -- invocations ----------------------------------------------------------------------------------
_VALUES = {
    "--format": ["text", "json", "sarif", "github", "xml", "JSON", ""],
    "--select": ["PW101", "PW1", "PW", "PW101,PW106", "PW999", "", " PW103 "],
    "--ignore": ["PW101", "PW000", "PW10", "pw101", ","],
    "--config": ["pyproject.toml", "./pyproject.toml", "missing.toml", "app"],
    "--jobs": ["1", "2", "0", "x", "\u0663", "+2"],
    "-j": ["1", "2", "0"],
    "--diff": ["HEAD"],
    "--stdin-filename": ["x.py"],
}
_FLAGS = ["--exit-zero", "--no-cache", "--help", "-h", "--", "-", "--bogus", "-x"]
_PATHS = [".", "app", "app/", "./app", "app/sel.py", "app/naïve.py", "missing", "", "node_modules", "env",
          "app/pipe.py", "../repo"]


@st.composite
def _invocation(draw: st.DrawFn) -> list[str]:
    parts: list[list[str]] = [[p] for p in draw(st.lists(st.sampled_from(_PATHS), max_size=3))]
    for name in draw(st.lists(st.sampled_from(sorted(_VALUES)), max_size=3)):
        value = draw(st.sampled_from(_VALUES[name]))
        parts.append([f"{name}={value}"] if draw(st.booleans()) else [name, value])
    if draw(st.integers(0, 4)) == 0:
        parts.append([draw(st.sampled_from(_FLAGS))])
    elif draw(st.booleans()):
        parts.append(["--exit-zero"])
    return ["check", *[arg for part in draw(st.permutations(parts)) for arg in part]]


@_examples("invocations")
@given(_invocation())
def test_any_invocation_is_answered_as_the_analyzer_answers_it_or_not_at_all(tree: Path, argv: list[str]) -> None:
    _agrees(argv, tree, "invocations")


def test_the_plain_invocations_are_answered_from_the_memo(tree: Path) -> None:
    """The generated ones above may miss them: the forms users type, each answered."""
    for argv in (["check"], ["check", "."], ["check", "app", "--format", "json"], ["check", "--format=sarif", "app"],
                 ["check", ".", "--select", "PW101", "-j", "2", "--exit-zero"], ["check", "--config", "pyproject.toml"],
                 ["check", "app/sel.py", "app", "--ignore=PW000"]):
        expected = full(*argv, cwd=tree)
        assert answered(*argv, cwd=tree) == expected, argv


# -- crafted memos --------------------------------------------------------------------------------
def _mutate(doc: Any, data: st.DataObject) -> None:
    """Replace one value somewhere inside ``doc`` with a value of another type (or drop a key)."""
    node = doc
    while True:
        keys: list[Any] = sorted(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.booleans()):
            del node[key]
            return
        others = [v for v in (1.5, 10**30, None, "x", [], {}, True, 0) if type(v) is not type(child)]
        node[key] = data.draw(st.sampled_from(others))
        return


@pytest.fixture(scope="module")
def memo_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[int, str, str], bytes]:
    base = _base(tmp_path_factory.mktemp("memo") / "repo")
    expected = full("check", ".", cwd=base)
    genuine = (base / ".poolwarden_cache" / warm.MEMO_NAME).read_bytes()
    assert answered("check", ".", cwd=base) == expected
    return base, expected, genuine


@_examples("crafted memos")
@given(st.data())
def test_a_crafted_memo_never_changes_the_answer(memo_tree: tuple[Path, tuple[int, str, str], bytes],
                                                 data: st.DataObject) -> None:
    base, expected, genuine = memo_tree
    memo = base / ".poolwarden_cache" / warm.MEMO_NAME
    canary = base / CANARY
    kind = data.draw(st.sampled_from([*CRAFTED_JSON, "fifo", "symlink", "directory", "not utf-8"]))
    THROWN["crafted memos"] += 1
    if kind in CRAFTED_JSON:
        content = crafted_json(kind, genuine, data, canary=canary, mutate=_mutate, deep_head=b'{"memo": 1, "probes": ')
    elif kind == "not utf-8":
        content = genuine.replace(b'"memo"', b'"m\xffmo"', 1)
    else:
        content = b""
    try:
        memo.unlink()
        if kind == "fifo":
            os.mkfifo(memo)
        elif kind == "symlink":
            memo.symlink_to("/dev/zero")
        elif kind == "directory":
            memo.mkdir()
        else:
            memo.write_bytes(content)
        got = answered("check", ".", cwd=base)
    finally:
        if memo.is_dir() and not memo.is_symlink():
            memo.rmdir()
        else:
            memo.unlink()
        memo.write_bytes(genuine)
    assert not canary.exists(), f"a crafted memo ({kind}) executed code"
    if got is not None:
        ANSWERED["crafted memos"] += 1
    assert got is None or got == expected, kind


@settings(_SETTINGS, max_examples=scaled(10))
@given(st.sampled_from(["restored", "copied"]))
def test_a_memo_that_came_with_a_copy_of_the_tree_never_answers(
        tmp_path_factory: pytest.TempPathFactory, how: str) -> None:
    THROWN["memos of a copied or restored tree"] += 1
    base = _base(tmp_path_factory.mktemp("copy") / "repo")
    full("check", ".", cwd=base)
    assert answered("check", ".", cwd=base) is not None
    if how == "restored":  # same paths, bytes and mtimes; new inodes and ctimes
        shutil.move(base, base.parent / "away")
        shutil.copytree(base.parent / "away", base, copy_function=shutil.copy2)
        assert answered("check", ".", cwd=base) is None
    else:  # cloned with its cache directory, checked by absolute path from the same place
        clone = base.parent / "clone"
        shutil.copytree(base, clone, copy_function=shutil.copy2)
        assert answered("check", ".", cwd=clone) is None


# -- edits to the tree ----------------------------------------------------------------------------
_DIRS = ["", "app", "app/sub", "node_modules", "build", "ignored", "env", ".venv", "new"]
_NAMES = ["a.py", "sel.py", "db.py", "x_generated.py", ".gitignore", "pyvenv.cfg", "__init__.py", "pyproject.toml",
          "poolwarden.toml", "notes.txt"]
_TEXTS = [SWALLOW, "x = 1\n", "", "*.py\n", "app/\n", "!app/sel.py\n", "[check]\nignore = ['PW101']\n",
          "[tool.poolwarden.check]\nselect = ['PW106']\n", "home = /usr\n", "def f(:\n", TREE["app/db.py"]]


def _existing(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if ".poolwarden_cache" not in p.parts)


@st.composite
def _edit(draw: st.DrawFn) -> tuple[str, ...]:
    op = draw(st.sampled_from(["write", "append", "rewrite", "remove", "rename", "touch", "mkdir", "symlink",
                               "fifo", "rmtree"]))
    return (op, draw(st.sampled_from(_DIRS)), draw(st.sampled_from(_NAMES)), draw(st.sampled_from(_TEXTS)),
            str(draw(st.integers(0, 10**6))))


def _apply(base: Path, edit: tuple[str, ...]) -> None:
    op, directory, name, text, pick = edit
    target = base / directory / name
    existing = _existing(base)
    chosen = existing[int(pick) % len(existing)] if existing else target
    if op == "write":
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not target.is_dir() and not target.is_file():
            target.unlink()  # a FIFO an earlier edit made: opening it to write would block until a reader came
        if not target.is_dir():
            target.write_text(text)
    elif op in ("append", "rewrite") and chosen.is_file() and not chosen.is_symlink():
        old = chosen.read_bytes()
        chosen.write_bytes(old + text.encode() if op == "append" else old)
    elif op == "remove" and (chosen.is_file() or chosen.is_symlink()):
        chosen.unlink()
    elif op == "rename" and chosen.exists() and not (base / directory).is_relative_to(chosen):
        (base / directory).mkdir(parents=True, exist_ok=True)
        if not target.exists():
            chosen.rename(target)
    elif op == "touch" and chosen.exists():
        os.utime(chosen)
    elif op == "mkdir":
        (base / directory / "made").mkdir(parents=True, exist_ok=True)
    elif op == "symlink" and not target.exists() and not target.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(chosen)
    elif op == "fifo" and not target.exists() and not target.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(target)
    elif op == "rmtree" and chosen.is_dir() and not chosen.is_symlink():
        shutil.rmtree(chosen)


@_examples("edits to the tree")
@given(st.lists(_edit(), min_size=1, max_size=3))
def test_after_any_edit_the_memo_answers_as_the_analyzer_does_or_not_at_all(
        tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[str, ...]]) -> None:
    THROWN["edits to the tree"] += 1
    base = _base(tmp_path_factory.mktemp("edit") / "repo")
    argv = ["check", ".", "--format", "json"]
    full(*argv, cwd=base)
    assert answered(*argv, cwd=base) is not None
    for edit in edits:
        _apply(base, edit)
    got = answered(*argv, cwd=base)
    if got is not None:
        ANSWERED["edits to the tree"] += 1
        assert got == full(*argv, "--no-cache", cwd=base), edits
    shutil.rmtree(base.parent, ignore_errors=True)


def test_a_write_after_a_fifo_on_the_same_path_does_not_block(tmp_path: Path) -> None:
    """The edit generator may make a FIFO then write to the same path: the write replaces it (it
    once blocked forever waiting for a reader)."""
    import threading

    (tmp_path / "app").mkdir()
    _apply(tmp_path, ("fifo", "app", "x.py", "", "0"))
    writer = threading.Thread(target=_apply, args=(tmp_path, ("write", "app", "x.py", "print()\n", "0")), daemon=True)
    writer.start()
    writer.join(timeout=10)
    assert not writer.is_alive(), "writing over the FIFO blocked"
    assert (tmp_path / "app" / "x.py").read_text() == "print()\n"
