"""Running a check: read, parse and walk every file (in parallel), then join and resolve.

1. discover the files and pre-scan their raw text: only files that can take part in a
   database story (DB code, modules importing it, modules it imports, event-loop code) are
   walked; every file is parsed, so every syntax error is reported as PW000;
2. per file, in a worker process: parse, one walk with the selected rules, suppressions
   (files are read with :mod:`poolwarden.check.source`: regular files within ``max-file-size``
   only; results are cached as data by path and stat);
3. in the parent: build the :class:`ProjectIndex` from the summaries and let each rule
   resolve its deferred findings; apply suppressions, per-file ignores and ``--diff``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from poolwarden.check import source as S
from poolwarden.check.cache import Cache, run_digest, stat_key
from poolwarden.check.config import CheckConfig
from poolwarden.check.context import FileContext
from poolwarden.check.django_settings import database_writes
from poolwarden.check.files import discover
from poolwarden.check.finding import Finding, Severity, Span
from poolwarden.check.mentions import serves_asgi, sets_atomic_requests, sets_connect_timeout, sets_settings_timeout
from poolwarden.check.modules import module_name, prescan
from poolwarden.check.pooler_signals import pooler_signal
from poolwarden.check.project import ProjectIndex
from poolwarden.check.registry import ALL_RULES, reported_codes, select_rules
from poolwarden.check.rule import Rule
from poolwarden.check.summary import FileResult
from poolwarden.check.suppress import is_suppressed, suppressions
from poolwarden.check.walk import Walker
from poolwarden.check.warm import Recorder

if TYPE_CHECKING:
    from concurrent.futures import Executor

_PARALLEL_MIN_FILES = 24
_PARALLEL_PRESCAN_MIN = 1000  # files: below, reading them in one process is cheaper than forking


@dataclass
class CheckResult:
    """What a check run found, plus how much it read."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    lines: int = 0
    cached: int = 0
    warnings: list[str] = field(default_factory=list)  # for stderr: skipped non-regular files, nothing found


def analyze_source(
    source: bytes, path: str, module: str, is_package: bool, rules: Sequence[Rule], walk: bool = True,
    root: str = "", db_near: bool = False,
) -> FileResult:
    """Analyse one file in isolation. Never raises for bad input: it becomes a PW000 finding."""
    parsed = S.parse(source, path)
    if isinstance(parsed, S.Failure):
        return failure_result(path, parsed, S.line_count(source))
    return analyze_parsed(parsed, path, module, is_package, rules, walk, root, db_near)


def analyze_parsed(
    parsed: S.Parsed, path: str, module: str, is_package: bool, rules: Sequence[Rule], walk: bool = True,
    root: str = "", db_near: bool = False,
) -> FileResult:
    """Walk a parsed file with ``rules`` (``walk=False``: parse only, for PW000).

    ``db_near``: the file imports a project module that is database code, so DB-looking names
    (``pool``, ``session``, ``conn``) are taken as DB handles even if it imports no driver itself.
    """
    result = FileResult(path=path, lines=S.line_count(parsed.source), walked=walk, db_near=db_near)
    if not walk:
        return result
    ctx = FileContext(path, module, is_package, root)
    ctx.db_near = db_near
    try:
        Walker(ctx, [type(rule)() for rule in rules]).run(parsed.tree)  # fresh rules: no state crosses files
    except RecursionError:
        result.findings.append(pw000(path, S.Failure("too-deep", "cannot analyse: nesting too deep to analyse")))
        return result
    ctx.summary.sets_connect_timeout = not ctx.is_test and sets_connect_timeout(parsed.source, parsed.tree, ctx)
    ctx.summary.atomic_requests = not ctx.is_test and sets_atomic_requests(parsed.source, parsed.tree)
    if not ctx.is_test:
        ctx.summary.asgi, ctx.summary.asgi_app, ctx.summary.wsgi_app = serves_asgi(parsed.source, parsed.tree, ctx)
        ctx.summary.settings_timeout = sets_settings_timeout(parsed.source, parsed.tree)
        ctx.summary.settings_writes = database_writes(parsed.source, parsed.tree)
        ctx.summary.pooler = pooler_signal(parsed.source, parsed.tree, ctx)
    result.findings = ctx.findings
    result.pendings = ctx.pendings
    result.summary = ctx.summary
    if ctx.findings or ctx.pendings:
        result.suppressions = suppressions(parsed.source)
    return result


def pw000(path: str, failure: S.Failure) -> Finding:
    """The PW000 finding that reports why ``path`` could not be analysed."""
    return Finding(path, failure.line, failure.col, "PW000", failure.line, failure.col, "syntax-error",
                   failure.message, "error")


def failure_result(path: str, failure: S.Failure, lines: int = 0) -> FileResult:
    return FileResult(path=path, lines=lines, findings=[pw000(path, failure)])


