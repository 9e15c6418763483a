"""The result cache: an unchanged tree re-checks without reading or parsing a file.

One pickle file per (poolwarden version and source, selected rules) under the cache directory; an entry
is keyed by the absolute path and valid while the file's size and mtime are unchanged. A
damaged or foreign cache file is ignored, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from poolwarden import __version__
from poolwarden.check.summary import FileResult

_Key = tuple[int, int]


@functools.cache
def _code_digest() -> str:
    """A digest of the analyzer's own source: results cached by another build are never reused."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


class Cache:
    """Per-file :class:`FileResult` entries, keyed by path, size and mtime."""

    def __init__(self, file: Path, entries: dict[str, tuple[_Key, FileResult]]) -> None:
        self.file = file
        self.entries = entries
        self.dirty = False

    @classmethod
    def open(cls, directory: str | os.PathLike[str], codes: tuple[str, ...]) -> Cache:
        salt = hashlib.sha256(f"{__version__}|{_code_digest()}|{','.join(sorted(codes))}".encode()).hexdigest()[:16]
        file = Path(directory) / f"check-{salt}.pickle"
        entries: dict[str, tuple[_Key, FileResult]] = {}
        try:
            with file.open("rb") as fh:
                loaded = pickle.load(fh)
            if isinstance(loaded, dict):
                entries = loaded
        except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
            entries = {}
        return cls(file, entries)

    @staticmethod
    def _key(path: Path) -> _Key | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def get(self, path: Path) -> FileResult | None:
        entry = self.entries.get(os.path.abspath(path))
        if entry is None or entry[0] != self._key(path) or entry[1].path != str(path):
            return None
        return entry[1]

    def put(self, path: Path, result: FileResult) -> None:
        key = self._key(path)
        if key is not None:
            self.entries[os.path.abspath(path)] = (key, result)
            self.dirty = True

    def save(self) -> None:
        """Write the cache atomically; a cache that cannot be written is silently skipped."""
        if not self.dirty:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            gitignore = self.file.parent / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# Created by poolwarden\n*\n")
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(self.entries, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.file)
            for stale in self.file.parent.glob("check-*.pickle"):
                if stale != self.file:
                    stale.unlink(missing_ok=True)  # written by another build or rule selection
        except OSError:
            return
