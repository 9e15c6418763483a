"""The warm path of ``poolwarden check`` (``check/warm.py``): an unchanged run is answered from the memo
the last full run left, byte for byte what the full run prints, without importing click or the
analyzer; every change its answer depends on sends the run back to the analyzer."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import tomllib

from poolwarden.check import warm

from .adversarial.contract import invoke
from .conftest import ROOT, SWALLOW, cli, write_tree

_ENGINE_SYNC = 'from sqlalchemy import create_engine\n\nengine = create_engine("postgresql://db/app")\n'
#: errors (PW101, PW103, PW106) and a warning (PW106 on a URL from the environment), a non-ASCII
#: path and a non-ASCII message (PW103's "processes times engines" is spelled with U+00D7).
TREE = {
    "app/db.py": _ENGINE_SYNC,
    "app/sel.py": SWALLOW,
    "app/naïve.py": SWALLOW.replace("get_sub", "get_plan"),
    "app/settings_db.py": "import os\nfrom sqlalchemy import create_engine\n\n"
                          "engine = create_engine(os.environ['DATABASE_URL'], pool_size=5, max_overflow=0,"
                          " pool_timeout=5)\n",
    "app/clean.py": "x = 1\n",
}


def age(base: Path, seconds: float = 120.0) -> Path:
    """Date everything under ``base`` (and ``base``) ``seconds`` back, as a tree last edited minutes
    ago: no memo is written while something it depends on changed within ``warm.RACY_NS``. The cache
    directory is made first, as every run after a project's first finds it: the run that makes it
    changes the working directory, so a tree checked from its top is answered from the memo from its
    third run on."""
    (base / ".poolwarden_cache").mkdir(exist_ok=True)
    past = time.time() - seconds
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (past, past), follow_symlinks=False)
    os.utime(base, (past, past))
    return base


def answered(*argv: str, cwd: Path) -> tuple[int, str, str] | None:
    """What ``warm.answer`` prints for ``poolwarden ARGV`` run in ``cwd`` (exit status, stdout, stderr),
    on streams like a pipe's; None when it leaves the run to the analyzer (and then it printed nothing)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = warm.answer(list(argv))
    printed = out.buffer.getvalue().decode(), err.buffer.getvalue().decode()  # type: ignore[attr-defined]
    if status is None:
        assert printed == ("", ""), printed
        return None
    return status, *printed


def full(*argv: str, cwd: Path) -> tuple[int, str, str]:
    """The analyzer's answer (click's command, in this process; never the warm path): it writes the memo."""
    with contextlib.chdir(cwd):
        proc = invoke(*argv)
    return proc.returncode, proc.stdout, proc.stderr


