"""Speed benchmark of ``poolwarden check``, measured against a bare ``ast.parse`` baseline.

Usage::

    .venv/bin/python benchmarks/check_speed.py [TREE] [--repeat N] [--markdown]
    .venv/bin/python benchmarks/check_speed.py --tree /path/to/service --tree-name service

TREE defaults to the standard library of the running interpreter. The file set is exactly
what ``poolwarden check`` reads (``poolwarden.check.files.discover``: ``site-packages``,
``__pycache__``, ``build`` ... are skipped); "lines" is the sum of the newline counts of
those files. Every measurement runs in a fresh subprocess, its wall time is timed from the
outside (so interpreter start-up and imports count everywhere), and the best of ``--repeat``
runs is kept; the repeats of the cheap measurements are interleaved, round by round, so that
a slow patch of the machine hits them all alike.

Measurements, all in one run on the same files:

baseline
    one process, ``ast.parse`` of every file (read bytes, parse, discard), no analysis:
    the floor a single-process Python analyzer cannot beat.
cold
    ``poolwarden check TREE --no-cache --format json``: every file read, parsed and analysed.
cache-cold / warm
    ``poolwarden check TREE --format json`` twice from a fresh empty working directory under
    ``benchmarks/.work/`` (the cache is ``.poolwarden_cache`` under the working directory when
    no config file names another): the first run analyses everything and writes the cache,
    the second is served from it. Both must report the same findings as ``cold``.
ruff / pylint / semgrep
    for comparison, when installed (looked up in ``benchmarks/.work/venv/bin``, next to this
    interpreter, then on PATH; the scratch venv is created and the tools pip-installed into
    it on first use unless ``--no-install``). They get the same files: ruff and pylint as
    arguments, semgrep as a scratch copy of them scanned as one directory. pylint and semgrep
    run once; when a 1-in-10 sample says a full run would take more than ``--slow-budget``
    seconds, the sample is what is reported (and says so).

poolwarden's modules are byte-compiled first (``compileall``), as a pip install does, so that a
machine with ``PYTHONDONTWRITEBYTECODE`` set does not time their compilation in every run.

How to read the ratios: the ``x baseline`` column is a measurement's wall time per line
divided by the baseline's in the same run (for a full-tree measurement, simply its seconds
over the baseline's). The goals are ``cold / baseline <= 1.5`` (analysing costs at most half
again what parsing alone costs; poolwarden may use several processes, the baseline uses one)
and ``warm / cold <= 0.10`` (an unchanged tree re-checks ten times faster than from scratch).
A ratio below 1 for ``cold`` is possible on a multi-core machine. ``CPU s`` is the user+system
time of the process and its children: CPU s well above wall s means it ran in parallel. The
goals are judged on the numbers of this run only: compare ratios, not seconds, across machines.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
TOOLS_VENV = WORK / "venv"
TOOLS = ("ruff", "pylint", "semgrep")
COLD_GOAL = 1.5
WARM_GOAL = 0.10
SAMPLE_EVERY = 10

SEMGREP_RULE = """\
rules:
  - id: broad-except-returns-none
    languages: [python]
    severity: WARNING
    message: a broad `except Exception` that returns None swallows the error
    pattern-either:
      - pattern: |
          try:
              ...
          except Exception:
              ...
              return None
      - pattern: |
          try:
              ...
          except Exception as $ERR:
              ...
              return None
"""


class BenchmarkError(Exception):
    """A measured command failed: the benchmark has no number for it."""


@dataclass
class Run:
    """One timed subprocess."""

    wall: float
    cpu: float
    stdout: str


@dataclass
class Row:
    """One line of the result table."""

    name: str
    command: str
    runs: list[Run] = field(default_factory=list)
    lines: int = 0
    files: int = 0
    note: str = ""

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda r: r.wall)

    @property
    def per_line(self) -> float:
        return self.best.wall / max(self.lines, 1)


# -- the baseline's own process ---------------------------------------------------------------
def baseline_worker(file_list: Path) -> None:
    """Parse every file named in ``file_list`` and print ``{"files": n, "failures": k}``."""
    paths = file_list.read_text(encoding="utf-8").splitlines()
    failures = 0
    for path in paths:
        try:
            source = Path(path).read_bytes()
            ast.parse(source)
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError, MemoryError, RecursionError):
            failures += 1
    print(json.dumps({"files": len(paths), "failures": failures}))


# -- running and timing -----------------------------------------------------------------------
def timed(cmd: Sequence[str], cwd: Path, ok: Callable[[int], bool] = lambda rc: rc == 0,
          env: dict[str, str] | None = None, timeout: float | None = None) -> Run:
    """Run ``cmd`` once; wall time from outside, CPU time of the child and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not ok(proc.returncode):
        raise BenchmarkError(
            f"{' '.join(cmd[:4])} ... exited {proc.returncode}\n{proc.stderr[-4000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, proc.stdout)


def poolwarden_ok(returncode: int) -> bool:
    """``poolwarden check`` exits 0 (clean) or 1 (findings); anything else is a failure."""
    return returncode in (0, 1)


def fresh_dir(prefix: str) -> Path:
    """A new empty directory under ``benchmarks/.work/``."""
    WORK.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=WORK))


