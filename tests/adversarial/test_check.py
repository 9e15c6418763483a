"""``poolwarden check`` under hostile and careless input: generated trees, files, names, caches and invocations.

The contract asserted on every generated input:

- never a traceback, never a hang (every subprocess is bounded by ``contract.run``'s timeout);
- a bad *file* (random bytes, deep nesting, huge lines, NUL bytes, bad encodings, over the size
  limit, unreadable, a symlink loop) is a PW000 finding and the run goes on: exit 0 or 1;
  a FIFO or socket named ``*.py`` is skipped with a ``poolwarden: warning:`` line;
- a bad *invocation* is exit 2 with one ``poolwarden: error:`` line;
- nothing in the tree is ever executed: every generated ``.py`` file and every crafted cache file
  carries a payload that would create a canary file if it ran, and the canary never appears;
- a crafted cache never changes the answer: the output equals a ``--no-cache`` run's.

(``contract.nothing_left_behind`` is not used: check makes no ``/tmp/poolwarden-*`` directory, and
other suites' clusters create them concurrently on a shared machine.)

Generated inputs (``max_examples``; hypothesis may stop earlier when a strategy runs out of
distinct values): see ``EXAMPLES`` below; ``THROWN`` counts what was thrown.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.check import source as S
from poolwarden.check.cache import Cache, decode_result, encode_result
from poolwarden.check.engine import analyze_source

from .contract import CRAFTED_JSON, Payload, assert_clean_failure, crafted_json, json_values, run, scaled, thrown

THROWN = thrown('check')  # generated inputs actually thrown, per test

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

EXAMPLES = {
    "hostile trees (CLI)": scaled(12),
    "hostile stdin (CLI)": scaled(8),
    "crafted cache files (CLI)": scaled(10),
    "bad invocations (CLI)": scaled(12),
    "random bytes through the one reader (library)": 300,
    "random JSON as a cache entry (library)": 400,
    "every example app's file round-tripped through the cache (library)": 55,  # all of examples/ today
    "random .gitignore files (library)": 100,
}
_CLI = settings(max_examples=EXAMPLES["hostile trees (CLI)"], deadline=None, suppress_health_check=list(HealthCheck),
                database=None)

CANARY = "PWNED_BY_POOLWARDEN_CHECK"
_PAYLOAD_SRC = f"open({CANARY!r}, 'w').write('ran')\nimport os\nos.system('touch {CANARY}')\n"
_LINE = re.compile(r"^.+:\d+:\d+: PW\d{3} .+$")
_SUMMARY = re.compile(r"^(All checks passed!|Found \d+ ).*$")
_DB = 'from sqlalchemy import create_engine\n\nengine = create_engine("postgresql://db/app")\n'


def _assert_contract(proc: subprocess.CompletedProcess[str], workdir: Path) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{out}"
    for line in proc.stdout.splitlines():
        assert _LINE.match(line) or _SUMMARY.match(line) or not line.strip(), line
    for line in proc.stderr.splitlines():
        assert line.startswith("poolwarden: warning: "), proc.stderr
    assert not list(workdir.rglob(CANARY)), "something in the tree was executed"
    assert not Path(CANARY).exists()


# -- what goes into a hostile tree -------------------------------------------------------------------
def _deep(kind: str, depth: int) -> bytes:
    if kind == "parens":
        return b"x = " + b"(" * depth + b"1" + b")" * depth + b"\n"
    if kind == "unary":
        return b"x = " + b"-" * depth + b"1\n"
    if kind == "binop":
        return b"x = " + b"+".join([b"1"] * depth) + b"\n"
    if kind == "lists":
        return b"x = " + b"[" * depth + b"]" * depth + b"\n"
    if kind == "calls":
        return b"x = f" + b"(1)" * depth + b"\n"
    if kind == "lambda":
        return b"x = " + b"lambda: " * depth + b"1\n"
    depth = min(depth, 150)  # indentation grows quadratically: 150 levels is past the tokenizer's 100
    return b"".join(b" " * i + b"if x:\n" for i in range(depth)) + b" " * depth + b"pass\n"


_contents = st.one_of(
    st.binary(max_size=2000),
    st.builds(_deep, st.sampled_from(["parens", "unary", "binop", "lists", "calls", "lambda", "ifs"]),
              st.integers(1, 60_000)),
    st.builds(lambda n: b"x = '" + b"a" * n + b"'\n", st.integers(0, 1_400_000)),  # a huge line, maybe over the limit
    st.builds(lambda b: _PAYLOAD_SRC.encode() + b, st.binary(max_size=50)),
    st.sampled_from([
        _PAYLOAD_SRC.encode() + _DB.encode(),
        b"x = 1\0\n",
        b"# -*- coding: bogus -*-\nx = 1\n",
        b"\xef\xbb\xbf# coding: latin-1\nx = 1\n",
        b"x = '\xe9'\n",
        b"def f(:\n",
        b"\xff\xfe\x00\x00",
    ]),
)
_names = st.one_of(
    # control characters (a newline in a file name) are left out: how a report prints them is the
    # report's business (report.py), and the text-format check below reads output line by line
    st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20),
    st.binary(min_size=1, max_size=12).map(
        lambda b: os.fsdecode(bytes(c if c >= 0x20 and c not in b"/\x7f" else 0x5F for c in b))),
).filter(lambda n: n not in (".", "..") and len(os.fsencode(n)) < 200)
_specials = st.lists(st.sampled_from(["fifo", "socket", "loop", "dangling", "dirloop", "dirlink"]), max_size=3)


def _build_tree(base: Path, files: list[tuple[str, bytes, bool]], specials: list[str]) -> None:
    app = base / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "__init__.py").write_bytes(_PAYLOAD_SRC.encode())
    for i, (name, content, in_sub) in enumerate(files):
        directory = app / f"sub{i}" if in_sub else app
        directory.mkdir(exist_ok=True)
        path = os.path.join(os.fsencode(directory), os.fsencode(f"{name}{i}.py"))
        with open(path, "wb") as fh:
            fh.write(content)
    for i, kind in enumerate(specials):
        target = app / f"special{i}.py"
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "socket":
            sock = socket.socket(socket.AF_UNIX)
            try:
                sock.bind(str(target))
            except OSError:
                pass  # path too long for a socket: skip it
            finally:
                sock.close()
        elif kind == "loop":
            target.symlink_to(target.name)
        elif kind == "dangling":
            target.symlink_to("no-such-file.py")
        elif kind == "dirloop":
            (app / f"loopdir{i}").symlink_to(".")
        else:
            (app / f"link{i}").symlink_to(base)


@_CLI
@given(st.lists(st.tuples(_names, _contents, st.booleans()), min_size=1, max_size=6), _specials, st.booleans())
def test_hostile_trees_give_findings_never_tracebacks_hangs_or_execution(
        files: list[tuple[str, bytes, bool]], specials: list[str], cached: bool) -> None:
    THROWN['hostile trees give findings never tracebacks hangs or execution'] += 1
    with tempfile.TemporaryDirectory(prefix="pwadv-") as tmp:
        base = Path(tmp)
        _build_tree(base, files, specials)
        args = ["check", ".", "--format", "json"] + ([] if cached else ["--no-cache"])
        proc = run(*args, cwd=base)
        assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr
        data = json.loads(proc.stdout)
        assert all(d["code"].startswith("PW") and d["line"] >= 1 and d["col"] >= 1 for d in data)
        for line in proc.stderr.splitlines():
            assert line.startswith("poolwarden: warning: "), proc.stderr
        assert not list(base.rglob(CANARY)) and not (base / "app" / CANARY).exists()
        # every file that ast.parse rejects (or cannot be read) is a PW000 of that file
        pw000 = {d["path"] for d in data if d["code"] == "PW000"}
        for i, (name, content, in_sub) in enumerate(files):
            rel = os.path.join("app", f"sub{i}" if in_sub else "", f"{name}{i}.py")
            if _rejected(content) or len(content) > S.DEFAULT_MAX_FILE_SIZE:
                assert os.path.normpath(rel) in pw000, (rel, sorted(pw000))
        if cached:  # the warm run answers the same, from a cache this run wrote
            again = run(*args, cwd=base)
            assert (again.returncode, again.stdout) == (proc.returncode, proc.stdout)
        text = run("check", ".", "--no-cache", cwd=base)
        _assert_contract(text, base)


def _parses(content: bytes, limit: int | None = None) -> bool:
    """Whether ``ast.parse`` accepts ``content``. How deep it may nest depends on the recursion limit
    and on how deep the caller's stack already is; ``limit`` sets the limit for the call."""
    import sys

    saved = sys.getrecursionlimit()
    if limit is not None:
        sys.setrecursionlimit(limit)
    try:
        ast.parse(content)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    finally:
        sys.setrecursionlimit(saved)
    return True


