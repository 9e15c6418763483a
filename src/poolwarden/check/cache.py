"""The result cache: an unchanged tree re-checks without reading or parsing a file.

Data only, never code: one JSON file per (poolwarden version and source, selected rules) under the
cache directory. Static analysis must never execute anything from the tree it reads, and a cache
directory can come with a cloned repository, so the cache is plain JSON (never pickle), read with
the same non-blocking, size-bounded reader as source files, and every entry is validated field by
field on the way back in: an entry of the wrong shape or type, a number out of range, nesting too
deep, a truncated or foreign file — anything unexpected is a miss (that file is analysed again),
never an error and never trusted.

An entry is keyed by the absolute path and valid while the file's size, mtime, ctime and inode are
unchanged (ctime and inode cannot be set by whoever wrote the cache file, so an entry planted in a
repository does not match the files of a fresh clone).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poolwarden import __version__
from poolwarden.check import source as S
from poolwarden.check.finding import Finding, Pending, Span, rebuild, values
from poolwarden.check.registry import deferred_class
from poolwarden.check.summary import FileResult, FunctionFacts, ModuleSummary

if TYPE_CHECKING:
    from poolwarden.check.config import CheckConfig

_Key = tuple[int, int, int, int]
FORMAT = 1
_MAX_CACHE_BYTES = 256 * 1024 * 1024
_MAX_INT = 1 << 53
_MAX_DATA_DEPTH = 6
_SEVERITIES = frozenset({"error", "warning"})


@functools.cache
def _code_digest() -> str:
    """A digest of the analyzer's own source: results cached by another build are never reused."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def stat_key(st: os.stat_result) -> _Key:
    """What must be unchanged for a cached result to stand."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class Invalid(Exception):
    """A cache entry is not what this build writes."""


class Cache:
    """Per-file :class:`FileResult` entries, keyed by path and :func:`stat_key`."""

    def __init__(self, file: Path, entries: dict[str, Any], run: Any = None) -> None:
        self.file = file
        self.entries = entries  # abspath -> encoded entry (validated when used)
        self.run = run  # the last whole run: [digest, files, lines, findings] (validated when used)
        self.dirty = False

    @classmethod
    def open(cls, directory: str | os.PathLike[str], codes: tuple[str, ...]) -> Cache:
        salt = hashlib.sha256(f"{__version__}|{_code_digest()}|{','.join(sorted(codes))}".encode()).hexdigest()[:16]
        file = Path(directory) / f"check-{salt}.json"
        entries: dict[str, Any] = {}
        run: Any = None
        data = S.read(file, _MAX_CACHE_BYTES)
        if not isinstance(data, S.Failure):
            try:
                loaded = json.loads(data)
            except (ValueError, RecursionError, MemoryError):  # UnicodeDecodeError is a ValueError
                loaded = None
            if (isinstance(loaded, dict) and loaded.get("format") == FORMAT
                    and isinstance(loaded.get("entries"), dict)):
                entries = loaded["entries"]
                run = loaded.get("run")
        return cls(file, entries, run)

    def get_run(self, digest: str) -> tuple[int, int, list[Finding]] | None:
        """The files, lines and findings of the last run, if it read exactly what ``digest`` names."""
        try:
            stored, files, lines, findings = _list(self.run, 4)
            if stored != digest:
                return None
            return _pos(files), _pos(lines), [_finding(f) for f in _list(findings)]
        except (Invalid, RecursionError, TypeError, ValueError, KeyError, IndexError):
            return None

    def put_run(self, digest: str, files: int, lines: int, findings: list[Finding]) -> None:
        self.run = [digest, files, lines, [_encode_finding(f) for f in findings]]
        self.dirty = True

    def get(self, path: Path, key: _Key) -> FileResult | None:
        """The cached result of ``path`` if its entry is valid for ``key``; else None (a miss)."""
        entry = self.entries.get(os.path.abspath(path))
        try:
            if not isinstance(entry, list) or len(entry) != 2 or not _is_key(entry[0]) or tuple(entry[0]) != key:
                return None
            result = decode_result(entry[1])
        except (Invalid, RecursionError, TypeError, ValueError, KeyError, IndexError):
            return None
        return result if result.path == str(path) else None

    def put(self, path: Path, key: _Key, result: FileResult) -> None:
        self.entries[os.path.abspath(path)] = [list(key), encode_result(result)]
        self.dirty = True

    def save(self) -> None:
        """Write the cache atomically; a cache that cannot be written is silently skipped."""
        if not self.dirty:
            return
        if not write_atomically(self.file, {"format": FORMAT, "entries": self.entries, "run": self.run}):
            return
        try:
            for pattern in ("check-*.json", "check-*.pickle"):  # pickles: written by older builds
                for stale in self.file.parent.glob(pattern):
                    if stale != self.file:
                        stale.unlink(missing_ok=True)  # written by another build or rule selection
        except OSError:
            return


def write_atomically(file: str | os.PathLike[str], doc: Any) -> bool:
    """Write ``doc`` as JSON to ``file`` in the cache directory (made, with its ``.gitignore``, if
    missing) by a rename: a reader sees the old file or the new one, never half of one. False when
    it cannot be written."""
    directory = Path(file).parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_gitignore(directory / ".gitignore")
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, separators=(",", ":"))
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except (OSError, ValueError, RecursionError):
        return False
    return True


def _write_gitignore(path: Path) -> None:
    """Create the cache directory's ``.gitignore`` once, never through a symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError:
        return  # it exists (or cannot be made): fine either way
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# Created by poolwarden\n*\n")


