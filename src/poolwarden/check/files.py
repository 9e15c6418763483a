"""Which files ``poolwarden check`` (and ``budget --code``) reads: discovery under the paths given.

Promises: every ``*.py`` / ``*.pyi`` file under a directory argument is yielded once, in a
stable (sorted) order, except those

- under a directory named in :data:`DEFAULT_EXCLUDE` (the same virtual-environment, build and
  cache folders ruff skips) or any virtual environment (a directory holding ``pyvenv.cfg``);
- matched by the configured ``exclude`` globs;
- ignored by git's rules, as ruff does: every ``.gitignore`` from the argument down (inside a git
  work tree or not), and inside a work tree also the ``.gitignore`` files between its top and the
  argument and ``.git/info/exclude`` (not the global ``core.excludesFile``); a deeper file's
  pattern wins, ``!pattern`` re-includes, and a file under an ignored directory stays ignored.
  A pattern with more than three runs of ``*`` is dropped (matching it can take exponential time).

A file named explicitly is always checked, whatever its suffix and whatever ignores it; so is a
directory named explicitly (the ignore files above it then do not apply, only those inside it). Symlinked
directories are not followed (no loops); a symlinked file is yielded and read through the link.
A directory that cannot be listed is reported to ``onerror`` and the walk goes on.

With ``probes`` (:class:`poolwarden.check.warm.Probes`), discovery notes everything its answer
depends on, each before it is read: every directory before it is listed, every ignore file before
it is read, and whether each ``.git`` it looks for is there; the warm-run memo is valid while these
are unchanged. pathspec and pathlib are imported by the first walk, not by importing this module
(a warm run only asks :func:`target_error`).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator

from poolwarden.check import regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from pathspec import GitIgnoreSpec

    from poolwarden.check.warm import Probes

    #: gitignore layers in force in a directory, outermost first: (base directory + "/", spec).
    _Layers = tuple[tuple[str, GitIgnoreSpec], ...]

DEFAULT_EXCLUDE: frozenset[str] = frozenset(
    {
        ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints",
        ".mypy_cache", ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache",
        ".svn", ".tox", ".venv", ".vscode", "__pypackages__", "__pycache__", "_build",
        "buck-out", "build", "dist", "node_modules", "site-packages", "venv",
        ".poolwarden_cache",
    }
)

PYTHON_SUFFIXES = (".py", ".pyi")
_IGNORE_FILE_LIMIT = 1024 * 1024
# Glob patterns become backtracking regular expressions: `a*a*a*a*a*a*a*a*a*a*b` against a 40-character
# name takes ~40 s, so a hostile repository could hang a check. A pattern with more than this many
# runs of `*` (real ones have one or two: `**/*.py`) is dropped; three cost ~30 ms on a 250-character name.
_MAX_STAR_RUNS = 3
_STARS = re.compile(r"\*+")


def _excluded(rel_posix: str, name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel_posix, p) or fnmatch.fnmatch(name, p) for p in patterns)


def target_error(target: str) -> str | None:
    """Why a path named on the command line cannot be checked (one line), or None when it can."""
    try:
        st = os.stat(target)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{target}: symlink loop (too many levels of symbolic links)"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"{target}: no such file or directory"
        return f"{target}: cannot read: {exc.strerror or exc}"
    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        return None
    return (f"{target}: not a regular file (a {regular.file_kind(st.st_mode)}); "
            "to check source from a pipe, use '-' (and --stdin-filename)")


def _spec(path: str, probes: Probes | None = None) -> GitIgnoreSpec | None:
    """The patterns of one ignore file; a pattern git would reject is skipped, never an error."""
    from pathspec import GitIgnoreSpec

    if probes is not None:
        probes.stat(path)
    data = regular.read(path, _IGNORE_FILE_LIMIT)  # non-blocking, regular files only: a FIFO cannot hang us
    if not isinstance(data, bytes):
        return None
    lines = [line for line in data.decode("utf-8", "surrogateescape").splitlines()
             if len(_STARS.findall(line)) <= _MAX_STAR_RUNS]
    try:
        spec = GitIgnoreSpec.from_lines(lines)
    except Exception:  # poolwarden: ignore[PW101] -- a malformed pattern: drop it, keep the rest
        good = []
        for line in lines:
            try:
                GitIgnoreSpec.from_lines([line])
            except Exception:  # poolwarden: ignore[PW101] -- see above
                continue
            good.append(line)
        spec = GitIgnoreSpec.from_lines(good)
    return spec if spec.patterns else None


def _git_top(directory: str, probes: Probes | None = None) -> tuple[str, str | None] | None:
    """(work tree top, git directory) of the work tree holding ``directory``, or None."""
    current = directory
    while True:
        dotgit = os.path.join(current, ".git")
        if probes is not None:
            probes.kind(dotgit)
        if os.path.isdir(dotgit):
            return current, dotgit
        if os.path.isfile(dotgit):  # a linked work tree or submodule: "gitdir: PATH"
            if probes is not None:
                probes.stat(dotgit)
            data = regular.read(dotgit, 64 * 1024)
            gitdir = None
            if isinstance(data, bytes) and data.startswith(b"gitdir:"):
                gitdir = os.path.join(current, data[7:].decode("utf-8", "replace").strip())
                if probes is not None:
                    probes.stat(os.path.join(gitdir, "commondir"))
                common = regular.read(os.path.join(gitdir, "commondir"), 64 * 1024)
                if isinstance(common, bytes):
                    gitdir = os.path.join(gitdir, common.decode("utf-8", "replace").strip())
            return current, gitdir
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _initial_layers(root: str, probes: Probes | None = None) -> _Layers:
    """The layers in force at ``root`` from above it: info/exclude and parents' .gitignore files."""
    found = _git_top(root, probes)
    if found is None:
        return ()
    top, gitdir = found
    layers: list[tuple[str, GitIgnoreSpec]] = []
    if gitdir is not None:
        spec = _spec(os.path.join(gitdir, "info", "exclude"), probes)
        if spec is not None:
            layers.append((top.rstrip("/") + "/", spec))
    rel = os.path.relpath(root, top)
    chain = [top] if rel != "." else []
    if rel != ".":
        parts = rel.split(os.sep)
        chain += [os.path.join(top, *parts[:i]) for i in range(1, len(parts))]
    for directory in chain:
        spec = _spec(os.path.join(directory, ".gitignore"), probes)
        if spec is not None:
            layers.append((directory.rstrip("/") + "/", spec))
    if _ignored(tuple(layers), root, True):
        return ()  # the directory was asked for by name: what ignores it as a whole does not apply
    return tuple(layers)