def _rejected(content: bytes) -> bool:
    """``ast.parse`` rejects it even with more room than check's readers have (recursion limit 8000, near
    the top of the stack), so check must report it as PW000 whatever the depth of this test's stack."""
    return not _parses(content, limit=12_000)


@settings(_CLI, max_examples=EXAMPLES["hostile stdin (CLI)"])
@given(_contents, st.one_of(st.none(), _names))
def test_hostile_stdin(content: bytes, name: str | None) -> None:
    THROWN['hostile stdin'] += 1
    with tempfile.TemporaryDirectory(prefix="pwadv-") as tmp:
        args = ["check", "-"] + ([] if name is None else ["--stdin-filename", name + ".py"])
        proc = subprocess.run([*_python(), *args], cwd=tmp, input=content, capture_output=True, timeout=60,
                              check=False)
        stdout, stderr = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
        assert "Traceback" not in stdout + stderr and proc.returncode in (0, 1), stderr
        if _rejected(content) or len(content) > S.DEFAULT_MAX_FILE_SIZE:
            assert " PW000 " in stdout, stdout
        assert not list(Path(tmp).rglob(CANARY))


def _python() -> list[str]:
    import sys

    return [sys.executable, "-m", "poolwarden"]


# -- crafted cache files -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cache_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("cachetree")
    (base / "app").mkdir()
    (base / "app" / "__init__.py").write_text("")
    (base / "app" / "db.py").write_text(_DB)
    (base / "app" / "sel.py").write_text(
        "from app.db import engine\n\n\ndef get(org):\n    try:\n        with engine.connect() as c:\n"
        "            return c.execute(org)\n    except Exception:\n        return None\n")
    expected = run("check", ".", "--format", "json", "--no-cache", cwd=base)
    assert expected.returncode == 1
    return base, expected.stdout