def as_tuple(proc: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    base = write_tree(tmp_path / "repo", TREE)
    os.mkfifo(base / "app" / "pipe.py")  # skipped with a warning on stderr
    return age(base)


# -- byte for byte --------------------------------------------------------------------------------
def test_a_warm_run_prints_byte_for_byte_what_the_cold_run_printed(repo: Path) -> None:
    formats = ["text", "json", "sarif", "github"]
    cold = {fmt: as_tuple(cli("check", ".", "--format", fmt, "--no-cache", cwd=repo)) for fmt in formats}
    assert cold["text"][0] == 1 and "×" in cold["text"][1] and "naïve.py" in cold["text"][1]
    assert "warning" in cold["text"][1] and "error" in cold["text"][1]  # the summary counts both
    assert cold["text"][2] == "poolwarden: warning: app/pipe.py: skipped: not a regular file (a FIFO)\n"
    assert as_tuple(cli("check", ".", cwd=repo)) == cold["text"]  # the full run that leaves the memo
    for fmt in formats:
        assert answered("check", ".", "--format", fmt, cwd=repo) == cold[fmt], fmt  # from the memo
        assert as_tuple(cli("check", ".", "--format", fmt, cwd=repo)) == cold[fmt], fmt  # as a user runs it
    zero = cli("check", "--exit-zero", ".", "--format=json", cwd=repo)
    assert as_tuple(zero) == (0, *cold["json"][1:])
    assert answered("check", "--exit-zero", ".", "--format=json", cwd=repo) == (0, *cold["json"][1:])


def test_a_clean_tree_answers_exit_0_from_the_memo(tmp_path: Path) -> None:
    bounded = _ENGINE_SYNC.replace(")\n", ", connect_args={'connect_timeout': 5}, pool_size=5, max_overflow=0,"
                                           " pool_timeout=5)\n")
    base = age(write_tree(tmp_path / "repo", {"app/db.py": bounded}))
    cold = as_tuple(cli("check", "app", "--no-cache", cwd=base))
    assert cold == (0, "All checks passed! (2 files checked)\n", "")
    assert full("check", "app", cwd=base) == cold
    assert answered("check", "app", cwd=base) == cold


def test_the_console_script_answers_from_the_memo(repo: Path, tmp_path: Path) -> None:
    """The script an install writes for ``[project.scripts]`` (the shape pip writes), run like a user does."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, func = scripts["poolwarden"].partition(":")
    assert (module, func) == ("poolwarden.__main__", "main")
    script = tmp_path / "poolwarden"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {func}\n"
                      f"if __name__ == '__main__':\n    sys.exit({func}())\n")
    script.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cold = as_tuple(cli("check", "app", "--no-cache", cwd=repo))
    assert full("check", "app", cwd=repo) == cold
    assert answered("check", "app", cwd=repo) == cold
    proc = subprocess.run([str(script), "check", "app"], cwd=repo, env=env, capture_output=True, text=True,
                          check=False, timeout=60)
    assert as_tuple(proc) == cold
    proc = subprocess.run([str(script), "--version"], cwd=repo, env=env, capture_output=True, text=True, check=False,
                          timeout=60)
    assert proc.returncode == 0 and "poolwarden" in proc.stdout


def test_a_warm_run_imports_neither_click_nor_the_analyzer(repo: Path) -> None:
    assert full("check", ".", cwd=repo)[0] == 1
    code = (
        "import runpy, sys\n"
        "sys.argv = ['poolwarden', 'check', '.']\n"
        "try:\n    runpy.run_module('poolwarden', run_name='__main__')\n"
        "except SystemExit as exc:\n    status = exc.code\n"
        "heavy = ('click', 'ast', 'dataclasses', 'typing', 'pathlib', 'pathspec', 'tomllib', 'concurrent.futures',"
        " 'multiprocessing', 'poolwarden.cli', 'poolwarden.check.engine', 'poolwarden.check.rules',"
        " 'poolwarden.check.registry', 'poolwarden.check.report')\n"
        "print('IMPORTED', status, sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=False,
                          timeout=60)
    assert proc.stdout.splitlines()[-1] == "IMPORTED 1 []", proc.stdout[-2000:] + proc.stderr


# -- what sends a run back to the analyzer ------------------------------------------------------------
def _edit(base: Path) -> None:
    (base / "app" / "sel.py").write_text(SWALLOW.replace("return None", "raise"))


def _touch_same_content(base: Path) -> None:
    path = base / "app" / "clean.py"
    path.write_text(path.read_text())


def _add_file(base: Path) -> None:
    (base / "app" / "new.py").write_text(SWALLOW)


def _remove_file(base: Path) -> None:
    (base / "app" / "sel.py").unlink()


def _rename_dir(base: Path) -> None:
    (base / "app").rename(base / "svc")


def _new_gitignore(base: Path) -> None:
    (base / "app" / "svc").mkdir()
    (base / "app" / "svc" / ".gitignore").write_text("*.py\n")


def _gitignore_below(base: Path) -> None:
    (base / "app" / ".gitignore").write_text("sel.py\n")


def _edited_gitignore(base: Path) -> None:  # in place: no directory changes
    with (base / ".gitignore").open("a") as fh:
        fh.write("app/sel.py\n")


def _git_info_exclude(base: Path) -> None:
    (base / ".git" / "info").mkdir(parents=True, exist_ok=True)
    (base / ".git" / "info" / "exclude").write_text("app/sel.py\n")


def _new_config(base: Path) -> None:
    (base / "poolwarden.toml").write_text("[check]\nignore = ['PW101']\n")


def _edited_config(base: Path) -> None:  # in place
    with (base / "pyproject.toml").open("a") as fh:
        fh.write("\n[tool.poolwarden.check]\nignore = ['PW101']\n")


def _config_above(base: Path) -> None:
    (base.parent / "poolwarden.toml").write_text("[check]\nignore = ['PW101']\n")


def _venv_marker(base: Path) -> None:
    (base / "app" / "pyvenv.cfg").write_text("home = /usr\n")


def _package_above(base: Path) -> None:
    (base.parent / "__init__.py").write_text("")


def _symlink_swapped(base: Path) -> None:
    (base / "app" / "sel.py").rename(base / "sel.real")
    (base / "app" / "sel.py").symlink_to(base / "app" / "clean.py")


CHANGES: dict[str, Callable[[Path], None]] = {
    "a file edited": _edit, "a file rewritten with the same text": _touch_same_content, "a file added": _add_file,
    "a file removed": _remove_file, "a directory renamed": _rename_dir, "a .gitignore added": _new_gitignore,
    "a .gitignore added below": _gitignore_below, "a .gitignore edited": _edited_gitignore,
    "git's info/exclude written": _git_info_exclude, "a config added": _new_config, "a config edited": _edited_config,
    "a config added above the tree": _config_above,
    "a directory turned into a virtual environment": _venv_marker, "a package made above the tree": _package_above,
    "a file replaced by a symlink": _symlink_swapped,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_the_answer_depends_on_sends_the_run_to_the_analyzer(change: str, tmp_path: Path) -> None:
    base = write_tree(tmp_path / "repo", TREE)
    (base / ".git").mkdir()  # a work tree: its info/exclude and .gitignore files count
    (base / "__init__.py").write_text("")  # a package: module names climb above it while __init__.py goes on
    (base / ".gitignore").write_text("*.log\n")
    (base / "pyproject.toml").write_text("[project]\nname = 'repo'\n")  # not poolwarden's: the search goes on
    age(base)
    before = full("check", ".", "--format", "json", cwd=base)
    assert answered("check", ".", "--format", "json", cwd=base) == before
    CHANGES[change](base)
    assert answered("check", ".", "--format", "json", cwd=base) is None
    # and what the analyzer answers now is what a run without the cache answers
    assert full("check", ".", "--format", "json", cwd=base) == full("check", ".", "--format", "json", "--no-cache",
                                                                    cwd=base)


@pytest.mark.parametrize("args", [
    ["--select", "PW106"], ["--ignore", "PW101"], ["app"], ["app/sel.py"], ["--config", "other.toml"],
])
def test_another_question_is_not_answered_by_the_memo(args: list[str], tmp_path: Path) -> None:
    base = write_tree(tmp_path / "repo", TREE)
    (base / "other.toml").write_text("[check]\n")
    age(base)
    full("check", ".", cwd=base)
    assert answered("check", ".", cwd=base) is not None
    assert answered("check", *args, cwd=base) is None
    full("check", *args, cwd=base)
    assert answered("check", *args, cwd=base) == full("check", *args, "--no-cache", cwd=base)
    assert answered("check", ".", cwd=base) is None  # one memo: the last question


@pytest.mark.parametrize("args", [
    ["--no-cache"], ["--diff", "HEAD"], ["-"], ["--stdin-filename", "x.py"], ["--help"], ["--format", "xml"],
    ["--jobs", "0"], ["-j2"], ["--format", "json", "--format", "text"], ["--", "."], ["--config", "./x.toml"],
    ["--select"], ["--exit-zero=1"], ["--unknown"], ["missing"], ["."] * 2 + ["-h"],
])
def test_any_other_invocation_falls_through(args: list[str], repo: Path) -> None:
    full("check", ".", cwd=repo)
    assert answered("check", ".", cwd=repo) is not None
    assert answered("check", *args, cwd=repo) is None
    assert answered("--version", cwd=repo) is None and answered(cwd=repo) is None


def test_another_working_directory_is_another_question(repo: Path) -> None:
    full("check", str(repo / "app"), cwd=repo)
    assert answered("check", str(repo / "app"), cwd=repo) is not None
    assert answered("check", str(repo / "app"), cwd=repo / "app") is None  # paths print relative to the cwd


def test_another_build_of_poolwarden_does_not_trust_the_memo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full("check", ".", cwd=repo)
    assert answered("check", ".", cwd=repo) is not None
    monkeypatch.setattr(warm, "__version__", "0.0.0-other")
    assert answered("check", ".", cwd=repo) is None


def test_a_tree_restored_from_a_copy_is_not_trusted(repo: Path, tmp_path: Path) -> None:
    """Same paths, same bytes, same mtimes (a backup restored, a repository cloned with its cache
    directory): new inodes and ctimes, so the memo does not hold."""
    full("check", ".", cwd=repo)
    assert answered("check", ".", cwd=repo) is not None
    (repo / "app" / "pipe.py").unlink()  # copytree cannot copy a FIFO
    shutil.move(repo, tmp_path / "away")
    shutil.copytree(tmp_path / "away", repo, copy_function=shutil.copy2)
    assert answered("check", ".", cwd=repo) is None


def test_a_memo_is_not_written_while_its_probes_are_racy(repo: Path) -> None:
    future = time.time() + 3600  # "modified just now" without waiting: a file dated later than the run
    os.utime(repo / "app" / "clean.py", (future, future))
    full("check", ".", cwd=repo)
    assert not (repo / ".poolwarden_cache" / warm.MEMO_NAME).exists()
    assert (repo / ".poolwarden_cache").is_dir()  # the cache itself is written
    assert answered("check", ".", cwd=repo) is None


def test_a_configured_cache_dir_holds_the_memo(repo: Path) -> None:
    (repo / "pyproject.toml").write_text("[tool.poolwarden.check]\ncache-dir = '../pw-cache'\n")
    age(repo)
    cold = full("check", ".", "--format", "json", "--no-cache", cwd=repo)
    assert full("check", ".", "--format", "json", cwd=repo) == cold
    assert (repo.parent / "pw-cache" / warm.MEMO_NAME).is_file()
    assert not (repo / ".poolwarden_cache" / warm.MEMO_NAME).exists()
    assert answered("check", ".", "--format", "json", cwd=repo) == cold


def test_the_memo_is_data(repo: Path) -> None:
    full("check", ".", cwd=repo)
    doc = json.loads((repo / ".poolwarden_cache" / warm.MEMO_NAME).read_text())
    assert sorted(doc) == ["findings", "memo", "out", "probes", "request", "stamp", "warnings"]
    assert sorted(doc["out"]) == ["github", "json", "sarif", "text"]
    kinds = {how for _, how, _ in doc["probes"]}
    assert kinds == {"s", "l", "k"}
