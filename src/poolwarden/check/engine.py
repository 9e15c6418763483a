"""Running a check: read, parse and walk every file (in parallel), then join and resolve.

1. discover the files and pre-scan their raw text: only files that can take part in a
   database story (DB code, modules importing it, modules it imports, event-loop code) are
   walked; every file is parsed, so every syntax error is reported as PW000;
2. per file, in a worker process: parse, one walk with the selected rules, suppressions
   (results are cached by path, size and mtime);
3. in the parent: build the :class:`ProjectIndex` from the summaries and let each rule
   resolve its deferred findings; apply suppressions, per-file ignores and ``--diff``.
"""

from __future__ import annotations

import ast
import functools
import gc
import os
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from poolwarden.check import knowledge as K
from poolwarden.check.cache import Cache
from poolwarden.check.config import CheckConfig
from poolwarden.check.context import FileContext
from poolwarden.check.files import discover
from poolwarden.check.finding import Finding, Severity, Span
from poolwarden.check.project import ProjectIndex
from poolwarden.check.registry import ALL_RULES, reported_codes, select_rules
from poolwarden.check.rule import Rule
from poolwarden.check.summary import FileResult
from poolwarden.check.suppress import is_suppressed, suppressions
from poolwarden.check.walk import Walker

_IMPORT_RE = re.compile(
    rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]*(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]+))",
    re.M,
)
_PARALLEL_MIN_FILES = 24