@settings(_CLI, max_examples=EXAMPLES["crafted cache files (CLI)"])
@given(st.data())
def test_crafted_cache_files_never_run_and_never_change_the_answer(
        cache_tree: tuple[Path, str], data: st.DataObject) -> None:
    THROWN['crafted cache files never run and never change the answer'] += 1
    base, expected = cache_tree
    cache = base / ".poolwarden_cache"
    shutil.rmtree(cache, ignore_errors=True)
    assert run("check", ".", "--format", "json", cwd=base).stdout == expected  # a genuine cache
    (genuine,) = cache.glob("check-*.json")
    real = genuine.read_bytes()
    canary = base / CANARY
    kind = data.draw(st.sampled_from([*CRAFTED_JSON, "fifo"]))
    content = b"" if kind == "fifo" else crafted_json(kind, real, data, canary=canary, mutate=_mutate_entries,
                                                       deep_head=b'{"format": 1, "entries": ')
    genuine.unlink()
    if kind == "fifo":
        os.mkfifo(genuine)
    else:
        genuine.write_bytes(content)
    for sibling in ("pickle",):  # the name older builds read
        (cache / genuine.name.replace(".json", f".{sibling}")).write_bytes(pickle.dumps(Payload(str(canary))))
    proc = run("check", ".", "--format", "json", cwd=base)
    assert not canary.exists(), f"a crafted cache ({kind}) executed code"
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, expected, ""), (kind, proc.stderr)


def _mutate_entries(doc: Any, data: st.DataObject) -> None:
    """A well-formed file whose entries carry a wrong value somewhere."""
    for entry in doc["entries"].values():
        _mutate(entry, data)


def _mutate(entry: Any, data: st.DataObject) -> None:
    """Replace one value somewhere inside ``entry`` with a value of another type."""
    node = entry
    while isinstance(node, list) and node:
        i = data.draw(st.integers(0, len(node) - 1))
        if isinstance(node[i], list) and node[i] and data.draw(st.booleans()):
            node = node[i]
            continue
        # a value no field of an entry may hold: a float, or an integer past 2**53
        node[i] = data.draw(st.sampled_from([1.5, 10**30, -(10**30), 1e300]))
        return


# -- bad invocations: exit 2, one line ---------------------------------------------------------------
@settings(_CLI, max_examples=EXAMPLES["bad invocations (CLI)"])
@given(st.sampled_from(["missing", "fifo", "loop", "dangling", "mixed-stdin", "stdin-name-with-path",
                        "bad-size", "jobs-0"]), _names, st.one_of(st.text(max_size=10), st.integers(), st.floats()))
