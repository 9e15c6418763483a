"""How ``poolwarden check`` (and ``budget --code``) read files: the cache executes nothing, only regular
files within the size limit are read, one code path reports every unreadable file, discovery follows
.gitignore and skips virtualenvs, ``-`` reads stdin, and an empty selection says so.

Every subprocess is bounded (``timeout``): a regression that hangs fails instead of hanging CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from poolwarden import __version__
from poolwarden.check.cache import _code_digest
from poolwarden.check.registry import ALL_RULES

from .conftest import ENGINE, ROOT, SWALLOW, cli, write_tree

TIMEOUT = 60


def pw(*args: str, cwd: Path | None = None, stdin: bytes | None = None, prefix: tuple[str, ...] = (),
       ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*prefix, sys.executable, "-m", "poolwarden", *args], cwd=cwd or ROOT, input=stdin,
                          capture_output=True, check=False, timeout=TIMEOUT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                       proc.stderr.decode("utf-8", "replace"))


def codes_paths(proc: subprocess.CompletedProcess[str]) -> list[tuple[str, str, str]]:
    return sorted((Path(d["path"]).name, d["code"], d["message"]) for d in json.loads(proc.stdout))


def _salt() -> str:
    codes = ",".join(sorted(cls.CODE for cls in ALL_RULES if cls.DEFAULT))  # what a default run selects
    return hashlib.sha256(f"{__version__}|{_code_digest()}|{codes}".encode()).hexdigest()[:16]


class _Payload:
    """Unpickling this creates ``path``: proof that the cache executed code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (str(self.path), "w"))


