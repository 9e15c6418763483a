"""The warm path of ``poolwarden check``: a run that changes nothing, answered before the analyzer loads.

A run that uses the cache leaves a memo, ``last-run.json`` in the cache directory: what it was asked
(working directory, paths, ``--select``, ``--ignore``, ``--config``), everything its answer depends
on — each probed before it was read — and its report in every output format with its warnings.
The next run asked the same thing re-probes the memo with ``os.stat`` alone and prints the stored
report: byte for byte what the full run printed, with the same exit status. It imports :mod:`os`,
:mod:`json` and a few light modules of this package, not click, the rules, :mod:`ast` or the
process pool, so it costs little more than the interpreter's start.

What the answer depends on (a probe of a file or directory is its mode, size, mtime, ctime and
inode; of a name looked for, whether it is a directory, a file or something else):

- poolwarden itself: its version, the Python version, every ``.py`` file of the package and the
  pathspec package that matches ignore files;
- the configuration: every ``poolwarden.toml`` and ``pyproject.toml`` from the first path up to the
  root, or the ``--config`` file;
- module names: ``__init__.py`` / ``__init__.pyi`` in and above each path, up to ``/``;
- discovery (:func:`poolwarden.check.files.discover`): every directory before it is listed (an
  entry added, removed or renamed changes its mtime), every ignore file before it is read, and each
  ``.git`` looked for;
- every file checked, as the run stat'ed it before reading it.

Anything else falls through to the full run, which writes a fresh memo: other arguments
(``--diff``, ``--no-cache``, stdin, ``--help``, an option given twice or spelled unusually), a probe
that differs, a memo that is missing, damaged or of another shape, or output that click would
change on the way out (ANSI escapes, text the stream's encoding cannot take). A memo is not written
when something it depends on was modified less than :data:`RACY_NS` before the run began: a second
change in the same clock tick could leave its probe unchanged (git's "racy clean" problem).

The memo is data only, JSON validated when read; one planted in a cloned repository cannot match,
because the inodes and ctimes of the clone's files and of the reader's own poolwarden differ.
"""

from __future__ import annotations

import json
import os
import sys
import time

from poolwarden import __version__
from poolwarden.check import regular
from poolwarden.check.display import canonical_targets
from poolwarden.check.files import target_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any, TextIO

    from poolwarden.check.engine import CheckResult

MEMO_NAME = "last-run.json"
DEFAULT_CACHE_DIR = ".poolwarden_cache"
FORMAT = 1
#: A probe whose mtime is this close to the run's start (or later) keeps the memo from being written.
RACY_NS = 2_000_000_000
_MAX_MEMO_BYTES = 256 * 1024 * 1024
_FORMATS = ("text", "json", "sarif", "github")
_VALUED = ("--format", "--select", "--extend-select", "--ignore", "--config", "--jobs", "-j")


def warning_line(warning: str) -> str:
    """How ``poolwarden check`` prints one of its warnings on stderr."""
    return f"poolwarden: warning: {warning}"


# -- probes -------------------------------------------------------------------------------------
def probe(path: str, how: str) -> Any:
    """What ``path`` looks like now. ``how``: ``"s"`` stat (following links), ``"l"`` lstat — [mode,
    size, mtime_ns, ctime_ns, inode] or None when it cannot be stat'ed; ``"k"`` the kind of what is
    there — ``"d"`` a directory, ``"f"`` a file, ``"o"`` anything else, None nothing."""
    if how == "k":
        return "d" if os.path.isdir(path) else "f" if os.path.isfile(path) else "o" if os.path.lexists(path) else None
    try:
        return _value(os.lstat(path) if how == "l" else os.stat(path))
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None


