"""Precision and recall of ``poolwarden check`` on labelled public services.

Usage::

    .venv/bin/python benchmarks/realworld.py [--service NAME ...] [--markdown] [--unlabelled]

Reads ``benchmarks/realworld/services.json`` (which services, at which pinned commit, which
subdirectories) and ``benchmarks/realworld/labels.json`` (one verdict per location, as
/work/shared/EVALUATION.md defines them). For each service it makes sure a checkout of the
pinned commit exists under ``--checkouts`` (default ``benchmarks/.work/realworld/<name>``; a
missing one is cloned bare from the git dir the fetch tool leaves under ``--mirror-root``
(``<root>/<owner>+<name>/...``), or else from ``https://github.com/<repo>``, and the Python
files of the service's paths at the pinned commit are written out from it), then runs
``python -m poolwarden check <paths> --format json --no-cache`` in a subprocess, with *this*
tree's ``src/`` first on ``PYTHONPATH`` and the checkout as working directory, so that the
reported paths are relative to the repository root like the labels.

Scoring, per finding (``PW000`` excluded) at (path, line, rule):

- a TRUE label: a true positive; a MISS label: a true positive too (a miss now found);
- a FALSE label: a false positive; a DEBATABLE label: debatable (it counts against precision);
- no label: *unlabelled*. Unlabelled findings are not in any ratio; their count is printed
  beside precision and loudly on stderr, and ``--unlabelled`` lists them: label them before
  trusting a figure made after a change of the analyzer.

Per label with no finding: TRUE or MISS is a miss (false negative); FALSE or DEBATABLE is
correctly silent.

Check runs with the opt-in rules (``OPT_IN``: PW108) selected too; they get their own rows, and
the ``total`` rows (per rule and per service) count only the rules on by default — what a user
sees without selecting anything — with a last ``total with opt-in`` row in the per-rule table.

Figures, per rule (PW101-PW111), per service and in total: ``precision`` = true positives /
labelled findings; ``FALSE/all`` = FALSE / labelled findings; ``recall`` = true positives /
(true positives + misses). The ``TRUE`` column counts true positives (MISS labels now found
included). The report names the poolwarden commit that made the findings (``git rev-parse
HEAD`` of this tree, ``+dirty`` when ``src/`` has uncommitted changes).

Exit status: 0 after a report; 2 with one line ``realworld: error: ...`` on stderr for bad
input (a missing or malformed services.json / labels.json, a label with an unknown verdict,
rule or repository, a duplicate label, a commit that cannot be checked out, a check that
fails).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "realworld"
DEFAULT_CHECKOUTS = HERE / ".work" / "realworld"
DEFAULT_MIRROR_ROOT = Path("/work/.mirror")
STAMP = ".poolwarden-realworld"  # in an exported tree: "<commit> <paths>"
# Every subprocess is bounded: a clone of a big service over the network, or check of it on a
# busy machine, takes minutes, never this long.
SUBPROCESS_TIMEOUT = 1800.0

RULES = ("PW101", "PW102", "PW103", "PW104", "PW105", "PW106", "PW107", "PW108", "PW109", "PW110", "PW111")
# Off by default in `poolwarden check`: scored in their own rows, never in the default totals.
OPT_IN = ("PW108",)
VERDICTS = ("TRUE", "FALSE", "DEBATABLE", "MISS")
SERVICE_FIELDS: dict[str, type] = {"name": str, "repo": str, "commit": str, "paths": list, "stack": str, "why": str}
LABEL_FIELDS: dict[str, type] = {"repo": str, "commit": str, "path": str, "line": int, "rule": str, "verdict": str,
                "why": str}
COMMIT = re.compile(r"[0-9a-f]{40}")
REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


class InputError(Exception):
    """Bad input: the scorer has no figure to give (one line, exit 2)."""


# -- the data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Service:
    """One public service at a pinned commit, and the subdirectories that are checked."""

    name: str
    repo: str
    commit: str
    paths: tuple[str, ...]
    stack: str
    why: str


@dataclass(frozen=True)
class Label:
    """One verdict on one location: a finding of ``check`` or a real instance it missed."""

    repo: str
    commit: str
    path: str
    line: int
    rule: str
    verdict: str
    why: str

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.path, self.line, self.rule)


@dataclass(frozen=True)
class Finding:
    """One finding of ``check`` (path relative to the repository root)."""

    path: str
    line: int
    rule: str
    message: str

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.path, self.line, self.rule)


def _load_json_list(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list, got {type(data).__name__}")
    return data


def _check_fields(where: str, obj: Any, fields: dict[str, type]) -> None:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected an object, got {type(obj).__name__}")
    missing = sorted(set(fields) - set(obj))
    extra = sorted(set(obj) - set(fields))
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
    if extra:
        raise InputError(f"{where}: unknown field(s) {', '.join(extra)}")
    for name, kind in fields.items():
        value = obj[name]
        # bool is an int in Python: a "line": true is still wrong.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InputError(f"{where}: field {name!r} must be {kind.__name__}, got {value!r}")
        if isinstance(value, str) and not value.strip():
            raise InputError(f"{where}: field {name!r} is empty")


def _check_rel_path(where: str, path: str) -> None:
    parts = path.split("/")
    if "\\" in path or path.startswith("/") or any(p in ("", "..") for p in parts) or (
            path != "." and "." in parts):
        raise InputError(f"{where}: path {path!r} must be relative to the repository root, "
                         "with forward slashes and no '.', '..' or empty parts")


def load_services(path: Path) -> list[Service]:
    """Read and validate services.json: every field present and typed, names and repos unique."""
    services: list[Service] = []
    names: set[str] = set()
    repos: set[str] = set()
    for i, obj in enumerate(_load_json_list(path)):
        where = f"{path.name}[{i}]"
        _check_fields(where, obj, SERVICE_FIELDS)
        if not NAME.fullmatch(obj["name"]):
            raise InputError(f"{where}: name {obj['name']!r} must match {NAME.pattern}")
        if not REPO.fullmatch(obj["repo"]):
            raise InputError(f"{where}: repo {obj['repo']!r} is not owner/name")
        if not COMMIT.fullmatch(obj["commit"]):
            raise InputError(f"{where}: commit {obj['commit']!r} is not 40 lowercase hex digits")
        paths = obj["paths"]
        if not paths or not all(isinstance(p, str) for p in paths):
            raise InputError(f"{where}: paths must be a non-empty list of strings")
        for p in paths:
            _check_rel_path(where, p)
        if obj["name"] in names:
            raise InputError(f"{where}: duplicate service name {obj['name']!r}")
        if obj["repo"] in repos:
            raise InputError(f"{where}: duplicate repo {obj['repo']!r}")
        names.add(obj["name"])
        repos.add(obj["repo"])
        services.append(Service(obj["name"], obj["repo"], obj["commit"], tuple(paths),
                                obj["stack"], obj["why"]))
    return services


def load_labels(path: Path, services: Sequence[Service]) -> list[Label]:
    """Read and validate labels.json against the services (repo and commit must match one)."""
    pinned = {s.repo: s.commit for s in services}
    labels: list[Label] = []
    seen: dict[tuple[str, str, int, str], int] = {}
    for i, obj in enumerate(_load_json_list(path)):
        where = f"{path.name}[{i}]"
        _check_fields(where, obj, LABEL_FIELDS)
        label = Label(**obj)
        if label.repo not in pinned:
            raise InputError(f"{where}: repo {label.repo!r} is not in services.json")
        if label.commit != pinned[label.repo]:
            raise InputError(f"{where}: commit {label.commit} of {label.repo} is not the pinned "
                             f"commit {pinned[label.repo]}")
        if label.rule not in RULES:
            raise InputError(f"{where}: unknown rule {label.rule!r} (one of {', '.join(RULES)})")
        if label.verdict not in VERDICTS:
            raise InputError(f"{where}: unknown verdict {label.verdict!r} "
                             f"(one of {', '.join(VERDICTS)})")
        if label.line < 1:
            raise InputError(f"{where}: line must be >= 1, got {label.line}")
        _check_rel_path(where, label.path)
        dup = (label.repo, label.path, label.line, label.rule)
        if dup in seen:
            raise InputError(f"{where}: duplicate of {path.name}[{seen[dup]}] "
                             f"({label.repo} {label.path}:{label.line} {label.rule})")
        seen[dup] = i
        labels.append(label)
    return labels


# -- checkouts ----------------------------------------------------------------------------------
def _run(cmd: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False,
                              timeout=SUBPROCESS_TIMEOUT, **kwargs)
    except subprocess.TimeoutExpired:
        raise InputError(f"{' '.join(cmd[:4])} ... took more than {SUBPROCESS_TIMEOUT:.0f} s"
                         ) from None


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return _run(["git", *args], cwd=cwd)


def find_mirror(mirror_root: Path, repo: str) -> Path | None:
    """The bare git dir of ``repo`` under ``mirror_root/<owner>+<name>/`` (at most two deep)."""
    top = mirror_root / repo.replace("/", "+")
    if not top.is_dir():
        return None
    candidates = [top, *sorted(p for p in top.iterdir() if p.is_dir())]
    for cand in candidates:
        if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
            return cand
        if (cand / ".git" / "HEAD").is_file():
            return cand / ".git"
    return None


def ensure_checkout(service: Service, checkouts: Path, mirror_root: Path) -> Path:
    """A tree of ``service``'s Python sources (and ``.gitignore`` files) at its pinned commit.

    The files are written from the git objects of the commit, under the service's paths only: a
    mirror that lacks some blobs (big media, data files) still yields every Python file it has.
    The tree is remade when the commit or paths change (a stamp file records them).
    """
    work = checkouts / service.name
    stamp = work / STAMP
    wanted = f"{service.commit} {' '.join(service.paths)}\n"
    gitdir = checkouts / f".{service.name}.git"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        _export_package_parents(gitdir, service, work)
        return _checked_paths(service, work)
    if not (gitdir / "HEAD").is_file():
        mirror = find_mirror(mirror_root, service.repo)
        source = str(mirror) if mirror else f"https://github.com/{service.repo}"
        gitdir.parent.mkdir(parents=True, exist_ok=True)
        done = _git("clone", "-q", "--bare", source, str(gitdir))
        if done.returncode:
            raise InputError(f"cannot clone {service.repo} from {source}: {_last_line(done.stderr)}")
    if _git("--git-dir", str(gitdir), "cat-file", "-e", f"{service.commit}^{{commit}}").returncode:
        _git("--git-dir", str(gitdir), "fetch", "-q", "origin", service.commit)
    paths = [] if service.paths == (".",) else list(service.paths)
    listing = _git("--git-dir", str(gitdir), "ls-tree", "-r", "-z", service.commit, "--", *paths)
    if listing.returncode:
        raise InputError(f"{service.name}: cannot check out {service.commit}: {_last_line(listing.stderr)}")
    blobs: list[tuple[str, str]] = []
    for entry in listing.stdout.split("\0"):
        meta, _, name = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob" and (name.endswith(".py") or name.endswith(".gitignore")):
            blobs.append((parts[2], name))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    _export(gitdir, blobs, work)
    _export_package_parents(gitdir, service, work)
    stamp.write_text(wanted, encoding="utf-8")
    return _checked_paths(service, work)


def _export_package_parents(gitdir: Path, service: Service, work: Path) -> None:
    """Write the ``__init__.py`` of every directory above the service's paths, as a clone has them.

    Without them ``web/pgadmin/settings`` would be a top-level package ``settings`` instead of
    ``pgadmin.settings``, and its ``from pgadmin.model import db`` would name nothing in the tree.
    """
    wanted = sorted({f"{parent}/__init__.py" for p in service.paths if p != "."
                     for parent in map(str, Path(p).parents) if parent != "."})
    missing = [name for name in wanted if not (work / name).is_file()]
    if not missing:
        return
    listing = _git("--git-dir", str(gitdir), "ls-tree", "-z", service.commit, "--", *missing)
    blobs = []
    for entry in listing.stdout.split("\0"):
        meta, _, name = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            blobs.append((parts[2], name))
    _export(gitdir, blobs, work)


def _export(gitdir: Path, blobs: list[tuple[str, str]], work: Path) -> None:
    """Write each (sha, path) blob under ``work``; blobs the repository lacks are skipped."""
    proc = subprocess.run(["git", "--git-dir", str(gitdir), "cat-file", "--batch"],
                          input="".join(f"{sha}\n" for sha, _ in blobs).encode(), capture_output=True,
                          check=False, timeout=SUBPROCESS_TIMEOUT)
    out = proc.stdout
    pos = 0
    for _sha, name in blobs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # "<sha> missing": the mirror left it out
        size = int(header[2])
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out[pos:pos + size])
        pos += size + 1


def _checked_paths(service: Service, work: Path) -> Path:
    for p in service.paths:
        if not (work / p).exists():
            raise InputError(f"{service.name}: path {p!r} does not exist at {service.commit}")
    return work


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no message)"


# -- running check ----------------------------------------------------------------------------
def run_check(service: Service, work: Path) -> tuple[list[Finding], int]:
    """``poolwarden check`` of this tree over the service's paths: findings, PW000 count."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                      env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "poolwarden", "check", *service.paths, "--format", "json",
           "--no-cache", "--extend-select", ",".join(OPT_IN)]
    proc = _run(cmd, cwd=work, env=env)
    if proc.returncode not in (0, 1):
        raise InputError(f"{service.name}: check exited {proc.returncode}: "
                         f"{_last_line(proc.stderr)}")
    try:
        raw = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise InputError(f"{service.name}: check printed no JSON: {_last_line(proc.stderr)}"
                         ) from None
    findings = []
    unparsed = 0
    for item in raw:
        if item["code"] == "PW000":
            unparsed += 1
            continue
        path = item["path"].replace("\\", "/")
        while path.startswith("./"):
            path = path[2:]
        findings.append(Finding(path, int(item["line"]), item["code"], item["message"]))
    return findings, unparsed