def test_bad_invocations_are_one_line_exit_2(case: str, name: str, value: object) -> None:
    THROWN['bad invocations are one line exit 2'] += 1
    with tempfile.TemporaryDirectory(prefix="pwadv-") as tmp:
        base = Path(tmp)
        target = os.path.join(os.fsencode(base), os.fsencode(name + ".py"))
        args: list[str]
        if case == "missing":
            args = ["check", os.fsdecode(target)]
        elif case == "fifo":
            os.mkfifo(target)
            args = ["check", os.fsdecode(target)]
        elif case == "loop":
            os.symlink(target, target)
            args = ["check", os.fsdecode(target)]
        elif case == "dangling":
            os.symlink(os.fsencode(base) + b"/nowhere", target)
            args = ["check", os.fsdecode(target)]
        elif case == "mixed-stdin":
            args = ["check", "-", str(base)]
        elif case == "stdin-name-with-path":
            args = ["check", str(base), "--stdin-filename", "x.py"]
        elif case == "bad-size":
            bad = value if isinstance(value, str) and not S._SIZE_RE.match(value) else -5
            (base / "pyproject.toml").write_text(f"[tool.poolwarden.check]\nmax-file-size = {json.dumps(bad)}\n")
            (base / "a.py").write_text("x = 1\n")
            args = ["check", str(base)]
        else:
            args = ["check", str(base), "--jobs", "0"]
        proc = run(*args, cwd=base, stdin="")
        assert_clean_failure(proc)


# -- the library underneath, with many more inputs ---------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.one_of(st.binary(max_size=3000), _contents.filter(lambda c: len(c) < 200_000)))
def test_the_one_reader_never_raises_and_agrees_with_ast_parse(content: bytes) -> None:
    THROWN['the one reader never raises and agrees with ast parse'] += 1
    parsed = S.parse(content, "x.py")
    assert isinstance(parsed, (S.Parsed, S.Failure))
    if not (isinstance(parsed, S.Failure) and parsed.kind == "too-deep"):  # depth: see _parses
        assert isinstance(parsed, S.Parsed) == _parses(content)
    if isinstance(parsed, S.Failure):
        assert "\n" not in parsed.message and parsed.line >= 1 and parsed.col >= 1
    result = analyze_source(content, "x.py", "x", False, [])
    assert all(f.code == "PW000" for f in result.findings)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(json_values(), st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)))
def test_any_json_as_a_cache_entry_is_a_miss_or_a_well_typed_result(value: Any, key: tuple[int, ...]) -> None:
    THROWN['any json as a cache entry is a miss or a well typed result'] += 1
    cache = Cache(Path("/nonexistent/c.json"), {os.path.abspath("x.py"): value})
    got = cache.get(Path("x.py"), key)  # type: ignore[arg-type]
    assert got is None  # random JSON never carries this key and a valid result
    cache = Cache(Path("/nonexistent/c.json"), {os.path.abspath("x.py"): [list(key), value]})
    got = cache.get(Path("x.py"), key)  # type: ignore[arg-type]
    if got is not None:  # it happened to be well formed: then it encodes back to itself
        assert encode_result(got) == value


_SOURCES = st.sampled_from(sorted(p for p in (Path(__file__).resolve().parents[2] / "examples").rglob("*.py")))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(_SOURCES)
def test_every_real_result_survives_the_cache_unchanged(path: Path) -> None:
    THROWN['every real result survives the cache unchanged'] += 1
    from poolwarden.check.engine import analyze_parsed
    from poolwarden.check.modules import module_name
    from poolwarden.check.registry import ALL_RULES

    loaded = S.load(path)
    assert isinstance(loaded, S.Parsed)
    module, is_package, root = module_name(path)
    raw = analyze_parsed(loaded, str(path), module, is_package, [cls() for cls in ALL_RULES], True, root)
    back = decode_result(json.loads(json.dumps(encode_result(raw))))
    assert back == raw


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(st.text(max_size=30), max_size=8), st.binary(max_size=200))
def test_any_gitignore_is_read_or_dropped_never_an_error(lines: list[str], raw: bytes) -> None:
    THROWN['any gitignore is read or dropped never an error'] += 1
    from poolwarden.check.files import discover

    with tempfile.TemporaryDirectory(prefix="pwadv-") as tmp:
        base = Path(tmp)
        (base / "sub").mkdir()
        (base / "a.py").write_text("x = 1\n")
        (base / "sub" / "b.py").write_text("x = 1\n")
        (base / ".gitignore").write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        (base / "sub" / ".gitignore").write_bytes(raw)
        found = list(discover([base]))
        assert set(found) <= {base / "a.py", base / "sub" / "b.py"}