# -- worker side -----------------------------------------------------------------------------------
_WORKER_RULES: list[Rule] = []


def _init_worker(codes: Sequence[str]) -> None:
    gc.disable()  # ASTs hold no cycles; the collector only costs time here
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 8000))
    _WORKER_RULES[:] = [cls() for cls in ALL_RULES if cls.CODE in codes]


_Job = tuple[str, str, bool, bool, str, int, bool]


def _work(job: _Job) -> FileResult:
    path, module, is_package, walk, root, max_size, db_near = job
    loaded = S.load(path, max_size)
    if isinstance(loaded, S.Failure):
        return failure_result(path, loaded)
    result = analyze_parsed(loaded, path, module, is_package, _WORKER_RULES, walk, root, db_near)
    del loaded  # the tree goes before the next file is read: one file's AST at a time per worker
    return result


# -- parent side -----------------------------------------------------------------------------------
def check_paths(
    paths: Iterable[str | os.PathLike[str]],
    config: CheckConfig,
    *,
    use_cache: bool = True,
    jobs: int | None = None,
    recorder: Recorder | None = None,
) -> CheckResult:
    """Check every Python file under ``paths`` with the rules ``config`` selects.

    Raises :class:`FileNotFoundError` for a path that does not exist; never raises for a file
    that cannot be read, decoded or parsed, or is over ``max-file-size`` (that is a PW000 finding).
    A discovered file that is not a regular file (a FIFO, socket or device named ``*.py``) is
    skipped with a warning; no file found at all is a warning too (``CheckResult.warnings``).
    With ``recorder`` and the cache, the run leaves the memo a warm run answers from
    (:mod:`poolwarden.check.warm`).
    """
    names: list[str] = [os.fspath(p) for p in paths]
    walk_errors: list[FileResult] = []

    def onerror(path: str, exc: OSError) -> None:
        walk_errors.append(failure_result(path, S.unreadable(exc)))

    found = list(discover(names, config.exclude, onerror=onerror, probes=recorder.probes if recorder else None))
    rules = [cls() for cls in select_rules(config.selected, config.ignore)]
    codes = tuple(r.CODE for r in rules)
    cache = Cache.open(config.cache_dir, codes) if use_cache else None
    max_size = config.max_file_size
    warnings: list[str] = []

    files: list[Path] = []
    results: dict[Path, FileResult] = {}
    keys: dict[Path, tuple[int, int, int, int]] = {}
    todo: list[Path] = []
    stats: dict[Path, os.stat_result] = {}
    for path in found:
        try:
            stats[path] = os.stat(path)
        except OSError:
            continue
    if recorder is not None:
        recorder.probes.files(found, stats)
        if config.pgbouncer_ini is not None:  # read with the config (PW111's pooler): its change is a change
            recorder.probes.stat(os.fspath(config.pgbouncer_ini))
    digest = run_digest(found, stats, config, codes, [r.path for r in walk_errors]) if cache is not None else ""
    if cache is not None:
        memo = cache.get_run(digest)
        if memo is not None:  # nothing changed since the last run: its findings stand
            n_files, n_lines, memo_findings = memo
            warnings = [f"{p}: {S.not_regular(st.st_mode).message}" for p, st in stats.items()
                        if not stat.S_ISREG(st.st_mode)]
            out = CheckResult(findings=memo_findings, files=n_files, lines=n_lines, cached=n_files,
                              warnings=warnings)
            if recorder is not None:
                recorder.save(config.cache_dir, out)
            return out
    for path in found:
        st_or_none = stats.get(path)
        if st_or_none is None:  # a dangling symlink, a symlink loop, a file gone since discovery
            try:
                st = os.stat(path)
            except OSError as exc:
                files.append(path)
                results[path] = failure_result(str(path), S.unreadable(exc))
                continue
        else:
            st = st_or_none
        if not stat.S_ISREG(st.st_mode):
            warnings.append(f"{path}: {S.not_regular(st.st_mode).message}")
            continue
        files.append(path)
        if max_size and st.st_size > max_size:
            results[path] = failure_result(str(path), S.too_big(st.st_size, max_size))
            continue
        keys[path] = stat_key(st)
        hit = cache.get(path, keys[path]) if cache is not None else None
        if hit is not None and hit.summary is not None and \
                (hit.summary.module, hit.summary.root) != module_name(path)[::2]:
            hit = None  # a package made or removed above it: the module has another name now
        if hit is not None:
            results[path] = hit
        else:
            todo.append(path)
    cached = len(keys) - len(todo)
    if todo:
        modules: dict[Path, str] = {}
        packages: dict[Path, bool] = {}
        roots: dict[Path, str] = {}
        readable = list(keys)
        for path in readable:
            modules[path], packages[path], roots[path] = module_name(path)
        # One changed file can change which others must be walked (a new DB import): always pre-scan.
        # A big tree is pre-scanned by the workers that then analyse it (one pool for both).
        big = len(readable) >= _PARALLEL_PRESCAN_MIN
        with _pool(codes, jobs) if big else contextlib.nullcontext() as pool:
            walk_set, db_near = (prescan(readable, modules, roots, max_size, pool) if len(readable) > 1
                                 else (set(readable), set()))
            if cache is not None:
                # A cached file is redone when what the pre-scan decided for it changed with other files:
                # whether it is walked (a new DB import elsewhere, or one removed), whether it imports DB code.
                for path in readable:
                    res = results.get(path)
                    if res is None or (not res.summary and res.findings and not res.walked):
                        continue  # not cached, or could not be parsed (the same either way)
                    if res.walked != (path in walk_set) or res.db_near != (path in db_near):
                        todo.append(path)
                        del results[path]
            jobs_list = [(str(p), modules[p], packages[p], p in walk_set, roots[p], max_size, p in db_near)
                         for p in todo]
            done = _run_jobs(jobs_list, codes, jobs, pool)
        for path, res in zip(todo, done, strict=True):
            results[path] = res
            if cache is not None:
                cache.put(path, keys[path], res)
    if not files and not walk_errors:
        warnings.append(f"no Python files found under {', '.join(names) or '.'}")
    out = _finish([results[p] for p in files] + walk_errors, rules, config, files=len(files), cached=cached)
    out.warnings = warnings
    if cache is not None:
        cache.put_run(digest, out.files, out.lines, out.findings)
        cache.save()
        if recorder is not None:
            recorder.save(config.cache_dir, out)
    return out