# -- scoring ----------------------------------------------------------------------------------
@dataclass
class Tally:
    """Counts for one row of the tables."""

    findings: int = 0
    true: int = 0
    false: int = 0
    debatable: int = 0
    unlabelled: int = 0
    misses: int = 0
    silent: int = 0

    def add(self, other: Tally) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def labelled(self) -> int:
        return self.true + self.false + self.debatable

    @property
    def precision(self) -> float | None:
        return self.true / self.labelled if self.labelled else None

    @property
    def false_share(self) -> float | None:
        return self.false / self.labelled if self.labelled else None

    @property
    def recall(self) -> float | None:
        return self.true / (self.true + self.misses) if self.true + self.misses else None


@dataclass
class ServiceResult:
    """The scored findings of one service."""

    service: Service
    by_rule: dict[str, Tally] = field(default_factory=lambda: {r: Tally() for r in RULES})
    unlabelled: list[Finding] = field(default_factory=list)
    missed: list[Label] = field(default_factory=list)
    unparsed: int = 0

    @property
    def total(self) -> Tally:
        """The rules on by default (what a user sees without selecting anything)."""
        t = Tally()
        for rule, tally in self.by_rule.items():
            if rule not in OPT_IN:
                t.add(tally)
        return t


def score(service: Service, findings: Iterable[Finding], labels: Iterable[Label]
          ) -> ServiceResult:
    """Match findings and labels of one service at (path, line, rule)."""
    result = ServiceResult(service)
    by_key = {lab.key: lab for lab in labels if lab.repo == service.repo}
    found: set[tuple[str, int, str]] = set()
    for f in findings:
        if f.rule not in result.by_rule or f.key in found:
            continue  # a rule code this scorer does not know; a duplicate report
        found.add(f.key)
        tally = result.by_rule[f.rule]
        tally.findings += 1
        label = by_key.get(f.key)
        if label is None:
            tally.unlabelled += 1
            result.unlabelled.append(f)
        elif label.verdict in ("TRUE", "MISS"):
            tally.true += 1
        elif label.verdict == "FALSE":
            tally.false += 1
        else:
            tally.debatable += 1
    for key, label in by_key.items():
        if key in found:
            continue
        if label.verdict in ("TRUE", "MISS"):
            result.by_rule[label.rule].misses += 1
            result.missed.append(label)
        else:
            result.by_rule[label.rule].silent += 1
    return result