# -- encoding: plain lists, strings, numbers, booleans and null only -----------------------------
def encode_result(r: FileResult) -> list[Any]:
    return [
        r.path,
        r.lines,
        r.walked,
        r.db_near,
        [_encode_finding(f) for f in r.findings],
        [[p.code, [p.span.line, p.span.col, p.span.end_line, p.span.end_col], _encode_data(values(p.data)),
          p.severity]
         for p in r.pendings],
        None if r.summary is None else _encode_summary(r.summary),
        [[line, None if codes is None else sorted(codes)] for line, codes in r.suppressions.items()],
    ]


def _encode_finding(f: Finding) -> list[Any]:
    return [f.path, f.line, f.col, f.code, f.end_line, f.end_col, f.name, f.message, f.severity]


def _encode_data(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_encode_data(v) for v in value]
    return value


def _encode_summary(s: ModuleSummary) -> list[Any]:
    return [
        s.module, s.path, s.root, s.imports,
        {name: [f.line, f.is_async, f.db, f.io, f.returns_acquired, f.returns_pooled,
                [list(c) for c in f.calls], f.return_refs, f.ends_tx, f.tail_ref, f.returns_kind,
                f.raise_db, f.contained, f.dropped, f.command, f.handed, [list(t) for t in f.tx_io],
                [list(t) for t in f.tx_calls], f.tx_exit_open, f.tx_exit_after, f.abstract, f.yield_tx,
                f.yield_refs]
         for name, f in s.functions.items()},
        {name: list(bases) for name, bases in s.classes.items()},
        s.aliases,
        [list(d) for d in s.decorated],
        s.attr_types,
        s.instances,
        s.star_imports,
        s.sets_connect_timeout,
        s.atomic_requests,
        [list(r) for r in s.receivers],
        [s.asgi, s.asgi_app, s.wsgi_app, s.settings_timeout, s.settings_writes],
        s.pooler,
    ]


# -- decoding: every field checked; anything else raises Invalid --------------------------------
def _check(ok: bool) -> None:
    if not ok:
        raise Invalid


def _str(v: Any) -> str:
    _check(type(v) is str)
    return v  # type: ignore[no-any-return]


def _opt_str(v: Any) -> str | None:
    return None if v is None else _str(v)


def _int(v: Any) -> int:
    _check(type(v) is int and -_MAX_INT <= v <= _MAX_INT)
    return v  # type: ignore[no-any-return]


def _pos(v: Any) -> int:
    n = _int(v)
    _check(n >= 0)
    return n


def _index(v: Any, size: int) -> int:
    n = _pos(v)
    _check(n < size)
    return n


def _bool(v: Any) -> bool:
    _check(type(v) is bool)
    return v  # type: ignore[no-any-return]


def _list(v: Any, n: int | None = None) -> list[Any]:
    _check(type(v) is list and (n is None or len(v) == n))
    return v  # type: ignore[no-any-return]


def _dict(v: Any) -> dict[str, Any]:
    _check(type(v) is dict)
    return v  # type: ignore[no-any-return]


def _str_map(v: Any) -> dict[str, str]:
    d = _dict(v)
    for value in d.values():
        _str(value)
    return d


def _is_key(v: Any) -> bool:
    return type(v) is list and len(v) == 4 and all(type(x) is int for x in v)


def _severity(v: Any) -> Any:
    _check(v in _SEVERITIES)
    return v


def _decode_data(v: Any, depth: int = 0) -> Any:
    _check(depth <= _MAX_DATA_DEPTH)
    if type(v) is list:
        return tuple(_decode_data(x, depth + 1) for x in v)
    if v is None or type(v) in (str, bool):
        return v
    return _int(v)


def _finding(v: Any) -> Finding:
    fp, line, col, code, end_line, end_col, name, message, severity = _list(v, 9)
    return Finding(_str(fp), _pos(line), _pos(col), _str(code), _pos(end_line), _pos(end_col), _str(name),
                   _str(message), _severity(severity))


