"""``budget --manifests PATH...``: the files a fleet is described in, read safely into workloads.

Paths are files or directories. A directory is walked (symbolic links followed, each real directory
once, so a link loop ends; directories whose name starts with ``.`` skipped) for ``*.yaml``,
``*.yml`` (Kubernetes manifests, ``helm template`` output, compose files) and ``pgbouncer.ini``;
a file given by name is read whatever its name (``*.ini`` as a pgbouncer.ini, anything else as YAML).

YAML is read with libyaml's safe loader (PyYAML's pure-Python ``SafeLoader`` where libyaml is
missing), never a loader that builds objects: ``!!python/object`` is an error, not code. Bounds,
each broken one a :class:`~poolwarden.errors.UsageError` naming the file:

- a file of more than :data:`MAX_FILE` bytes, or of more than :data:`MAX_EVENTS` YAML events;
- a document whose aliases expand past :data:`MAX_NODES` nodes (an alias bomb, "billion laughs"),
  or an alias that contains itself;
- text that is not UTF-8 YAML, or nesting deeper than libyaml's 1000 levels.

Documents are classified as ``kubectl`` / ``docker compose`` would read them (see
:func:`poolwarden.budget.kubernetes.read_objects` and :func:`poolwarden.budget.compose.read_compose`):
an empty document is skipped; a document that is not a mapping is an error (kubectl refuses it);
a mapping with ``kind`` is a Kubernetes object (kinds that run no pods are skipped); a mapping with
a ``services`` mapping is a compose file; any other mapping (a Helm ``values.yaml``, a CI config) is
skipped with a note.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from poolwarden.budget.workload import Workload
from poolwarden.check.display import display_path
from poolwarden.errors import UsageError
from poolwarden.pgbouncer_ini import PgBouncerIni, read_pgbouncer_ini

#: the largest manifest file read (bytes): a fleet's files are kilobytes; helm output a few megabytes
MAX_FILE = 16 * 1024 * 1024
#: the most nodes one document may expand to through its aliases
MAX_NODES = 500_000
#: the most YAML events (nodes, roughly) one file may hold: reading it takes a few seconds at most
MAX_EVENTS = 400_000
#: below this many characters a file cannot hold more than ~130,000 nodes (2 characters a node at least):
#: its events are not counted first
_COUNT_FROM = 256 * 1024
_YAML_SUFFIXES = (".yaml", ".yml")

try:
    _LOADER: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _LOADER = yaml.SafeLoader


@dataclass
class Fleet:
    """What the manifests hold: workloads, a PgBouncer, and notes on what was skipped."""

    workloads: list[Workload] = field(default_factory=list)
    pgbouncer: PgBouncerIni | None = None
    skipped: list[str] = field(default_factory=list)  # "path: document 2: why"
    files: int = 0
    documents: int = 0


def discover(paths: list[str]) -> Iterator[Path]:
    """The manifest files under ``paths`` in a stable order; a missing path is an error."""
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from _walk(path)
        else:
            raise UsageError(f"--manifests {raw}: no such file or directory")


def _wanted(name: str) -> bool:
    return name.endswith(_YAML_SUFFIXES) or name == "pgbouncer.ini"


def _walk(top: Path) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            info = directory.stat()
            key = (info.st_dev, info.st_ino)
            if key in seen:  # a symbolic link back up the tree: read each directory once
                continue
            seen.add(key)
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            shown = display_path(str(directory))
            raise UsageError(f"--manifests {shown}: cannot list: {exc.strerror or exc}") from None
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    subdirs.append(Path(entry.path))
                elif entry.is_file() and _wanted(entry.name):
                    yield Path(entry.path)
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def _read_bytes(path: Path) -> bytes:
    where = display_path(str(path))
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise UsageError(f"{where}: {size} bytes, more than the {MAX_FILE} bytes a manifest may have")
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except OSError as exc:
        raise UsageError(f"{where}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE:
        raise UsageError(f"{where}: more than the {MAX_FILE} bytes a manifest may have")
    return data


def _expanded(node: yaml.Node, where: str) -> None:
    """Refuse a node graph that expands past :data:`MAX_NODES` nodes or holds itself."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    # iterative post-order: (node, children pushed?)
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, ready = stack.pop()
        ident = id(current)
        children: list[yaml.Node] = []
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        if ready:
            active.discard(ident)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_NODES:
                raise UsageError(f"{where}: expands to more than {MAX_NODES} nodes through its aliases "
                                 "(an alias bomb?)")
            sizes[ident] = total
            continue
        if ident in sizes:
            continue
        if ident in active:
            raise UsageError(f"{where}: an alias refers to a node that contains it (a recursive alias)")
        active.add(ident)
        stack.append((current, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def _count_events(text: str, where: str) -> None:
    """Refuse a file of more than :data:`MAX_EVENTS` YAML events before building any node: libyaml's
    events cost ~2 µs each and no memory, nodes ~15 µs and a few hundred bytes each."""
    scanner = _LOADER(text)
    try:
        events = 0
        while scanner.check_event():
            scanner.get_event()
            events += 1
            if events > MAX_EVENTS:
                raise UsageError(f"{where}: more than {MAX_EVENTS} YAML nodes: not read (split the file, or leave "
                                 "out what is not a workload)")
    finally:
        scanner.dispose()


def load_documents(data: bytes, where: str) -> Iterator[tuple[int, Any]]:
    """(1-based number, document) of each YAML document in ``data``, safely (see the module's docstring)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text (byte {exc.start}): not a manifest") from None
    loader = _LOADER(text)
    anchors = "&" in text  # no anchor, no alias: nothing to expand
    number = 0
    try:
        if len(text) > _COUNT_FROM:
            _count_events(text, where)
        while loader.check_node():
            number += 1
            node = loader.get_node()
            if anchors:
                _expanded(node, f"{where}: document {number}")
            yield number, loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{where}: not valid YAML{at}: {' '.join(str(problem).split())[:160]}") from None
    except RecursionError:
        raise UsageError(f"{where}: nesting too deep to read") from None
    except ValueError as exc:  # an integer of more than 4300 digits, a date out of range: the constructor's
        raise UsageError(f"{where}: not valid YAML: a value cannot be read ({str(exc)[:80]})") from None
    finally:
        loader.dispose()


def read_fleet(paths: list[str]) -> Fleet:
    """Every workload and the PgBouncer the files under ``paths`` describe. Raises :class:`UsageError`."""
    from poolwarden.budget.compose import read_compose
    from poolwarden.budget.kubernetes import Objects, read_objects

    fleet = Fleet()
    objects = Objects()
    for path in discover(paths):
        fleet.files += 1
        where = display_path(str(path))
        data = _read_bytes(path)
        if path.suffix == ".ini":
            if fleet.pgbouncer is not None:
                raise UsageError(f"{where}: a second pgbouncer.ini (after {fleet.pgbouncer.where}): give one "
                                 "PgBouncer's settings")
            fleet.pgbouncer = read_pgbouncer_ini(data, where)
            continue
        for number, doc in load_documents(data, where):
            fleet.documents += 1
            at = f"{where}: document {number}"
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise UsageError(f"{at}: a {type(doc).__name__}, not a mapping: not a Kubernetes object or "
                                 "compose file")
            if "kind" in doc:
                objects.add(doc, where, at)
            elif isinstance(doc.get("services"), dict):
                fleet.workloads.extend(read_compose(doc, where))
            else:
                fleet.skipped.append(f"{at}: no 'kind' and no 'services': not a Kubernetes object or compose "
                                     "file, skipped")
    fleet.workloads.extend(read_objects(objects))
    fleet.skipped.extend(objects.skipped)
    return fleet