# -- output -----------------------------------------------------------------------------------
def poolwarden_commit() -> str:
    """``git rev-parse HEAD`` of this tree, ``+dirty`` if ``src/`` has uncommitted changes."""
    try:
        head = _git("rev-parse", "--short=12", "HEAD", cwd=ROOT)
        dirty = _git("status", "--porcelain", "--", "src", cwd=ROOT).stdout.strip()
    except InputError:
        return "unknown"
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty else "")


COLUMNS = ("findings", "TRUE", "FALSE", "DEBATABLE", "unlabelled", "misses", "precision",
           "FALSE/all", "recall")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _cells(t: Tally) -> list[str]:
    return [str(t.findings), str(t.true), str(t.false), str(t.debatable), str(t.unlabelled),
            str(t.misses), _pct(t.precision), _pct(t.false_share), _pct(t.recall)]


def tables(results: Sequence[ServiceResult]) -> tuple[list[list[str]], list[list[str]]]:
    """Rows of the per-rule and per-service tables, each ending with a total row."""
    per_rule: list[list[str]] = []
    total, everything = Tally(), Tally()
    for rule in RULES:
        t = Tally()
        for r in results:
            t.add(r.by_rule[rule])
        everything.add(t)
        if rule not in OPT_IN:
            total.add(t)
        per_rule.append([f"{rule} (opt-in)" if rule in OPT_IN else rule, *_cells(t)])
    per_rule.append(["total", *_cells(total)])
    per_rule.append(["total with opt-in", *_cells(everything)])
    per_service = [[r.service.name, *_cells(r.total)] for r in results]
    per_service.append(["total", *_cells(total)])
    return per_rule, per_service