def findings_of(run: Run) -> list[dict[str, object]]:
    data = json.loads(run.stdout)
    if not isinstance(data, list):
        raise BenchmarkError("poolwarden --format json did not print a JSON array")
    return data


def finding_keys(run: Run) -> list[tuple[object, ...]]:
    return sorted((f.get("path"), f.get("line"), f.get("col"), f.get("code")) for f in findings_of(run))


# -- the comparison tools ---------------------------------------------------------------------
def find_tool(name: str) -> str | None:
    """The scratch venv's ``name``, else this interpreter's, else the one on PATH."""
    for directory in (TOOLS_VENV / "bin", Path(sys.executable).parent):
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def install_tools(log: Callable[[str], None]) -> None:
    """Create the scratch venv and pip-install each tool into it (each may fail alone)."""
    if TOOLS_VENV.exists():
        return
    log(f"creating {TOOLS_VENV} and installing {', '.join(TOOLS)} (once) ...")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        log(f"  cannot create the venv: {exc}")
        return
    pip = [str(TOOLS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for tool in TOOLS:
        proc = subprocess.run([*pip, tool], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            log(f"  pip install {tool} failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")


def tool_version(exe: str, *args: str, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0].strip() if out else "?"


# -- the benchmark ----------------------------------------------------------------------------
@dataclass
class Bench:
    """One benchmark run over one tree: its file set, the rows measured so far and the facts."""

    tree: Path
    name: str
    files: list[Path]
    line_counts: dict[Path, int]
    repeat: int
    jobs: int | None
    log: Callable[[str], None]
    rows: dict[str, Row] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(self.line_counts.values())

    def lines_of(self, paths: Sequence[Path]) -> int:
        return sum(self.line_counts[p] for p in paths)

    def poolwarden(self, *extra: str) -> list[str]:
        cmd = [sys.executable, "-m", "poolwarden", "check", str(self.tree), "--format", "json", *extra]
        if self.jobs is not None:
            cmd += ["--jobs", str(self.jobs)]
        return cmd

    def row(self, key: str, name: str, command: str, files: Sequence[Path] | None = None) -> Row:
        chosen = self.files if files is None else files
        self.rows[key] = Row(name, command, lines=self.lines_of(chosen), files=len(chosen))
        return self.rows[key]

    # The four poolwarden-side measurements, interleaved round by round.
    def core(self) -> None:
        scratch = fresh_dir("run-")
        file_list = scratch / "files.txt"
        file_list.write_text("".join(f"{p}\n" for p in self.files), encoding="utf-8")
        base_cmd = [sys.executable, str(Path(__file__).resolve()), "--baseline-worker", str(file_list)]
        short = f"check {self.tree}"
        base = self.row("baseline", "baseline: ast.parse, 1 process",
                        "python -c 'for f in FILES: ast.parse(f.read_bytes())'")
        cold = self.row("cold", "poolwarden cold (--no-cache)", f"poolwarden {short} --no-cache --format json")
        fill = self.row("fill", "poolwarden cache-cold (writes cache)",
                        f"poolwarden {short} --format json  (fresh cwd)")
        warm = self.row("warm", "poolwarden warm (cache hit)", f"poolwarden {short} --format json  (same cwd again)")
        reference: list[tuple[object, ...]] | None = None
        for i in range(self.repeat):
            self.log(f"round {i + 1}/{self.repeat}: baseline ...")
            base.runs.append(timed(base_cmd, scratch))
            self.log(f"round {i + 1}/{self.repeat}: cold ...")
            cold.runs.append(timed(self.poolwarden("--no-cache"), scratch, poolwarden_ok))
            cache_cwd = fresh_dir("cache-")
            self.log(f"round {i + 1}/{self.repeat}: cache-cold, warm ...")
            fill.runs.append(timed(self.poolwarden(), cache_cwd, poolwarden_ok))
            if not (cache_cwd / ".poolwarden_cache").exists():
                self.notes.append(f"no .poolwarden_cache appeared in {cache_cwd}: the cache went elsewhere")
            warm.runs.append(timed(self.poolwarden(), cache_cwd, poolwarden_ok))
            for run, label in ((cold.runs[-1], "cold"), (fill.runs[-1], "cache-cold"), (warm.runs[-1], "warm")):
                keys = finding_keys(run)
                if reference is None:
                    reference = keys
                elif keys != reference:
                    self.notes.append(
                        f"round {i + 1}: {label} reported {len(keys)} findings, cold round 1 {len(reference)}: "
                        "the cache (or the analysis) is not deterministic"
                    )
            shutil.rmtree(cache_cwd, ignore_errors=True)
        parsed = json.loads(base.best.stdout)
        findings = findings_of(cold.best)
        pw000 = sum(1 for f in findings if f.get("code") == "PW000")
        by_code: dict[str, int] = {}
        for f in findings:
            by_code[str(f.get("code"))] = by_code.get(str(f.get("code")), 0) + 1
        base.note = f"{parsed['failures']} files fail to parse"
        cold.note = f"{len(findings)} findings, {pw000} PW000"
        self.facts["findings by code"] = ", ".join(f"{c} {n}" for c, n in sorted(by_code.items())) or "none"
        if pw000 != parsed["failures"]:
            self.notes.append(
                f"PW000 count ({pw000}) differs from the baseline's parse failures ({parsed['failures']})"
            )
        shutil.rmtree(scratch, ignore_errors=True)

    def sample(self) -> list[Path]:
        return self.files[::SAMPLE_EVERY]

    def mirror(self, paths: Sequence[Path], dest: Path) -> Path:
        """Copy ``paths`` under ``dest`` (same relative layout), with an empty ``.semgrepignore``."""
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for path in paths:
            try:
                target = dest / path.relative_to(self.tree)
            except ValueError:
                target = dest / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        (dest / ".semgrepignore").write_text("", encoding="utf-8")
        return dest

    def slow_tool(self, key: str, name: str, build: Callable[[Sequence[Path]], list[str]], shown: str,
                  budget: float, cwd: Path, env: dict[str, str] | None = None) -> None:
        """Run a slow tool once: on a 1-in-10 sample first, on everything when that fits the budget.

        The full run's time is estimated as start-up (the tool on one tiny file) plus the
        sample's time beyond start-up, scaled by lines.
        """
        tiny = cwd / "tiny.py"
        tiny.write_text("x = 1\n", encoding="utf-8")
        self.log(f"{name}: start-up (one tiny file) ...")
        startup = timed(build([tiny]), cwd, env=env).wall
        sample = self.sample()
        self.log(f"{name}: 1-in-{SAMPLE_EVERY} sample ({len(sample)} files) ...")
        probe = timed(build(sample), cwd, env=env)
        estimate = startup + max(probe.wall - startup, 0.0) * self.lines / max(self.lines_of(sample), 1)
        if estimate <= budget:
            self.log(f"{name}: full tree (estimated {estimate:.0f} s) ...")
            row = self.row(key, name, shown)
            row.runs.append(timed(build(self.files), cwd, env=env, timeout=max(4 * budget, 600)))
            row.note = f"start-up {startup:.1f} s"
        else:
            row = self.row(key, name, shown, sample)
            row.runs.append(probe)
            row.note = (f"1-in-{SAMPLE_EVERY} sample: {len(sample)} files, {row.lines:,} lines; "
                        f"start-up {startup:.1f} s; full tree estimated {estimate:.0f} s")

    def tools(self, install: bool, budget: float) -> None:
        if install:
            install_tools(self.log)
        cwd = fresh_dir("tools-")
        files = [str(p) for p in self.files]
        ruff = find_tool("ruff")
        if ruff is None:
            self.notes.append("ruff: not installed, skipped")
        else:
            self.facts["ruff"] = tool_version(ruff, "--version")
            for key, select, name in (("ruff-all", "ALL", "ruff --select ALL"),
                                      ("ruff-default", "E4,E7,E9,F", "ruff (default rules)")):
                cmd = [ruff, "check", "--isolated", "--no-cache", "--select", select, "--exit-zero",
                       "--output-format", "concise", *files]
                row = self.row(key, name, f"ruff check --isolated --no-cache --select {select} --exit-zero FILES")
                for i in range(self.repeat):
                    self.log(f"{name} {i + 1}/{self.repeat} ...")
                    row.runs.append(timed(cmd, cwd))
                found = re.search(r"Found (\d+) error", row.best.stdout)
                row.note = f"{int(found.group(1)) if found else 0:,} diagnostics"
        pylint = find_tool("pylint")
        if pylint is None:
            self.notes.append("pylint: not installed, skipped")
        else:
            self.facts["pylint"] = tool_version(pylint, "--version")
            rcfile = cwd / "empty.pylintrc"
            rcfile.write_text("", encoding="utf-8")
            jobs = str(self.jobs or os.cpu_count() or 1)
            enable = "W0702,W0718,W0719"

            def pylint_cmd(paths: Sequence[Path]) -> list[str]:
                return [pylint, f"--rcfile={rcfile}", "-j", jobs, "--exit-zero", "--disable=all",
                        f"--enable={enable}", "--score=n", *map(str, paths)]

            shown = f"pylint -j {jobs} --exit-zero --disable=all --enable={enable} FILES"
            try:
                self.slow_tool("pylint", f"pylint ({enable})", pylint_cmd, shown, budget, cwd)
            except (BenchmarkError, subprocess.TimeoutExpired) as exc:
                self.notes.append(f"pylint failed: {str(exc).splitlines()[0]}")
        semgrep = find_tool("semgrep")
        if semgrep is None:
            self.notes.append("semgrep: not installed, skipped")
        else:
            quiet_env = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
            self.facts["semgrep"] = tool_version(semgrep, "--version", env=quiet_env)
            rule = WORK / "semgrep_broad_except.yaml"
            rule.write_text(SEMGREP_RULE, encoding="utf-8")
            jobs = str(self.jobs or os.cpu_count() or 1)

            def semgrep_cmd(paths: Sequence[Path]) -> list[str]:
                # A copy of exactly these files, scanned as one directory: given thousands of file
                # arguments semgrep is slow per argument (and under a git checkout it asks git about
                # each), given the original tree it would also scan what discovery skips.
                copy = self.mirror(paths, cwd / f"semgrep-{len(paths)}")
                return [semgrep, "scan", "--config", str(rule), "--metrics=off", "--disable-version-check",
                        "--quiet", "--json", "-j", jobs, "--max-target-bytes=0", "--project-root", str(copy),
                        str(copy)]

            shown = (f"semgrep scan --config {rule.relative_to(HERE.parent)} --metrics=off -j {jobs} --json "
                     "--max-target-bytes=0 --project-root COPY COPY")
            try:
                self.slow_tool("semgrep", "semgrep (1 local rule)", semgrep_cmd, shown, budget, cwd, quiet_env)
                row = self.rows["semgrep"]
                out = json.loads(row.best.stdout)
                scanned = len(out.get("paths", {}).get("scanned", []))
                extra = (f"{len(out.get('results', []))} matches, {len(out.get('errors', []))} errors; "
                         f"{scanned} files scanned")
                row.note = f"{row.note}; {extra}" if row.note else extra
                if scanned != row.files:
                    self.notes.append(f"semgrep scanned {scanned} files of the {row.files} it was given")
            except (BenchmarkError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                self.notes.append(f"semgrep failed: {str(exc).splitlines()[0]}")
        shutil.rmtree(cwd, ignore_errors=True)


# -- reporting --------------------------------------------------------------------------------
def machine_facts(bench: Bench) -> dict[str, str]:
    import poolwarden

    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rev = "?"
    try:
        repo = HERE.parent
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=repo, capture_output=True,
                               text=True, check=True).stdout.strip()
        rev = head + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.machine()}, {cpu_model}",
        "CPUs": f"{os.cpu_count()} (usable: {usable})",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "poolwarden": f"{poolwarden.__version__} ({rev})",
        "tree": f"{bench.name}: `{bench.tree}`",
        "files / lines": f"{len(bench.files):,} files, {bench.lines:,} lines",
        "poolwarden --jobs": str(bench.jobs) if bench.jobs is not None else "default (CPU count)",
        "repeat": f"best of {bench.repeat} (cheap measurements), 1 (pylint, semgrep)",
    }


def ratio_lines(bench: Bench) -> list[tuple[str, float, float, bool]]:
    """(label, value, goal, met) for the two goals."""
    rows = bench.rows
    out = []
    if "cold" in rows and "baseline" in rows:
        value = rows["cold"].per_line / rows["baseline"].per_line
        out.append(("cold / baseline", value, COLD_GOAL, value <= COLD_GOAL))
    if "warm" in rows and "cold" in rows:
        value = rows["warm"].best.wall / rows["cold"].best.wall
        out.append(("warm / cold", value, WARM_GOAL, value <= WARM_GOAL))
    return out


def table(bench: Bench) -> tuple[list[str], list[list[str]]]:
    base = bench.rows["baseline"].per_line if "baseline" in bench.rows else None
    header = ["measurement", "wall s", "CPU s", "lines/s", "x baseline", "notes"]
    body = []
    for row in bench.rows.values():
        best = row.best
        ratio = f"{row.per_line / base:.2f}" if base else "–"
        runs = f" (best of {len(row.runs)})" if len(row.runs) > 1 else ""
        body.append([row.name, f"{best.wall:.2f}{runs}", f"{best.cpu:.1f}",
                     f"{row.lines / best.wall:,.0f}", ratio, row.note])
    return header, body


def print_human(bench: Bench) -> None:
    header, body = table(bench)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    print()
    for key, value in bench.facts.items():
        print(f"{key:>18}: {value}")
    print()
    for r in [header, ["-" * w for w in widths], *body]:
        cells = zip(r, widths, strict=True)
        print("  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(cells)).rstrip())
    print()
    for label, ratio, goal, met in ratio_lines(bench):
        print(f"{label:>16}: {ratio:.3f}  (goal <= {goal}: {'met' if met else 'NOT MET'})")
    for note in bench.notes:
        print(f"note: {note}")
    print("\ncommands:")
    for row in bench.rows.values():
        print(f"  {row.name}: {row.command}")


def print_markdown(bench: Bench) -> None:
    header, body = table(bench)
    print(f"### {bench.name}\n")
    for key, value in bench.facts.items():
        print(f"- **{key}**: {value}")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---", "---:", "---:", "---:", "---:", "---"]) + "|")
    for r in body:
        print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    print()
    for label, ratio, goal, met in ratio_lines(bench):
        print(f"- **{label}** = {ratio:.3f} (goal ≤ {goal}: {'met' if met else '**not met**'})")
    for note in bench.notes:
        print(f"- note: {note}")
    print("\nCommands (FILES = the discovered file list, TREE = the tree):\n")
    for row in bench.rows.values():
        print(f"- {row.name}: `{row.command}`")


def default_tree() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("tree_pos", nargs="?", metavar="TREE", help="tree to check (default: the stdlib)")
    parser.add_argument("--tree", help="same as TREE")
    parser.add_argument("--tree-name", help="label of the tree in the output")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each cheap measurement (best kept)")
    parser.add_argument("--jobs", type=int, help="pass --jobs to poolwarden (and -j to pylint/semgrep)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table for BENCHMARKS.md")
    parser.add_argument("--no-tools", action="store_true", help="skip ruff, pylint and semgrep")
    parser.add_argument("--no-install", action="store_true",
                        help=f"do not create {TOOLS_VENV.relative_to(HERE.parent)} to install missing tools")
    parser.add_argument("--slow-budget", type=float, default=300.0,
                        help="seconds a full pylint/semgrep run may take before a sample is used (default 300)")
    parser.add_argument("--baseline-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_worker is not None:
        baseline_worker(args.baseline_worker)
        return 0
    if args.tree and args.tree_pos and Path(args.tree) != Path(args.tree_pos):
        parser.error("give the tree once: TREE or --tree")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")

    from poolwarden.check.config import find_config
    from poolwarden.check.files import discover

    raw = args.tree or args.tree_pos
    tree = Path(raw).resolve() if raw else default_tree()
    if not tree.is_dir():
        parser.error(f"{tree}: not a directory")
    name = args.tree_name or (f"CPython {platform.python_version()} stdlib" if raw is None else tree.name)

    def log(message: str) -> None:
        print(f"[check_speed] {message}", file=sys.stderr, flush=True)

    # As installed (pip compiles a package's modules), whatever PYTHONDONTWRITEBYTECODE says here:
    # otherwise every measured run would compile poolwarden's ~100 modules from source first.
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "src" / "poolwarden"), quiet=1)

    files = list(discover([tree]))
    if not files:
        parser.error(f"{tree}: no Python files")
    line_counts = {p: p.read_bytes().count(b"\n") for p in files}  # also warms the page cache
    bench = Bench(tree, name, files, line_counts, args.repeat, args.jobs, log)
    bench.facts = machine_facts(bench)
    config = find_config(tree)
    if config is not None:
        bench.notes.append(f"poolwarden reads {config}: its settings (exclude, cache-dir) apply to the checks")
    log(f"{name}: {len(files):,} files, {bench.lines:,} lines")
    try:
        bench.core()
        if not args.no_tools:
            bench.tools(install=not args.no_install, budget=args.slow_budget)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    if args.markdown:
        print_markdown(bench)
    else:
        print_human(bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