def decode_result(v: Any) -> FileResult:
    """The :class:`FileResult` an entry encodes; raises :class:`Invalid` unless it is exactly that shape."""
    path, lines, walked, db_near, findings, pendings, summary, suppressions = _list(v, 8)
    result = FileResult(path=_str(path), lines=_pos(lines), walked=_bool(walked), db_near=_bool(db_near))
    for f in _list(findings):
        result.findings.append(_finding(f))
    for p in _list(pendings):
        code, span, data, severity = _list(p, 4)
        sl, sc, el, ec = _list(span, 4)
        cls = deferred_class(_str(code))
        _check(cls is not None)
        assert cls is not None
        rebuilt = rebuild(cls, tuple(_decode_data(x) for x in _list(data)))
        _check(rebuilt is not None)
        assert rebuilt is not None
        result.pendings.append(Pending(code, Span(_pos(sl), _pos(sc), _pos(el), _pos(ec)), rebuilt,
                                       None if severity is None else _severity(severity)))
    if summary is not None:
        result.summary = _decode_summary(summary)
    for s in _list(suppressions):
        line, codes = _list(s, 2)
        result.suppressions[_pos(line)] = None if codes is None else frozenset(_str(c) for c in _list(codes))
    return result


def _decode_summary(v: Any) -> ModuleSummary:
    module, path, root, imports, functions, classes, aliases, decorated, attr_types, instances, stars, timeout, \
        atomic, receivers, django, pooler = _list(v, 16)
    asgi, asgi_app, wsgi_app, settings_timeout, writes = _list(django, 5)
    summary = ModuleSummary(_str(module), _str(path), _str(root), _str_map(imports), aliases=_str_map(aliases),
                            attr_types=_str_map(attr_types), instances=_str_map(instances),
                            star_imports=[_str(m) for m in _list(stars)], sets_connect_timeout=_bool(timeout),
                            atomic_requests=_bool(atomic), asgi=_str(asgi), asgi_app=_bool(asgi_app),
                            wsgi_app=_bool(wsgi_app), settings_timeout=_bool(settings_timeout),
                            settings_writes=[_str(w) for w in _list(writes)], pooler=_str(pooler))
    # The hot loop of a warm run: checks inlined (one entry per function of every walked module).
    for name, f in _dict(functions).items():
        line, is_async, db, io, acquired, pooled, calls, return_refs, ends_tx, tail_ref, kind, raise_db, contained, \
            dropped, command, handed, tx_io, tx_calls, exit_open, exit_after, abstract, yield_tx, \
            yield_refs = _list(f, 23)
        pairs: list[tuple[str, int]] = []
        for c in _list(calls):
            if type(c) is not list or len(c) != 2:
                raise Invalid
            ref, at = c
            if type(ref) is not str or type(at) is not int or not 0 <= at <= _MAX_INT:
                raise Invalid
            pairs.append((ref, at))
        refs = _list(return_refs)
        for r in refs:
            if type(r) is not str:
                raise Invalid
        summary.functions[name] = FunctionFacts(
            _pos(line), _bool(is_async), _opt_str(db), _opt_str(io), _opt_str(acquired), _bool(pooled),
            pairs, list(refs), _bool(ends_tx), _opt_str(tail_ref), _opt_str(kind), _opt_str(raise_db),
            [_pos(n) for n in _list(contained)], [_index(n, len(pairs)) for n in _list(dropped)], _bool(command),
            _bool(handed),
            [(_str(site), _opt_str(after)) for site, after in (_list(t, 2) for t in _list(tx_io))],
            [(_index(i, len(pairs)), _opt_str(after), _bool(passes))
             for i, after, passes in (_list(t, 3) for t in _list(tx_calls))],
            _bool(exit_open), [_str(r) for r in _list(exit_after)], _bool(abstract), _bool(yield_tx),
            [_str(r) for r in _list(yield_refs)],
        )
    for name, bases in _dict(classes).items():
        summary.classes[name] = tuple(_str(b) for b in _list(bases))
    summary.decorated = [(_str(d[0]), _bool(d[1])) for d in (_list(d, 2) for d in _list(decorated))]
    summary.receivers = [(_str(r[0]), _str(r[1])) for r in (_list(r, 2) for r in _list(receivers))]
    return summary


# -- the whole-run memo --------------------------------------------------------------------------
def run_digest(found: Sequence[Path], stats: dict[Path, os.stat_result], config: CheckConfig,
               codes: Sequence[str], unreadable: Sequence[str]) -> str:
    """What a whole run read and how it was asked: every file's path and stat key, the rules and the
    settings that shape findings. Equal digests mean equal findings."""
    h = hashlib.sha256()
    settings = [sorted(codes), sorted(config.selected), sorted(config.ignore),
                sorted((k, sorted(v)) for k, v in config.per_file_ignores.items()), config.max_file_size,
                os.getcwd(), str(config.root), list(unreadable), repr(config.pooler)]
    h.update(json.dumps(settings, default=str).encode("utf-8", "surrogateescape"))
    for path in found:
        st = stats.get(path)
        h.update(b"\n" + os.fsencode(os.path.abspath(path)) + b"\0" + os.fsencode(path)
                 + f"\0{stat_key(st) if st is not None else None}".encode())
    return h.hexdigest()