# -- item 2: the cache is data, never code ----------------------------------------------------------
def test_a_planted_pickle_cache_runs_nothing(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    expected = pw("check", ".", "--format", "json", "--no-cache", cwd=tmp_path)
    canary = tmp_path / "PWNED"
    cache = tmp_path / ".poolwarden_cache"
    cache.mkdir()
    payload = pickle.dumps({"x": _Payload(canary)})
    # every name a build of this version and these rules would read: the old pickle name and the new one
    (cache / f"check-{_salt()}.pickle").write_bytes(payload)
    (cache / f"check-{_salt()}.json").write_bytes(payload)
    got = pw("check", ".", "--format", "json", cwd=tmp_path)
    assert not canary.exists(), "the cache executed code from the tree"
    assert (got.returncode, got.stdout, got.stderr) == (expected.returncode, expected.stdout, "")
    # and the run wrote a data-only cache in place of the pickle
    assert not (cache / f"check-{_salt()}.pickle").exists()
    written = json.loads((cache / f"check-{_salt()}.json").read_text())
    assert written["format"] == 1 and written["entries"]


@pytest.mark.parametrize("content", [
    b'{"format": 1, "entries": {"X": [[1, 2, 3, 4], ["a", "b"]]}}',  # wrong types
    b'{"format": 1, "entries": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deep nesting
    b'{"format": 1, "entries": {"X": [[' + b"9" * 5000 + b', 1, 1, 1], []]}}',  # huge number
    b'{"format": 1, "entries": {"X": [[1, 1, 1',  # truncated
    b"\xff\xfe\x00garbage",  # not UTF-8
    b"[]",  # a foreign shape
])
def test_a_malformed_json_cache_is_a_miss(tmp_path: Path, content: bytes) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    expected = pw("check", ".", "--format", "json", "--no-cache", cwd=tmp_path)
    cache = tmp_path / ".poolwarden_cache"
    cache.mkdir()
    (cache / f"check-{_salt()}.json").write_bytes(content.replace(b'"X"', json.dumps(
        str(tmp_path / "app" / "sel.py")).encode()))
    got = pw("check", ".", "--format", "json", cwd=tmp_path)
    assert (got.returncode, got.stdout, got.stderr) == (expected.returncode, expected.stdout, "")


def test_a_well_formed_but_lying_entry_is_not_trusted(tmp_path: Path) -> None:
    """An entry planted for a file (claiming it clean) does not match the file's ctime and inode."""
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    target = tmp_path / "app" / "sel.py"
    st = target.stat()
    cache = tmp_path / ".poolwarden_cache"
    cache.mkdir()
    lie = [str(Path("app/sel.py")), 9, [], [], None, []]
    entries = {str(target): [[st.st_size, st.st_mtime_ns, 0, 0], lie]}
    (cache / f"check-{_salt()}.json").write_text(json.dumps({"format": 1, "entries": entries}))
    got = pw("check", ".", "--format", "json", cwd=tmp_path)
    assert got.returncode == 1 and [d["code"] for d in json.loads(got.stdout)] == ["PW101"]


def test_the_cache_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    cache = tmp_path / ".poolwarden_cache"
    cache.mkdir()
    outside = tmp_path / "outside.txt"
    (cache / ".gitignore").symlink_to(outside)
    pw("check", ".", cwd=tmp_path)
    assert not outside.exists()


# -- item 6: only regular files, only up to the size limit ------------------------------------------
def test_a_fifo_named_py_is_skipped_with_a_warning_not_read(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/db.py": ENGINE})
    os.mkfifo(tmp_path / "app" / "pipe.py")  # reading it would block forever: no writer
    (tmp_path / "app" / "zero.py").symlink_to("/dev/zero")  # reading it would never end
    proc = pw("check", ".", "--format", "json", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 1 and {d["path"] for d in json.loads(proc.stdout)} == {"app/db.py"}
    assert proc.stderr == ("poolwarden: warning: app/pipe.py: skipped: not a regular file (a FIFO)\n"
                           "poolwarden: warning: app/zero.py: skipped: not a regular file (a device)\n")
    # with the cache too (the cache stats files before anything is read)
    assert pw("check", ".", "--format", "json", cwd=tmp_path).stdout == proc.stdout


def test_a_fifo_named_on_the_command_line_is_a_one_line_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    proc = pw("check", str(tmp_path / "pipe.py"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"poolwarden: error: {tmp_path / 'pipe.py'}: not a regular file (a FIFO); "
                           "to check source from a pipe, use '-' (and --stdin-filename)\n")


def test_a_file_over_the_size_limit_is_pw000_and_the_limit_is_configurable(tmp_path: Path) -> None:
    big = "x = [\n" + "    1,\n" * 200_000 + "]\n"  # 1.4 MB
    write_tree(tmp_path, {"app/gen.py": big, "app/db.py": ENGINE})
    proc = pw("check", ".", "--format", "json", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 1
    gen = [d for d in json.loads(proc.stdout) if d["path"] == "app/gen.py"]
    assert [(d["code"], d["line"], d["message"]) for d in gen] == [
        ("PW000", 1, f"skipped: {len(big):,} bytes, over the 1,048,576-byte limit (max-file-size)")]
    (tmp_path / "pyproject.toml").write_text('[tool.poolwarden.check]\nmax-file-size = "2MB"\n')
    proc = pw("check", ".", "--format", "json", "--no-cache", cwd=tmp_path)
    assert {d["path"] for d in json.loads(proc.stdout)} == {"app/db.py"}
    (tmp_path / "pyproject.toml").write_text('[tool.poolwarden.check]\nmax-file-size = "huge"\n')
    proc = pw("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "'max-file-size' must be" in proc.stderr


# -- item 7: one code path for parse failures: budget --code notes what check reports as PW000 --------
def test_budget_code_notes_the_files_check_reports_as_pw000(tmp_path: Path) -> None:
    deep = "x = " + "+".join(["1"] * 100_000) + "\n"  # RecursionError in ast.parse
    write_tree(tmp_path, {"app/deep.py": deep, "app/broken.py": "def f(:\n", "app/nul.py": "x = 1\0\n",
                          "app/db.py": 'from sqlalchemy import create_engine\n'
                                       'e = create_engine("postgresql://db/app", pool_size=3, max_overflow=0)\n'})
    os.mkfifo(tmp_path / "app" / "pipe.py")
    proc = pw("budget", "--code", str(tmp_path), "--format", "json", cwd=tmp_path)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    notes = [n for n in json.loads(proc.stdout)["from_code"] if n.startswith("skipped ")]
    check = pw("check", str(tmp_path), "--format", "json", "--no-cache", cwd=tmp_path)
    pw000 = {Path(d["path"]).name: d["message"] for d in json.loads(check.stdout) if d["code"] == "PW000"}
    assert set(pw000) == {"deep.py", "broken.py", "nul.py"}
    for name, message in pw000.items():
        assert any(name in n and n.endswith(message) for n in notes), (name, message, notes)
    assert any("pipe.py: not a regular file (a FIFO)" in n for n in notes), notes
    assert "pool 1: create_engine()" in proc.stdout  # the readable file still counts


# -- item 13: .gitignore, virtualenvs, stdin, symlink loops, unreadable paths, empty selection ----------
def test_gitignore_info_exclude_and_virtualenvs_are_respected(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "app/db.py": ENGINE,
        "app/gen/x_pb2.py": ENGINE,  # ignored by *_pb2.py in app/.gitignore
        "app/gen/keep_pb2.py": ENGINE,  # ... and re-included by !keep_pb2.py in app/gen/.gitignore
        "generated/db.py": ENGINE,  # ignored by generated/ in the top .gitignore
        "local/db.py": ENGINE,  # ignored by .git/info/exclude
        "env/lib/db.py": ENGINE,  # a virtualenv (pyvenv.cfg) under a name ruff's defaults miss
    })
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, timeout=TIMEOUT)
    (tmp_path / ".gitignore").write_text("generated/\n")
    (tmp_path / "app" / ".gitignore").write_text("*_pb2.py\n")
    (tmp_path / "app" / "gen" / ".gitignore").write_text("!keep_pb2.py\n")
    (tmp_path / ".git" / "info" / "exclude").write_text("/local\n")
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    data = json.loads(pw("check", ".", "--format", "json", "--no-cache", cwd=tmp_path).stdout)
    assert sorted({d["path"] for d in data}) == ["app/db.py", "app/gen/keep_pb2.py"]
    # from a subdirectory the parents' .gitignore files and info/exclude still apply
    data = json.loads(pw("check", "app", "--format", "json", "--no-cache", cwd=tmp_path).stdout)
    assert sorted({d["path"] for d in data}) == ["app/db.py", "app/gen/keep_pb2.py"]
    # a file named explicitly is checked even when ignored (as ruff does)
    data = json.loads(pw("check", "generated/db.py", "--format", "json", "--no-cache", cwd=tmp_path).stdout)
    assert {d["path"] for d in data} == {"generated/db.py"}
    # ... and so is a directory named explicitly (a stdlib under an ignored pyenv `versions/`)
    data = json.loads(pw("check", "generated", "--format", "json", "--no-cache", cwd=tmp_path).stdout)
    assert {d["path"] for d in data} == {"generated/db.py"}


def test_gitignore_outside_a_git_work_tree_is_respected_too(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/db.py": ENGINE, "app/gen/db.py": ENGINE})
    (tmp_path / ".gitignore").write_text("gen/\n")
    data = json.loads(pw("check", ".", "--format", "json", "--no-cache", cwd=tmp_path).stdout)
    assert sorted({d["path"] for d in data}) == ["app/db.py"]


def test_a_hostile_gitignore_pattern_cannot_hang_discovery(tmp_path: Path) -> None:
    """`a*a*…*b` is exponential for a backtracking matcher on a long name of a's; such a pattern is dropped."""
    name = "a" * 200 + ".py"
    write_tree(tmp_path, {f"app/{name}": ENGINE})
    (tmp_path / ".gitignore").write_text("a*a*a*a*a*a*a*a*a*a*a*a*b\n*a*a*.txt\n")
    proc = pw("check", ".", "--format", "json", "--no-cache", cwd=tmp_path)
    assert {d["path"] for d in json.loads(proc.stdout)} == {f"app/{name}"}


def test_stdin_with_stdin_filename_names_configures_and_ignores_by_that_name(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poolwarden.check]\nper-file-ignores = { "scripts/*" = ["PW106"] }\n')
    src = ENGINE.replace("+asyncpg", "").encode()
    app = pw("check", "-", "--stdin-filename", "app/db.py", "--format", "json", cwd=tmp_path, stdin=src)
    assert app.returncode == 1, app.stderr
    assert sorted((d["path"], d["code"]) for d in json.loads(app.stdout)) == [
        ("app/db.py", "PW103"), ("app/db.py", "PW106")]
    script = pw("check", "--stdin-filename", "scripts/db.py", "--format", "json", cwd=tmp_path, stdin=src)
    assert [(d["path"], d["code"]) for d in json.loads(script.stdout)] == [("scripts/db.py", "PW103")]
    bare = pw("check", "-", "--format", "json", cwd=tmp_path, stdin=b"def f(:\n")
    assert [(d["path"], d["code"]) for d in json.loads(bare.stdout)] == [("-", "PW000")]
    mixed = pw("check", "-", "app", cwd=tmp_path, stdin=b"")
    assert mixed.returncode == 2 and mixed.stderr == \
        "poolwarden: error: '-' (stdin) cannot be combined with other paths\n"


def test_symlink_loops_are_reported_in_one_line(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/db.py": ENGINE})
    (tmp_path / "app" / "loop.py").symlink_to("loop.py")
    (tmp_path / "app" / "dirloop").symlink_to(".")  # a directory loop: not followed
    proc = pw("check", ".", "--no-cache", cwd=tmp_path)
    assert "app/loop.py:1:1: PW000 cannot read: Too many levels of symbolic links" in proc.stdout.splitlines()
    assert proc.returncode == 1 and proc.stderr == ""
    named = pw("check", "app/loop.py", cwd=tmp_path)
    assert named.returncode == 2 and named.stderr == \
        "poolwarden: error: app/loop.py: symlink loop (too many levels of symbolic links)\n"


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_unreadable_files_and_directories_are_pw000_lines(tmp_path: Path) -> None:
    """Root reads anything: the check runs without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so
    mode 000 binds it as it binds any user."""
    write_tree(tmp_path, {"app/db.py": ENGINE, "app/secret.py": "x = 1\n", "locked/db.py": ENGINE})
    os.chmod(tmp_path / "app" / "secret.py", 0)
    os.chmod(tmp_path / "locked", 0)
    try:
        drop = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")
        proc = pw("check", ".", "--no-cache", cwd=tmp_path, prefix=drop)
    finally:
        os.chmod(tmp_path / "locked", 0o755)
    lines = proc.stdout.splitlines()
    assert "app/secret.py:1:1: PW000 cannot read: Permission denied" in lines, proc.stdout + proc.stderr
    assert "locked:1:1: PW000 cannot read: Permission denied" in lines, proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_an_empty_selection_says_so(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("not python\n")
    proc = pw("check", ".", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stderr == "poolwarden: warning: no Python files found under .\n"


def test_a_file_name_cannot_forge_a_line_of_output(tmp_path: Path) -> None:
    """A newline in a file name is shown escaped: one finding, one line."""
    bad = tmp_path / "x\nforged:1:1: PW101 fake.py"
    bad.write_text("def f(:\n")
    proc = cli("check", str(tmp_path), "--no-cache")
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and "PW000" in lines[0] and "\\n" in lines[0], proc.stdout
    assert not any(line.startswith("forged") for line in lines)