def _value(st: os.stat_result) -> list[int]:
    return [st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class Probes:
    """What a run looked at, in order: ``[path, how, value]`` (see :func:`probe`)."""

    def __init__(self) -> None:
        self.items: list[list[Any]] = []

    def stat(self, path: str) -> None:
        self.items.append([path, "s", probe(path, "s")])

    def lstat(self, path: str) -> None:
        self.items.append([path, "l", probe(path, "l")])

    def kind(self, path: str) -> None:
        self.items.append([path, "k", probe(path, "k")])

    def files(self, found: Sequence[Path], stats: dict[Path, os.stat_result]) -> None:
        """The files checked, as the run stat'ed them before reading them (None: it could not)."""
        for path in found:
            st = stats.get(path)
            self.items.append([os.fspath(path), "s", None if st is None else _value(st)])


def stamp() -> list[Any]:
    """poolwarden's version, Python's, and a probe of every ``.py`` file of the package and of pathspec."""
    import importlib.machinery

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files: list[list[Any]] = []
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                files.append([path, probe(path, "s")])
    spec = importlib.machinery.PathFinder.find_spec("pathspec")
    origin = spec.origin if spec is not None and spec.origin else ""
    files.append([origin, probe(origin, "s")])
    return [__version__, sys.version, files]


def _config_probes(first: str, config_file: str | None, probes: Probes) -> None:
    """The files the search for a configuration reads (:func:`poolwarden.config.find`), or ``--config``."""
    if config_file is not None:
        probes.stat(config_file)
        return
    directory = os.path.realpath(first)
    if not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    while True:
        for name in ("poolwarden.toml", "pyproject.toml"):
            probes.stat(os.path.join(directory, name))
        parent = os.path.dirname(directory)
        if parent == directory:
            return
        directory = parent


def _package_probes(targets: Sequence[str], probes: Probes) -> None:
    """``__init__.py`` / ``__init__.pyi`` from each path up to ``/``: a package anywhere above makes
    the directories below it namespace portions (:func:`poolwarden.check.modules.module_name`)."""
    for target in targets:
        directory = os.path.abspath(target)
        if not os.path.isdir(directory):
            directory = os.path.dirname(directory)
        while True:
            probes.kind(os.path.join(directory, "__init__.py"))
            probes.kind(os.path.join(directory, "__init__.pyi"))
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent


def request(targets: Sequence[str], select: str | None, ignore: str | None, config_file: str | None,
            extend_select: str | None = None) -> list[Any]:
    """What a run was asked that shapes its answer (the format and ``--exit-zero`` only shape its output)."""
    return [os.getcwd(), list(targets), select, ignore, config_file, extend_select]


# -- the full run's side: note, then write -------------------------------------------------------
class Recorder:
    """Made before a full run reads anything (the configuration included); the run adds the probes of
    discovery and of its files (:func:`poolwarden.check.engine.check_paths`), then :meth:`save`."""

    def __init__(self, targets: Sequence[str], select: str | None, ignore: str | None,
                 config_file: str | os.PathLike[str] | None, extend_select: str | None = None) -> None:
        self.started = time.time_ns()
        config = None if config_file is None else os.fspath(config_file)
        self.request = request(targets, select, ignore, config, extend_select)
        self.stamp = stamp()
        self.probes = Probes()
        _config_probes(targets[0], config, self.probes)
        _package_probes(targets, self.probes)

    def racy(self) -> bool:
        """Whether something probed was modified too close to the run's start to trust its probe."""
        cutoff = self.started - RACY_NS
        values = [item[2] for item in self.probes.items] + [item[1] for item in self.stamp[2]]
        return any(isinstance(v, list) and v[2] >= cutoff for v in values)

    def save(self, cache_dir: str, result: CheckResult) -> None:
        """Write the memo of ``result`` (every output format) into ``cache_dir``; skipped when racy,
        silently skipped when it cannot be written or rendered: the run's own answer never depends on it."""
        from poolwarden.check.cache import write_atomically
        from poolwarden.check.report import render

        if self.racy():
            return
        try:
            out = {fmt: render(fmt, result.findings, result.files) for fmt in _FORMATS}
        except Exception:  # poolwarden: ignore[PW101] -- no memo; the CLI reports its own rendering
            return
        doc = {
            "memo": FORMAT,
            "request": self.request,
            "stamp": self.stamp,
            "probes": self.probes.items,
            "out": out,
            "warnings": list(result.warnings),
            "findings": bool(result.findings),
        }
        write_atomically(os.path.join(cache_dir, MEMO_NAME), doc)


# -- the warm run's side: parse, probe, print -----------------------------------------------------
class _Asked:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.options: dict[str, str | None] = {}


def _parse(argv: Sequence[str]) -> _Asked | None:
    """``check`` arguments as click reads them, or None for anything but the plain forms."""
    if not argv or argv[0] != "check":
        return None
    asked = _Asked()
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-"):
            asked.paths.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name == "-j" and eq:
            return None  # click reads "-j=4" as the value "=4"
        if name in _VALUED:
            if not eq:
                if not rest:
                    return None
                value = rest.pop(0)
            if value.startswith("-"):
                return None
        elif name != "--exit-zero" or eq:
            return None  # '-' (stdin), --diff, --no-cache, --help, an unknown option: the full run
        name = "--jobs" if name == "-j" else name
        if name in asked.options:
            return None
        asked.options[name] = value if name != "--exit-zero" else None
    fmt = asked.options.get("--format", "text")
    jobs = asked.options.get("--jobs", "1") or ""
    config = asked.options.get("--config")
    if fmt not in _FORMATS or not (jobs.isascii() and jobs.isdigit() and int(jobs) >= 1):
        return None
    if config is not None and config != os.path.normpath(config):
        return None  # the CLI sees str(Path(value)): only a path already in that spelling matches
    return asked


def _memo(directory: str) -> dict[str, Any] | None:
    data = regular.read(os.path.join(directory, MEMO_NAME), _MAX_MEMO_BYTES)
    if not isinstance(data, bytes):
        return None
    doc = json.loads(data)
    return doc if isinstance(doc, dict) and doc.get("memo") == FORMAT else None


def _holds(doc: dict[str, Any], asked: list[Any]) -> bool:
    """Whether ``doc`` answers ``asked`` now: same request, same poolwarden, every probe unchanged."""
    if doc.get("request") != asked or doc.get("stamp") != stamp():
        return False
    probes = doc.get("probes")
    if type(probes) is not list:
        return False
    for item in probes:
        if type(item) is not list or len(item) != 3:
            return False
        path, how, value = item
        if type(path) is not str or how not in ("s", "l", "k") or probe(path, how) != value:
            return False
    return True


def _configured_cache_dir(first: str, config_file: str | None) -> str | None:
    """The ``cache-dir`` of the configuration a full run would read, when it names one."""
    from pathlib import Path

    from poolwarden.config import find, section

    path = Path(config_file) if config_file is not None else find(Path(first))
    if path is None:
        return None
    table, _ = section(path, "check")
    value = table.get("cache-dir") if isinstance(table, dict) else None
    return str(path.parent / value) if isinstance(value, str) and value.strip() else None


def _clean(text: str, stream: TextIO | None) -> bool:
    """Whether click would write ``text`` to ``stream`` unchanged: a stream click does not re-wrap,
    nothing for it to strip (ANSI escapes), nothing the encoding refuses."""
    import codecs

    if stream is None or "\x1b" in text:
        return False
    encoding = getattr(stream, "encoding", None)
    errors = getattr(stream, "errors", None)
    if not encoding or not errors or codecs.lookup(encoding).name == "ascii":
        return False  # click would wrap the stream in one of its own
    text.encode(encoding, errors)  # UnicodeEncodeError: not clean
    return True


def answer(argv: Sequence[str]) -> int | None:
    """Answer ``poolwarden check ARGV`` from the memo: print what the full run would print and return
    its exit status; None (nothing printed) when the full run must answer."""
    try:
        asked = _parse(argv)
        if asked is None:
            return None
        paths = asked.paths or ["."]
        if any(target_error(p) is not None for p in paths):
            return None
        targets = canonical_targets(paths)
        config = asked.options.get("--config")
        key = request(targets, asked.options.get("--select"), asked.options.get("--ignore"), config,
                      asked.options.get("--extend-select"))
        doc = _memo(DEFAULT_CACHE_DIR)
        if doc is None or not _holds(doc, key):
            directory = _configured_cache_dir(targets[0], config)
            doc = None if directory is None else _memo(directory)
            if doc is None or not _holds(doc, key):
                return None
        out = doc["out"][asked.options.get("--format", "text")]
        warnings = doc["warnings"]
        findings = doc["findings"]
        if type(out) is not str or type(warnings) is not list or type(findings) is not bool:
            return None
        err = "".join(warning_line(w) + "\n" for w in warnings if type(w) is str)
        if len(err.splitlines()) != len(warnings) or not (_clean(out, sys.stdout) and _clean(err, sys.stderr)):
            return None
    except Exception:  # poolwarden: ignore[PW101] -- a memo that cannot answer: the full run does
        return None
    try:
        for line in err.splitlines(keepends=True):
            sys.stderr.write(line)
            sys.stderr.flush()
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
    except OSError as exc:  # as the CLI's boundary reports it (a closed pipe)
        sys.stderr.write(f"poolwarden: error: internal error: {type(exc).__name__}: {exc}\n")
        return 2
    return 1 if findings and "--exit-zero" not in asked.options else 0