def check_source(source: bytes, filename: str, config: CheckConfig) -> CheckResult:
    """Check one file's text given directly (``poolwarden check -``, with ``--stdin-filename``).

    ``filename`` names it in findings and for ``per-file-ignores``; the module name is derived from
    it as for a file on disk. The file is checked alone: no other module joins the project index.
    """
    rules = [cls() for cls in select_rules(config.selected, config.ignore)]
    max_size = config.max_file_size
    if max_size and len(source) > max_size:
        # the reader stops one byte past the limit: say "over", not a size it did not see
        result = failure_result(filename, S.Failure("too-big", f"skipped: over the {max_size:,}-byte limit "
                                                               "(max-file-size)"))
    else:
        module, is_package, root = module_name(Path(filename))
        saved = sys.getrecursionlimit()
        sys.setrecursionlimit(max(saved, 8000))
        try:
            result = analyze_source(source, filename, module, is_package, rules, True, root)
        finally:
            sys.setrecursionlimit(saved)
    return _finish([result], rules, config, files=1, cached=0)


def _finish(ordered: list[FileResult], rules: Sequence[Rule], config: CheckConfig, *, files: int,
            cached: int) -> CheckResult:
    """Join the per-file results: resolve deferred findings, apply ignores and suppressions."""
    reported = reported_codes(config.selected, config.ignore)
    index = ProjectIndex((r.summary for r in ordered if r.summary is not None), pooler=config.pooler)
    by_code = {r.CODE: r for r in rules}
    out = CheckResult(files=files, lines=sum(r.lines for r in ordered), cached=cached)
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


def _run_jobs(jobs_list: list[_Job], codes: Sequence[str], jobs: int | None,
              pool: Executor | None = None) -> list[FileResult]:
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if pool is not None and len(jobs_list) >= _PARALLEL_MIN_FILES:
        return list(pool.map(_work, jobs_list, chunksize=_chunk(len(jobs_list), workers)))
    if workers <= 1 or len(jobs_list) < _PARALLEL_MIN_FILES:
        _WORKER_RULES[:] = [cls() for cls in ALL_RULES if cls.CODE in codes]
        saved = sys.getrecursionlimit()
        sys.setrecursionlimit(max(saved, 8000))
        try:
            return [_work(job) for job in jobs_list]
        finally:
            sys.setrecursionlimit(saved)
    with _pool(codes, jobs) as own:
        assert own is not None
        return list(own.map(_work, jobs_list, chunksize=_chunk(len(jobs_list), workers)))


def _chunk(n_jobs: int, workers: int) -> int:
    return max(1, min(32, n_jobs // (workers * 8)))


@contextlib.contextmanager
def _pool(codes: Sequence[str], jobs: int | None) -> Iterator[Executor | None]:
    """The worker processes of one run (None when one process does the work)."""
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers <= 1:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor  # here: a warm run never pays for it

    mp = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    with ProcessPoolExecutor(workers, mp_context=mp, initializer=_init_worker, initargs=(tuple(codes),)) as pool:
        yield pool