@dataclass
class CheckResult:
    """What a check run found, plus how much it read."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    lines: int = 0
    cached: int = 0


def module_name(path: Path) -> tuple[str, bool, str]:
    """The dotted module name of ``path`` (climbing ``__init__.py`` packages), whether it is a
    package, and its root: the directory the top-level package lives in."""
    path = Path(os.path.abspath(path))
    is_package = path.stem == "__init__"
    package, root = _package_of(str(path.parent))
    parts = [p for p in (package, "" if is_package else path.stem) if p]
    return ".".join(parts), is_package, root


@functools.lru_cache(maxsize=4096)
def _package_of(directory: str) -> tuple[str, str]:
    """(dotted package name, root) of a directory; memoised: siblings share the climb."""
    if not (os.path.exists(os.path.join(directory, "__init__.py"))
            or os.path.exists(os.path.join(directory, "__init__.pyi"))):
        return "", directory
    parent = os.path.dirname(directory)
    if parent == directory:
        return os.path.basename(directory), directory
    package, root = _package_of(parent)
    name = os.path.basename(directory)
    return (f"{package}.{name}" if package else name), root


def analyze_source(
    source: bytes, path: str, module: str, is_package: bool, rules: Sequence[Rule], walk: bool = True,
    root: str = "",
) -> FileResult:
    """Analyse one file in isolation. Never raises for bad input: it becomes a PW000 finding."""
    lines = source.count(b"\n") + (0 if source.endswith(b"\n") or not source else 1)
    result = FileResult(path=path, lines=lines)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are the user's compiler's business, not ours
            tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        result.findings.append(_pw000(path, exc))
        return result
    if not walk:
        return result
    ctx = FileContext(path, module, is_package, root)
    try:
        Walker(ctx, rules).run(tree)
    except RecursionError:
        result.findings.append(_pw000(path, RecursionError("nesting too deep to analyse")))
        return result
    result.findings = ctx.findings
    result.pendings = ctx.pendings
    result.summary = ctx.summary
    if ctx.findings or ctx.pendings:
        result.suppressions = suppressions(source)
    return result


def _pw000(path: str, exc: BaseException) -> Finding:
    line, col = 1, 1
    if isinstance(exc, SyntaxError):
        line = exc.lineno or 1
        col = exc.offset or 1
        message = f"cannot parse (Python {sys.version_info[0]}.{sys.version_info[1]} grammar): {exc.msg}"
    elif isinstance(exc, ValueError) and "null bytes" in str(exc):
        message = "cannot parse: source contains null bytes"
    elif isinstance(exc, UnicodeDecodeError):
        message = f"cannot decode: {exc.reason}"
    else:
        message = f"cannot analyse: {exc}"
    return Finding(path, line, max(col, 1), "PW000", line, max(col, 1), "syntax-error", message, "error")


# -- worker side -----------------------------------------------------------------------------------
_WORKER_RULES: list[Rule] = []


def _init_worker(codes: Sequence[str]) -> None:
    gc.disable()  # ASTs hold no cycles; the collector only costs time here
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 8000))
    _WORKER_RULES[:] = [cls() for cls in ALL_RULES if cls.CODE in codes]


def _work(job: tuple[str, str, bool, bool, str]) -> FileResult:
    path, module, is_package, walk, root = job
    try:
        source = Path(path).read_bytes()
    except OSError as exc:
        return FileResult(path=path, lines=0, findings=[_pw000(path, OSError(exc.strerror))])
    return analyze_source(source, path, module, is_package, _WORKER_RULES, walk, root)


# -- parent side -----------------------------------------------------------------------------------
def _prescan(paths: Sequence[Path], modules: dict[Path, str], roots: dict[Path, str]) -> set[Path]:
    """The files worth walking: DB code, its importers (transitively), what they import, and
    event-loop code with its direct importers."""
    db_seed: set[Path] = set()
    loop: set[Path] = set()
    imports: dict[Path, set[str]] = {}
    for path in paths:
        try:
            text = path.read_bytes()
        except OSError:
            continue
        if K.DB_TOKENS.search(text):
            db_seed.add(path)
        if K.LOOP_TOKENS.search(text):
            loop.add(path)
        mod = modules[path]
        package = mod if path.stem == "__init__" else mod.rpartition(".")[0]
        imports[path] = _imported_modules(text, package)
    by_module = {(roots[p], m): p for p, m in modules.items()}
    importers: dict[Path, set[Path]] = {}
    imported: dict[Path, set[Path]] = {}
    for path, names in imports.items():
        for name in names:
            target = by_module.get((roots[path], name))
            if target is not None and target != path:
                importers.setdefault(target, set()).add(path)
                imported.setdefault(path, set()).add(target)
    up = _closure(db_seed, importers)
    down = _closure(up, imported)
    # Event-loop code plus its direct importers (where a bridge decorator gets applied).
    loop_users = {user for path in loop for user in importers.get(path, ())}
    return down | loop | loop_users


def _closure(start: set[Path], edges: dict[Path, set[Path]]) -> set[Path]:
    seen = set(start)
    stack = list(start)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _imported_modules(text: bytes, package: str) -> set[str]:
    found: set[str] = set()
    for m in _IMPORT_RE.finditer(text):
        if m.group(3) is not None:
            for part in m.group(3).split(b","):
                name = part.strip().split()[0] if part.strip() else b""
                if name:
                    found.add(name.decode("ascii", "replace"))
            continue
        base = m.group(1).decode("ascii", "replace")
        level = len(base) - len(base.lstrip("."))
        base = base.lstrip(".")
        if level:
            pkg = package
            for _ in range(level - 1):
                pkg = pkg.rpartition(".")[0]
            base = f"{pkg}.{base}".strip(".") if base else pkg
        found.add(base)
        for part in m.group(2).strip(b"()").split(b","):
            name = part.strip().split()[0] if part.strip() else b""
            if name and name != b"*":
                found.add(f"{base}.{name.decode('ascii', 'replace')}".strip("."))
    return found


def check_paths(
    paths: Iterable[str | os.PathLike[str]],
    config: CheckConfig,
    *,
    use_cache: bool = True,
    jobs: int | None = None,
) -> CheckResult:
    """Check every Python file under ``paths`` with the rules ``config`` selects.

    Raises :class:`FileNotFoundError` for a path that does not exist; never raises for a file
    that cannot be read, decoded or parsed (that is a PW000 finding).
    """
    files = list(discover(paths, config.exclude))
    rules = [cls() for cls in select_rules(config.select, config.ignore)]
    codes = tuple(r.CODE for r in rules)
    reported = reported_codes(config.select, config.ignore)
    cache = Cache.open(config.cache_dir, codes) if use_cache else None

    results: dict[Path, FileResult] = {}
    todo: list[Path] = []
    for path in files:
        hit = cache.get(path) if cache is not None else None
        if hit is not None:
            results[path] = hit
        else:
            todo.append(path)
    cached = len(files) - len(todo)
    if todo:
        modules: dict[Path, str] = {}
        packages: dict[Path, bool] = {}
        roots: dict[Path, str] = {}
        for path in files:
            modules[path], packages[path], roots[path] = module_name(path)
        # One changed file can change which others must be walked (a new DB import): always pre-scan.
        walk_set = _prescan(files, modules, roots) if len(files) > 1 else set(todo)
        if cache is not None:
            # A cached file that did not walk but now must (a new DB import elsewhere) is redone.
            for path, res in list(results.items()):
                if res.summary is None and not res.findings and path in walk_set:
                    todo.append(path)
                    del results[path]
        jobs_list = [(str(p), modules[p], packages[p], p in walk_set, roots[p]) for p in todo]
        for path, res in zip(todo, _run_jobs(jobs_list, codes, jobs), strict=True):
            results[path] = res
            if cache is not None:
                cache.put(path, res)
        if cache is not None:
            cache.save()

    ordered = [results[p] for p in files]
    index = ProjectIndex(r.summary for r in ordered if r.summary is not None)
    by_code = {r.CODE: r for r in rules}
    out = CheckResult(files=len(files), lines=sum(r.lines for r in ordered), cached=cached)
    for res in ordered:
        found = list(res.findings)
        for pending in res.pendings:
            rule = by_code.get(pending.code)
            if rule is None:
                continue
            message = rule.resolve(pending, index)
            if message is not None:
                found.append(_finding(res.path, rule, pending.span, message, pending.severity))
        rel_ignores = config.ignored_codes(res.path)
        for f in found:
            if f.code in rel_ignores or f.code not in reported:
                continue
            if is_suppressed(res.suppressions, f):
                continue
            out.findings.append(f)
    out.findings = sorted(set(out.findings))
    return out


def _finding(path: str, rule: Rule, span: Span, message: str, severity: Severity | None) -> Finding:
    return Finding(path, span.line, span.col, rule.CODE, span.end_line, span.end_col,
                   rule.NAME, message, severity or rule.SEVERITY)


def _run_jobs(
    jobs_list: list[tuple[str, str, bool, bool, str]], codes: Sequence[str], jobs: int | None
) -> list[FileResult]:
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(jobs_list) < _PARALLEL_MIN_FILES:
        _WORKER_RULES[:] = [cls() for cls in ALL_RULES if cls.CODE in codes]
        saved = sys.getrecursionlimit()
        sys.setrecursionlimit(max(saved, 8000))
        try:
            return [_work(job) for job in jobs_list]
        finally:
            sys.setrecursionlimit(saved)
    import multiprocessing

    method = "fork" if sys.platform == "linux" else None
    mp = multiprocessing.get_context(method)
    chunk = max(1, min(32, len(jobs_list) // (workers * 8)))
    with ProcessPoolExecutor(workers, mp_context=mp, initializer=_init_worker, initargs=(tuple(codes),)) as pool:
        return list(pool.map(_work, jobs_list, chunksize=chunk))