def _print_text(head: str, rows: list[list[str]]) -> None:
    header = [head, *COLUMNS]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def _print_markdown(head: str, rows: list[list[str]]) -> None:
    print("| " + " | ".join([head, *COLUMNS]) + " |")
    print("|---" + "|---:" * len(COLUMNS) + "|")
    for row in rows:
        name = f"**{row[0]}**" if row[0] == "total" else row[0]
        print("| " + " | ".join([name, *row[1:]]) + " |")


def report(results: Sequence[ServiceResult], commit: str, markdown: bool) -> None:
    """Print both tables, the services and the poolwarden commit."""
    per_rule, per_service = tables(results)
    emit = _print_markdown if markdown else _print_text
    if markdown:
        print(f"`poolwarden check` at {commit} on {len(results)} labelled services:\n")
        print("| service | repo | commit | paths | stack | PW000 |")
        print("|---|---|---|---|---|---:|")
        for r in results:
            s = r.service
            print(f"| {s.name} | {s.repo} | {s.commit[:7]} | {', '.join(s.paths)} | {s.stack} "
                  f"| {r.unparsed} |")
        print()
    else:
        print(f"poolwarden {commit}")
        for r in results:
            s = r.service
            print(f"  {s.name}: {s.repo} @ {s.commit[:12]} ({', '.join(s.paths)}); "
                  f"{r.unparsed} file(s) not parsed (PW000)")
        print()
    emit("rule", per_rule)
    print()
    emit("service", per_service)
    if markdown:
        print("\nPW000: files check could not parse (not scored). "
              "precision = TRUE / labelled findings (TRUE counts MISS labels now found); "
              "FALSE/all = FALSE / labelled findings; recall = TRUE / (TRUE + misses); "
              "unlabelled findings are in no ratio.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--service", action="append", default=[], metavar="NAME",
                        help="score only this service (repeatable; default: all)")
    parser.add_argument("--services", type=Path, default=DATA / "services.json",
                        help="services file (default: %(default)s)")
    parser.add_argument("--labels", type=Path, default=DATA / "labels.json",
                        help="labels file (default: %(default)s)")
    parser.add_argument("--checkouts", type=Path, default=DEFAULT_CHECKOUTS,
                        help="where the checkouts live (default: %(default)s)")
    parser.add_argument("--mirror-root", type=Path, default=DEFAULT_MIRROR_ROOT,
                        help="bare git dirs <root>/<owner>+<name>/... to clone from before "
                             "GitHub (default: %(default)s)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--unlabelled", action="store_true",
                        help="list the findings that have no label")
    parser.add_argument("--misses", action="store_true",
                        help="list the TRUE/MISS labels that no finding matches")
    args = parser.parse_args(argv)
    try:
        services = load_services(args.services)
        labels = load_labels(args.labels, services)
        chosen = services
        if args.service:
            known = {s.name: s for s in services}
            unknown = [n for n in args.service if n not in known]
            if unknown:
                raise InputError(f"unknown service {unknown[0]!r} "
                                 f"(known: {', '.join(sorted(known)) or 'none'})")
            chosen = [known[n] for n in dict.fromkeys(args.service)]
        results = []
        for service in chosen:
            work = ensure_checkout(service, args.checkouts, args.mirror_root)
            findings, unparsed = run_check(service, work)
            result = score(service, findings, labels)
            result.unparsed = unparsed
            results.append(result)
    except InputError as exc:
        print(f"realworld: error: {exc}", file=sys.stderr)
        return 2
    report(results, poolwarden_commit(), args.markdown)
    unlabelled = [(r.service.name, f) for r in results for f in r.unlabelled]
    if unlabelled:
        print(f"\nWARNING: {len(unlabelled)} finding(s) have no label and are in no figure; "
              "label them before trusting these numbers (--unlabelled lists them).",
              file=sys.stderr)
    if args.unlabelled:
        print("\nunlabelled findings:")
        for name, f in unlabelled:
            print(f"  [{name}] {f.path}:{f.line} {f.rule} {f.message}")
    if args.misses:
        print("\nmisses (TRUE/MISS labels with no finding):")
        for r in results:
            for lab in r.missed:
                print(f"  [{r.service.name}] {lab.path}:{lab.line} {lab.rule} {lab.verdict}: "
                      f"{lab.why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