def _ignored(layers: _Layers, full: str, is_dir: bool) -> bool:
    for base, spec in reversed(layers):  # the deepest file that says anything decides
        if not full.startswith(base):
            continue
        rel = full[len(base):]
        verdict = spec.check_file(rel + "/" if is_dir else rel).include
        if verdict is not None:
            return verdict
    return False


def discover(
    paths: Iterable[str | os.PathLike[str]],
    exclude: Iterable[str] = (),
    *,
    onerror: Callable[[str, OSError], None] | None = None,
    probes: Probes | None = None,
    accept: Callable[[str], bool] | None = None,
) -> Iterator[Path]:
    """Yield the Python files under ``paths`` (with ``accept``, the files whose name it accepts instead).

    ``exclude`` holds extra glob patterns, matched against a file's or directory's name
    and against its path relative to the argument it was found under. ``onerror(path, exc)``
    hears of each directory that cannot be listed; ``probes`` notes what the answer depends on.
    Raises :class:`FileNotFoundError` naming the first path that does not exist.
    """
    from pathlib import Path

    patterns = tuple(exclude)
    seen: set[Path] = set()
    for raw in paths:
        root = Path(raw)
        if not os.path.lexists(root):
            raise FileNotFoundError(str(raw))
        if not root.is_dir():  # a file, or a broken link / loop / special file: the reader says why
            if root not in seen:
                seen.add(root)
                yield root
            continue
        abs_root = os.path.abspath(root)
        if probes is not None:
            probes.stat(abs_root)  # before it is listed: an entry added later changes it
        layers_of: dict[str, _Layers] = {}
        found: list[Path] = []

        def walk_error(exc: OSError, root: Path = root) -> None:
            if onerror is not None:
                onerror(os.path.normpath(exc.filename if exc.filename is not None else root), exc)

        for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error):
            abs_dir = os.path.normpath(os.path.join(abs_root, os.path.relpath(dirpath, root)))
            parent = layers_of.pop(abs_dir, None)
            layers = _initial_layers(abs_root, probes) if parent is None else parent
            if ".gitignore" in filenames:
                spec = _spec(os.path.join(dirpath, ".gitignore"), probes)
                if spec is not None:
                    layers = (*layers, (abs_dir.rstrip("/") + "/", spec))
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            kept = []
            for d in sorted(dirnames):
                if (d in DEFAULT_EXCLUDE or d.endswith(".egg-info") or _excluded(rel_dir + d, d, patterns)
                        or (layers and _ignored(layers, os.path.join(abs_dir, d), True))):
                    continue
                if probes is not None:
                    probes.lstat(os.path.join(abs_dir, d))  # before its pyvenv.cfg is looked for and it is listed
                if os.path.isfile(os.path.join(dirpath, d, "pyvenv.cfg")):
                    continue
                kept.append(d)
                layers_of[os.path.join(abs_dir, d)] = layers
            dirnames[:] = kept
            for name in filenames:
                wanted = accept(name) if accept is not None else name.endswith(PYTHON_SUFFIXES)
                if (wanted and not _excluded(rel_dir + name, name, patterns)
                        and not (layers and _ignored(layers, os.path.join(abs_dir, name), False))):
                    found.append(Path(dirpath, name))
        for path in sorted(found):
            if path not in seen:
                seen.add(path)
                yield path
